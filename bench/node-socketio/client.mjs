// Load from the client's side with Node's socket.io-client 4.8, as
// crates/socketio-client/examples/client_bench.rs does it: SOCKETS sockets (each its own
// connection, `forceNew`) keep IN_FLIGHT acknowledged `echo` emits each in flight for SECONDS.
// Prints one JSON line: acknowledged echoes, the process's CPU seconds and echoes per CPU-second.
// With IN_FLIGHT 0 it measures memory instead: RSS growth from before the sockets connect to
// SECONDS after, divided by SOCKETS.
//   node client.mjs URL SOCKETS IN_FLIGHT SECONDS [websocket|polling]
import { io } from 'socket.io-client';

const [url = 'http://127.0.0.1:3400', sockets = '100', inFlight = '1', seconds = '8',
  transport = 'websocket'] = process.argv.slice(2);
const rssBefore = process.memoryUsage().rss;
const clients = [];
for (let i = 0; i < Number(sockets); i += 1) {
  clients.push(io(url, { forceNew: true, transports: [transport] }));
}
await Promise.all(clients.map((socket) => new Promise((resolve, reject) => {
  socket.once('connect', resolve);
  socket.once('connect_error', reject);
})));

if (Number(inFlight) === 0) {
  await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000));
  const grown = process.memoryUsage().rss - rssBefore;
  console.log(JSON.stringify({
    client: 'socket.io-client',
    sockets: Number(sockets),
    idle_seconds: Number(seconds),
    rss_growth_bytes: grown,
    rss_per_socket_bytes: Math.round(grown / Number(sockets)),
  }));
  process.exit(0);
}

const payload = 'x'.repeat(32);
let acked = 0;
const start = performance.now();
const cpuStart = process.cpuUsage();
const deadline = start + Number(seconds) * 1000;
const loop = async (socket) => {
  while (performance.now() < deadline) {
    await socket.timeout(10_000).emitWithAck('echo', payload);
    acked += 1;
  }
};
await Promise.all(clients.flatMap((socket) => Array.from({ length: Number(inFlight) }, () => loop(socket))));
const cpu = process.cpuUsage(cpuStart);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
console.log(JSON.stringify({
  client: 'socket.io-client',
  sockets: Number(sockets),
  in_flight: Number(inFlight),
  seconds: Number(((performance.now() - start) / 1000).toFixed(2)),
  acked,
  cpu_seconds: Number(cpuSeconds.toFixed(2)),
  acked_per_cpu_second: Math.round(acked / Math.max(cpuSeconds, 0.01)),
}));
for (const socket of clients) socket.disconnect();
process.exit(0);
