// Our Socket.IO Redis adapter against Node's official one (@socket.io/redis-adapter 8.3), through
// a private redis-server: clients of two servers sharing one Redis see each other's broadcasts,
// room selections, fetchSockets, socketsJoin/Leave, disconnectSockets and broadcast
// acknowledgements, and the servers exchange server-side events (serverSideEmit,
// serverSideEmitWithAck). Three topologies: the Node reference (redis-node-server.mjs) next to
// one of ours, each side initiating in turn, two of ours, and the Node reference next to ours on
// a Redis Cluster of three primaries (node-redis's createCluster against our connect_cluster).
// Each runs with the classic adapter (createAdapter, pub/sub), with the sharded one
// (createShardedAdapter, Redis 7's sharded pub/sub) in each subscription mode, and with
// @socket.io/redis-streams-adapter, where a client that lost its connection to one server
// recovers its session on the other.
//
// $SOCKETIO_REDIS_SERVER_BIN is our server (same command line and events as
// redis-node-server.mjs); `node-reference` puts the Node reference in its place, to check this
// file itself. Skipped without it unless SWITCHBOARD_INTEROP is set; likewise without
// redis-server. $SOCKETIO_REDIS_URL uses a running Redis instead of a private one (to watch the
// traffic with `redis-cli psubscribe '*'`); nothing else may use its "socket.io" channels.
//   SOCKETIO_REDIS_SERVER_BIN=node-reference node --test node/socketio-redis.test.mjs
import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer as createTcpServer, connect as tcpConnect } from 'node:net';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { createClient } from 'redis';
import { withTimeout, open as openWs, closed } from './server.mjs';

const REFERENCE = fileURLToPath(new URL('./redis-node-server.mjs', import.meta.url));
const BIN = process.env.SOCKETIO_REDIS_SERVER_BIN;
const STRICT = Boolean(process.env.SWITCHBOARD_INTEROP);
const EXTERNAL_REDIS = process.env.SOCKETIO_REDIS_URL;
const haveRedis = Boolean(EXTERNAL_REDIS) || spawnSync('redis-server', ['--version']).status === 0;
const skip = STRICT ? false
  : !BIN ? 'SOCKETIO_REDIS_SERVER_BIN not set (our Redis adapter example, or node-reference)'
    : !haveRedis ? 'redis-server not installed (scripts/install-test-deps.sh installs it)'
      : false;
// The adapters, and how each counts the servers of "/" with the default key: the subscribers of
// the classic adapter's request channel, or of the sharded adapter's namespace channel.
const ADAPTERS = [
  { name: 'classic', args: [], count: ['PUBSUB', 'NUMSUB', 'socket.io-request#/#'] },
  ...['dynamic', 'static', 'dynamic-private'].map((mode) => ({
    name: `sharded, ${mode}`, args: [mode], count: ['PUBSUB', 'SHARDNUMSUB', 'socket.io#/#'],
  })),
  // @socket.io/redis-streams-adapter, with connection-state recovery on both servers.
  { name: 'streams', args: ['streams'], count: ['PUBSUB', 'NUMSUB', 'socket.io#/#'] },
];

const live = new Set();
process.on('exit', () => { for (const proc of live) proc.kill('SIGKILL'); });

/// Spawns a child whose stdout and stderr are drained (a full pipe would stall it) and kept in
/// `output()` for error messages; `exited` resolves with {code, signal}.
function child(cmd, args) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let tail = '';
  const keep = (chunk) => { tail = (tail + chunk).slice(-8192); };
  proc.stderr.on('data', keep);
  proc.exited = new Promise((resolve) => {
    const done = (code, signal) => { live.delete(proc); resolve({ code, signal }); };
    proc.once('exit', done);
    // A command that cannot start emits no 'exit'.
    proc.once('error', (err) => { keep(`${cmd}: ${err.message}\n`); done(proc.exitCode, null); });
  });
  proc.output = () => tail;
  proc.keep = keep;
  return proc;
}

const running = (proc) => proc.exitCode === null && proc.signalCode === null;

