// Many concurrent connections, each echoing its own messages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, open, closed } from './server.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

test('200 concurrent connections each echo 20 messages', async () => {
  const sockets = await Promise.all(Array.from({ length: 200 }, (_, i) =>
    open(`${server.url}/ws/echo`, { perMessageDeflate: i % 2 === 0 })));
  await Promise.all(sockets.map(async (ws, i) => {
    for (let j = 0; j < 20; j++) ws.send(j % 2 ? `conn ${i} message ${j}` : Buffer.from([i & 0xff, j]));
    for (let j = 0; j < 20; j++) {
      const { data, isBinary } = await ws.inbox.next(30_000);
      if (j % 2) assert.equal(data.toString(), `conn ${i} message ${j}`);
      else assert.deepEqual([isBinary, ...data], [true, i & 0xff, j]);
    }
  }));
  await Promise.all(sockets.map(async (ws) => {
    ws.close(1000);
    assert.equal((await closed(ws, 30_000)).code, 1000);
  }));
});
