// SIGTERM/SIGINT: the server stops accepting, closes every WebSocket with 1001 and exits 0
// within its shutdown timeout; Socket.IO sessions end at once, as lost connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, open, closed, withTimeout } from './server.mjs';
import { rawConnect } from './raw.mjs';
import { io } from 'socket.io-client';

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

// socket.io-client over each transport: a stop ends every session at once (a polling client
// between two polls included, which would otherwise hold the stop until its close timeout),
// and the client is not told to stay away, so it reconnects (to another server, in a cluster).
for (const transports of [['polling'], ['websocket']]) {
  test(`SIGTERM ends socket.io-client sessions over ${transports} at once, as a lost connection`, async () => {
    const server = await startServer(['--shutdown-timeout', '30']);
    const clients = [];
    try {
      for (let i = 0; i < 3; i += 1) {
        const socket = io(server.url, { transports, reconnection: false });
        clients.push(socket);
        await withTimeout(new Promise((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('connect_error', reject);
        }), 10_000, 'connect');
      }
      if (transports[0] === 'polling') {
        // And a polling client between two polls: connected, no GET parked.
        const base = `http://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=polling`;
        const open = await (await fetch(base)).text();
        const { sid } = JSON.parse(open.slice(1));
        const posted = await fetch(`${base}&sid=${sid}`, { method: 'POST', body: '40' });
        assert.equal(await posted.text(), 'ok');
      }
      const reasons = Promise.all(clients.map((socket) => withTimeout(
        new Promise((resolve) => socket.once('disconnect', resolve)), 10_000, 'disconnect')));
      const started = Date.now();
      server.proc.kill('SIGTERM');
      for (const reason of await reasons) {
        assert.ok(['transport close', 'transport error'].includes(reason), `disconnected with ${reason}`);
      }
      assert.deepEqual(await withTimeout(server.exited, 10_000, 'the server to exit'), { code: 0, signal: null });
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 5000, `exited after ${elapsed} ms (shutdown timeout 30 s)`);
    } finally {
      for (const socket of clients) socket.close();
      await server.stop();
    }
  });
}