async function freePort() {
  const server = createTcpServer().listen(0, '127.0.0.1');
  await new Promise((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/// One PING over a fresh connection: true on +PONG, false when it cannot connect yet.
function ping(port) {
  return new Promise((resolve) => {
    const sock = tcpConnect(port, '127.0.0.1');
    let reply = '';
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (chunk) => { reply += chunk; if (reply.includes('\r\n')) done(reply.startsWith('+PONG')); });
    sock.once('error', () => done(false));
    sock.once('close', () => done(false));
  });
}

/// A private redis-server on a free loopback port, ready once it answers PING.
async function startRedis(extra = []) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = child('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no', '--dir', tmpdir(), ...extra]);
    proc.stdout.on('data', proc.keep);
    const deadline = Date.now() + 10_000;
    // Polled with a short pause: until it listens, each attempt is refused at once.
    while (running(proc) && Date.now() < deadline && !(await ping(port))) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (running(proc) && Date.now() < deadline) {
      return { url: `redis://127.0.0.1:${port}`, port, stop: async () => { proc.kill('SIGKILL'); await proc.exited; } };
    }
    proc.kill('SIGKILL');
    await proc.exited;
    // It exits at once when another process took the port in the meantime: try another.
    if (attempt === 3 || Date.now() >= deadline) {
      throw new Error(`redis-server did not answer PING on port ${port}\n--- its output ---\n${proc.output()}`);
    }
  }
}

/// A Redis Cluster of three primaries, joined with `redis-cli --cluster create`; its `url` is the
/// nodes' URLs, comma-separated, as both servers take them.
async function startRedisCluster() {
  const dir = mkdtempSync(join(tmpdir(), 'sb-redis-cluster-'));
  const nodes = [];
  for (let i = 0; i < 3; i++) {
    // The bus port chosen free too: the default, port + 10000, may be taken or too large.
    nodes.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-node-timeout', '2000',
      '--cluster-port', String(await freePort()), '--cluster-config-file', join(dir, `nodes-${i}.conf`)]));
  }
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  const created = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`),
    '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' });
  if (created.status !== 0) {
    await stop();
    throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
  }
  const ok = (node) => spawnSync('redis-cli', ['-p', String(node.port), 'cluster', 'info'], { encoding: 'utf8' })
    .stdout.includes('cluster_state:ok');
  const deadline = Date.now() + 20_000;
  while (!nodes.every(ok)) {
    if (Date.now() > deadline) { await stop(); throw new Error('the Redis cluster did not settle'); }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url: nodes.map((n) => n.url).join(','), nodes, stop };
}

/// Starts a Socket.IO server of `kind` ('node' or 'ours') on Redis; resolves with
/// {label, url, stop()}. stop() sends SIGTERM and expects a clean exit.
async function startServer(kind, label, redisUrl, adapterArgs) {
  const [cmd, args] = kind === 'node' || BIN === 'node-reference'
    ? [process.execPath, [REFERENCE]]
    : [BIN, []];
  const proc = child(cmd, [...args, '127.0.0.1:0', redisUrl, ...adapterArgs]);
  const stop = async () => {
    if (!running(proc)) return;
    proc.kill('SIGTERM');
    try {
      const { code, signal } = await withTimeout(proc.exited, 5_000, `${label} to exit on SIGTERM`);
      assert.equal(code, 0, `${label} exits 0 on SIGTERM (got ${code ?? signal})\n${proc.output()}`);
    } finally {
      proc.kill('SIGKILL');
      await proc.exited;
    }
  };
  try {
    const port = await withTimeout(new Promise((resolve, reject) => {
      createInterface({ input: proc.stdout }).on('line', (line) => {
        const m = /listening on http:\/\/[^:]+:(\d+)/.exec(line);
        if (m) resolve(Number(m[1]));
      });
      proc.exited.then(({ code, signal }) => reject(new Error(`${label} exited early (${code ?? signal})`)));
    }), 15_000, `${label} to print its listening line`);
    return { label, url: `http://127.0.0.1:${port}`, stop };
  } catch (err) {
    proc.kill('SIGKILL');
    await proc.exited;
    err.message += `\n--- ${label} stderr ---\n${proc.output()}`;
    throw err;
  }
}

