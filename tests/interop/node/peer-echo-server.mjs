// A Node `ws` echo server for our Rust client to connect to (crates/ws-tokio/tests/peers.rs).
// Echoes every message with its type, offers permessage-deflate, listens on a free port and
// prints `listening on ws://127.0.0.1:PORT`.
import { WebSocketServer } from 'ws';

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
server.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
server.on('listening', () => {
  console.log(`listening on ws://127.0.0.1:${server.address().port}`);
});
