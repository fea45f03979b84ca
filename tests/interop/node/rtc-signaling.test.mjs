// WebRTC signaling on namespace /rtc of `switchboard serve` (docs/rtc.md), driven by the
// official socket.io-client: join answers with ICE servers and TURN REST credentials, the
// participant list, signals to one addressed peer, every refusal code, a dropped connection
// resuming its place (with the signals sent meanwhile), and places that time out.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:net';
import { io } from 'socket.io-client';
import { startServer, withTimeout } from './server.mjs';

const skip = !process.env.SWITCHBOARD_BIN && 'SWITCHBOARD_BIN not set';
const SECRET = 'rtc-test-secret';

/// A TCP port that was free a moment ago (TURN listens on it, UDP and TCP).
async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function once(emitter, event, ms = 5_000) {
  return withTimeout(new Promise((resolve) => emitter.once(event, (...args) => resolve(args))),
    ms, `event ${event}`);
}

describe('WebRTC signaling on /rtc with socket.io-client', { skip }, () => {
  let server;
  let turnPort;
  const sockets = [];
  const client = () => {
    const socket = io(`${server.httpUrl}/rtc`, { forceNew: true, reconnection: false, transports: ['websocket'] });
    sockets.push(socket);
    return socket;
  };
  const call = (socket, event, payload) => socket.timeout(5_000).emitWithAck(event, payload);
  const joined = async (room, name = 'p', extra = {}) => {
    const socket = client();
    const answer = await call(socket, 'join', { room, name, ...extra });
    assert.equal(answer.ok, true, JSON.stringify(answer));
    socket.me = answer;
    return socket;
  };

  before(async () => {
    if (skip) return;
    turnPort = await freePort();
    server = await startServer([
      '--turn', '--turn-listen', `127.0.0.1:${turnPort}`, '--turn-secret', SECRET,
      '--rtc-grace', '2', '--rtc-max-participants', '3',
    ]);
  });
  after(async () => {
    sockets.forEach((s) => s.disconnect());
    await server?.stop();
  });

  test('join answers with an id, a resume token and ICE servers with TURN REST credentials', async () => {
    const a = await joined('ice', 'ada', { meta: { role: 'host' } });
    const { id, resume, room, peers, iceServers } = a.me;
    assert.equal(room, 'ice');
    assert.deepEqual(peers, []);
    assert.ok(id && resume && id !== a.id && resume !== id);
    assert.deepEqual(iceServers[0], { urls: [`stun:127.0.0.1:${turnPort}`] });
    const turn = iceServers[1];
    assert.deepEqual(turn.urls, [
      `turn:127.0.0.1:${turnPort}?transport=udp`, `turn:127.0.0.1:${turnPort}?transport=tcp`,
    ]);
    const [expiry, user] = turn.username.split(':');
    assert.equal(user, id);
    assert.ok(Math.abs(Number(expiry) - (Date.now() / 1000 + 3600)) < 60, 'valid for an hour');
    assert.equal(turn.credential, createHmac('sha1', SECRET).update(turn.username).digest('base64'));
  });

  test('participants see each other; a signal reaches the addressed peer only', async () => {
    const a = await joined('mesh', 'ada', { meta: { n: 1 } });
    const joinedSeen = once(a, 'peer-joined');
    const b = await joined('mesh', 'bob');
    assert.deepEqual(b.me.peers, [{ id: a.me.id, name: 'ada', meta: { n: 1 } }]);
    assert.deepEqual((await joinedSeen)[0], { id: b.me.id, name: 'bob', meta: null });
    const c = await joined('mesh', 'cy');
    let strayed = false;
    c.on('signal', () => { strayed = true; });
    const got = once(b, 'signal');
    assert.deepEqual(await call(a, 'signal', { to: b.me.id, data: { description: { type: 'offer', sdp: 'v=0' } } }), { ok: true });
    assert.deepEqual((await got)[0], { from: a.me.id, data: { description: { type: 'offer', sdp: 'v=0' } } });
    await call(c, 'signal', { to: a.me.id, data: 'sync' }); // c's earlier events have arrived
    assert.equal(strayed, false);

    const left = once(b, 'peer-left');
    assert.deepEqual(await call(a, 'leave', {}), { ok: true });
    assert.deepEqual((await left)[0], { id: a.me.id, reason: 'left' });
    const gone = once(b, 'peer-left');
    c.disconnect();
    assert.deepEqual((await gone)[0], { id: c.me.id, reason: 'disconnected' });
  });

  test('refusals carry their codes; the room goes on', async () => {
    const code = async (socket, event, payload) => (await call(socket, event, payload)).error?.code;
    const a = await joined('strict', 'a');
    const b = await joined('strict', 'b');
    const outsider = await joined('elsewhere', 'o');
    assert.equal(await code(client(), 'join', { room: 'bad room!' }), 'bad-request');
    assert.equal(await code(client(), 'join', 'not an object'), 'bad-request');
    assert.equal(await code(a, 'join', { room: 'other' }), 'already-joined');
    assert.equal(await code(client(), 'signal', { to: a.me.id, data: 1 }), 'not-joined');
    assert.equal(await code(a, 'signal', { to: outsider.me.id, data: 1 }), 'unknown-peer');
    assert.equal(await code(a, 'signal', { to: 'nobody', data: 1 }), 'unknown-peer');
    assert.equal(await code(a, 'signal', { to: b.me.id, data: 'x'.repeat(70 * 1024) }), 'too-large');
    await joined('strict', 'c');
    assert.equal(await code(client(), 'join', { room: 'strict' }), 'room-full');

    // Without an acknowledgement callback the refusal comes as an rtc-error event.
    const error = once(a, 'rtc-error');
    a.emit('signal', { to: 'nobody', data: 1 });
    assert.deepEqual((await error)[0], { event: 'signal', code: 'unknown-peer', message: 'no such peer in your room' });

    // A flood of signals is cut off for its sender only.
    const results = await Promise.all(Array.from({ length: 320 }, () => call(a, 'signal', { to: b.me.id, data: 'c' })));
    const passed = results.filter((r) => r.ok).length;
    const limited = results.filter((r) => r.error?.code === 'rate-limited').length;
    assert.equal(passed + limited, 320);
    // 300 per 10 s, the 4 refused signals above included.
    assert.equal(passed, 296);
    assert.deepEqual(await call(outsider, 'leave', {}), { ok: true });
    // b, the flood's target, still signals a.
    const reply = once(a, 'signal');
    assert.deepEqual(await call(b, 'signal', { to: a.me.id, data: 'still here' }), { ok: true });
    assert.equal((await reply)[0].data, 'still here');
  });

  test('a dropped connection resumes its place and gets the signals sent meanwhile', async () => {
    const a = await joined('resume', 'a');
    const b = await joined('resume', 'b');
    let leftSeen = false;
    b.on('peer-left', () => { leftSeen = true; });
    const away = once(b, 'peer-away');
    a.io.engine.close();
    assert.deepEqual((await away)[0], { id: a.me.id });
    assert.deepEqual(await call(b, 'signal', { to: a.me.id, data: 'while away' }), { ok: true });

    const back = client();
    const queued = once(back, 'signal');
    const returned = once(b, 'peer-back');
    const answer = await call(back, 'join', { room: 'resume', name: 'a', resume: a.me.resume });
    assert.equal(answer.ok, true);
    assert.equal(answer.resumed, true);
    assert.equal(answer.id, a.me.id, 'same participant id');
    assert.deepEqual(answer.peers.map((p) => p.id), [b.me.id]);
    assert.deepEqual((await queued)[0], { from: b.me.id, data: 'while away' });
    assert.deepEqual((await returned)[0], { id: a.me.id });
    assert.equal(leftSeen, false, 'b was not told a left');
  });

  test('a participant that does not come back in time leaves with reason timeout', async () => {
    const a = await joined('grace', 'a');
    const b = await joined('grace', 'b');
    const left = once(b, 'peer-left', 10_000);
    a.io.engine.close();
    assert.deepEqual((await left)[0], { id: a.me.id, reason: 'timeout' });
    const late = client();
    const answer = await call(late, 'join', { room: 'grace', resume: a.me.resume });
    assert.equal(answer.resumed, false, 'a spent token joins afresh');
    assert.notEqual(answer.id, a.me.id);
  });
});
