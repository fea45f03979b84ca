// Node's `ws` client against /ws/echo: every length class, text and binary, fragmentation,
// permessage-deflate (on and off at either end), close codes, ping/pong.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, open, closed, closeWith, noise, withTimeout } from './server.mjs';

let server;
let plain; // started with --no-deflate
before(async () => {
  [server, plain] = await Promise.all([startServer(), startServer(['--no-deflate'])]);
});
after(async () => { await Promise.all([server?.stop(), plain?.stop()]); });

const SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20];
const ascii = (size) => Array.from({ length: size }, (_, i) => String.fromCharCode(32 + (i % 95))).join('');

async function echoes(ws, data, binary) {
  ws.send(data, { binary });
  const got = await ws.inbox.next();
  assert.equal(got.isBinary, binary, `message type for ${data.length} bytes`);
  if (binary) assert.ok(Buffer.from(data).equals(got.data), `binary payload of ${data.length} bytes`);
  else assert.equal(got.data.toString(), data, `text payload of ${data.length} bytes`);
}

for (const deflate of [false, true]) {
  test(`echoes text and binary at sizes ${SIZES.join(', ')} (client deflate ${deflate})`, async () => {
    const ws = await open(`${server.url}/ws/echo`, { perMessageDeflate: deflate });
    assert.equal(ws.extensions.includes('permessage-deflate'), deflate);
    for (const size of SIZES) {
      await echoes(ws, ascii(size), false);
      await echoes(ws, noise(size, size + 1), true);
    }
    assert.equal((await closeWith(ws, 1000)).code, 1000);
  });
}

test('echoes multi-byte UTF-8 text unchanged', async () => {
  const ws = await open(`${server.url}/ws/echo`);
  for (const text of ['é', 'κόσμε', '€'.repeat(30_000), '𝄞 music 🎉', 'mixed ascii, ü, 中文, 🙂'.repeat(1000)]) {
    await echoes(ws, text, false);
  }
  ws.close();
  await closed(ws);
});

test('fragmented text and binary messages sent with fin:false are echoed whole', async () => {
  for (const deflate of [false, true]) {
    const ws = await open(`${server.url}/ws/echo`, { perMessageDeflate: deflate });
    ws.send('frag', { fin: false });
    ws.send('men', { fin: false });
    ws.send('ted ✓', { fin: true });
    let got = await ws.inbox.next();
    assert.equal(got.isBinary, false);
    assert.equal(got.data.toString(), 'fragmented ✓');

    // A 3-byte character split across three fragments is valid UTF-8 once reassembled.
    const euro = Buffer.from('€');
    for (let i = 0; i < 3; i++) ws.send(euro.subarray(i, i + 1), { binary: false, fin: i === 2 });
    got = await ws.inbox.next();
    assert.equal(got.data.toString(), '€');

    const parts = [Buffer.from([1, 2]), noise(70_000, 7), Buffer.alloc(0), Buffer.alloc(300, 9)];
    parts.forEach((p, i) => ws.send(p, { binary: true, fin: i === parts.length - 1 }));
    got = await ws.inbox.next();
    assert.equal(got.isBinary, true);
    assert.ok(Buffer.concat(parts).equals(got.data));

    // Many small fragments make one message.
    const many = Array.from({ length: 200 }, (_, i) => `<${i}>`);
    many.forEach((p, i) => ws.send(p, { fin: i === many.length - 1 }));
    assert.equal((await ws.inbox.next()).data.toString(), many.join(''));
    ws.close();
    await closed(ws);
  }
});

test('permessage-deflate is negotiated by default and large messages round-trip', async () => {
  const ws = await open(`${server.url}/ws/echo`, { perMessageDeflate: { threshold: 0 } });
  assert.match(ws.extensions, /permessage-deflate/);
  const compressible = JSON.stringify(Array.from({ length: 40_000 }, (_, i) => ({ id: i % 50, room: 'lobby' })));
  const random = noise(1 << 20, 42);
  for (let round = 0; round < 3; round++) {
    // The server compresses a 1 MiB compressible message: far fewer bytes arrive than were sent.
    const before = ws._socket.bytesRead;
    await echoes(ws, compressible, false);
    const onWire = ws._socket.bytesRead - before;
    assert.ok(onWire < compressible.length / 4, `${compressible.length} bytes echoed as ${onWire} on the wire`);
    await echoes(ws, random, true);
    await echoes(ws, 'small', false);
  }
  assert.equal((await closeWith(ws, 1000)).code, 1000);
});

test('permessage-deflate with no context takeover and small windows', async () => {
  const ws = await open(`${server.url}/ws/echo`, {
    perMessageDeflate: { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 10 },
  });
  // RFC 7692 7.1.2: an accepted offer echoes server_no_context_takeover, and
  // server_max_window_bits no larger than offered.
  const accepted = ws.responseHeaders['sec-websocket-extensions'] ?? '';
  assert.match(accepted, /permessage-deflate/);
  assert.match(accepted, /server_no_context_takeover/);
  const bits = /server_max_window_bits=(\d+)/.exec(accepted);
  assert.ok(bits && Number(bits[1]) <= 10, `server_max_window_bits in ${accepted}`);
  const text = 'abcabcabd'.repeat(50_000);
  for (let round = 0; round < 3; round++) {
    await echoes(ws, text, false);
    await echoes(ws, noise(100_000, round + 3), true);
  }
  ws.close();
  await closed(ws);
});

test('a server started with --no-deflate declines the extension and still echoes', async () => {
  const ws = await open(`${plain.url}/ws/echo`);
  assert.equal(ws.extensions, '');
  await echoes(ws, 'x'.repeat(100_000), false);
  await echoes(ws, noise(100_000), true);
  ws.close();
  await closed(ws);
});

test('close handshake: the server answers with the client close code', async () => {
  let ws = await open(`${server.url}/ws/echo`);
  assert.equal((await closeWith(ws, 1000, 'done')).code, 1000);

  ws = await open(`${server.url}/ws/echo`);
  const { code, reason } = await closeWith(ws, 4000, 'bye');
  assert.equal(code, 4000);
  assert.ok(reason === 'bye' || reason === '', `reason ${JSON.stringify(reason)}`);

  ws = await open(`${server.url}/ws/echo`);
  assert.equal((await closeWith(ws, 3001)).code, 3001);

  // A close frame without a code is answered by one without a code (1005 locally).
  ws = await open(`${server.url}/ws/echo`);
  assert.equal((await closeWith(ws)).code, 1005);
});

test('pings get pongs with the same payload, between messages', async () => {
  const ws = await open(`${server.url}/ws/echo`);
  for (const payload of [Buffer.alloc(0), Buffer.from('are you there'), noise(125, 9)]) {
    const pong = withTimeout(new Promise((resolve) => ws.once('pong', resolve)), 10_000, 'pong');
    ws.ping(payload);
    assert.ok(payload.equals(await pong), `pong payload of ${payload.length} bytes`);
    await echoes(ws, 'after ping', false);
  }
  ws.close();
  await closed(ws);
});