/// ArrayBuffers and typed arrays as Buffers, recursively, so received binary compares with
/// deepEqual against the Buffers that were sent.
function plain(value) {
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/// Resolves with the arguments of the next `event` on `emitter`.
function once(emitter, event, ms = 5_000) {
  return withTimeout(new Promise((resolve) => emitter.once(event, (...args) => resolve(args))),
    ms, `event ${event}`);
}

/// Sends a command event and resolves with its ack; an {error} ack throws.
async function call(socket, event, ...args) {
  const reply = plain(await socket.timeout(10_000).emitWithAck(event, ...args));
  if (reply && typeof reply === 'object' && 'error' in reply) {
    throw new Error(`${event} on ${socket.label}: ${reply.error}`);
  }
  return reply;
}

/// Retries `check` (which throws until its condition holds) until it passes or `ms` elapse.
/// Every attempt is a round trip to a server, so there is no pause between them.
async function eventually(what, check, ms = 5_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) {
        err.message = `${what}, still after ${ms} ms: ${err.message}`;
        throw err;
      }
    }
  }
}

const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const byJson = (a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);

// Each Redis deployment: {url, stop(), controls (a node-redis client per node, for PUBSUB)}.
const deployments = {};

/// `PUBSUB NUMSUB`-like `command` (e.g. ['PUBSUB', 'NUMSUB', channel]) on every node of
/// `deployment`, added up: a node counts its own subscribers only.
async function subscribers(deployment, command) {
  const replies = await Promise.all(deployment.controls.map((c) => c.sendCommand(command)));
  return replies.reduce((sum, reply) => sum + Number(reply[1]), 0);
}

async function withControls(deployment) {
  const urls = deployment.url.split(',');
  deployment.controls = urls.map((url) => createClient({ url }));
  for (const control of deployment.controls) {
    control.on('error', () => {}); // a failed command reports it; nothing to add
    await control.connect();
  }
  return deployment;
}

before(async () => {
  if (skip) return;
  if (!BIN) throw new Error('SOCKETIO_REDIS_SERVER_BIN must be set when SWITCHBOARD_INTEROP is');
  if (!haveRedis) throw new Error('redis-server is missing: run scripts/install-test-deps.sh');
  deployments.single = await withControls(EXTERNAL_REDIS ? { url: EXTERNAL_REDIS, stop: async () => {} } : await startRedis());
  deployments.cluster = await withControls(await startRedisCluster());
});
after(async () => {
  for (const deployment of Object.values(deployments)) {
    for (const control of deployment.controls ?? []) await control.quit();
    await deployment.stop();
  }
});

const TOPOLOGIES = [
  { name: 'the Node reference and ours', kinds: ['node', 'ours'], labels: ['node', 'ours'],
    directions: [[0, 1], [1, 0]] },
  { name: 'two of ours', kinds: ['ours', 'ours'], labels: ['ours#1', 'ours#2'], directions: [[0, 1]] },
  // node-redis's createCluster on Node's side, RedisAdapterFactory::connect_cluster on ours.
  { name: 'the Node reference and ours, on a Redis Cluster', kinds: ['node', 'ours'], labels: ['node', 'ours'],
    directions: [[0, 1], [1, 0]], deployment: 'cluster' },
];

