// Switchboard's browser SDK: a small Socket.IO client (protocol v5 over Engine.IO v4, WebSocket
// transport) and a /ws publish/subscribe client. No build step, no dependencies.
//
//   import { io } from '/sdk/switchboard.js';
//   const socket = io({ auth: { name: 'ada' } });
//   socket.on('message', (data, room) => ...);
//   socket.emit('subscribe', 'lobby', (ok) => ...);
//
// The official socket.io-client works against Switchboard too; this one exists so the demo
// pages work offline, served by the binary itself.

const PACKET = { CONNECT: 0, DISCONNECT: 1, EVENT: 2, ACK: 3, CONNECT_ERROR: 4, BINARY_EVENT: 5, BINARY_ACK: 6 };

/// Replaces binary values by placeholders, collecting them in `out`.
function deconstruct(value, out) {
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    out.push(value);
    return { _placeholder: true, num: out.length - 1 };
  }
  if (Array.isArray(value)) return value.map((v) => deconstruct(v, out));
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const copy = {};
    for (const [k, v] of Object.entries(value)) copy[k] = deconstruct(v, out);
    return copy;
  }
  return value;
}

/// Puts the attachments back where their placeholders are.
function reconstruct(value, buffers) {
  if (Array.isArray(value)) return value.map((v) => reconstruct(v, buffers));
  if (value && typeof value === 'object') {
    if (value._placeholder === true && Number.isInteger(value.num)) return buffers[value.num];
    const copy = {};
    for (const [k, v] of Object.entries(value)) copy[k] = reconstruct(v, buffers);
    return copy;
  }
  return value;
}

function encode(packet) {
  const attachments = [];
  const data = packet.data === undefined ? undefined : deconstruct(packet.data, attachments);
  let type = packet.type;
  if (attachments.length && type === PACKET.EVENT) type = PACKET.BINARY_EVENT;
  if (attachments.length && type === PACKET.ACK) type = PACKET.BINARY_ACK;
  let text = String(type);
  if (attachments.length) text += `${attachments.length}-`;
  if (packet.nsp && packet.nsp !== '/') text += `${packet.nsp},`;
  if (packet.id !== undefined) text += packet.id;
  if (data !== undefined) text += JSON.stringify(data);
  return [text, ...attachments];
}

function decode(text) {
  const m = /^(\d)(?:(\d+)-)?(\/[^,]*,)?(\d+)?(.*)$/s.exec(text);
  if (!m) throw new Error('bad packet');
  return {
    type: Number(m[1]),
    attachments: m[2] ? Number(m[2]) : 0,
    nsp: m[3] ? m[3].slice(0, -1) : '/',
    id: m[4] !== undefined ? Number(m[4]) : undefined,
    data: m[5] ? JSON.parse(m[5]) : undefined,
  };
}

