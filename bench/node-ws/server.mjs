// The switchboard server contract on Node's `ws`: /healthz, /ws/echo and the /ws publish/subscribe
// protocol, written the way a Node developer would (one JSON.stringify per publish, ws.send per
// subscriber). It is the benchmark peer (bench/run.sh) and the reference the interop tests are
// validated against (tests/interop/ref-bin.sh).
//
// Usage: node server.mjs [--listen HOST:PORT] [--max-message-size BYTES] [--no-deflate]
//                        [--allowed-origin ORIGIN]... [--shutdown-timeout SECS]
// Prints `switchboard listening on http://HOST:PORT` on stdout when ready.
import http from 'node:http';
import { WebSocketServer } from 'ws';

const options = { listen: '127.0.0.1:3003', maxMessageSize: 16 * 1024 * 1024, deflate: true, origins: [], shutdownTimeout: 10 };
for (let i = 2; i < process.argv.length; i++) {
  const flag = process.argv[i];
  const value = () => process.argv[++i];
  if (flag === '--listen') options.listen = value();
  else if (flag === '--max-message-size') options.maxMessageSize = Number(value());
  else if (flag === '--no-deflate') options.deflate = false;
  else if (flag === '--allowed-origin') options.origins.push(value());
  else if (flag === '--shutdown-timeout') options.shutdownTimeout = Number(value());
  else if (flag === '--max-frame-size' || flag === '--log-level') value(); // ws has no frame limit
  else { console.error(`unknown flag ${flag}`); process.exit(2); }
}
const split = options.listen.lastIndexOf(':');
const host = options.listen.slice(0, split);
const port = Number(options.listen.slice(split + 1));

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  else if (req.url === '/ws' || req.url === '/ws/echo') res.writeHead(400).end('not a WebSocket handshake');
  else res.writeHead(404).end();
});
const wsOptions = { noServer: true, perMessageDeflate: options.deflate, maxPayload: options.maxMessageSize };
const echo = new WebSocketServer(wsOptions);
const pubsub = new WebSocketServer(wsOptions);
const rooms = new Map(); // room -> Set<ws>

// `ws` reports protocol errors (after sending the close frame) as 'error' events.
for (const wss of [echo, pubsub]) wss.on('connection', (ws) => ws.on('error', () => {}));

echo.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

pubsub.on('connection', (ws) => {
  const joined = new Set();
  const error = (message) => ws.send(JSON.stringify({ type: 'error', message }));
  ws.on('message', (raw, isBinary) => {
    if (isBinary) return error('binary messages are not part of the /ws protocol');
    let request;
    try { request = JSON.parse(raw); } catch { return error('invalid JSON'); }
    const { type, room } = request ?? {};
    if (typeof room !== 'string') return error('"room" must be a string');
    if (type === 'subscribe') {
      if (!rooms.has(room)) rooms.set(room, new Set());
      rooms.get(room).add(ws);
      joined.add(room);
    } else if (type === 'unsubscribe') {
      rooms.get(room)?.delete(ws);
      joined.delete(room);
    } else if (type === 'publish') {
      if (!('data' in request)) return error('missing "data"');
      const out = JSON.stringify({ type: 'message', room, data: request.data });
      for (const member of rooms.get(room) ?? []) if (member !== ws) member.send(out);
    } else {
      error(`unknown type ${JSON.stringify(type)}`);
    }
  });
  ws.on('close', () => { for (const room of joined) rooms.get(room)?.delete(ws); });
});

// The handshake checks `ws` does differently (426 instead of 400 for a wrong version, 403 for
// an origin), made here before handing the request to `ws`.
function refuse(socket, status, text, headers = '') {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n${headers}\r\n`);
}

server.on('upgrade', (req, socket, head) => {
  const target = req.url === '/ws/echo' ? echo : req.url === '/ws' ? pubsub : null;
  if (!target) return refuse(socket, 404, 'Not Found');
  const version = req.headers['sec-websocket-version'];
  if (version !== undefined && version !== '13') {
    return refuse(socket, 426, 'Upgrade Required', 'Sec-WebSocket-Version: 13\r\n');
  }
  const origin = req.headers.origin;
  if (options.origins.length && origin !== undefined && !options.origins.includes(origin)) {
    return refuse(socket, 403, 'Forbidden');
  }
  target.handleUpgrade(req, socket, head, (ws) => target.emit('connection', ws, req));
});

// Graceful shutdown: stop accepting, close every WebSocket with 1001, exit 0 when all are
// closed or the timeout has passed.
function shutdown(signal) {
  console.error(`${signal}: closing ${echo.clients.size + pubsub.clients.size} WebSockets with 1001`);
  server.close();
  const clients = [...echo.clients, ...pubsub.clients];
  for (const ws of clients) ws.close(1001, 'server shutting down');
  const deadline = setTimeout(() => process.exit(0), options.shutdownTimeout * 1000);
  Promise.all(clients.map((ws) => new Promise((resolve) => {
    if (ws.readyState === ws.CLOSED) resolve();
    else ws.once('close', resolve);
  }))).then(() => { clearTimeout(deadline); process.exit(0); });
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

server.listen(port, host, () => {
  console.log(`switchboard listening on http://${host}:${server.address().port}`);
});
