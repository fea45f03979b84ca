// Shared helpers for the tests of switchboard's Socket.IO server through its `conformance`
// example (crates/socketio/examples/conformance.rs): start it, wait for client events.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { withTimeout } from './server.mjs';

export const BIN = process.env.SOCKETIO_SERVER_BIN;
/// `false`, or why the suite is skipped: without the binary, unless SWITCHBOARD_INTEROP demands it.
export const skip = !BIN && !process.env.SWITCHBOARD_INTEROP
  ? 'SOCKETIO_SERVER_BIN not set (scripts/test.sh builds the conformance example)'
  : false;

/// The client options of the three ways socket.io-client connects.
export const TRANSPORTS = {
  polling: { transports: ['polling'] },
  websocket: { transports: ['websocket'] },
  upgrade: {},
};

/// Starts the example on a free port with extra flags; resolves with
/// {url, port, sessions(), stop()}, where `sessions()` asks it how many Engine.IO sessions are open.
export async function startExample(extra = []) {
  if (!BIN) throw new Error('SOCKETIO_SERVER_BIN must point at the conformance example');
  const proc = spawn(BIN, ['127.0.0.1:0', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  };
  try {
    const port = await withTimeout(new Promise((resolve, reject) => {
      createInterface({ input: proc.stdout }).on('line', (line) => {
        const m = /listening on http:\/\/[^:]+:(\d+)/.exec(line);
        if (m) resolve(Number(m[1]));
      });
      proc.once('error', reject);
      exited.then((code) => reject(new Error(`the example exited early (${code})`)));
    }), 15_000, 'the Socket.IO server to start');
    const url = `http://127.0.0.1:${port}`;
    const sessions = async () => Number(await (await fetch(`${url}/sessions`)).text());
    return { url, port, sessions, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/// Resolves with the arguments of the next `event` on `emitter`.
export function once(emitter, event, ms = 5_000) {
  return withTimeout(new Promise((resolve) => emitter.once(event, (...args) => resolve(args))),
    ms, `event ${event}`);
}

/// Resolves with `socket` once it is connected (one argument: it is handed to `map`).
export async function connected(socket) {
  if (!socket.connected) await once(socket, 'connect');
  return socket;
}

/// Polls `probe` until it returns something truthy; fails after `ms` with `what`.
export async function eventually(probe, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
