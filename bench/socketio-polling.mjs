// Long-polling throughput: N socket.io-client sockets (transports ['polling']) each keep one
// `echo` emit waiting for its acknowledgement, for D seconds, against a server whose pid is
// given; reports acknowledged emits per second and per server CPU-second (from /proc).
//   node bench/socketio-polling.mjs URL SERVER_PID [clients=50] [seconds=10]
// Uses tests/interop's socket.io-client (scripts/install-test-deps.sh installs it).
import { readFileSync } from 'node:fs';
import { io } from '../tests/interop/node_modules/socket.io-client/build/esm-debug/index.js';

const [url, pidArg, clientsArg = '50', secondsArg = '10'] = process.argv.slice(2);
const pid = Number(pidArg);
const clients = Number(clientsArg);
const seconds = Number(secondsArg);
const ticks = 100; // USER_HZ on Linux

function cpuSeconds() {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

const sockets = await Promise.all(Array.from({ length: clients }, () => new Promise((resolve, reject) => {
  const socket = io(url, { transports: ['polling'], forceNew: true, reconnection: false });
  socket.once('connect', () => resolve(socket));
  socket.once('connect_error', reject);
})));

let counting = false;
let acked = 0;
let stop = false;
const payload = 'x'.repeat(32);
const loops = sockets.map(async (socket) => {
  while (!stop) {
    await socket.emitWithAck('echo', payload);
    if (counting) acked += 1;
  }
});
await new Promise((r) => setTimeout(r, 2000)); // warm-up
const cpu0 = cpuSeconds();
counting = true;
const t0 = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
counting = false;
const elapsed = (performance.now() - t0) / 1000;
const cpu = cpuSeconds() - cpu0;
stop = true;
await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 2000))]);
for (const s of sockets) s.disconnect();
console.log(JSON.stringify({
  mode: 'polling-echo', clients, seconds: elapsed, acked,
  per_second: Math.round(acked / elapsed), server_cpu_seconds: cpu,
  per_server_cpu_second: cpu > 0 ? Math.round(acked / cpu) : null,
}));
process.exit(0);
