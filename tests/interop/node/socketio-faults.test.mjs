// The official socket.io-client (npm, 4.x) against switchboard's Socket.IO server (the
// `conformance` example: ping every 300 ms, 200 ms to answer) through a bad network, made by
// fault-proxy.mjs: every write cut into pieces of a few bytes, a partition that freezes every
// flow and then heals, an upgrade whose WebSocket is reset mid-probe, an upgrade whose final
// packet is lost, and a client that stops reading while the server has a lot to send it.
// Each test also checks that the server is left with no session it should have dropped.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startFaultProxy } from './fault-proxy.mjs';
import { TRANSPORTS, connected, eventually, once, skip, startExample } from './sio-example.mjs';

/// How long the server may take to notice a dead peer: one ping interval, the ping timeout,
/// and slack for a loaded machine.
const DEAD_PEER_MS = 5_000;

/// Resolves once `socket` has moved from long-polling to WebSocket.
async function upgraded(socket) {
  if (socket.io.engine.transport.name !== 'websocket') await once(socket.io.engine, 'upgrade');
}

/// Starts the example and a proxy in front of it, and gives each test clients that are all
/// disconnected, and the proxy reset, at its end.
function withServer(flags = []) {
  const context = { sockets: [], disconnects: [] };
  before(async () => {
    context.server = await startExample(flags);
  });
  after(async () => { await context.server?.stop(); });
  context.proxied = async () => {
    context.proxy = await startFaultProxy({ host: '127.0.0.1', port: context.server.port });
    return context.proxy;
  };
  context.client = (url, options) => {
    const socket = io(url, { forceNew: true, reconnection: false, ...options });
    context.sockets.push(socket);
    // What ended each connection, for the failure message: a reason alone does not tell a
    // server that closed the session (a 400 on the next poll) from a network that failed.
    socket.on('disconnect', (reason, details) => {
      const why = [details?.message, details?.description?.message ?? details?.description]
        .filter((part) => part !== undefined).join(', ');
      context.disconnects.push(why ? `${reason} (${why})` : reason);
    });
    return socket;
  };
  /// Disconnects every client and checks the server ends up with no session at all. The proxy
  /// stays up until then: a polling client's goodbye is a POST of its own, sent after
  /// `disconnect()` returns, and it must get through the proxy's (slow) network.
  const cleanUp = async () => {
    for (const socket of context.sockets.splice(0)) socket.disconnect();
    try {
      await eventually(async () => (await context.server.sessions()) === 0, DEAD_PEER_MS,
        'the server to have no session left');
    } finally {
      await context.proxy?.stop();
      context.proxy = undefined;
    }
  };
  /// Runs a test's body, then cleans up. The body's failure, if any, is the one reported
  /// (not the clean-up's that it may cause), with the proxy's seed.
  context.run = async (body) => {
    const seed = context.proxy?.seed;
    context.disconnects = [];
    let failure;
    try { await body(); } catch (err) { failure = err; }
    try { await cleanUp(); } catch (err) { failure ??= err; }
    if (failure) {
      if (seed !== undefined) failure.message += ` (fault proxy seed ${seed})`;
      if (context.disconnects.length > 0) {
        failure.message += `; the clients' disconnects: ${context.disconnects.join('; ')}`;
      }
      throw failure;
    }
  };
  return context;
}

