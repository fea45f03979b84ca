// Benchmark peer: the /ws/echo and /ws publish/subscribe contract on Node's `ws`, written the
// way a Node developer would (one JSON.stringify per publish, ws.send per subscriber).
// Usage: node server.mjs [--listen 127.0.0.1:3003]
import http from 'node:http';
import { WebSocketServer } from 'ws';

const i = process.argv.indexOf('--listen');
const [host, port] = (i > 0 ? process.argv[i + 1] : '127.0.0.1:3003').split(':');

const server = http.createServer((req, res) => {
  res.writeHead(req.url === '/healthz' ? 200 : 404).end(req.url === '/healthz' ? 'ok\n' : '');
});
const echo = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const pubsub = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const rooms = new Map(); // room -> Set<ws>

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
    if (typeof room !== 'string' || room.length === 0) return error('"room" must be a string');
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

server.on('upgrade', (req, socket, head) => {
  const target = req.url === '/ws/echo' ? echo : req.url === '/ws' ? pubsub : null;
  if (!target) return socket.destroy();
  target.handleUpgrade(req, socket, head, (ws) => target.emit('connection', ws, req));
});
server.listen(Number(port), host, () => {
  console.log(`switchboard listening on http://${host}:${server.address().port}`);
});
