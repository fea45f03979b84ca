// Engine.IO over raw HTTP against switchboard's Socket.IO server (the `conformance` example):
// Node's error answers for bad requests, the body limit, overlapping polls, a session that
// survives what it should, and the cookie, allowRequest, httpCompression and
// perMessageDeflate options. Needs SOCKETIO_SERVER_BIN (scripts/test.sh builds it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { io } from 'socket.io-client';
import { withTimeout } from './server.mjs';

const BIN = process.env.SOCKETIO_SERVER_BIN;
const skip = !BIN && !process.env.SWITCHBOARD_INTEROP ? 'SOCKETIO_SERVER_BIN not set' : false;
let proc;
let base;

before(async () => {
  if (skip) return;
  proc = spawn(BIN, ['127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await withTimeout(new Promise((resolve) => {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(line);
      if (m) resolve(m[1]);
    });
  }), 15_000, 'the server to start');
  base = `http://127.0.0.1:${port}/socket.io/?EIO=4&transport=polling`;
});
after(() => proc?.kill('SIGKILL'));

async function handshake() {
  const res = await fetch(base);
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.equal(body[0], '0');
  return JSON.parse(body.slice(1));
}

test('errors are Node\'s: unknown transport, unknown sid, bad method, bad version', { skip }, async () => {
  const cases = [
    [`${base.replace('transport=polling', 'transport=carrier-pigeon')}`, {}, 400, 0, 'Transport unknown'],
    [`${base}&sid=nope`, {}, 400, 1, 'Session ID unknown'],
    [base, { method: 'PUT', body: 'x' }, 400, 2, 'Bad handshake method'],
    [base.replace('EIO=4', 'EIO=9'), {}, 400, 5, 'Unsupported protocol version'],
  ];
  for (const [url, init, status, code, message] of cases) {
    const res = await fetch(url, init);
    assert.equal(res.status, status, url);
    assert.deepEqual(await res.json(), { code, message });
  }
});

test('a POST over maxHttpBufferSize gets 413 and the session lives on', { skip }, async () => {
  const { sid, maxPayload } = await handshake();
  assert.equal(maxPayload, 1_000_000);
  const url = `${base}&sid=${sid}`;
  const big = await fetch(url, { method: 'POST', body: `4${'x'.repeat(maxPayload)}` });
  assert.equal(big.status, 413);
  await big.arrayBuffer();
  const ok = await fetch(url, { method: 'POST', body: '40' });
  assert.equal(ok.status, 200);
  assert.equal(await ok.text(), 'ok');
  const poll = await fetch(url);
  assert.match(await poll.text(), /^40\{"sid":"[\w-]{20}"\}/);
});

test('a second GET while one is parked: 400, and the session is closed', { skip }, async () => {
  const { sid } = await handshake();
  const url = `${base}&sid=${sid}`;
  // Whichever arrives second overlaps the parked one: it gets 400, the parked one a close.
  const answers = await Promise.all([fetch(url), fetch(url)]);
  const outcomes = await Promise.all(answers.map(async (r) => [r.status, await r.text()]));
  outcomes.sort((a, b) => a[0] - b[0]);
  assert.deepEqual(outcomes.map(([status]) => status), [200, 400]);
  assert.equal(outcomes[0][1], '1');
  const after = await fetch(url);
  assert.equal(after.status, 400);
  assert.deepEqual(await after.json(), { code: 1, message: 'Session ID unknown' });
});

test('malformed packets close only that session', { skip }, async () => {
  const bad = await handshake();
  const good = await handshake();
  const badUrl = `${base}&sid=${bad.sid}`;
  const res = await fetch(badUrl, { method: 'POST', body: '4\u001e9garbage' });
  assert.equal(res.status, 400);
  await res.arrayBuffer();
  assert.equal((await fetch(badUrl)).status, 400);
  const goodUrl = `${base}&sid=${good.sid}`;
  assert.equal((await fetch(goodUrl, { method: 'POST', body: '40' })).status, 200);
  assert.match(await (await fetch(goodUrl)).text(), /^40\{"sid"/);
});

// Node's server options beside the protocol: cookie, allowRequest, httpCompression,
// perMessageDeflate (a second server with them on; the first one has Node's defaults).

async function startWith(flags) {
  const child = spawn(BIN, ['127.0.0.1:0', ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await withTimeout(new Promise((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(line);
      if (m) resolve(m[1]);
    });
  }), 15_000, 'the server to start');
  return { child, port };
}

let optioned;
before(async () => {
  if (!skip) optioned = await startWith(['--cookie', '--per-message-deflate', '--deny-header']);
});
after(() => optioned?.child.kill('SIGKILL'));

/// Opens a raw Engine.IO WebSocket; resolves with the socket, the 101's headers and the open packet.
function openWs(port, options = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, options);
    let headers;
    ws.once('upgrade', (res) => { headers = res.headers; });
    ws.once('message', (data) => resolve({ ws, headers, open: JSON.parse(data.toString().slice(1)) }));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error('refused'), { status: res.statusCode })));
    ws.once('error', reject);
  }), 5_000, 'the WebSocket handshake');
}