for (const adapter of ADAPTERS) for (const topology of TOPOLOGIES) {
  describe(`Socket.IO Redis adapter (${adapter.name}): ${topology.name}`, { skip }, () => {
    const deployment = () => deployments[topology.deployment ?? 'single'];
    /// How many servers of `kind`'s adapter are subscribed.
    const serverCount = (kind) => subscribers(deployment(), kind.count);
    const servers = [];
    const observers = []; // one idle client per server for the whole topology
    let clients = []; // this test's clients
    let raws = []; // and its bare WebSockets
    let markers = 0;

    /// A connected client of `server`; it records its 'message' events in an inbox and answers
    /// every 'question' with {from: its id, payload} unless `answers` is false.
    async function client(server, name, { auth = name === undefined ? undefined : { name }, answers = true } = {}) {
      const socket = io(server.url, {
        forceNew: true, reconnection: false, transports: ['websocket'], ...(auth && { auth }),
      });
      socket.label = `${name ?? 'anonymous'}@${server.label}`;
      const queue = [];
      const waiters = [];
      socket.on('message', (payload) => {
        const waiter = waiters.shift();
        waiter ? waiter(plain(payload)) : queue.push(plain(payload));
      });
      socket.next = (ms = 5_000) => {
        if (queue.length) return Promise.resolve(queue.shift());
        let waiter;
        const p = new Promise((resolve) => { waiter = resolve; waiters.push(resolve); });
        return withTimeout(p, ms, `a message on ${socket.label}`).catch((err) => {
          waiters.splice(waiters.indexOf(waiter), 1);
          throw err;
        });
      };
      if (answers) socket.on('question', (payload, ack) => ack({ from: socket.id, payload }));
      clients.push(socket);
      await once(socket, 'connect');
      return socket;
    }

    /// A Socket.IO client in "/" over a bare WebSocket, to see what socket.io-client hides: which
    /// packets arrive and whether the server closes the connection. Answers the server's pings.
    async function raw(server, auth) {
      const ws = await openWs(`${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
      raws.push(ws);
      const next = async () => {
        for (;;) {
          const text = String((await ws.inbox.next(5_000)).data);
          if (text !== '2') return text;
          ws.send('3');
        }
      };
      assert.match(await next(), /^0\{/, 'the Engine.IO open packet');
      ws.send(`40${JSON.stringify(auth)}`);
      // A recovered session's missed events may come before the CONNECT answer (Node's do).
      const early = [];
      let connected;
      while (/^42/.test(connected = await next())) early.push(connected);
      const sid = /^40\{"sid":"([\w-]+)"/.exec(connected)?.[1];
      assert.ok(sid, `a CONNECT answer, got ${connected}`);
      const pid = /"pid":"([\w-]+)"/.exec(connected)?.[1];
      const later = next;
      const nextPacket = async () => (early.length ? early.shift() : later());
      return { ws, sid, pid, next: nextPacket };
    }

    /// Asserts the next message of each of `receivers` is `payload`.
    async function received(receivers, payload) {
      for (const socket of receivers) {
        assert.deepEqual(await socket.next(), payload, `what ${socket.label} received`);
      }
    }

    /// Proves the clients received nothing else so far: a marker broadcast to everyone from each
    /// issuer in turn (one per server) must be the next message of every client. A stray copy
    /// coming back through Redis would arrive before the other server's marker.
    async function quiet(all, issuers) {
      for (const issuer of issuers) {
        const marker = { marker: ++markers, from: issuer.label };
        assert.equal(await call(issuer, 'emit', {}, marker), true);
        await received(all, marker);
      }
    }

    /// The fetch entry expected for a client in `rooms` (besides its own id).
    const entry = (socket, name, rooms = []) => ({
      id: socket.id, rooms: [socket.id, ...rooms].sort(), data: { name: name ?? null },
    });
    const observerEntries = () => observers.map((o, i) => entry(o, `observer${i}`));

    before(async () => {
      // The previous topology's servers have unsubscribed: the server count starts from zero.
      for (const other of ADAPTERS) {
        await eventually('the previous servers leaving Redis', async () => assert.equal(await serverCount(other), 0));
      }
      for (const [i, kind] of topology.kinds.entries()) {
        servers.push(await startServer(kind, topology.labels[i], deployment().url, adapter.args));
      }
      // Each printed its line only once subscribed.
      assert.equal(await serverCount(adapter), servers.length, 'both servers subscribed');
      for (const [i, server] of servers.entries()) observers.push(await client(server, `observer${i}`));
      clients = [];
    });

    afterEach(async () => {
      for (const socket of clients) socket.disconnect();
      for (const ws of raws) ws.terminate();
      clients = [];
      raws = [];
      // The next test starts with the observers alone on the servers.
      await eventually('the test clients leaving', async () => {
        assert.deepEqual(await call(observers[0], 'fetch', {}), observerEntries().sort(byId));
      });
    });

    after(async () => {
      for (const socket of [...observers, ...clients]) socket.disconnect();
      const stopping = servers.map((server) => server.stop());
      const failed = (await Promise.allSettled(stopping)).find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    });

    for (const [o, t] of topology.directions) {
      describe(`initiated on ${topology.labels[o]}`, () => {
        const origin = () => servers[o];
        const other = () => servers[t];

        test('emit to all reaches every client of both servers once, binary and volatile too', async () => {
          const a1 = await client(origin(), 'a1');
          const a2 = await client(origin(), 'a2');
          const b1 = await client(other(), 'b1');
          const b2 = await client(other(), 'b2');
          const all = [a1, a2, b1, b2];

          const text = { text: 'héllo 😀', n: [1, 2.5, -3], nested: { ok: true, none: null } };
          assert.equal(await call(a1, 'emit', {}, text), true);
          await received(all, text);

          // One attachment under 256 bytes and one over (msgpack bin 8 and bin 16).
          const binary = { kind: 'binary', small: Buffer.from([0, 1, 2, 255]), nested: { big: Buffer.alloc(300, 7) } };
          assert.equal(await call(a1, 'emit', {}, binary), true);
          await received(all, binary);

          // Volatile: every client is idle now, so nothing is dropped.
          assert.equal(await call(a1, 'emit', { volatile: true }, 'volatile'), true);
          await received(all, 'volatile');
          await quiet(all, [a1, b1]);
        });

        test('rooms: one room, two rooms, except, auth.room and a socket id as room', async () => {
          const a1 = await client(origin(), 'a1');
          const a2 = await client(origin(), 'a2', { auth: { name: 'a2', room: 'lobby' } });
          const b1 = await client(other(), 'b1');
          const b2 = await client(other(), 'b2', { auth: { name: 'b2', room: 'lobby' } });
          const all = [a1, a2, b1, b2];
          assert.equal(await call(a2, 'join', 'red'), true);
          assert.equal(await call(b1, 'join', 'red'), true);
          assert.equal(await call(b1, 'join', 'blue'), true);
          assert.equal(await call(b2, 'join', 'blue'), true);

          const cases = [
            [{ to: ['red'] }, [a2, b1]],
            [{ to: ['red', 'blue'] }, [a2, b1, b2]], // b1 is in both: once
            [{ except: ['red'] }, [a1, b2]],
            [{ to: ['blue'], except: ['red'] }, [b2]],
            [{ to: ['lobby'] }, [a2, b2]],
            [{ to: [b1.id] }, [b1]],
            [{ to: [a2.id, b2.id] }, [a2, b2]],
            [{ to: ['nobody-here'] }, []],
          ];
          for (const [opts, receivers] of cases) {
            const payload = { opts };
            assert.equal(await call(a1, 'emit', opts, payload), true);
            await received(receivers, payload);
            await quiet(all, [a1, b1]);
          }

          assert.equal(await call(b1, 'leave', 'red'), true);
          assert.equal(await call(a1, 'emit', { to: ['red'] }, 'after leave'), true);
          await received([a2], 'after leave');
          await quiet(all, [a1, b1]);
        });

        if (adapter.count[1] === 'SHARDNUMSUB') test('room channels are subscribed while the room has members on that server', async () => {
          const mode = adapter.args[0];
          const members = (room) => subscribers(deployment(), ['PUBSUB', 'SHARDNUMSUB', `socket.io#/#${room}#`]);
          const expect = async (room, n, what) => eventually(what, async () => assert.equal(await members(room), n));
          const perServer = (n) => (mode === 'static' ? 0 : n);
          const a = await client(origin(), 'a');
          const b = await client(other(), 'b');
          const c = await client(other(), 'c');
          assert.equal(await call(a, 'join', 'green'), true);
          await expect('green', perServer(1), 'one server following green');
          assert.equal(await call(b, 'join', 'green'), true);
          assert.equal(await call(c, 'join', 'green'), true);
          await expect('green', perServer(2), 'both servers following green');
          // A socket's own room has a channel in dynamic-private mode only.
          await expect(a.id, mode === 'dynamic-private' ? 1 : 0, 'the channel of a socket id');
          assert.equal(await call(a, 'emit', { to: ['green'] }, 'to green'), true);
          await received([a, b, c], 'to green');

          // The other server keeps following while one of its two members remains: a broadcast
          // to the room still reaches it (and nothing else came meanwhile).
          assert.equal(await call(b, 'leave', 'green'), true);
          assert.equal(await call(a, 'emit', { to: ['green'] }, 'one left'), true);
          await received([a, c], 'one left');
          await quiet([a, b, c], [a, b]);
          assert.equal(await members('green'), perServer(2), 'both servers still following green');
          assert.equal(await call(c, 'leave', 'green'), true);
          await expect('green', perServer(1), 'only the origin following green');
          assert.equal(await call(a, 'emit', { to: ['green'] }, 'after leaving'), true);
          await received([a], 'after leaving');
          await quiet([a, b, c], [a, b]);
          // Counts that were zero all along are checked again after these round trips, by
          // which any wrong subscription made at a join would be in place.
          assert.equal(await members(a.id), mode === 'dynamic-private' ? 1 : 0, 'the channel of a socket id');
          if (mode === 'static') assert.equal(await members('green'), 0, 'no room channels in static mode');
          a.disconnect();
          await expect('green', 0, 'nobody following green once its last member left');
          await expect(a.id, 0, 'nobody following a gone socket');
        });

        if (adapter.args[0] === 'streams') test('connection-state recovery: a client gone from one server gets its session and what it missed back on the other', async () => {
          const issuer = await client(origin(), 'issuer');
          const roamer = await raw(other(), { name: 'roamer', room: 'blue' });
          assert.ok(roamer.pid, 'recovery is on: the CONNECT answer has a pid');
          const event = (text) => {
            assert.match(text, /^42\[/, `an EVENT, got ${text}`);
            return JSON.parse(text.slice(2));
          };
          assert.equal(await call(issuer, 'emit', { to: ['blue'] }, 'first'), true);
          const [name, payload, offset] = event(await roamer.next());
          assert.deepEqual([name, payload], ['message', 'first']);
          assert.match(offset, /^\d+-\d+$/, 'the stream entry id as the offset');

          roamer.ws.terminate();
          await eventually('the roamer gone', async () => {
            const ids = (await call(issuer, 'fetch', {})).map((s) => s.id);
            assert.ok(!ids.includes(roamer.sid), 'still listed');
          });
          for (const [opts, text] of [[{ to: ['blue'] }, 'missed 1'], [{}, 'missed 2'],
            [{ to: ['red'] }, 'not its room'], [{ except: ['blue'] }, 'excluded'], [{ to: ['blue'] }, 'missed 3']]) {
            assert.equal(await call(issuer, 'emit', opts, text), true);
          }
          // Back, on the server it never was on.
          const back = await raw(origin(), { pid: roamer.pid, offset });
          assert.equal(back.sid, roamer.sid, 'the same socket id');
          const missed = [];
          for (let i = 0; i < 3; i++) missed.push(event(await back.next()));
          assert.deepEqual(missed.map(([n, p]) => [n, p]),
            [['message', 'missed 1'], ['message', 'missed 2'], ['message', 'missed 3']]);
          for (const [, , o] of missed) assert.match(o, /^\d+-\d+$/);
          const found = (await call(issuer, 'fetch', { to: ['blue'] })).find((s) => s.id === roamer.sid);
          assert.deepEqual(found, entry({ id: roamer.sid }, 'roamer', ['blue']), 'its rooms and data restored');

          // A session is restored once: the same pid and offset again start afresh.
          const again = await raw(other(), { pid: roamer.pid, offset });
          assert.notEqual(again.sid, roamer.sid);
        });

        test('local: only the originating server\'s clients get it', async () => {
          const a1 = await client(origin(), 'a1');
          const a2 = await client(origin(), 'a2', { auth: { name: 'a2', room: 'red' } });
          const b1 = await client(other(), 'b1', { auth: { name: 'b1', room: 'red' } });
          const b2 = await client(other(), 'b2');
          const all = [a1, a2, b1, b2];

          assert.equal(await call(a1, 'emit', { local: true }, 'local'), true);
          await received([a1, a2], 'local');
          assert.equal(await call(a1, 'emit', { local: true, to: ['red'] }, 'local red'), true);
          await received([a2], 'local red');
          // Published after the local ones on the same connection: had they gone through
          // Redis, the other server's clients would get them first.
          assert.equal(await call(a1, 'emit', {}, 'everyone'), true);
          await received(all, 'everyone');
          await quiet(all, [a1, b1]);
        });

        test('fetch lists the sockets of both servers with rooms and data; to, except, local', async () => {
          const a1 = await client(origin(), 'a1');
          const a2 = await client(origin(), 'a2', { auth: { name: 'a2', room: 'lobby' } });
          const b1 = await client(other(), 'b1');
          const b2 = await client(other(), undefined); // no auth: data.name is null
          assert.equal(await call(b2, 'join', 'red'), true);
          assert.equal(await call(b2, 'join', 'blue'), true);
          const [oA1, oA2, oB1, oB2] = [entry(a1, 'a1'), entry(a2, 'a2', ['lobby']), entry(b1, 'b1'),
            entry(b2, null, ['red', 'blue'])];
          const [obsOrigin, obsOther] = [observerEntries()[o], observerEntries()[t]];
          const everyone = [oA1, oA2, oB1, oB2, obsOrigin, obsOther].sort(byId);

          assert.deepEqual(await call(a1, 'fetch', {}), everyone);
          assert.deepEqual(await call(b1, 'fetch', {}), everyone);
          assert.deepEqual(await call(a1, 'fetch', { to: ['lobby', 'red'] }), [oA2, oB2].sort(byId));
          assert.deepEqual(await call(a1, 'fetch', { to: [b2.id] }), [oB2]);
          assert.deepEqual(await call(a1, 'fetch', { except: ['lobby', 'blue'] }),
            [oA1, oB1, obsOrigin, obsOther].sort(byId));
          assert.deepEqual(await call(a1, 'fetch', { to: ['blue'], except: [b2.id] }), []);
          assert.deepEqual(await call(a1, 'fetch', { local: true }), [oA1, oA2, obsOrigin].sort(byId));
          assert.deepEqual(await call(a1, 'fetch', { local: true, to: ['red'] }), []);
        });

        test('sockets-join and sockets-leave move sockets of both servers', async () => {
          const a1 = await client(origin(), 'a1');
          const a2 = await client(origin(), 'a2', { auth: { name: 'a2', room: 'sel' } });
          const b1 = await client(other(), 'b1', { auth: { name: 'b1', room: 'sel' } });
          const b2 = await client(other(), 'b2');
          const all = [a1, a2, b1, b2];
          const members = async (room) => (await call(a1, 'fetch', { to: [room] })).map((s) => s.id);

          assert.equal(await call(a1, 'sockets-join', { to: ['sel'] }, ['x', 'y']), true);
          assert.equal(await call(a1, 'sockets-join', { to: [b2.id] }, ['solo']), true);
          await eventually('sockets-join', async () => {
            assert.deepEqual(await members('x'), [a2.id, b1.id].sort());
            assert.deepEqual(await members('y'), [a2.id, b1.id].sort());
            assert.deepEqual(await members('solo'), [b2.id]);
          });
          assert.equal(await call(a1, 'emit', { to: ['y'] }, 'to y'), true);
          await received([a2, b1], 'to y');
          assert.equal(await call(a1, 'emit', { to: ['solo'] }, 'to solo'), true);
          await received([b2], 'to solo');
          await quiet(all, [a1, b1]);

          assert.equal(await call(a1, 'sockets-leave', { to: ['x'], except: [a2.id] }, ['x', 'y']), true);
          await eventually('sockets-leave', async () => {
            assert.deepEqual(await members('x'), [a2.id]);
            assert.deepEqual(await members('y'), [a2.id]);
          });
          assert.equal(await call(a1, 'emit', { to: ['x'] }, 'to x'), true);
          await received([a2], 'to x');
          await quiet(all, [a1, b1]);
        });

        test('disconnect-sockets disconnects selected clients on both servers; close: true closes', async () => {
          const a1 = await client(origin(), 'a1');
          const a2 = await client(origin(), 'a2', { auth: { name: 'a2', room: 'doomed' } });
          const b1 = await client(other(), 'b1', { auth: { name: 'b1', room: 'doomed' } });
          const b2 = await client(other(), 'b2');
          const b3 = await client(other(), 'b3');
          const kept = await raw(other(), { name: 'kept' });
          const shut = await raw(other(), { name: 'shut' });

          const polite = [a2, b1].map((socket) => once(socket, 'disconnect'));
          assert.equal(await call(a1, 'disconnect-sockets', { to: ['doomed'] }, false), true);
          for (const args of await Promise.all(polite)) assert.equal(args[0], 'io server disconnect');
          // Without close the connection stays open: the raw client leaves "/" and comes back on it.
          assert.equal(await call(a1, 'disconnect-sockets', { to: [kept.sid] }, false), true);
          assert.equal(await kept.next(), '41');
          kept.ws.send('40');
          const back = /^40\{"sid":"([\w-]+)"(,"pid":"[\w-]+")?\}$/.exec(await kept.next())?.[1];
          assert.ok(back, 'connected to "/" again on the same connection');

          // With close, Node still sends the namespace's DISCONNECT first, so socket.io-client
          // reports "io server disconnect"; then the server closes the connection itself.
          const gone = once(b2, 'disconnect');
          assert.equal(await call(a1, 'disconnect-sockets', { to: [b2.id] }, true), true);
          assert.equal((await gone)[0], 'io server disconnect');
          assert.equal(await call(a1, 'disconnect-sockets', { to: [shut.sid] }, true), true);
          assert.equal(await shut.next(), '41');
          await closed(shut.ws, 5_000);

          await eventually('the disconnected sockets gone', async () => {
            const ids = (await call(b3, 'fetch', {})).map((s) => s.id);
            assert.deepEqual(ids, [a1.id, b3.id, back, ...observers.map((s) => s.id)].sort());
          });
          await quiet([a1, b3], [a1, b3]);
        });

        test('ask gathers acknowledgements from clients of both servers; a silent one times out', async () => {
          const a1 = await client(origin(), 'a1');
          const a2 = await client(origin(), 'a2', { auth: { name: 'a2', room: 'q' } });
          const b1 = await client(other(), 'b1', { auth: { name: 'b1', room: 'q' } });
          const b2 = await client(other(), 'b2', { auth: { name: 'b2', room: 'q' } });
          const answer = (socket, payload) => ({ from: socket.id, payload });

          const payload = { n: 1, bin: Buffer.from([9, 8, 7]) };
          assert.deepEqual(await call(a1, 'ask', { to: ['q'] }, payload, 5_000), {
            timedOut: false,
            responses: [answer(a2, payload), answer(b1, payload), answer(b2, payload)].sort(byJson),
          });
          assert.deepEqual(await call(a1, 'ask', {}, 'all?', 5_000), {
            timedOut: false,
            responses: [a1, a2, b1, b2, ...observers].map((s) => answer(s, 'all?')).sort(byJson),
          });
          assert.deepEqual(await call(a1, 'ask', { to: ['nobody-here'] }, 'anyone?', 5_000),
            { timedOut: false, responses: [] });

          await client(other(), 'silent', { auth: { name: 'silent', room: 'q' }, answers: false });
          assert.deepEqual(await call(a1, 'ask', { to: ['q'] }, 'late', 1_000), {
            timedOut: true,
            responses: [answer(a2, 'late'), answer(b1, 'late'), answer(b2, 'late')].sort(byJson),
          });
        });

        test('server-side events reach the other server, not the sender; answers come back or time out', async () => {
          const a = await client(origin(), 'a');
          const b = await client(other(), 'b');
          const args = ['world', 1, { x: [true, null], text: 'héllo 😀' }];
          assert.equal(await call(a, 'server-emit', args), true);
          const heard = [];
          await eventually('the other server hearing sse-hello', async () => {
            heard.push(...await call(b, 'server-heard'));
            assert.deepEqual(heard, [args]);
          });

          assert.deepEqual(await call(a, 'server-ask', 'sse-ping', { n: 1 }),
            { timedOut: false, responses: [{ pong: { n: 1 } }] });
          assert.deepEqual(await call(b, 'server-ask', 'sse-ping', 'back'),
            { timedOut: false, responses: [{ pong: 'back' }] });
          // The sender's own event came back to it through Redis before the answers did: it
          // would have been heard by now.
          assert.deepEqual(await call(a, 'server-heard'), []);
          assert.deepEqual(await call(b, 'server-heard'), []);

          // A listener that never answers: the adapter's request timeout (5 s), no answers. Asked
          // from the first server of each topology only, to spare the suite 5 s per direction.
          if (o === topology.directions[0][0]) {
            assert.deepEqual(await call(a, 'server-ask', 'sse-silent', 'x'), { timedOut: true, responses: [] });
          }
        });
      });
    }
  });
}
