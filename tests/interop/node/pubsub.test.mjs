// The /ws publish/subscribe JSON protocol with Node's ws clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, open, inbox, closed } from './server.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

async function client() {
  const ws = await open(server.url('/ws'));
  const messages = inbox(ws);
  const send = (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  const next = async () => JSON.parse((await messages.next()).data.toString());
  // Requests on one connection are handled in order: an error reply to a later bad request
  // proves the earlier ones took effect.
  const sync = async () => {
    send({ type: 'sync' });
    const reply = await next();
    assert.equal(reply.type, 'error');
  };
  return { ws, send, next, sync, messages };
}

test('every subscriber but the publisher receives, rooms are isolated, unsubscribe stops delivery', async () => {
  const [a, b, c, d] = await Promise.all([client(), client(), client(), client()]);
  for (const x of [a, b, c]) x.send({ type: 'subscribe', room: 'lobby' });
  d.send({ type: 'subscribe', room: 'elsewhere' });
  await Promise.all([a, b, c, d].map((x) => x.sync()));

  const data = { text: 'hi', n: [1, 2.5, null], nested: { ok: true } };
  a.send({ type: 'publish', room: 'lobby', data });
  for (const x of [b, c]) assert.deepEqual(await x.next(), { type: 'message', room: 'lobby', data });
  // Neither the publisher nor the other room got anything: their next message is a sync reply.
  await a.sync();
  await d.sync();

  c.send({ type: 'unsubscribe', room: 'lobby' });
  await c.sync();
  b.send({ type: 'publish', room: 'lobby', data: null });
  assert.deepEqual(await a.next(), { type: 'message', room: 'lobby', data: null });
  await c.sync();
  for (const x of [a, b, c, d]) { x.ws.close(); await closed(x.ws); }
});

test('bad requests get an error reply and the connection stays open', async () => {
  const x = await client();
  const bad = [
    'not json',
    { room: 'r' },
    { type: 'subscribe' },
    { type: 'subscribe', room: 42 },
    { type: 'publish', room: 'r' },
    { type: 'fly', room: 'r' },
  ];
  for (const request of bad) {
    x.send(request);
    const reply = await x.next();
    assert.equal(reply.type, 'error', JSON.stringify(request));
    assert.equal(typeof reply.message, 'string');
  }
  x.ws.send(Buffer.from([1, 2, 3]));
  assert.equal((await x.next()).type, 'error');
  // Still usable.
  x.send({ type: 'subscribe', room: 'r' });
  await x.sync();
  x.ws.close();
  await closed(x.ws);
});
