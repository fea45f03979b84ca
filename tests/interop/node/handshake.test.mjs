// The opening handshake over plain HTTP: 400 for a bad key or missing headers, 426 naming
// version 13, 403 for a disallowed Origin, 431 for oversized headers; /healthz.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, open, closed } from './server.mjs';
import { httpExchange } from './raw.mjs';

const GOOD_ORIGIN = 'http://good.example';
let server;
before(async () => { server = await startServer(['--allowed-origin', GOOD_ORIGIN, '--allowed-origin', 'https://also.example']); });
after(async () => { await server?.stop(); });

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
/// A handshake request for `path` with headers overridden (null removes one).
function request(path, overrides = {}) {
  const headers = {
    Host: '127.0.0.1', Upgrade: 'websocket', Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY, 'Sec-WebSocket-Version': '13', ...overrides,
  };
  const lines = Object.entries(headers).filter(([, v]) => v !== null).map(([k, v]) => `${k}: ${v}\r\n`);
  return `GET ${path} HTTP/1.1\r\n${lines.join('')}\r\n`;
}

for (const path of ['/ws', '/ws/echo']) {
  test(`a valid handshake on ${path} is accepted with the RFC 6455 accept key`, async () => {
    const res = await httpExchange(server.port, request(path));
    assert.equal(res.status, 101);
    assert.equal(res.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    assert.equal(res.headers.upgrade.toLowerCase(), 'websocket');
  });

  const bad400 = {
    'no Sec-WebSocket-Key': { 'Sec-WebSocket-Key': null },
    'a Sec-WebSocket-Key that is not 16 base64 bytes': { 'Sec-WebSocket-Key': 'c2hvcnQ=' },
    'a Sec-WebSocket-Key that is not base64': { 'Sec-WebSocket-Key': '!!!!!!!!!!!!!!!!!!!!!!==' },
    'no Upgrade header': { Upgrade: null },
    'no Connection header': { Connection: null },
    'Connection without upgrade': { Connection: 'keep-alive' },
  };
  for (const [name, overrides] of Object.entries(bad400)) {
    test(`${path}: ${name} gets 400`, async () => {
      assert.equal((await httpExchange(server.port, request(path, overrides))).status, 400);
    });
  }

  for (const version of ['8', '12', '14', 'x']) {
    test(`${path}: Sec-WebSocket-Version ${version} gets 426 naming version 13`, async () => {
      const res = await httpExchange(server.port, request(path, { 'Sec-WebSocket-Version': version }));
      assert.equal(res.status, 426);
      const offered = (res.headers['sec-websocket-version'] ?? '').split(',').map((v) => v.trim());
      assert.ok(offered.includes('13'), `Sec-WebSocket-Version: ${res.headers['sec-websocket-version']}`);
    });
  }
}

test('a disallowed Origin gets 403, allowed origins open', async () => {
  assert.equal((await httpExchange(server.port, request('/ws', { Origin: 'http://evil.example' }))).status, 403);
  assert.equal((await httpExchange(server.port, request('/ws/echo', { Origin: 'http://good.example:8080' }))).status, 403);
  for (const origin of [GOOD_ORIGIN, 'https://also.example']) {
    const ws = await open(`${server.url}/ws/echo`, { origin });
    ws.send('hello');
    assert.equal((await ws.inbox.next()).data.toString(), 'hello');
    ws.close();
    await closed(ws);
  }
});

test('request headers over 16 KiB get 431', async () => {
  const res = await httpExchange(server.port, request('/ws', { 'X-Padding': 'a'.repeat(20_000) }));
  assert.equal(res.status, 431);
  // Many small headers adding up count too.
  const many = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`X-Pad-${i}`, 'b'.repeat(60)]));
  assert.equal((await httpExchange(server.port, request('/ws/echo', many))).status, 431);
});

test('/healthz answers 200 ok and the server still serves after the bad handshakes', async () => {
  const res = await fetch(`${server.httpUrl}/healthz`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  assert.equal((await res.text()).trim(), 'ok');
  const ws = await open(`${server.url}/ws/echo`);
  ws.send(Buffer.from([1, 2, 3]));
  assert.deepEqual([...(await ws.inbox.next()).data], [1, 2, 3]);
  ws.close();
  await closed(ws);
});
