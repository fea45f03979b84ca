// Engine.IO over raw HTTP against switchboard's Socket.IO server (the `conformance` example):
// Node's error answers for bad requests, the body limit, overlapping polls, and a session that
// survives what it should; then the server options Node has (`httpCompression`, `cookie`,
// `allowRequest`, `perMessageDeflate`) seen from raw HTTP, Node's `ws` and `socket.io-client`.
// Needs SOCKETIO_SERVER_BIN (scripts/test.sh builds it).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import zlib from 'node:zlib';
import { io } from 'socket.io-client';
import { open, withTimeout } from './server.mjs';

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

test('the client closes while its GET is still on the way: that GET gets the noop, the next 400', { skip }, async () => {
  // A browser sends the GET and the closing POST on separate connections; here the POST
  // arrives first, for certain.
  const { sid } = await handshake();
  const url = `${base}&sid=${sid}`;
  const closed = await fetch(url, { method: 'POST', body: '1' });
  assert.equal(closed.status, 200);
  assert.equal(await closed.text(), 'ok');
  const overtaken = await fetch(url);
  assert.equal(overtaken.status, 200);
  assert.equal(await overtaken.text(), '6');
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
  // The server's ping (every 300 ms here) may come first on a slow run.
  const answer = (await (await fetch(goodUrl)).text()).split('\u001e').filter((p) => p !== '2');
  assert.match(answer[0], /^40\{"sid"/);
});

// ---- the Engine.IO server options ------------------------------------------------------

/// Starts the conformance server with extra flags; resolves with {http, ws, stop()}.
async function startConformance(extra) {
  const child = spawn(BIN, ['127.0.0.1:0', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const port = await withTimeout(new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(line);
      if (m) resolve(m[1]);
    });
    child.once('error', reject);
  }), 15_000, 'the server to start');
  return {
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}`,
    stop: async () => { child.kill('SIGKILL'); await exited; },
  };
}

/// A GET with node:http, which leaves the body as it came: {status, headers, body: Buffer}.
function rawGet(url, headers = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  }), 5_000, `GET ${url}`);
}

/// A Socket.IO session over raw polling on `server` that has asked for a `volume` event of
/// `size` characters; resolves with the session URL (the next GET carries the event).
async function askVolume(server, size) {
  const base = `${server}/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  const { sid } = JSON.parse(open.slice(1));
  const url = `${base}&sid=${sid}`;
  assert.equal((await fetch(url, { method: 'POST', body: '40' })).status, 200);
  assert.match(await (await fetch(url)).text(), /^40\{"sid"/);
  assert.equal((await fetch(url, { method: 'POST', body: `42["volume",${size}]` })).status, 200);
  return url;
}

/// The `volume` event a payload carries (after any `auth` event or ping in the same payload).
function volumeIn(payload) {
  const packet = payload.split('\x1e').find((p) => p.startsWith('42["volume"'));
  assert.ok(packet, `a volume event in ${payload.slice(0, 80)}`);
  return JSON.parse(packet.slice(2))[1];
}