test('cookie: the handshake sets io=<sid> on polling and on WebSocket', { skip }, async () => {
  const res = await fetch(`http://127.0.0.1:${optioned.port}/socket.io/?EIO=4&transport=polling`);
  const { sid } = JSON.parse((await res.text()).slice(1));
  assert.equal(res.headers.get('set-cookie'), `io=${sid}; Path=/; HttpOnly; SameSite=Lax`);
  const plain = await fetch(base);
  await plain.text();
  assert.equal(plain.headers.get('set-cookie'), null, 'off by default');

  const { ws, headers, open } = await openWs(optioned.port);
  assert.equal(headers['set-cookie']?.[0], `io=${open.sid}; Path=/; HttpOnly; SameSite=Lax`);
  ws.close();
});

test('allowRequest: a refused handshake gets 403 with the hook\'s message', { skip }, async () => {
  const url = `http://127.0.0.1:${optioned.port}/socket.io/?EIO=4&transport=polling`;
  const res = await fetch(url, { headers: { 'x-deny': 'no entry' } });
  assert.equal(res.status, 403);
  assert.deepEqual(await res.json(), { code: 4, message: 'no entry' });
  await assert.rejects(openWs(optioned.port, { headers: { 'x-deny': 'no' } }), (e) => e.status === 403);
  // socket.io-client sees connect_error; without the header it connects.
  const refused = io(`http://127.0.0.1:${optioned.port}`, { forceNew: true, reconnection: false, extraHeaders: { 'x-deny': 'no' } });
  await withTimeout(new Promise((resolve) => refused.once('connect_error', resolve)), 5_000, 'connect_error');
  refused.close();
  const allowed = io(`http://127.0.0.1:${optioned.port}`, { forceNew: true, reconnection: false });
  await withTimeout(new Promise((resolve) => allowed.once('connect', resolve)), 5_000, 'connect');
  allowed.close();
});

test('httpCompression: polling answers of 1 KiB and more are gzip\'d when asked', { skip }, async () => {
  const { sid } = await handshake();
  const url = `${base}&sid=${sid}`;
  await (await fetch(url, { method: 'POST', body: '40' })).text();
  assert.match(await (await fetch(url)).text(), /^40/);
  await (await fetch(url, { method: 'POST', body: '42["volume",3000]' })).text();
  const big = await fetch(url, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(big.headers.get('content-encoding'), 'gzip');
  assert.ok((await big.text()).includes('x'.repeat(3000)), 'fetch decompressed it');
  await (await fetch(url, { method: 'POST', body: '42["volume",3000]' })).text();
  const plain = await fetch(url, { headers: { 'accept-encoding': 'identity' } });
  assert.equal(plain.headers.get('content-encoding'), null);
  assert.ok((await plain.text()).includes('x'.repeat(3000)));
});

test('perMessageDeflate: negotiated only when enabled; compressed messages flow', { skip }, async () => {
  const plainPort = new URL(base).port;
  const off = await openWs(plainPort);
  assert.equal(off.headers['sec-websocket-extensions'], undefined, 'off by default, as in Node');
  off.ws.close();
  const { ws, headers } = await openWs(optioned.port);
  assert.match(headers['sec-websocket-extensions'], /permessage-deflate/);
  const inbox = [];
  const next = () => withTimeout(new Promise((resolve) => {
    if (inbox.length) return resolve(inbox.shift());
    ws.once('message', () => resolve(inbox.shift()));
  }), 5_000, 'a message');
  ws.on('message', (data) => inbox.push(data.toString()));
  ws.send('40');
  assert.match(await next(), /^40/);
  assert.match(await next(), /^42\["auth"/);
  const text = 'compressible '.repeat(1000);
  ws.send(`42["message",${JSON.stringify(text)}]`);
  assert.equal(await next(), `42["message-back",${JSON.stringify(text)}]`);
  ws.close();
});
