// The official socket.io-client (npm, 4.x) against switchboard's Socket.IO server (the
// `conformance` example of crates/socketio, whose behaviour is described at its top), over
// long-polling only, WebSocket only, and the default polling → WebSocket upgrade.
// Needs SOCKETIO_SERVER_BIN (scripts/test.sh builds it); skipped without it unless
// SWITCHBOARD_INTEROP is set.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io, Manager } from 'socket.io-client';
import { withTimeout } from './server.mjs';
import { TRANSPORTS, connected, eventually, once, skip, startExample as startServer } from './sio-example.mjs';

let server;
before(async () => { if (!skip) server = await startServer(); });
after(async () => { await server?.stop(); });

for (const [name, options] of Object.entries(TRANSPORTS)) {
  describe(`socket.io-client over ${name}`, { skip }, () => {
    const sockets = [];
    const client = (nsp = '/', extra = {}) => {
      const socket = io(server.url + nsp, { forceNew: true, reconnection: false, ...options, ...extra });
      sockets.push(socket);
      return socket;
    };
    after(() => { for (const s of sockets) s.disconnect(); });

    test('connects, gets a socket id distinct from the Engine.IO id, and its auth back', async () => {
      const socket = client('/', { auth: { user: 'ada' } });
      const [auth] = await once(socket, 'auth');
      assert.deepEqual(auth, { user: 'ada' });
      await connected(socket);
      assert.match(socket.id, /^[\w-]{20}$/);
      assert.notEqual(socket.id, socket.io.engine.id);
      if (name === 'upgrade') {
        await withTimeout(new Promise((resolve) => {
          if (socket.io.engine.transport.name === 'websocket') resolve();
          socket.io.engine.once('upgrade', resolve);
        }), 5_000, 'the upgrade');
        assert.equal(socket.io.engine.transport.name, 'websocket');
      } else {
        assert.equal(socket.io.engine.transport.name, name);
      }
      // The server sees the same transport (after the upgrade, once the client says so).
      assert.equal(await socket.timeout(5_000).emitWithAck('transport'), socket.io.engine.transport.name);
    });

    test('events both ways with every argument, unicode included', async () => {
      const socket = await connected(client());
      socket.emit('message', 1, 'two', { three: [3, 'é', '😀'] }, null, true);
      const args = await once(socket, 'message-back');
      assert.deepEqual(args, [1, 'two', { three: [3, 'é', '😀'] }, null, true]);
    });

    test('acknowledgements from the server, with a timeout on the client', async () => {
      const socket = await connected(client());
      const reply = await socket.timeout(5_000).emitWithAck('message-with-ack', 'a', { b: 2 });
      assert.equal(reply, 'a');
      const both = await new Promise((resolve) =>
        socket.emit('message-with-ack', 'x', 'y', (...args) => resolve(args)));
      assert.deepEqual(both, ['x', 'y']);
    });

    test('acknowledgements from the client, asked for by the server', async () => {
      const socket = await connected(client());
      socket.on('question', (a, b, ack) => ack(`${a}+${b}`, 42));
      socket.emit('ask', 'left', 'right');
      const [answer] = await once(socket, 'asked');
      assert.deepEqual(answer, ['left+right', 42]);
    });

    test('binary both ways, nested and several attachments', async () => {
      const socket = await connected(client());
      const one = Buffer.from([0, 1, 2, 255]);
      const two = Buffer.alloc(70_000, 7);
      socket.emit('message', one, { nested: { two, n: 1 } }, 'text');
      const [a, b, c] = await once(socket, 'message-back');
      assert.deepEqual(Buffer.from(a), one);
      assert.deepEqual(Buffer.from(b.nested.two), two);
      assert.equal(b.nested.n, 1);
      assert.equal(c, 'text');
      const [acked] = await new Promise((resolve) =>
        socket.emit('message-with-ack', one, (...args) => resolve(args)));
      assert.deepEqual(Buffer.from(acked), one);
    });

    test('a serde struct with a bytes field arrives with a Buffer in it', async () => {
      const socket = await connected(client());
      socket.emit('file');
      const [file] = await once(socket, 'file');
      assert.equal(file.name, 'hello.bin');
      assert.ok(Buffer.isBuffer(file.data) || file.data instanceof ArrayBuffer, 'binary, not numbers');
      assert.deepEqual(Buffer.from(file.data), Buffer.from([0, 1, 2, 255]));
    });

    test('rooms: a message to a room reaches its members only', async () => {
      const [a, b, c] = await Promise.all([client(), client(), client()].map(connected));
      assert.equal(await a.emitWithAck('join', 'blue'), true);
      assert.equal(await b.emitWithAck('join', 'blue'), true);
      let strayed = false;
      c.on('room-message', () => { strayed = true; });
      const received = once(b, 'room-message');
      a.emit('to-room', 'blue', 'hello blue');
      assert.deepEqual(await received, ['hello blue']);
      // c is in no room; a round trip on c proves its earlier messages have arrived.
      await c.emitWithAck('message-with-ack', 'sync');
      assert.equal(strayed, false);
    });

    test('broadcast acknowledgements: every member of a room answers', async () => {
      const [a, b, c] = await Promise.all([client(), client(), client()].map(connected));
      assert.equal(await b.emitWithAck('join', 'poll'), true);
      assert.equal(await c.emitWithAck('join', 'poll'), true);
      b.on('poll', (ack) => ack('b'));
      c.on('poll', (ack) => ack('c'));
      const { answers, complete } = await a.timeout(5_000).emitWithAck('poll-room', 'poll');
      assert.deepEqual(answers.map((args) => args[0]).sort(), ['b', 'c']);
      assert.equal(complete, true);
    });

    test('fetchSockets lists the sockets of a room', async () => {
      const [a, b, c] = await Promise.all([client(), client(), client()].map(connected));
      assert.equal(await a.emitWithAck('join', 'listed'), true);
      assert.equal(await b.emitWithAck('join', 'listed'), true);
      const ids = await c.timeout(5_000).emitWithAck('room-members', 'listed');
      assert.deepEqual(ids, [a.id, b.id].sort());
    });

    test('per-packet middleware refuses an event; the server reports it back', async () => {
      const socket = await connected(client());
      const refused = once(socket, 'refused');
      socket.emit('forbidden', 'x');
      assert.deepEqual(await refused, ['forbidden event']);
      // Other events still flow.
      assert.deepEqual(await socket.emitWithAck('message-with-ack', 1), 1);
    });

    test('static and dynamic namespaces; unknown ones are refused', async () => {
      const custom = client('/custom');
      assert.deepEqual(await once(custom, 'auth'), [{}]);
      const dynamic = client('/dynamic-42');
      assert.deepEqual(await once(dynamic, 'namespace'), ['/dynamic-42']);
      const unknown = client('/nope');
      const [err] = await once(unknown, 'connect_error');
      assert.equal(err.message, 'Invalid namespace');
    });

    test('middleware refusals reach connect_error with their data', async () => {
      const refused = client('/restricted', { auth: { token: 'wrong' } });
      const [err] = await once(refused, 'connect_error');
      assert.equal(err.message, 'not authorized');
      assert.deepEqual(err.data, { reason: 'missing token' });
      const allowed = client('/restricted', { auth: { token: 'secret' } });
      assert.deepEqual(await once(allowed, 'auth'), [{ token: 'secret' }]);
    });

    test('the server leaving a namespace: disconnect reason and no reconnection', async () => {
      const socket = await connected(client());
      socket.emit('leave-namespace');
      const [reason] = await once(socket, 'disconnect');
      assert.equal(reason, 'io server disconnect');
    });

    test('the server closing the connection: the client reconnects by itself', async () => {
      const socket = client('/', { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100 });
      await connected(socket);
      const firstId = socket.id;
      socket.emit('disconnect-me');
      const [reason] = await once(socket, 'disconnect');
      assert.equal(reason, 'transport close');
      await once(socket, 'connect', 10_000);
      assert.notEqual(socket.id, firstId);
      const reply = await socket.timeout(5_000).emitWithAck('message-with-ack', 'back');
      assert.equal(reply, 'back');
    });

    test('messages at maxHttpBufferSize pass, beyond it the connection closes', async () => {
      const socket = await connected(client());
      // `42["message","…"]` around the payload: stay just under 1,000,000 bytes.
      const fits = 'y'.repeat(1_000_000 - 40);
      socket.emit('message', fits);
      const [back] = await once(socket, 'message-back', 10_000);
      assert.equal(back.length, fits.length);
      socket.emit('message', 'z'.repeat(1_000_001));
      const [reason] = await once(socket, 'disconnect', 10_000);
      assert.match(reason, /transport (close|error)/);
    });
  });
}

