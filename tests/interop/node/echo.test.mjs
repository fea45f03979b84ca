// Node's `ws` client against /ws/echo: sizes, fragmentation, permessage-deflate, close, ping.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, open, inbox, closed, withTimeout } from './server.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

const SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20];

for (const deflate of [false, true]) {
  test(`echo text and binary at every length class (deflate ${deflate})`, async () => {
    const ws = await open(server.url('/ws/echo'), { perMessageDeflate: deflate });
    assert.equal(ws.extensions.includes('permessage-deflate'), deflate);
    const messages = inbox(ws);
    for (const size of SIZES) {
      const text = 'é'.repeat(Math.floor(size / 2)) + (size % 2 ? 'x' : '');
      ws.send(text);
      const got = await messages.next();
      assert.equal(got.isBinary, false);
      assert.equal(got.data.toString(), text);
      const binary = Buffer.alloc(size);
      for (let i = 0; i < size; i++) binary[i] = (i * 31) & 0xff;
      ws.send(binary);
      const echoed = await messages.next();
      assert.equal(echoed.isBinary, true);
      assert.ok(binary.equals(echoed.data), `binary ${size}`);
    }
    ws.close(1000);
    assert.equal((await closed(ws)).code, 1000);
  });
}

test('fragmented messages are reassembled', async () => {
  for (const deflate of [false, true]) {
    const ws = await open(server.url('/ws/echo'), { perMessageDeflate: deflate });
    const messages = inbox(ws);
    ws.send('frag', { fin: false });
    ws.send('men', { fin: false });
    ws.send('ted', { fin: true });
    assert.equal((await messages.next()).data.toString(), 'fragmented');
    const parts = [Buffer.from([1, 2]), Buffer.alloc(70000, 3), Buffer.from([4])];
    parts.forEach((p, i) => ws.send(p, { binary: true, fin: i === parts.length - 1 }));
    const got = await messages.next();
    assert.equal(got.isBinary, true);
    assert.ok(Buffer.concat(parts).equals(got.data));
    ws.close();
    await closed(ws);
  }
});

test('compressible and incompressible messages round-trip with permessage-deflate', async () => {
  const ws = await open(server.url('/ws/echo'), { perMessageDeflate: { threshold: 0 } });
  const messages = inbox(ws);
  const compressible = JSON.stringify(Array.from({ length: 5000 }, (_, i) => ({ id: i, room: 'lobby' })));
  const random = Buffer.alloc(300_000);
  for (let i = 0; i < random.length; i++) random[i] = Math.floor(Math.random() * 256);
  for (let round = 0; round < 3; round++) {
    ws.send(compressible);
    assert.equal((await messages.next()).data.toString(), compressible);
    ws.send(random);
    assert.ok(random.equals((await messages.next()).data));
  }
  ws.close();
  await closed(ws);
});

test('close codes and reasons are answered, pings get pongs', async () => {
  const ws = await open(server.url('/ws/echo'));
  const pong = withTimeout(new Promise((resolve) => ws.once('pong', resolve)), 5000, 'pong');
  ws.ping('are you there');
  assert.equal((await pong).toString(), 'are you there');
  ws.close(4000, 'bye');
  assert.equal((await closed(ws)).code, 4000);
});

test('200 concurrent connections each echo', async () => {
  const sockets = await Promise.all(Array.from({ length: 200 }, () => open(server.url('/ws/echo'))));
  await Promise.all(
    sockets.map(async (ws, i) => {
      const messages = inbox(ws);
      ws.send(`hello ${i}`);
      assert.equal((await messages.next(10000)).data.toString(), `hello ${i}`);
      ws.close();
      await closed(ws, 10000);
    }),
  );
});
