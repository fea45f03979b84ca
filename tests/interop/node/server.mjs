// Shared helpers: start `$SWITCHBOARD_BIN serve` on a free port, open ws clients, and wait for
// events, every wait with a deadline.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const live = new Set();
process.on('exit', () => { for (const proc of live) proc.kill('SIGKILL'); });

/// Starts the server with extra flags; resolves with {url, httpUrl, port, proc, exited, stop()}.
/// `url` is the ws:// base (append a path), `exited` resolves with {code, signal}.
export async function startServer(args = []) {
  const bin = process.env.SWITCHBOARD_BIN;
  if (!bin) throw new Error('SWITCHBOARD_BIN must point at the switchboard binary');
  const proc = spawn(bin, ['serve', '--listen', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { SWITCHBOARD_LOG: 'warn', ...process.env },
  });
  live.add(proc);
  let stderr = '';
  proc.stderr.on('data', (chunk) => { stderr = (stderr + chunk).slice(-8192); });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => {
    live.delete(proc);
    resolve({ code, signal });
  }));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  };
  try {
    const port = await withTimeout(new Promise((resolve, reject) => {
      const lines = createInterface({ input: proc.stdout });
      lines.on('line', (line) => {
        const m = /listening on http:\/\/([^:]+):(\d+)/.exec(line);
        if (m) resolve(Number(m[2]));
      });
      proc.once('error', reject);
      exited.then(({ code, signal }) => reject(new Error(`server exited early (${code ?? signal})`)));
    }), 15_000, 'the server to print its listening line');
    return { port, proc, exited, stop, url: `ws://127.0.0.1:${port}`, httpUrl: `http://127.0.0.1:${port}` };
  } catch (err) {
    await stop();
    err.message += `\n--- server stderr ---\n${stderr}`;
    throw err;
  }
}

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/// Opens a ws client and waits until it is open; `ws.inbox` queues its messages from the start,
/// `ws.responseHeaders` holds the handshake response's headers.
export async function open(url, options = {}) {
  const ws = new WebSocket(url, options);
  ws.inbox = inbox(ws);
  ws.once('upgrade', (res) => { ws.responseHeaders = res.headers; });
  ws.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  }), 10_000, `open ${url}`);
  return ws;
}

/// A queue of incoming messages: `next()` resolves with the next {data, isBinary}.
function inbox(ws) {
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const item = { data, isBinary };
    const waiter = waiters.shift();
    waiter ? waiter(item) : queue.push(item);
  });
  return {
    next(ms = 10_000) {
      if (queue.length) return Promise.resolve(queue.shift());
      let waiter;
      const p = new Promise((resolve) => { waiter = resolve; waiters.push(resolve); });
      return withTimeout(p, ms, 'a message').catch((err) => {
        waiters.splice(waiters.indexOf(waiter), 1);
        throw err;
      });
    },
    get pending() { return queue.length; },
  };
}

/// Resolves with {code, reason} once the socket has closed.
export function closed(ws, ms = 10_000) {
  return withTimeout(ws.closed, ms, 'the close handshake');
}

/// Closes with an optional code and reason and resolves with what the server answered.
export async function closeWith(ws, code, reason) {
  ws.close(code, reason);
  return closed(ws);
}

/// Deterministic pseudo-random bytes (incompressible, reproducible).
export function noise(size, seed = 1) {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
