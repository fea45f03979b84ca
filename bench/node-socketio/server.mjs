// Node's socket.io 4.8 with the benchmark application shared by every Socket.IO server in
// bench/: namespace "/" acknowledges `echo` with its arguments and relays `broadcast` to every
// other socket. Prints "listening on http://ADDR". With REDIS_URL, the servers sharing that
// Redis form one cluster through @socket.io/redis-adapter (bench/socketio-redis.sh).
//   node server.mjs [port]
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.argv[2] ?? 3000);
const http = createServer();
const io = new Server(http, { serveClient: false });
if (process.env.REDIS_URL) {
  const { createClient } = await import('redis');
  const { createAdapter } = await import('@socket.io/redis-adapter');
  const pub = createClient({ url: process.env.REDIS_URL });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
  // The adapter subscribes without a promise: wait for its own response channel, its last.
  const channel = `socket.io-response#/#${io.of('/').adapter.uid}#`;
  const counted = async () => Number((await pub.sendCommand(['PUBSUB', 'NUMSUB', channel]))[1]);
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