/// A Socket.IO client for one namespace. Reconnects with exponential backoff unless the
/// server disconnected it or `disconnect()` was called.
export class Socket {
  constructor(url, { auth, namespace = '/', path = '/socket.io/', reconnectionDelay = 500, reconnectionDelayMax = 5000 } = {}) {
    const base = new URL(url ?? location.href);
    base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    base.pathname = path;
    base.search = '?EIO=4&transport=websocket';
    this.url = base.toString();
    this.auth = auth;
    this.nsp = namespace;
    this.delay = reconnectionDelay;
    this.delayMax = reconnectionDelayMax;
    this.listeners = new Map();
    this.acks = new Map();
    this.nextId = 0;
    this.connected = false;
    this.id = undefined;
    this.stopped = false;
    this.attempts = 0;
    this.buffer = [];
    this.open();
  }

  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, []);
    this.listeners.get(event).push(fn);
    return this;
  }

  off(event, fn) {
    const list = this.listeners.get(event) ?? [];
    this.listeners.set(event, fn ? list.filter((f) => f !== fn) : []);
    return this;
  }

  fire(event, ...args) {
    for (const fn of this.listeners.get(event) ?? []) fn(...args);
  }

  /// Sends an event; a function as the last argument receives the server's acknowledgement.
  emit(event, ...args) {
    const packet = { type: PACKET.EVENT, nsp: this.nsp, data: [event, ...args] };
    if (typeof args[args.length - 1] === 'function') {
      const ack = args.pop();
      packet.data = [event, ...args];
      packet.id = this.nextId++;
      this.acks.set(packet.id, ack);
    }
    if (this.connected) this.send(packet);
    else this.buffer.push(packet);
    return this;
  }

  /// Like emit, resolving with the acknowledgement (rejecting after `timeout` ms).
  emitWithAck(event, ...args) {
    const timeout = 10_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('operation has timed out')), timeout);
      this.emit(event, ...args, (value) => { clearTimeout(timer); resolve(value); });
    });
  }

  disconnect() {
    this.stopped = true;
    if (this.connected) this.send({ type: PACKET.DISCONNECT, nsp: this.nsp });
    this.ws?.close();
    return this;
  }

  send(packet) {
    // An Engine.IO message packet ('4') carries the text; attachments go as binary frames.
    const [text, ...attachments] = encode(packet);
    this.ws.send(`4${text}`);
    for (const part of attachments) this.ws.send(part);
  }

  open() {
    const ws = new WebSocket(this.url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let pending = null;
    ws.onmessage = ({ data }) => {
      if (typeof data !== 'string') {
        if (!pending) return;
        pending.buffers.push(data);
        if (pending.buffers.length === pending.packet.attachments) {
          const { packet, buffers } = pending;
          pending = null;
          packet.data = reconstruct(packet.data, buffers);
          this.packet(packet);
        }
        return;
      }
      switch (data[0]) {
        case '0': // Engine.IO open: join the namespace.
          this.send({ type: PACKET.CONNECT, nsp: this.nsp, data: this.auth });
          break;
        case '2': ws.send('3'); break; // ping → pong
        case '4': {
          const packet = decode(data.slice(1));
          if (packet.attachments) pending = { packet, buffers: [] };
          else this.packet(packet);
          break;
        }
        default: break;
      }
    };
    ws.onclose = () => {
      const was = this.connected;
      this.connected = false;
      if (was) this.fire('disconnect', 'transport close');
      if (!this.stopped) {
        const wait = Math.min(this.delayMax, this.delay * 2 ** this.attempts++);
        setTimeout(() => this.open(), wait * (0.5 + Math.random()));
      }
    };
  }

  packet(packet) {
    if (packet.nsp !== this.nsp) return;
    switch (packet.type) {
      case PACKET.CONNECT:
        this.connected = true;
        this.attempts = 0;
        this.id = packet.data?.sid;
        for (const p of this.buffer.splice(0)) this.send(p);
        this.fire('connect');
        break;
      case PACKET.CONNECT_ERROR:
        this.stopped = true;
        this.fire('connect_error', Object.assign(new Error(packet.data?.message), { data: packet.data?.data }));
        this.ws.close();
        break;
      case PACKET.EVENT:
      case PACKET.BINARY_EVENT: {
        const [event, ...args] = packet.data;
        if (packet.id !== undefined) {
          args.push((...reply) => this.send({ type: PACKET.ACK, nsp: this.nsp, id: packet.id, data: reply }));
        }
        this.fire(event, ...args);
        break;
      }
      case PACKET.ACK:
      case PACKET.BINARY_ACK: {
        const ack = this.acks.get(packet.id);
        this.acks.delete(packet.id);
        ack?.(...packet.data);
        break;
      }
      case PACKET.DISCONNECT:
        this.stopped = true;
        this.connected = false;
        this.fire('disconnect', 'io server disconnect');
        this.ws.close();
        break;
      default: break;
    }
  }
}

/// Connects to namespace `/` (or `options.namespace`) of the page's own server, or of `url`.
export function io(url, options) {
  if (typeof url === 'object' && url !== null) return new Socket(undefined, url);
  return new Socket(url, options);
}

/// A client of the raw /ws publish/subscribe endpoint (see docs/pubsub.md).
export class PubSub {
  constructor(url) {
    const base = new URL(url ?? location.href);
    base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    base.pathname = '/ws';
    base.search = '';
    this.ws = new WebSocket(base.toString());
    this.handlers = [];
    this.ready = new Promise((resolve) => { this.ws.onopen = resolve; });
    this.ws.onmessage = ({ data }) => {
      const message = JSON.parse(data);
      if (message.type === 'message') for (const fn of this.handlers) fn(message.data, message.room);
    };
  }

  onMessage(fn) { this.handlers.push(fn); }
  async subscribe(room) { await this.ready; this.ws.send(JSON.stringify({ type: 'subscribe', room })); }
  async unsubscribe(room) { await this.ready; this.ws.send(JSON.stringify({ type: 'unsubscribe', room })); }
  async publish(room, data) { await this.ready; this.ws.send(JSON.stringify({ type: 'publish', room, data })); }
}
