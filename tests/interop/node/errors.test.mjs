// Bad input from a raw TCP client (hand-built frames) and bad handshakes over plain HTTP:
// each gets the right close code or HTTP status, and other connections never notice.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { startServer, open, inbox, closed, withTimeout } from './server.mjs';

let server;
before(async () => { server = await startServer(['--max-message-size', '65536', '--allowed-origin', 'http://good.example']); });
after(async () => { await server.stop(); });

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/// A frame as a client writes it (masked unless told otherwise).
function frame(opcode, payload, { fin = true, rsv = 0, mask = true } = {}) {
  const body = Buffer.from(payload);
  const head = [((fin ? 0x80 : 0) | (rsv << 4) | opcode)];
  const maskBit = mask ? 0x80 : 0;
  if (body.length < 126) head.push(maskBit | body.length);
  else if (body.length < 65536) head.push(maskBit | 126, body.length >> 8, body.length & 0xff);
  else {
    head.push(maskBit | 127, 0, 0, 0, 0);
    const n = body.length;
    head.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), body]);
  const key = Buffer.from([0x11, 0x22, 0x33, 0x44]);
  const masked = Buffer.from(body.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([Buffer.from(head), key, masked]);
}

/// Opens /ws/echo over a raw socket, writes `bytes`, and resolves with the server's close code.
async function closeCodeFor(bytes) {
  const socket = net.connect(server.port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  const code = new Promise((resolve, reject) => {
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const frames = buf.subarray(end + 4);
      // Find the close frame (opcode 8) among what the server sent.
      let pos = 0;
      while (pos + 2 <= frames.length) {
        let len = frames[pos + 1] & 0x7f;
        let at = pos + 2;
        if (len === 126) { len = frames.readUInt16BE(at); at += 2; }
        if (at + len > frames.length) return;
        if ((frames[pos] & 0x0f) === 8) return resolve(len >= 2 ? frames.readUInt16BE(at) : null);
        pos = at + len;
      }
    });
    socket.on('error', reject);
  });
  socket.write(`GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  socket.write(bytes);
  try {
    return await withTimeout(code, 5000, 'close frame');
  } finally {
    socket.destroy();
  }
}

test('protocol violations close with 1002, bad UTF-8 with 1007, oversize with 1009', async () => {
  const bystander = await open(server.url('/ws/echo'));
  const messages = inbox(bystander);
  assert.equal(await closeCodeFor(frame(1, 'unmasked', { mask: false })), 1002);
  assert.equal(await closeCodeFor(frame(3, 'reserved opcode')), 1002);
  assert.equal(await closeCodeFor(frame(1, 'rsv2', { rsv: 2 })), 1002);
  assert.equal(await closeCodeFor(frame(9, 'x'.repeat(126))), 1002);
  assert.equal(await closeCodeFor(frame(0, 'continuation')), 1002);
  assert.equal(await closeCodeFor(frame(1, Buffer.from([0xce, 0xba, 0xff]))), 1007);
  assert.equal(await closeCodeFor(Buffer.concat([frame(1, 'ok', { fin: false }), frame(0, Buffer.from([0xed, 0xa0, 0x80]))])), 1007);
  assert.equal(await closeCodeFor(frame(2, Buffer.alloc(70000))), 1009);
  assert.equal(await closeCodeFor(frame(8, Buffer.from([0x03]))), 1002);
  // The bystander never noticed.
  bystander.send('still here');
  assert.equal((await messages.next()).data.toString(), 'still here');
  bystander.close();
  await closed(bystander);
});

function rawHttp(head) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1', () => socket.write(head));
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        socket.destroy();
        resolve({ status: Number(text.split(' ')[1]), text });
      }
    });
    socket.on('error', reject);
    socket.on('end', () => resolve({ status: Number(text.split(' ')[1]), text }));
  });
}

test('bad handshakes get 400, 403, 426 (naming version 13) and 431', async () => {
  const base = `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\n`;
  assert.equal((await rawHttp(`${base}\r\n`)).status, 400, 'no version');
  const wrongVersion = await rawHttp(`${base}Sec-WebSocket-Version: 7\r\n\r\n`);
  assert.equal(wrongVersion.status, 426);
  assert.match(wrongVersion.text.toLowerCase(), /sec-websocket-version: 13/);
  assert.equal((await rawHttp(`${base}Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n\r\n`)).status, 403);
  assert.equal((await rawHttp(`GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n`)).status, 400);
  assert.equal((await rawHttp(`${base}Sec-WebSocket-Version: 13\r\nX-Pad: ${'a'.repeat(20000)}\r\n\r\n`)).status, 431);
  // The allowed origin opens fine, and a plain HTTP request still works.
  const ws = await open(server.url('/ws'), { origin: 'http://good.example' });
  ws.close();
  await closed(ws);
  const health = await new Promise((resolve) => http.get(`http://127.0.0.1:${server.port}/healthz`, resolve));
  assert.equal(health.statusCode, 200);
  health.resume();
});
