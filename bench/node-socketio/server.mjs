// Node's socket.io 4.8 with the benchmark application shared by every Socket.IO server in
// bench/: namespace "/" acknowledges `echo` with its arguments and relays `broadcast` to every
// other socket. Prints "listening on http://ADDR". With REDIS_URL, the servers sharing that
// Redis form one cluster through @socket.io/redis-adapter (bench/socketio-redis.sh): its classic
// adapter, or its sharded one with REDIS_SHARDED set to a subscription mode; or, with
// REDIS_STREAMS=1, through @socket.io/redis-streams-adapter with connection-state recovery on
// (as switchboard's redis_server example runs it). A REDIS_URL of several URLs, comma-separated,
// names nodes of a Redis Cluster (node-redis's createCluster).
//   node server.mjs [port]
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.argv[2] ?? 3000);
const http = createServer();
const streams = Boolean(process.env.REDIS_STREAMS);
/// A node-redis client for REDIS_URL: a cluster client when it lists several nodes.
async function redisClient() {
  const { createClient, createCluster } = await import('redis');
  const urls = process.env.REDIS_URL.split(',');
  return urls.length > 1 ? createCluster({ rootNodes: urls.map((url) => ({ url })) }) : createClient({ url: urls[0] });
}
const io = new Server(http, {
  serveClient: false,
  ...(streams ? { connectionStateRecovery: {} } : {}),
});
if (process.env.REDIS_URL && streams) {
  const { createAdapter } = await import('@socket.io/redis-streams-adapter');
  const client = await redisClient();
  await client.connect();
  io.adapter(createAdapter(client));
} else if (process.env.REDIS_URL) {
  const { createAdapter, createShardedAdapter } = await import('@socket.io/redis-adapter');
  const pub = await redisClient();
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const mode = process.env.REDIS_SHARDED;
  io.adapter(mode ? createShardedAdapter(pub, sub, { subscriptionMode: mode }) : createAdapter(pub, sub));
  // The adapter subscribes without a promise: wait for its own response channel, its last.
  const { uid } = io.of('/').adapter;
  const [numsub, channel] = mode
    ? ['SHARDNUMSUB', `socket.io#/#${uid}#`]
    : ['NUMSUB', `socket.io-response#/#${uid}#`];
  // On a cluster, every primary's count, added up.
  const nodes = pub.masters ? pub.masters.map((node) => node.client) : [pub];
  const counted = async () => (await Promise.all(nodes.map((node) => node.sendCommand(['PUBSUB', numsub, channel]))))
    .reduce((sum, reply) => sum + Number(reply[1]), 0);
  while ((await counted()) < 1) await new Promise((resolve) => setTimeout(resolve, 10));
}
io.on('connection', (socket) => {
  socket.on('echo', (...args) => {
    const ack = args.pop();
    if (typeof ack === 'function') ack(...args);
  });
  socket.on('broadcast', (...args) => socket.broadcast.emit('broadcast', ...args));
});
http.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${http.address().port}`);
});
