// A raw TCP WebSocket client for frames no well-behaved library would send: a tiny frame
// builder (client masking), a handshake, and a parser for what the server sends back.
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { withTimeout } from './server.mjs';

export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };

/// One frame as a client writes it: masked unless `mask: false`; `rsv` is the 3-bit RSV field.
export function frame(opcode, payload = Buffer.alloc(0), { fin = true, rsv = 0, mask = true } = {}) {
  const body = Buffer.from(payload);
  let head;
  if (body.length < 126) {
    head = Buffer.from([0, body.length]);
  } else if (body.length < 65536) {
    head = Buffer.from([0, 126, 0, 0]);
    head.writeUInt16BE(body.length, 2);
  } else {
    head = Buffer.alloc(10);
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(body.length), 2);
  }
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  if (!mask) return Buffer.concat([head, body]);
  head[1] |= 0x80;
  const key = randomBytes(4);
  const masked = Buffer.alloc(body.length);
  for (let i = 0; i < body.length; i++) masked[i] = body[i] ^ key[i & 3];
  return Buffer.concat([head, key, masked]);
}

/// A close frame's payload: a 2-byte code and a reason.
export function closePayload(code, reason = '') {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(code);
  return Buffer.concat([out, Buffer.from(reason)]);
}

/// Performs the opening handshake on `path` and returns a connected RawClient.
export async function rawConnect(port, path = '/ws/echo', headers = {}) {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  const key = randomBytes(16).toString('base64');
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
    `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
  const client = new RawClient(socket);
  const head = await withTimeout(client.head, 10_000, 'the handshake response');
  if (!/^HTTP\/1\.1 101 /.test(head)) throw new Error(`handshake refused: ${head.split('\r\n')[0]}`);
  const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  if (!head.toLowerCase().includes(`sec-websocket-accept: ${accept.toLowerCase()}`)) {
    throw new Error(`wrong Sec-WebSocket-Accept in ${head}`);
  }
  return client;
}

export class RawClient {
  constructor(socket) {
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.frames = [];
    this.waiters = [];
    this.ended = false;
    let resolveHead;
    this.head = new Promise((resolve, reject) => { resolveHead = resolve; socket.once('error', reject); });
    let inHead = true;
    socket.on('data', (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      if (inHead) {
        const end = this.buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        inHead = false;
        resolveHead(this.buffer.subarray(0, end).toString('latin1'));
        this.buffer = this.buffer.subarray(end + 4);
      }
      this.parse();
    });
    socket.on('error', () => {});
    socket.on('close', () => { this.ended = true; this.wake(); });
  }

  parse() {
    for (;;) {
      const b = this.buffer;
      if (b.length < 2) return;
      let len = b[1] & 0x7f;
      let at = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); at = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); at = 10; }
      const masked = Boolean(b[1] & 0x80);
      if (masked) at += 4;
      if (b.length < at + len) return;
      let payload = Buffer.from(b.subarray(at, at + len));
      if (masked) payload = payload.map((x, i) => x ^ b[at - 4 + (i & 3)]);
      this.frames.push({ fin: Boolean(b[0] & 0x80), rsv: (b[0] >> 4) & 7, opcode: b[0] & 0x0f, masked, payload });
      this.buffer = b.subarray(at + len);
      this.wake();
    }
  }

  wake() {
    while (this.waiters.length && (this.frames.length || this.ended)) this.waiters.shift()();
  }

  send(...frames) { this.socket.write(Buffer.concat(frames)); }

  /// The next frame from the server: {fin, rsv, opcode, masked, payload}.
  async next(ms = 10_000) {
    while (!this.frames.length) {
      if (this.ended) throw new Error('the server closed the TCP connection');
      await withTimeout(new Promise((resolve) => this.waiters.push(resolve)), ms, 'a frame');
    }
    return this.frames.shift();
  }

  /// Skips data frames until the server's close frame; resolves with its code (null if empty).
  async closeCode(ms = 10_000) {
    for (;;) {
      const f = await this.next(ms).catch((err) => {
        throw new Error(`expected a close frame: ${err.message}`);
      });
      if (f.opcode === OP.CLOSE) return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : null;
    }
  }

  destroy() { this.socket.destroy(); }
}

/// Sends raw request bytes and resolves with the response head: {status, headers, text}.
export function httpExchange(port, request) {
  const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
  let text = '';
  const done = new Promise((resolve, reject) => {
    const finish = () => {
      const [statusLine, ...lines] = text.split('\r\n\r\n')[0].split('\r\n');
      const headers = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, text });
    };
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) finish();
    });
    socket.on('end', finish);
    socket.on('error', (err) => (text ? finish() : reject(err)));
  });
  return withTimeout(done, 10_000, 'an HTTP response').finally(() => socket.destroy());
}