describe('Engine.IO server options', { skip }, () => {
  let plain; // defaults: httpCompression on, perMessageDeflate off, no cookie, no allowRequest
  let opts;
  let uncompressed;
  const sockets = [];
  before(async () => {
    [plain, opts, uncompressed] = await Promise.all([
      startConformance([]),
      startConformance(['--cookie', '--per-message-deflate', '--deny-header', 'x-deny']),
      startConformance(['--http-compression', 'off']),
    ]);
  });
  after(async () => {
    for (const s of sockets) s.disconnect();
    await Promise.all([plain, opts, uncompressed].map((s) => s?.stop()));
  });
  const client = (server, options) => {
    const socket = io(server.http, { forceNew: true, reconnection: false, ...options });
    sockets.push(socket);
    return socket;
  };
  const once = (emitter, event) => withTimeout(
    new Promise((resolve) => emitter.once(event, (...args) => resolve(args))), 5_000, `event ${event}`);

  test('httpCompression: polling payloads from 1024 bytes on come gzip\'d or deflated', async () => {
    let res = await rawGet(await askVolume(plain.http, 5000), { 'accept-encoding': 'gzip, deflate' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.match(res.headers.vary, /Accept-Encoding/); // Node sends no Vary for it; caches need it
    assert.ok(res.body.length < 500, `${res.body.length} bytes on the wire`);
    assert.equal(volumeIn(zlib.gunzipSync(res.body).toString()), 'x'.repeat(5000));

    res = await rawGet(await askVolume(plain.http, 5000), { 'accept-encoding': 'deflate' });
    assert.equal(res.headers['content-encoding'], 'deflate');
    assert.equal(volumeIn(zlib.inflateSync(res.body).toString()), 'x'.repeat(5000));

    // Node's fetch asks for gzip by itself and decodes the answer.
    const fetched = await fetch(await askVolume(plain.http, 5000));
    assert.equal(fetched.headers.get('content-encoding'), 'gzip');
    assert.equal(volumeIn(await fetched.text()), 'x'.repeat(5000));

    // Below the threshold, without Accept-Encoding, or with the option off: as it is.
    for (const [server, size, headers] of [
      [plain, 500, { 'accept-encoding': 'gzip' }],
      [plain, 5000, {}],
      [uncompressed, 5000, { 'accept-encoding': 'gzip' }],
    ]) {
      res = await rawGet(await askVolume(server.http, size), headers);
      assert.equal(res.headers['content-encoding'], undefined);
      assert.equal(volumeIn(res.body.toString()), 'x'.repeat(size));
    }
  });

  test('cookie: the handshake sets io=<sid>, polling and WebSocket-only alike', async () => {
    const base = `${opts.http}/socket.io/?EIO=4&transport=polling`;
    const res = await fetch(base);
    const { sid } = JSON.parse((await res.text()).slice(1));
    assert.equal(res.headers.get('set-cookie'), `io=${sid}; Path=/; HttpOnly; SameSite=Lax`);
    const later = await fetch(`${base}&sid=${sid}`, { method: 'POST', body: '40' });
    assert.equal(later.headers.get('set-cookie'), null);
    assert.equal((await fetch(`${plain.http}/socket.io/?EIO=4&transport=polling`)).headers.get('set-cookie'), null);

    const ws = await open(`${opts.ws}/socket.io/?EIO=4&transport=websocket`);
    const first = (await ws.inbox.next()).data.toString();
    const wsSid = JSON.parse(first.slice(1)).sid;
    // Node 6 sets no cookie on the 101 (its WebSocket transport emits no `headers`); we do.
    assert.deepEqual(ws.responseHeaders['set-cookie'], [`io=${wsSid}; Path=/; HttpOnly; SameSite=Lax`]);
    ws.terminate();
  });

  test('allowRequest: refused handshakes get Node\'s answers and the client a connect_error', async () => {
    const base = `${opts.http}/socket.io/?EIO=4&transport=polling`;
    let res = await fetch(base, { headers: { 'x-deny': 'Thou shall not pass' } });
    assert.equal(res.status, 403);
    assert.deepEqual(await res.json(), { code: 4, message: 'Thou shall not pass' });
    res = await fetch(base, { headers: { 'x-deny': '' } });
    assert.equal(res.status, 403);
    assert.deepEqual(await res.json(), { code: 4, message: 'Forbidden' });

    const polling = client(opts, { transports: ['polling'], extraHeaders: { 'x-deny': 'no' } });
    const [pollError] = await once(polling, 'connect_error');
    assert.equal(pollError.message, 'xhr poll error');
    assert.equal(pollError.description, 403);

    const websocket = client(opts, { transports: ['websocket'], extraHeaders: { 'x-deny': 'no' } });
    const [wsError] = await once(websocket, 'connect_error');
    assert.equal(wsError.message, 'websocket error');
    assert.match(String(wsError.description?.message ?? wsError.description), /400/);

    const welcome = client(opts, { transports: ['polling'] });
    await once(welcome, 'connect');
  });

  test('perMessageDeflate: off by default; when on, a client\'s offer is accepted', async () => {
    const url = '/socket.io/?EIO=4&transport=websocket';
    const declined = await open(plain.ws + url, { perMessageDeflate: true });
    assert.equal(declined.responseHeaders['sec-websocket-extensions'], undefined);
    declined.terminate();
    const accepted = await open(opts.ws + url, { perMessageDeflate: true });
    assert.match(accepted.responseHeaders['sec-websocket-extensions'], /^permessage-deflate/);
    accepted.terminate();

    const text = 'compressible '.repeat(20_000);
    for (const [server, negotiated] of [[opts, 'permessage-deflate'], [plain, '']]) {
      const socket = client(server, { transports: ['websocket'], perMessageDeflate: { threshold: 1024 } });
      await once(socket, 'connect');
      assert.equal(socket.io.engine.transport.ws.extensions, negotiated);
      socket.emit('message', text);
      assert.deepEqual(await once(socket, 'message-back'), [text]);
      // compress(false) answers between compressed ones: the client's inflater keeps its
      // context across the plain frame.
      for (const event of ['message-uncompressed', 'message', 'message-uncompressed', 'message']) {
        socket.emit(event, `${event} ${text}`);
        assert.deepEqual(await once(socket, 'message-back'), [`${event} ${text}`]);
      }
      socket.emit('volume', 100_000);
      const [volume] = await once(socket, 'volume');
      assert.equal(volume, 'x'.repeat(100_000));
    }
  });
});
