// The official socket.io-client 4.x with socket.io-msgpack-parser (npm) against switchboard's
// Socket.IO server with the msgpack parser (the `conformance` example, `--msgpack`), over
// long-polling, WebSocket and the upgrade: events, acks both ways, binary both ways (inline
// msgpack `bin`, no attachments), namespaces, a middleware refusal with data.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import msgpackParser from 'socket.io-msgpack-parser';
import { TRANSPORTS, connected, once, skip, startExample as startServer } from './sio-example.mjs';

let server;
before(async () => { if (!skip) server = await startServer(['--msgpack']); });
after(async () => { await server?.stop(); });

for (const [name, options] of Object.entries(TRANSPORTS)) {
  describe(`socket.io-client with socket.io-msgpack-parser over ${name}`, { skip }, () => {
    const sockets = [];
    const client = (nsp = '/', extra = {}) => {
      const socket = io(server.url + nsp, {
        forceNew: true, reconnection: false, parser: msgpackParser, ...options, ...extra,
      });
      sockets.push(socket);
      return socket;
    };
    after(() => { for (const s of sockets) s.disconnect(); });

    test('connects with its auth, events with every argument both ways', async () => {
      const socket = client('/', { auth: { user: 'ada' } });
      assert.deepEqual(await once(socket, 'auth'), [{ user: 'ada' }]);
      await connected(socket);
      assert.match(socket.id, /^[\w-]{20}$/);
      socket.emit('message', 1, 'two', { three: [3, 'é', '😀'] }, null, true, -5, 1.5);
      assert.deepEqual(await once(socket, 'message-back'),
        [1, 'two', { three: [3, 'é', '😀'] }, null, true, -5, 1.5]);
    });

    test('acknowledgements both ways', async () => {
      const socket = await connected(client());
      assert.equal(await socket.timeout(5_000).emitWithAck('message-with-ack', 'a', { b: 2 }), 'a');
      socket.on('question', (a, b, ack) => ack(`${a}+${b}`, 42));
      socket.emit('ask', 'left', 'right');
      assert.deepEqual((await once(socket, 'asked'))[0], ['left+right', 42]);
    });

    test('binary both ways, nested, and a serde struct with a bytes field', async () => {
      const socket = await connected(client());
      const one = Buffer.from([0, 1, 2, 255]);
      const two = Buffer.alloc(70_000, 7);
      socket.emit('message', one, { nested: { two, n: 1 } });
      const [a, b] = await once(socket, 'message-back');
      assert.deepEqual(Buffer.from(a), one);
      assert.deepEqual(Buffer.from(b.nested.two), two);
      socket.emit('file');
      const [file] = await once(socket, 'file');
      assert.equal(file.name, 'hello.bin');
      assert.deepEqual(Buffer.from(file.data), Buffer.from([0, 1, 2, 255]));
    });

    test('namespaces, and a middleware refusal with its data', async () => {
      assert.deepEqual(await once(client('/custom'), 'auth'), [{}]);
      assert.deepEqual(await once(client('/dynamic-7'), 'namespace'), ['/dynamic-7']);
      const [unknown] = await once(client('/nope'), 'connect_error');
      assert.equal(unknown.message, 'Invalid namespace');
      const [refused] = await once(client('/restricted'), 'connect_error');
      assert.equal(refused.message, 'not authorized');
      assert.deepEqual(refused.data, { reason: 'missing token' });
      const allowed = client('/restricted', { auth: { token: 'secret' } });
      assert.deepEqual(await once(allowed, 'auth'), [{ token: 'secret' }]);
    });

    test('rooms and a broadcast acknowledged by every member', async () => {
      const [a, b, c] = await Promise.all([client(), client(), client()].map(connected));
      assert.equal(await b.emitWithAck('join', 'mp'), true);
      assert.equal(await c.emitWithAck('join', 'mp'), true);
      b.on('poll', (ack) => ack('b'));
      c.on('poll', (ack) => ack('c'));
      const { answers, complete } = await a.timeout(5_000).emitWithAck('poll-room', 'mp');
      assert.deepEqual(answers.map((args) => args[0]).sort(), ['b', 'c']);
      assert.equal(complete, true);
    });
  });
}
