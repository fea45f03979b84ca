// Node's socket.io 4.8 with the benchmark application shared by every Socket.IO server in
// bench/: namespace "/" acknowledges `echo` with its arguments and relays `broadcast` to every
// other socket. Prints "listening on http://ADDR".
//   node server.mjs [port]
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.argv[2] ?? 3000);
const http = createServer();
const io = new Server(http, { serveClient: false });
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
