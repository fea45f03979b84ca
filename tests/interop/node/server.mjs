// Starts `switchboard serve` ($SWITCHBOARD_BIN) on a free port for a test and stops it after.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const BIN = process.env.SWITCHBOARD_BIN;

export async function startServer(extraArgs = []) {
  if (!BIN) throw new Error('SWITCHBOARD_BIN must point at the switchboard binary');
  const proc = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--log-level', 'warn', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const port = await withTimeout(
    new Promise((resolve, reject) => {
      const lines = createInterface({ input: proc.stdout });
      lines.once('line', (line) => {
        const m = /listening on https?:\/\/([^:]+):(\d+)/.exec(line);
        m ? resolve(Number(m[2])) : reject(new Error(`unexpected first line: ${line}`));
      });
      proc.once('exit', (code) => reject(new Error(`server exited early with ${code}`)));
    }),
    10_000,
    'server start',
  );
  return {
    port,
    proc,
    exited,
    url: (path) => `ws://127.0.0.1:${port}${path}`,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/// Opens a ws client and waits until it is open.
export async function open(url, options = {}) {
  const ws = new WebSocket(url, options);
  await withTimeout(
    new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    }),
    5000,
    `open ${url}`,
  );
  return ws;
}

/// A queue of incoming messages: `next()` resolves with the next {data, isBinary}.
export function inbox(ws) {
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const item = { data, isBinary };
    const waiter = waiters.shift();
    waiter ? waiter(item) : queue.push(item);
  });
  return {
    next(ms = 5000) {
      if (queue.length) return Promise.resolve(queue.shift());
      return withTimeout(new Promise((resolve) => waiters.push(resolve)), ms, 'a message');
    },
    pending: () => queue.length,
  };
}

/// Resolves with {code, reason} when the socket closes.
export function closed(ws, ms = 5000) {
  return withTimeout(
    new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
    ms,
    'close',
  );
}
