// socket.io-client inside Chromium (Debian's /usr/bin/chromium via playwright-core) against
// switchboard's Socket.IO server (the `conformance` example of crates/socketio): the browser
// bundle from npm, over the default polling → WebSocket upgrade and over WebSocket only,
// with events, acknowledgements both ways and binary (ArrayBuffer) both ways; and over
// polling only, a large event whose payload comes gzip'd (httpCompression) and decodes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';
import { withTimeout } from './server.mjs';

const CHROMIUM = '/usr/bin/chromium';
const BIN = process.env.SOCKETIO_SERVER_BIN;
const skip = (!existsSync(CHROMIUM) || !BIN) && !process.env.SWITCHBOARD_INTEROP
  ? 'needs /usr/bin/chromium and SOCKETIO_SERVER_BIN (scripts/test.sh provides both)'
  : false;
const BUNDLE = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules',
  'socket.io-client', 'dist', 'socket.io.min.js');
const SDK = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'web', 'switchboard.js');

let proc;
let url;
let context;
let profile;

before(async () => {
  if (skip) return;
  proc = spawn(BIN, ['127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await withTimeout(new Promise((resolve) => {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(line);
      if (m) resolve(m[1]);
    });
  }), 15_000, 'the Socket.IO server to start');
  url = `http://127.0.0.1:${port}`;
  profile = mkdtempSync(join(tmpdir(), 'switchboard-sio-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
});

after(async () => {
  await context?.close();
  proc?.kill('SIGKILL');
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/// Runs in the page: connects with `options`, exercises events, acks and binary, and resolves
/// with what it saw.
async function exercise(options) {
  const socket = io(options);
  const next = (event) => new Promise((resolve) => socket.once(event, (...args) => resolve(args)));
  const [auth] = await next('auth');
  if (!socket.connected) await next('connect');
  socket.on('question', (a, ack) => ack(`${a}!`));
  const echoed = next('message-back');
  socket.emit('message', 'é😀', new Uint8Array([1, 2, 255]).buffer, { n: 1 });
  const [text, bin, obj] = await echoed;
  const acked = await socket.timeout(5000).emitWithAck('message-with-ack', 'ack me');
  const asked = next('asked');
  socket.emit('ask', 'hey');
  const [answer] = await asked;
  if (socket.io.engine.transport.name !== 'websocket') {
    await new Promise((resolve) => socket.io.engine.once('upgrade', resolve));
  }
  const transport = socket.io.engine.transport.name;
  socket.disconnect();
  return { auth, text, bin: Array.from(new Uint8Array(bin)), obj, acked, answer, transport };
}

for (const [name, options] of [['upgrade', {}], ['websocket', { transports: ['websocket'] }]]) {
  test(`socket.io-client in Chromium over ${name}`, { skip }, async () => {
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    try {
      await page.goto(`${url}/`);
      await page.addScriptTag({ path: BUNDLE });
      const seen = await page.evaluate(exercise, { ...options, auth: { from: 'chromium' } });
      assert.deepEqual(seen, {
        auth: { from: 'chromium' },
        text: 'é😀',
        bin: [1, 2, 255],
        obj: { n: 1 },
        acked: 'ack me',
        answer: ['hey!'],
        transport: 'websocket',
      });
    } finally {
      await page.close();
    }
  });
}

/// Runs in the page: the same exercise with our own SDK (web/switchboard.js).
async function exerciseSdk() {
  const socket = window.sbio({ auth: { from: 'sdk' } });
  const next = (event) => new Promise((resolve) => socket.on(event, (...args) => resolve(args)));
  const [auth] = await next('auth');
  socket.on('question', (a, ack) => ack(`${a}!`));
  const echoed = next('message-back');
  socket.emit('message', 'é😀', new Uint8Array([1, 2, 255]).buffer, { n: 1 });
  const [text, bin, obj] = await echoed;
  const acked = await socket.emitWithAck('message-with-ack', 'ack me');
  const asked = next('asked');
  socket.emit('ask', 'hey');
  const [answer] = await asked;
  socket.disconnect();
  const refused = window.sbio({ namespace: '/restricted', auth: { token: 'nope' } });
  const [err] = await new Promise((resolve) => refused.on('connect_error', (...a) => resolve(a)));
  return {
    auth, text, bin: Array.from(new Uint8Array(bin)), obj, acked, answer,
    refusal: { message: err.message, data: err.data },
  };
}

test('our browser SDK (web/switchboard.js) in Chromium: events, acks both ways, binary, refusals', { skip }, async () => {
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  try {
    await page.goto(`${url}/`);
    const sdk = readFileSync(SDK, 'utf8');
    await page.addScriptTag({ type: 'module', content: `${sdk}\nwindow.sbio = io;` });
    await page.waitForFunction(() => typeof window.sbio === 'function');
    assert.deepEqual(await page.evaluate(exerciseSdk), {
      auth: { from: 'sdk' },
      text: 'é😀',
      bin: [1, 2, 255],
      obj: { n: 1 },
      acked: 'ack me',
      answer: ['hey!'],
      refusal: { message: 'not authorized', data: { reason: 'missing token' } },
    });
  } finally {
    await page.close();
  }
});

test('socket.io-client in Chromium over polling: a gzip\'d payload (httpCompression) decodes', { skip }, async () => {
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const encodings = [];
  page.on('response', (res) => {
    if (res.url().includes('/socket.io/') && res.request().method() === 'GET') {
      encodings.push(res.headers()['content-encoding'] ?? 'identity');
    }
  });
  try {
    await page.goto(`${url}/`);
    await page.addScriptTag({ path: BUNDLE });
    const volume = await page.evaluate(async () => {
      const socket = io({ transports: ['polling'] });
      await new Promise((resolve) => socket.once('connect', resolve));
      const got = new Promise((resolve) => socket.once('volume', resolve));
      socket.emit('volume', 200_000);
      const text = await got;
      socket.disconnect();
      return { length: text.length, all: /^x+$/.test(text) };
    });
    assert.deepEqual(volume, { length: 200_000, all: true });
    assert.ok(encodings.includes('gzip'), `GET encodings: ${encodings}`);
  } finally {
    await page.close();
  }
});

// Cross-origin (the page on 127.0.0.1, the server named localhost): every polling request
// with a custom header is preflighted, and Node's defaults (the `cors` package's) allow the
// headers the preflight asks for. So do ours: Chromium sends the header only once a preflight
// allowed it (playwright does not show preflights as page requests), and it reaches the server.
test('socket.io-client in Chromium from another origin, with extraHeaders (CORS preflight)', { skip }, async () => {
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  try {
    await page.goto(`${url}/`);
    await page.addScriptTag({ path: BUNDLE });
    const crossOrigin = url.replace('127.0.0.1', 'localhost');
    const seen = await page.evaluate(async (server) => {
      const socket = io(server, { transports: ['polling'], extraHeaders: { 'x-token': 'abc' } });
      const failed = new Promise((resolve) => socket.once('connect_error', (e) => resolve(e.message)));
      const connected = new Promise((resolve) => socket.once('connect', () => resolve('connected')));
      const outcome = await Promise.race([connected, failed]);
      const header = outcome === 'connected'
        ? await socket.timeout(5000).emitWithAck('header', 'x-token')
        : null;
      socket.disconnect();
      return { outcome, header, crossOrigin: location.origin !== new URL(server).origin };
    }, crossOrigin);
    assert.deepEqual(seen, { outcome: 'connected', header: 'abc', crossOrigin: true });
  } finally {
    await page.close();
  }
});