describe('socket.io-client through a network that cuts every write into pieces', { skip }, () => {
  // Pings still cross the cut-up network every 300 ms, but with time to get through: over
  // polling a ping waits for the response before it to arrive, a few bytes per event-loop turn,
  // which can take longer than the suite's 200 ms (and the client's 500 ms) on a busy machine.
  const ctx = withServer(['--ping-timeout', '10000']);

  for (const [name, options] of Object.entries(TRANSPORTS)) {
    test(`over ${name}: events, binary, acks both ways and a large message arrive intact`, async () => {
      const proxy = await ctx.proxied();
      proxy.fragment(7); // the HTTP requests, the WebSocket handshake and every frame, 1–7 bytes at a time
      await ctx.run(async () => {
        const socket = ctx.client(proxy.url, { ...options, auth: { token: 'ünïcødé ✓' } });
        const greeted = once(socket, 'auth');
        await connected(socket);
        assert.deepEqual((await greeted)[0], { token: 'ünïcødé ✓' });
        if (name === 'upgrade') await upgraded(socket);
        assert.equal(await socket.emitWithAck('transport'), name === 'polling' ? 'polling' : 'websocket');

        const args = ['text ✓ 🎉', 42, { nested: [true, null, Buffer.from([0, 1, 254, 255])] },
          Buffer.alloc(3000, 7)];
        const back = once(socket, 'message-back');
        socket.emit('message', ...args);
        assert.deepEqual(await back, args);
        const answer = await new Promise((resolve, reject) => {
          socket.timeout(5_000).emit('message-with-ack', 'ack', Buffer.from('bin'),
            (err, ...acked) => (err ? reject(err) : resolve(acked)));
        });
        assert.deepEqual(answer, ['ack', Buffer.from('bin')]);

        socket.on('question', (...received) => received.pop()('answer', ...received));
        const asked = once(socket, 'asked');
        socket.emit('ask', 'from the server?');
        assert.deepEqual((await asked)[0], ['answer', 'from the server?']);

        const volume = once(socket, 'volume', 20_000);
        socket.emit('volume', 20_000);
        assert.equal((await volume)[0], 'x'.repeat(20_000));
      });
    });
  }
});

describe('socket.io-client through a partition that heals', { skip }, () => {
  const ctx = withServer(['--recovery']);

  for (const [name, options] of Object.entries(TRANSPORTS)) {
    test(`over ${name}: both sides notice, the client comes back by itself and recovers what it missed`, async () => {
      const proxy = await ctx.proxied();
      await ctx.run(async () => {
        const a = ctx.client(proxy.url, {
          ...options,
          reconnection: true,
          reconnectionDelay: 50,
          reconnectionDelayMax: 200,
          randomizationFactor: 0,
          timeout: 1_000, // each attempt during the partition gives up after a second
        });
        // An event carries the offset a recovering client sends back, so a needs one first.
        const greeted = once(a, 'auth');
        const b = await connected(ctx.client(ctx.server.url, { transports: ['websocket'] }));
        await connected(a);
        await greeted;
        if (name === 'upgrade') await upgraded(a);
        const id = a.id;
        assert.equal(await a.emitWithAck('join', 'partitioned'), true);
        assert.equal(await ctx.server.sessions(), 2);

        const lost = once(a, 'disconnect', DEAD_PEER_MS);
        proxy.freeze();
        assert.equal((await lost)[0], 'ping timeout', 'the client noticed the silence itself');
        await eventually(async () => !(await b.emitWithAck('room-members', 'partitioned')).includes(id),
          DEAD_PEER_MS, 'the server to drop the silent socket from its room');
        await eventually(async () => (await ctx.server.sessions()) === 1, DEAD_PEER_MS,
          'the server to close the silent session');

        b.emit('to-room', 'partitioned', 'sent during the partition');
        await b.emitWithAck('message-with-ack', 'sync');
        const missed = once(a, 'room-message', 10_000);
        const back = once(a, 'connect', 10_000);
        proxy.thaw();
        await back;
        assert.equal(a.recovered, true, 'connection-state recovery after the partition');
        assert.equal(a.id, id);
        assert.equal((await missed)[0], 'sent during the partition');
        const live = once(a, 'room-message');
        b.emit('to-room', 'partitioned', 'after the partition');
        assert.equal((await live)[0], 'after the partition');
        await eventually(async () => (await ctx.server.sessions()) === 2, DEAD_PEER_MS,
          'two sessions again, the recovered one and b');
      });
    });
  }
});

