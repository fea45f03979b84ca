// The Node reference for the Socket.IO Redis adapter interop test (socketio-redis.test.mjs):
// socket.io 4.8 with @socket.io/redis-adapter over node-redis 4: the classic pub/sub adapter
// (createAdapter), or with a third argument the sharded one (createShardedAdapter, Redis 7) in
// that subscription mode, or with `streams` @socket.io/redis-streams-adapter and
// connection-state recovery. Our Rust example takes the same command line and answers the same
// events, so the test runs either.
//
//   node redis-node-server.mjs 127.0.0.1:0 redis://127.0.0.1:6390 [static|dynamic|dynamic-private|streams]
//
// Several Redis URLs, comma-separated, are nodes of a Redis Cluster (node-redis's createCluster).
//
// Prints `listening on http://HOST:PORT` once it listens and its adapter is subscribed; exits 0
// on SIGTERM/SIGINT. Clients drive it with these events, each ending with an ack callback, where
// `opts` is {to?: string[], except?: string[], local?: boolean, volatile?: boolean}:
//   join(room) / leave(room)                      → true
//   emit(opts, payload)                           → true, after operator.emit('message', payload)
//   fetch(opts)                                   → [{id, rooms (sorted), data}] sorted by id
//   sockets-join(opts, rooms) / sockets-leave(opts, rooms) / disconnect-sockets(opts, close) → true
//   ask(opts, payload, timeoutMs)                 → {timedOut, responses (sorted by JSON)}
//   server-emit(args)          → true, after io.serverSideEmit('sse-hello', ...args)
//   server-ask(event, payload) → {timedOut, responses (sorted by JSON)} of
//                                io.serverSideEmitWithAck(event, payload) (the adapter's 5 s timeout)
//   server-heard()             → the argument lists of the 'sse-hello' events this server heard
//                                from the others, oldest first; the list is emptied
// The server answers the others' 'sse-ping' with {pong: payload} and never answers 'sse-silent'.
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter';
import { createClient, createCluster } from 'redis';

const [listen, redisUrl, kind] = process.argv.slice(2);
const at = listen?.lastIndexOf(':') ?? -1;
const streams = kind === 'streams';
const shardedMode = streams ? undefined : kind;
if (!redisUrl || at < 0 || (kind && !['static', 'dynamic', 'dynamic-private', 'streams'].includes(kind))) {
  console.error('usage: redis-node-server.mjs <host:port> <redis-url> [static|dynamic|dynamic-private|streams]');
  process.exit(2);
}
const host = listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
const port = Number(listen.slice(at + 1));

// Several URLs, comma-separated: nodes of a Redis Cluster.
const pub = redisUrl.includes(',')
  ? createCluster({ rootNodes: redisUrl.split(',').map((url) => ({ url })) })
  : createClient({ url: redisUrl });
const sub = pub.duplicate();
for (const client of [pub, sub]) client.on('error', (err) => console.error(`redis: ${err.message}`));
await Promise.all([pub.connect(), sub.connect()]);

const httpServer = createServer();
const adapterFactory = streams ? createStreamsAdapter(pub)
  : shardedMode ? createShardedAdapter(pub, sub, { subscriptionMode: shardedMode })
    : createAdapter(pub, sub);
const io = new Server(httpServer, {
  adapter: adapterFactory,
  ...(streams && { connectionStateRecovery: {} }),
});

// The adapter subscribes in its constructor without exposing the promise. Its channels are
// subscribed in order on one connection, so once the last one (this node's own response channel)
// is visible in PUBSUB NUMSUB (SHARDNUMSUB), the others are too, and no message published after
// our listening line can be missed.
const adapter = io.of('/').adapter;
// The streams adapter's own channel is private to it: it is the namespace's channel and uid.
const lastChannel = streams ? `socket.io#/#${adapter.uid}#`
  : shardedMode ? adapter.responseChannel : adapter.specificResponseChannel;
