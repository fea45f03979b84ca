// SIGTERM/SIGINT: the server stops accepting, closes every WebSocket with 1001 and exits 0
// within its shutdown timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, open, closed, withTimeout } from './server.mjs';
import { rawConnect } from './raw.mjs';

for (const signal of ['SIGTERM', 'SIGINT']) {
  test(`${signal} closes every WebSocket with 1001 and exits 0`, async () => {
    const server = await startServer(['--shutdown-timeout', '5']);
    try {
      const sockets = await Promise.all([
        ...Array.from({ length: 3 }, () => open(`${server.url}/ws/echo`)),
        ...Array.from({ length: 3 }, () => open(`${server.url}/ws`)),
      ]);
      // A round trip on each proves they are all established before the signal.
      for (const ws of sockets) ws.ping();
      await Promise.all(sockets.map((ws) => withTimeout(new Promise((r) => ws.once('pong', r)), 10_000, 'pong')));
      const codes = Promise.all(sockets.map((ws) => closed(ws, 10_000)));
      server.proc.kill(signal);
      for (const { code } of await codes) assert.equal(code, 1001);
      assert.deepEqual(await withTimeout(server.exited, 10_000, 'the server to exit'), { code: 0, signal: null });
      // It no longer accepts.
      await assert.rejects(open(`${server.url}/ws/echo`));
    } finally {
      await server.stop();
    }
  });
}

test('a client that never answers the close does not hold up shutdown past the timeout', async () => {
  const server = await startServer(['--shutdown-timeout', '2']);
  try {
    const silent = await rawConnect(server.port); // reads frames but never replies
    const polite = await open(`${server.url}/ws/echo`);
    const started = Date.now();
    server.proc.kill('SIGTERM');
    assert.equal(await silent.closeCode(), 1001);
    assert.equal((await closed(polite)).code, 1001);
    const { code } = await withTimeout(server.exited, 10_000, 'the server to exit');
    assert.equal(code, 0);
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 2000 + 3000, `exited after ${elapsed} ms with a 2 s shutdown timeout`);
    silent.destroy();
  } finally {
    await server.stop();
  }
});
