// Engine.IO over raw HTTP against switchboard's Socket.IO server (the `conformance` example):
// Node's error answers for bad requests, the body limit, overlapping polls, and a session that
// survives what it should. Needs SOCKETIO_SERVER_BIN (scripts/test.sh builds it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
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
