// A Node `ws` echo server for our Rust client to connect to (crates/ws-tokio/tests/peers.rs).
// Echoes every message with its type, offers permessage-deflate, listens on a free port and
// prints `listening on ws://127.0.0.1:PORT` (wss:// with `--tls CERT KEY`).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { WebSocketServer } from 'ws';

const i = process.argv.indexOf('--tls');
const tls = i > 0 ? { cert: readFileSync(process.argv[i + 1]), key: readFileSync(process.argv[i + 2]) } : null;
const server = tls ? https.createServer(tls) : http.createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: { threshold: 0 }, maxPayload: 64 << 20 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening on ${tls ? 'wss' : 'ws'}://127.0.0.1:${server.address().port}`);
});