if (typeof lastChannel !== 'string') throw new Error('unexpected @socket.io/redis-adapter internals');
const deadline = Date.now() + 10_000;
const numsub = shardedMode ? 'SHARDNUMSUB' : 'NUMSUB';
/// PUBSUB NUMSUB (SHARDNUMSUB) of `channel`: on a cluster, every primary's, added up.
async function subscribers(channel) {
  const command = ['PUBSUB', numsub, channel];
  const nodes = pub.masters ? pub.masters.map((node) => node.client) : [pub];
  const replies = await Promise.all(nodes.map((node) => node.sendCommand(command)));
  return replies.reduce((sum, reply) => sum + Number(reply[1]), 0);
}
while (await subscribers(lastChannel) < 1) {
  if (Date.now() > deadline) throw new Error('the adapter did not subscribe within 10 s');
}

/// A broadcast operator on "/" for the test's selection options.
function select(opts) {
  const { to = [], except = [], local = false, volatile = false } = opts ?? {};
  let op = io.to(to).except(except);
  if (local) op = op.local;
  if (volatile) op = op.volatile;
  return op;
}

const sortedBy = (key) => (a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

/// Wraps a handler so that a thrown error or rejection is acked as {error} instead of crashing.
function handler(fn) {
  return async (...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : () => {};
    try {
      await fn(ack, ...args);
    } catch (err) {
      ack({ error: String(err) });
    }
  };
}

let heard = [];
io.on('sse-hello', (...args) => { heard.push(args); });
io.on('sse-ping', (payload, ack) => ack({ pong: payload }));
io.on('sse-silent', () => {});

io.on('connection', (socket) => {
  // A recovered socket has its data and rooms back already.
  const auth = socket.handshake.auth ?? {};
  if (!socket.recovered) {
    socket.data = { name: auth.name ?? null };
    if (typeof auth.room === 'string') socket.join(auth.room);
  }

  socket.on('join', handler(async (ack, room) => { await socket.join(room); ack(true); }));
  socket.on('leave', handler(async (ack, room) => { await socket.leave(room); ack(true); }));
  socket.on('emit', handler((ack, opts, payload) => {
    select(opts).emit('message', payload);
    ack(true);
  }));
  socket.on('fetch', handler(async (ack, opts) => {
    const sockets = await select(opts).fetchSockets();
    ack(sockets
      .map((s) => ({ id: s.id, rooms: [...s.rooms].sort(), data: s.data }))
      .sort(sortedBy((s) => s.id)));
  }));
  socket.on('sockets-join', handler((ack, opts, rooms) => { select(opts).socketsJoin(rooms); ack(true); }));
  socket.on('sockets-leave', handler((ack, opts, rooms) => { select(opts).socketsLeave(rooms); ack(true); }));
  socket.on('disconnect-sockets', handler((ack, opts, close) => {
    select(opts).disconnectSockets(close);
    ack(true);
  }));
  socket.on('server-emit', handler((ack, args) => {
    io.serverSideEmit('sse-hello', ...args);
    ack(true);
  }));
  socket.on('server-ask', handler(async (ack, event, payload) => {
    try {
      const responses = await io.serverSideEmitWithAck(event, payload);
      ack({ timedOut: false, responses: [...responses].sort(sortedBy((r) => JSON.stringify(r))) });
    } catch (err) {
      if (!Array.isArray(err.responses)) throw err;
      ack({ timedOut: true, responses: [...err.responses].sort(sortedBy((r) => JSON.stringify(r))) });
    }
  }));
  socket.on('server-heard', handler((ack) => {
    ack(heard);
    heard = [];
  }));
  socket.on('ask', handler((ack, opts, payload, timeoutMs) => {
    select(opts).timeout(timeoutMs).emit('question', payload, (err, responses) => {
      ack({ timedOut: !!err, responses: [...responses].sort(sortedBy((r) => JSON.stringify(r))) });
    });
  }));
});

await new Promise((resolve, reject) => {
  httpServer.once('error', reject);
  httpServer.listen(port, host, resolve);
});
const bound = httpServer.address();
const shown = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
console.log(`listening on http://${shown}:${bound.port}`);

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  // io.close() disconnects the clients, unsubscribes the adapter and closes the HTTP server.
  await io.close();
  await Promise.all([pub.quit(), sub.quit()]);
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
