// Hand-built frames from a raw TCP client: protocol violations close with 1002, invalid UTF-8
// with 1007, oversized messages with 1009; valid but unusual framing is accepted; other
// connections never notice.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, open, closed } from './server.mjs';
import { rawConnect, frame, closePayload, OP } from './raw.mjs';

const LIMIT = 65536;
let server;
let bystander;
before(async () => {
  server = await startServer(['--max-message-size', String(LIMIT)]);
  bystander = await open(`${server.url}/ws/echo`);
});
after(async () => {
  bystander?.terminate();
  await server?.stop();
});

/// Opens a raw connection, writes `frames`, and resolves with the code of the server's close.
async function closeCodeFor(...frames) {
  const raw = await rawConnect(server.port);
  try {
    raw.send(...frames);
    return await raw.closeCode();
  } finally {
    raw.destroy();
  }
}

const text = (s, opts) => frame(OP.TEXT, Buffer.from(s), opts);
const cases = {
  1002: {
    'an unmasked client frame': text('hi', { mask: false }),
    'reserved data opcode 3': frame(3, 'x'),
    'reserved control opcode 11': frame(11, 'x'),
    'RSV1 without a negotiated extension': text('hi', { rsv: 4 }),
    'RSV2 set': text('hi', { rsv: 2 }),
    'RSV3 set': text('hi', { rsv: 1 }),
    'a ping with a 126-byte payload': frame(OP.PING, Buffer.alloc(126)),
    'a fragmented ping': frame(OP.PING, 'x', { fin: false }),
    'a fragmented close': frame(OP.CLOSE, closePayload(1000), { fin: false }),
    'a continuation without a start': frame(OP.CONT, 'orphan'),
    'a non-final continuation without a start': frame(OP.CONT, 'orphan', { fin: false }),
    'a new text frame inside a fragmented message': Buffer.concat([text('a', { fin: false }), text('b')]),
    'a binary frame inside a fragmented text message': Buffer.concat([text('a', { fin: false }), frame(OP.BINARY, 'b')]),
    'a close with a 1-byte payload': frame(OP.CLOSE, Buffer.from([3])),
    'a close with code 999': frame(OP.CLOSE, closePayload(999)),
    'a close with code 1005 (reserved)': frame(OP.CLOSE, closePayload(1005)),
    'a close with code 1006 (reserved)': frame(OP.CLOSE, closePayload(1006)),
    'a close with code 1015 (reserved)': frame(OP.CLOSE, closePayload(1015)),
    'a close with code 5000': frame(OP.CLOSE, closePayload(5000)),
  },
  1007: {
    'invalid UTF-8 in a text frame': text(Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xff])),
    'a UTF-16 surrogate encoded in UTF-8': text(Buffer.from([0xed, 0xa0, 0x80])),
    'an overlong encoding': text(Buffer.from([0xc0, 0xaf])),
    'invalid UTF-8 in a continuation': Buffer.concat([text('valid', { fin: false }), frame(OP.CONT, Buffer.from([0xff]))]),
    'a multi-byte sequence cut off by the end of the message': Buffer.concat([
      text(Buffer.from([0xe2, 0x82]), { fin: false }), frame(OP.CONT, Buffer.alloc(0)),
    ]),
    'a close reason that is not UTF-8': frame(OP.CLOSE, Buffer.concat([closePayload(1000), Buffer.from([0xff, 0xfe])])),
  },
  1009: {
    'one binary frame over --max-message-size': frame(OP.BINARY, Buffer.alloc(LIMIT + 1)),
    'one text frame over --max-message-size': text('a'.repeat(LIMIT + 1)),
    'fragments that add up to more than --max-message-size': Buffer.concat([
      frame(OP.BINARY, Buffer.alloc(40_000), { fin: false }), frame(OP.CONT, Buffer.alloc(40_000)),
    ]),
  },
};

for (const [code, byName] of Object.entries(cases)) {
  for (const [name, bytes] of Object.entries(byName)) {
    test(`${name} closes with ${code}`, async () => {
      assert.equal(await closeCodeFor(bytes), Number(code));
    });
  }
}

test('a text message failing UTF-8 mid-message closes with 1007 before it ends', async () => {
  // Fail fast: the message is never finished, so only validation per fragment can catch it.
  assert.equal(await closeCodeFor(text(Buffer.from([0x61, 0xff, 0x62]), { fin: false })), 1007);
});

test('a frame over --max-frame-size closes with 1009', async () => {
  const limited = await startServer(['--max-frame-size', '1024']);
  try {
    const raw = await rawConnect(limited.port);
    raw.send(frame(OP.BINARY, Buffer.alloc(2000)));
    assert.equal(await raw.closeCode(), 1009);
    raw.destroy();
  } finally {
    await limited.stop();
  }
});

test('control frames interleaved with a fragmented message are answered, the message echoed', async () => {
  const raw = await rawConnect(server.port);
  raw.send(
    text('Hel', { fin: false }),
    frame(OP.PING, 'p1'),
    frame(OP.CONT, Buffer.from('lo, ', 'utf8'), { fin: false }),
    frame(OP.PONG, 'unsolicited'),
    frame(OP.CONT, Buffer.from([0xe2, 0x82]), { fin: false }), // '€' split across fragments
    frame(OP.PING, Buffer.alloc(125, 7)),
    frame(OP.CONT, Buffer.from([0xac])),
  );
  const pong1 = await raw.next();
  assert.deepEqual([pong1.opcode, pong1.payload.toString()], [OP.PONG, 'p1']);
  const pong2 = await raw.next();
  assert.equal(pong2.opcode, OP.PONG);
  assert.ok(pong2.payload.equals(Buffer.alloc(125, 7)));
  let message = await raw.next();
  assert.equal(message.opcode, OP.TEXT);
  assert.equal(message.masked, false, 'server frames are never masked');
  let payload = message.payload;
  while (!message.fin) { message = await raw.next(); payload = Buffer.concat([payload, message.payload]); }
  assert.equal(payload.toString(), 'Hello, €');

  raw.send(frame(OP.CLOSE, closePayload(1000, 'done')));
  assert.equal(await raw.closeCode(), 1000);
  raw.destroy();
});

test('a message of exactly --max-message-size is accepted, and so are empty frames', async () => {
  const raw = await rawConnect(server.port);
  raw.send(frame(OP.BINARY, Buffer.alloc(0)), frame(OP.TEXT, Buffer.alloc(0)), frame(OP.PING, Buffer.alloc(0)));
  const seen = [];
  for (let i = 0; i < 3; i++) seen.push((await raw.next()).opcode);
  assert.deepEqual(seen.sort(), [OP.TEXT, OP.BINARY, OP.PONG].sort());
  raw.send(frame(OP.BINARY, Buffer.alloc(LIMIT - 10, 1), { fin: false }), frame(OP.CONT, Buffer.alloc(10, 2)));
  let total = 0;
  for (let f = await raw.next(); ; f = await raw.next()) {
    total += f.payload.length;
    if (f.fin) break;
  }
  assert.equal(total, LIMIT);
  raw.destroy();
});

test('the bystander connection was unaffected by all of the above', async () => {
  bystander.send('still here');
  assert.equal((await bystander.inbox.next()).data.toString(), 'still here');
  bystander.close();
  assert.equal((await closed(bystander)).code, 1005);
});
