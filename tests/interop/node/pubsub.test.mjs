// The /ws publish/subscribe JSON protocol with Node's ws clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, open, closed } from './server.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

/// A /ws client with JSON helpers.
async function client() {
  const ws = await open(`${server.url}/ws`);
  const send = (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  const next = async (ms) => {
    const { data, isBinary } = await ws.inbox.next(ms);
    assert.equal(isBinary, false, 'replies are text');
    return JSON.parse(data.toString());
  };
  // Subscribe/unsubscribe are not acknowledged, but one connection's messages are handled in
  // order: the error reply to a later bad request proves the earlier ones took effect, and
  // that nothing else arrived in between.
  const sync = async () => {
    send({ type: 'sync' });
    const reply = await next();
    assert.equal(reply.type, 'error', `expected the sync error reply, got ${JSON.stringify(reply)}`);
  };
  const subscribe = (room) => send({ type: 'subscribe', room });
  const publish = (room, data) => send({ type: 'publish', room, data });
  const close = async () => { ws.close(); await closed(ws); };
  return { ws, send, next, sync, subscribe, publish, close };
}

const clients = (n) => Promise.all(Array.from({ length: n }, client));
const closeAll = (xs) => Promise.all(xs.map((x) => x.close()));

test('every subscriber but the publisher receives; rooms are isolated', async () => {
  const [a, b, c, d] = await clients(4);
  for (const x of [a, b, c]) x.subscribe('lobby');
  d.subscribe('elsewhere');
  await Promise.all([a, b, c, d].map((x) => x.sync()));

  const data = { text: 'hi', n: [1, 2.5, -3e10, null], nested: { ok: true, s: 'ünïcödé 🎉' } };
  a.publish('lobby', data);
  for (const x of [b, c]) assert.deepEqual(await x.next(), { type: 'message', room: 'lobby', data });
  // The publisher and the other room got nothing: their next message is the sync reply.
  await Promise.all([a.sync(), d.sync()]);

  d.publish('elsewhere', 'only d is here');
  await Promise.all([a, b, c, d].map((x) => x.sync()));
  await closeAll([a, b, c, d]);
});

test('any JSON value is delivered unchanged, in order', async () => {
  const [pub, sub] = await clients(2);
  sub.subscribe('values');
  await sub.sync();
  const values = [null, true, false, 0, -1.5, 'string', '', [], {}, [1, [2, [3]]], { a: { b: { c: 'd' } } }, 'x'.repeat(100_000)];
  for (const v of values) pub.publish('values', v);
  for (const v of values) assert.deepEqual(await sub.next(), { type: 'message', room: 'values', data: v });
  for (let i = 0; i < 200; i++) pub.publish('values', i);
  for (let i = 0; i < 200; i++) assert.equal((await sub.next()).data, i);
  await closeAll([pub, sub]);
});

test('a non-subscriber may publish; subscribers to several rooms get each', async () => {
  const [a, b, outsider] = await clients(3);
  for (const x of [a, b]) { x.subscribe('r1'); x.subscribe('r2'); }
  await Promise.all([a.sync(), b.sync()]);
  outsider.publish('r1', 1);
  outsider.publish('r2', 2);
  for (const x of [a, b]) {
    assert.deepEqual(await x.next(), { type: 'message', room: 'r1', data: 1 });
    assert.deepEqual(await x.next(), { type: 'message', room: 'r2', data: 2 });
  }
  await outsider.sync();
  await closeAll([a, b, outsider]);
});

test('unsubscribe stops delivery to that client only', async () => {
  const [a, b, c] = await clients(3);
  for (const x of [a, b, c]) x.subscribe('news');
  await Promise.all([a, b, c].map((x) => x.sync()));
  c.send({ type: 'unsubscribe', room: 'news' });
  await c.sync();
  b.publish('news', 'after unsubscribe');
  assert.deepEqual(await a.next(), { type: 'message', room: 'news', data: 'after unsubscribe' });
  await Promise.all([b.sync(), c.sync()]);
  // Resubscribing works again.
  c.subscribe('news');
  await c.sync();
  a.publish('news', 'again');
  for (const x of [b, c]) assert.equal((await x.next()).data, 'again');
  await closeAll([a, b, c]);
});

test('a closed subscriber is dropped and the room keeps working', async () => {
  const [a, b, c] = await clients(3);
  for (const x of [a, b, c]) x.subscribe('room');
  await Promise.all([a, b, c].map((x) => x.sync()));
  await b.close();
  a.publish('room', 'still works');
  assert.equal((await c.next()).data, 'still works');
  await a.sync();
  await closeAll([a, c]);
});

test('bad requests get an error reply and the connection stays open', async () => {
  const x = await client();
  const bad = [
    'not json',
    '{"type":"subscribe","room":',
    { room: 'r' },
    { type: 'fly', room: 'r' },
    { type: 'subscribe' },
    { type: 'publish', data: 1 },
    { type: 'subscribe', room: 42 },
    { type: 'subscribe', room: null },
    { type: 'unsubscribe', room: ['r'] },
    { type: 'publish', room: { name: 'r' }, data: 1 },
  ];
  for (const request of bad) {
    x.send(request);
    const reply = await x.next();
    assert.equal(reply.type, 'error', JSON.stringify(request));
    assert.equal(typeof reply.message, 'string');
  }
  x.ws.send(Buffer.from('{"type":"subscribe","room":"r"}'), { binary: true });
  const reply = await x.next();
  assert.equal(reply.type, 'error', 'binary frame');
  assert.equal(typeof reply.message, 'string');
  // Still usable: subscribe and receive.
  const other = await client();
  x.subscribe('r');
  await x.sync();
  other.publish('r', 'ok');
  assert.deepEqual(await x.next(), { type: 'message', room: 'r', data: 'ok' });
  await closeAll([x, other]);
});

test('fan-out to 100 subscribers of one room', async () => {
  const subs = await clients(100);
  subs.forEach((s) => s.subscribe('big'));
  await Promise.all(subs.map((s) => s.sync()));
  const [publisher] = await clients(1);
  for (let i = 0; i < 5; i++) publisher.publish('big', { i });
  await Promise.all(subs.map(async (s) => {
    for (let i = 0; i < 5; i++) assert.deepEqual(await s.next(20_000), { type: 'message', room: 'big', data: { i } });
  }));
  await closeAll([...subs, publisher]);
});
