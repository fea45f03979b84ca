// Node's socket.io server (npm, 4.8) for the Rust client's tests
// (crates/socketio-client/tests/servers.rs), which run the same scenarios against switchboard's
// own server with the same handlers. Prints `listening on http://127.0.0.1:PORT`.
// Flags: --recovery turns on connection-state recovery; --msgpack uses socket.io-msgpack-parser;
// --ping-interval MS and --ping-timeout MS replace the 300 ms between pings and the 10 s the
// client has to answer one.
import { createServer } from 'node:http';
import { Server } from 'socket.io';

/// The number after flag `name`, if given.
const flag = (name) => {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : Number(process.argv[at + 1]);
};
const recovery = process.argv.includes('--recovery');
const parser = process.argv.includes('--msgpack')
  ? (await import('socket.io-msgpack-parser')).default
  : undefined;
// Why each socket disconnected, as the server saw it (`GET /reason/<socket id>`).
const reasons = new Map();
// `GET /sessions`: the open Engine.IO sessions, for tests checking that none is left over.
const httpServer = createServer((req, res) => {
  if (req.url === '/sessions') return res.end(String(io.engine.clientsCount));
  const reason = /^\/reason\/(.+)$/.exec(req.url);
  if (reason) return res.end(reasons.get(decodeURIComponent(reason[1])) ?? '');
  res.statusCode = 404;
  return res.end();
});
const io = new Server(httpServer, {
  // Pings every 300 ms, but 10 s to answer: a session the client left without a goodbye
  // outlives every wait of the tests.
  pingInterval: flag('--ping-interval') ?? 300,
  pingTimeout: flag('--ping-timeout') ?? 10_000,
  connectionStateRecovery: recovery ? { maxDisconnectionDuration: 60_000 } : undefined,
  ...(parser ? { parser } : {}),
});

function handlers(socket) {
  socket.on('disconnect', (reason) => reasons.set(socket.id, reason));
  socket.emit('welcome', { id: socket.id, nsp: socket.nsp.name, auth: socket.handshake.auth });
  socket.on('echo', (...args) => args.pop()(...args));
  socket.on('transport', (ack) => ack(socket.conn.transport.name));
  socket.on('header', (name, ack) => ack(socket.handshake.headers[name] ?? null));
  socket.on('burst', (n) => { for (let i = 0; i < n; i += 1) socket.emit('seq', i); });
  // The server asks the client, waits for its acknowledgement, and reports it.
  socket.on('ask', async (event, ...args) => {
    try {
      socket.emit('answered', await socket.timeout(5_000).emitWithAck(event, ...args));
    } catch (err) {
      socket.emit('answered', `no answer: ${err.message}`);
    }
  });
  socket.on('binary', (ack) => ack(Buffer.from([0, 1, 254, 255]), { nested: [Buffer.from('xyz')] }));
  socket.on('join', (room, ack) => { socket.join(room); ack(true); });
  socket.on('to-room', (room, ...args) => io.of(socket.nsp.name).to(room).emit('news', ...args));
  socket.on('disconnect-me', () => socket.disconnect());
  // Closes the connection under the client, then broadcasts to `room` once the socket is gone.
  socket.on('drop-then-send', (room, message) => {
    socket.once('disconnect', () => io.of(socket.nsp.name).to(room).emit('news', message));
    socket.conn.close();
  });
}

io.on('connection', handlers);
io.of('/admin')
  .use((socket, next) => {
    if (socket.handshake.auth?.token === 'secret') return next();
    const err = new Error('not authorized');
    err.data = { reason: 'bad token' };
    return next(err);
  })
  .on('connection', handlers);

httpServer.listen(0, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${httpServer.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