// `switchboard serve`: one room model for /ws and Socket.IO (docs/pubsub.md).
describe('connection-state recovery with socket.io-client', { skip }, () => {
  let recovering;
  const sockets = [];
  before(async () => { recovering = await startServer(['--recovery']); });
  after(async () => {
    sockets.forEach((s) => s.disconnect());
    await recovering?.stop();
  });

  for (const [name, options] of Object.entries(TRANSPORTS)) {
    test(`over ${name}: the socket comes back with its id, rooms and missed messages`, async () => {
      const client = (extra = {}) => {
        const socket = io(recovering.url, { forceNew: true, reconnection: false, ...options, ...extra });
        sockets.push(socket);
        return socket;
      };
      const a = client();
      const greeted = once(a, 'auth'); // an event: the client learns its first offset
      await connected(a);
      await greeted;
      assert.equal(a.recovered, false);
      const id = a.id;
      assert.equal(await a.emitWithAck('join', 'csr'), true);
      const b = await connected(client());

      const gone = once(a, 'disconnect');
      a.io.engine.close();
      await gone; // the client calls it a "forced close"; the server, a lost transport
      // Wait until the server dropped a from the room, then send it something.
      const deadline = Date.now() + 5_000;
      while ((await b.emitWithAck('room-members', 'csr')).includes(id)) {
        assert.ok(Date.now() < deadline, 'the server noticed the lost connection');
      }
      b.emit('to-room', 'csr', 'while you were away');
      await b.emitWithAck('message-with-ack', 'sync');

      const missed = once(a, 'room-message');
      a.connect();
      await once(a, 'connect');
      assert.equal(a.recovered, true);
      assert.equal(a.id, id, 'same socket id');
      assert.equal((await missed)[0], 'while you were away');
      // Still in its room.
      const live = once(a, 'room-message');
      b.emit('to-room', 'csr', 'welcome back');
      assert.equal((await live)[0], 'welcome back');
    });
  }
});

