// SIGTERM: the server stops accepting, closes every WebSocket with 1001 and exits 0 in time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, open, closed, withTimeout } from './server.mjs';

test('SIGTERM closes WebSockets with 1001 and exits 0', async () => {
  const server = await startServer(['--shutdown-timeout', '5']);
  try {
    const sockets = await Promise.all([
      open(server.url('/ws/echo')),
      open(server.url('/ws/echo')),
      open(server.url('/ws')),
    ]);
    const codes = sockets.map((ws) => closed(ws, 8000));
    server.proc.kill('SIGTERM');
    for (const { code } of await Promise.all(codes)) assert.equal(code, 1001);
    const { code } = await withTimeout(server.exited, 8000, 'server exit');
    assert.equal(code, 0);
  } finally {
    await server.stop();
  }
});
