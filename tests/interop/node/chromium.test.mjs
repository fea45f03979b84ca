// Chromium (Debian's /usr/bin/chromium driven by playwright-core, never a downloaded browser):
// two pages publish to each other over /ws, one page echoes text and binary over /ws/echo.
// Skipped only when Chromium is absent and SWITCHBOARD_REQUIRE_CHROMIUM is unset (CI sets it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, open } from './server.mjs';

const CHROMIUM = '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM) && !process.env.SWITCHBOARD_REQUIRE_CHROMIUM
  ? `${CHROMIUM} not installed (scripts/install-test-deps.sh installs it; SWITCHBOARD_REQUIRE_CHROMIUM=1 makes this a failure)`
  : false;

let server;
let context;
let profile;

before(async () => {
  if (skip) return;
  server = await startServer();
  profile = mkdtempSync(join(tmpdir(), 'switchboard-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    timeout: 30_000,
  });
});

after(async () => {
  await context?.close();
  await server?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/// Runs in the page: opens `url`, queues messages (binary as byte arrays), resolves with the
/// negotiated extensions once open.
function connect(url) {
  window.inbox = [];
  window.ws = new WebSocket(url);
  window.ws.binaryType = 'arraybuffer';
  window.ws.onmessage = (e) =>
    window.inbox.push(typeof e.data === 'string' ? e.data : Array.from(new Uint8Array(e.data)));
  return new Promise((resolve, reject) => {
    window.ws.onopen = () => resolve(window.ws.extensions);
    window.ws.onerror = () => reject(new Error(`WebSocket error opening ${url}`));
  });
}

async function openPage(path) {
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  // A page from the server itself: Chromium's local network access checks block ws:// to
  // loopback from about:blank (ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS).
  await page.goto(`http://127.0.0.1:${server.port}/healthz`);
  const extensions = await page.evaluate(connect, `ws://127.0.0.1:${server.port}${path}`);
  return { page, extensions };
}

async function nextMessage(page) {
  await page.waitForFunction(() => window.inbox.length > 0, null, { timeout: 15_000 });
  return page.evaluate(() => window.inbox.shift());
}

const send = (page, data) => page.evaluate((d) => window.ws.send(typeof d === 'string' ? d : JSON.stringify(d)), data);

test('two pages subscribe to a room and exchange published messages both ways', { skip }, async () => {
  const [alice, bob] = await Promise.all([openPage('/ws'), openPage('/ws')]);
  for (const { page } of [alice, bob]) {
    await send(page, { type: 'subscribe', room: 'browser' });
    await send(page, 'sync'); // error reply proves the subscribe took effect
    assert.equal(JSON.parse(await nextMessage(page)).type, 'error');
  }
  await send(alice.page, { type: 'publish', room: 'browser', data: { from: 'alice', n: [1, 2] } });
  assert.deepEqual(JSON.parse(await nextMessage(bob.page)), { type: 'message', room: 'browser', data: { from: 'alice', n: [1, 2] } });
  await send(bob.page, { type: 'publish', room: 'browser', data: 'hello alice ✓' });
  assert.deepEqual(JSON.parse(await nextMessage(alice.page)), { type: 'message', room: 'browser', data: 'hello alice ✓' });
  // Neither got its own message back.
  for (const { page } of [alice, bob]) {
    await send(page, 'sync');
    assert.equal(JSON.parse(await nextMessage(page)).type, 'error');
  }
  await Promise.all([alice.page.close(), bob.page.close()]);
});

test('a page echoes text and binary over /ws/echo with permessage-deflate', { skip }, async () => {
  const { page, extensions } = await openPage('/ws/echo');
  assert.match(extensions, /permessage-deflate/);
  for (const text of ['hello', 'Grüße aus Chromium 🎉 '.repeat(20_000)]) {
    await send(page, text);
    assert.equal(await nextMessage(page), text);
  }
  const bytes = Array.from({ length: 70_000 }, (_, i) => (i * 7) & 0xff);
  await page.evaluate((b) => window.ws.send(new Uint8Array(b)), bytes);
  assert.deepEqual(await nextMessage(page), bytes);
  const code = await page.evaluate(() => new Promise((resolve) => {
    window.ws.onclose = (e) => resolve(e.code);
    window.ws.close(4001, 'done');
  }));
  assert.equal(code, 4001);
  await page.close();
});

test('the chat demo at / (our browser SDK, Socket.IO) talks with a /ws subscriber of the room', { skip }, async () => {
  const pages = await Promise.all([0, 1].map(async () => {
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`http://127.0.0.1:${server.port}/`);
    await page.waitForFunction(() => document.querySelector('#log')?.textContent.includes('joined lobby'));
    return page;
  }));
  const ws = await open(`ws://127.0.0.1:${server.port}/ws`);
  ws.send(JSON.stringify({ type: 'subscribe', room: 'lobby' }));
  ws.send('sync'); // the error reply proves the subscribe took effect
  assert.equal(JSON.parse(String((await ws.inbox.next()).data)).type, 'error');

  await pages[0].fill('#name', 'ada');
  await pages[0].fill('input[name=text]', 'hello from the demo');
  await pages[0].click('#send button');
  await pages[1].waitForFunction(() => document.querySelector('#log').textContent.includes('ada: hello from the demo'));
  assert.deepEqual(JSON.parse(String((await ws.inbox.next()).data)),
    { type: 'message', room: 'lobby', data: { name: 'ada', text: 'hello from the demo' } });

  ws.send(JSON.stringify({ type: 'publish', room: 'lobby', data: { name: 'wsbot', text: 'hi pages' } }));
  for (const page of pages) {
    await page.waitForFunction(() => document.querySelector('#log').textContent.includes('wsbot: hi pages'));
  }
  ws.close();
  await Promise.all(pages.map((p) => p.close()));
});