describe('switchboard serve: /ws and Socket.IO share rooms', { skip: !process.env.SWITCHBOARD_BIN && 'SWITCHBOARD_BIN not set' }, () => {
  let serve;
  let ws;
  let sio;
  let other;
  before(async () => {
    const { startServer: startSwitchboard, open } = await import('./server.mjs');
    serve = await startSwitchboard();
    ws = await open(`${serve.url}/ws`);
    sio = io(serve.httpUrl, { forceNew: true, reconnection: false });
    other = io(serve.httpUrl, { forceNew: true, reconnection: false, transports: ['polling'] });
    await Promise.all([connected(sio), connected(other)]);
  });
  after(async () => {
    sio?.disconnect();
    other?.disconnect();
    ws?.close();
    await serve?.stop();
  });

  test('a /ws publish reaches Socket.IO members of the room, and back', async () => {
    ws.send(JSON.stringify({ type: 'subscribe', room: 'R' }));
    assert.equal(await sio.timeout(5_000).emitWithAck('subscribe', 'R'), true);
    assert.equal(await other.timeout(5_000).emitWithAck('subscribe', 'R'), true);
    // /ws requests are handled in order: the subscribe is done before this publish goes out.
    ws.send(JSON.stringify({ type: 'publish', room: 'R', data: { from: 'ws', n: [1, 2] } }));
    assert.deepEqual(await once(sio, 'message'), [{ from: 'ws', n: [1, 2] }, 'R']);
    assert.deepEqual(await once(other, 'message'), [{ from: 'ws', n: [1, 2] }, 'R']);

    const wsGot = ws.inbox.next(5_000);
    const otherGot = once(other, 'message');
    assert.equal(await sio.timeout(5_000).emitWithAck('publish', 'R', { from: 'sio' }), true);
    assert.deepEqual(JSON.parse(String((await wsGot).data)), { type: 'message', room: 'R', data: { from: 'sio' } });
    assert.deepEqual(await otherGot, [{ from: 'sio' }, 'R']);
  });

  test('bad room names are refused', async () => {
    assert.equal(await sio.timeout(5_000).emitWithAck('subscribe', ''), false);
    assert.equal(await sio.timeout(5_000).emitWithAck('publish', 42, 'x'), false);
  });
});