describe('socket.io-client whose WebSocket upgrade is reset mid-probe', { skip }, () => {
  const ctx = withServer();

  test('the client stays on long-polling and the server keeps one session', async () => {
    const proxy = await ctx.proxied();
    let resets = 0;
    proxy.onDownstream((conn, chunk) => {
      if (conn.kind === 'websocket' && chunk.includes('3probe')) {
        resets += 1;
        return 'reset';
      }
      return undefined;
    });
    await ctx.run(async () => {
      const socket = ctx.client(proxy.url, {});
      const failed = once(socket.io.engine, 'upgradeError');
      await connected(socket);
      await failed;
      assert.equal(resets, 1);
      assert.equal(socket.io.engine.transport.name, 'polling');
      assert.equal(await socket.emitWithAck('transport'), 'polling');
      assert.equal(await socket.emitWithAck('message-with-ack', 'still here'), 'still here');
      assert.equal(await ctx.server.sessions(), 1, 'the failed probe left no session behind');
    });
  });
});

describe('socket.io-client whose upgrade packet is lost', { skip }, () => {
  const ctx = withServer();

  test('both sides time out, the client reconnects by itself, nothing is left over', async () => {
    const proxy = await ctx.proxied();
    // After the server's `3probe`, whatever the client sends on that WebSocket is lost: the
    // client believes it upgraded, the server never hears its `5` and keeps polling.
    const probed = new Set();
    proxy.onDownstream((conn, chunk) => {
      if (conn.kind === 'websocket' && chunk.includes('3probe')) probed.add(conn);
      return undefined;
    });
    proxy.onUpstream((conn) => (probed.has(conn) ? 'drop' : undefined));
    await ctx.run(async () => {
      const socket = ctx.client(proxy.url, {
        reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100, randomizationFactor: 0,
      });
      await connected(socket);
      const lost = once(socket, 'disconnect', DEAD_PEER_MS);
      await upgraded(socket);
      // Whichever comes first: the client hears no ping on either transport, or the server,
      // whose pings go unanswered, ends the session and closes that WebSocket.
      assert.ok(['ping timeout', 'transport close'].includes((await lost)[0]), `reason ${(await lost)[0]}`);
      assert.equal(probed.size, 1);
      // The network is good again: the client's own reconnection gets a new session.
      proxy.onUpstream(null);
      await once(socket, 'connect', DEAD_PEER_MS);
      assert.equal(await socket.emitWithAck('message-with-ack', 'back'), 'back');
      await eventually(async () => (await ctx.server.sessions()) === 1, DEAD_PEER_MS,
        'the half-upgraded session to be gone, the new one left');
    });
  });
});

describe('socket.io-client that stops reading while the server sends', { skip }, () => {
  // Pings 20 s apart: the session must be closed by its full queue, well before a ping could
  // go unanswered.
  const ctx = withServer(['--ping-interval', '20000', '--ping-timeout', '20000']);

  for (const name of ['polling', 'websocket']) {
    test(`over ${name}: the server closes that session only, and others carry on`, async () => {
      const proxy = await ctx.proxied();
      await ctx.run(async () => {
        const stuck = await connected(ctx.client(proxy.url, TRANSPORTS[name]));
        const sender = await connected(ctx.client(ctx.server.url, { transports: ['websocket'] }));
        assert.equal(await stuck.emitWithAck('join', 'firehose'), true);
        proxy.stopReadingAll(); // polling opens a connection per request: those to come too

        // 28 MB: more than the kernel's buffers (up to 10 MB here), the WebSocket's send buffer
        // (4 MiB) and the session's queue (1,024 packets) hold together, and more packets
        // than a polling session keeps for its next GET (4,096) with its queue.
        const message = 'y'.repeat(4 * 1024);
        for (let i = 0; i < 7_000; i += 1) sender.emit('to-room', 'firehose', message);
        await eventually(async () => (await ctx.server.sessions()) === 1, 10_000,
          'the server to close the session that does not read, before any ping is due');
        assert.equal(await sender.emitWithAck('message-with-ack', 'unharmed'), 'unharmed');
        assert.deepEqual(await sender.emitWithAck('room-members', 'firehose'), []);
      });
    });
  }
});