describe('switchboard serve --socketio-recovery: a dropped client gets back what it missed', { skip: !process.env.SWITCHBOARD_BIN && 'SWITCHBOARD_BIN not set' }, () => {
  let serve;
  const closers = [];
  before(async () => {
    const { startServer: startSwitchboard } = await import('./server.mjs');
    serve = await startSwitchboard(['--socketio-recovery', '60']);
  });
  after(async () => {
    for (const close of closers) close();
    await serve?.stop();
  });

  test('its id, its room, and what Socket.IO and /ws published to the room meanwhile', async () => {
    const { open } = await import('./server.mjs');
    const client = (transports) => {
      const socket = io(serve.httpUrl, { forceNew: true, reconnection: false, transports });
      closers.push(() => socket.disconnect());
      return socket;
    };
    const a = client(['websocket']);
    const b = client(['polling']);
    const ws = await open(`${serve.url}/ws`);
    closers.push(() => ws.close());
    await Promise.all([connected(a), connected(b)]);
    assert.equal(await a.timeout(5_000).emitWithAck('subscribe', 'kept'), true);
    // A broadcast carries the offset a recovering client sends back.
    const first = once(a, 'message');
    assert.equal(await b.timeout(5_000).emitWithAck('publish', 'kept', 'first'), true);
    const [data, room, offset] = await first;
    assert.deepEqual([data, room], ['first', 'kept']);
    assert.equal(typeof offset, 'string', 'with recovery on, a broadcast ends with its offset (as in Node)');
    const id = a.id;

    const gone = once(a, 'disconnect');
    a.io.engine.close();
    await gone;
    assert.equal(await b.timeout(5_000).emitWithAck('publish', 'kept', 'from Socket.IO'), true);
    ws.send(JSON.stringify({ type: 'publish', room: 'kept', data: 'from /ws' }));
    // /ws requests are handled in order, and only errors are answered: the answer to a bad
    // request means the publish before it went out.
    ws.send(JSON.stringify({ type: 'sync' }));
    assert.equal(JSON.parse(String((await ws.inbox.next(5_000)).data)).type, 'error');

    const missed = [];
    const bothMissed = new Promise((resolve) => a.on('message', (payload, to) => {
      if (missed.push([payload, to]) === 2) resolve();
    }));
    a.connect();
    await once(a, 'connect');
    assert.equal(a.recovered, true);
    assert.equal(a.id, id, 'same socket id');
    await withTimeout(bothMissed, 5_000, 'the two messages published while away');
    assert.deepEqual(missed, [['from Socket.IO', 'kept'], ['from /ws', 'kept']]);
  });
});

describe('empty dynamic namespaces are removed (cleanupEmptyChildNamespaces)', { skip }, () => {
  let cleaning;
  before(async () => { cleaning = await startServer(['--cleanup-namespaces']); });
  after(async () => { await cleaning?.stop(); });

  /// The sockets of namespace `/name` on the server, or null when it has none.
  const members = async (name) => {
    const res = await fetch(`${cleaning.url}/namespaces/${name}`);
    return res.status === 404 ? null : Number(await res.text());
  };

  test('40 namespaces on one multiplexed connection go as their sockets leave, and come back', async () => {
    const manager = new Manager(cleaning.url, { reconnection: false });
    const names = Array.from({ length: 40 }, (_, i) => `dynamic-${i}`);
    const sockets = names.map((name) => manager.socket(`/${name}`));
    for (const socket of sockets) socket.connect();
    const greetings = await Promise.all(sockets.map((socket) => once(socket, 'namespace')));
    assert.deepEqual(greetings, names.map((name) => [`/${name}`]));
    assert.deepEqual(await Promise.all(names.map(members)), names.map(() => 1));

    // The first half leave; the session and the other namespaces stay.
    for (const socket of sockets.slice(0, 20)) socket.disconnect();
    await eventually(async () => (await members('dynamic-19')) === null, 5_000, 'dynamic-19 removed');
    assert.deepEqual(await Promise.all(names.map(members)),
      names.map((_, i) => (i < 20 ? null : 1)));
    assert.equal(await cleaning.sessions(), 1);

    // A namespace removed is served afresh when joined again.
    sockets[0].connect();
    assert.deepEqual(await once(sockets[0], 'namespace'), ['/dynamic-0']);
    assert.equal(await members('dynamic-0'), 1);
    manager.engine.close();
    // The session leaves the registry a moment before its sockets close.
    await eventually(async () => (await Promise.all(names.map(members))).every((n) => n === null),
      5_000, 'every namespace removed with the session');
    assert.equal(await cleaning.sessions(), 0);
  });
});
