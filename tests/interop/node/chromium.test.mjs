// Chromium (Debian's package, driven by playwright-core) opens /ws and /ws/echo from pages.
// playwright's launch() gives every run a fresh temporary profile.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

const CHROMIUM = '/usr/bin/chromium';
const required = Boolean(process.env.SWITCHBOARD_REQUIRE_CHROMIUM);
const skip = !existsSync(CHROMIUM) && !required ? 'Chromium not installed (scripts/install-test-deps.sh installs it)' : false;

let server;
let browser;

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    timeout: 30_000,
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/// Runs in the page: opens a socket and exposes helpers on window.
function installClient(url) {
  window.inbox = [];
  window.ws = new WebSocket(url);
  window.ws.binaryType = 'arraybuffer';
  window.ws.onmessage = (e) =>
    window.inbox.push(typeof e.data === 'string' ? e.data : Array.from(new Uint8Array(e.data)));
  return new Promise((resolve, reject) => {
    window.ws.onopen = () => resolve(window.ws.extensions);
    window.ws.onerror = () => reject(new Error('websocket error'));
  });
}

async function nextMessage(page) {
  await page.waitForFunction(() => window.inbox.length > 0, null, { timeout: 10_000 });
  return page.evaluate(() => window.inbox.shift());
}

test('two pages exchange published messages over /ws', { skip }, async () => {
  const [alice, bob] = await Promise.all([browser.newPage(), browser.newPage()]);
  for (const page of [alice, bob]) {
    await page.goto(`http://127.0.0.1:${server.port}/healthz`);
    await page.evaluate(installClient, `ws://127.0.0.1:${server.port}/ws`);
    await page.evaluate(() => {
      window.ws.send(JSON.stringify({ type: 'subscribe', room: 'browser' }));
      window.ws.send('sync');
    });
    assert.equal(JSON.parse(await nextMessage(page)).type, 'error');
  }
  await alice.evaluate(() => window.ws.send(JSON.stringify({ type: 'publish', room: 'browser', data: { from: 'alice' } })));
  assert.deepEqual(JSON.parse(await nextMessage(bob)), { type: 'message', room: 'browser', data: { from: 'alice' } });
  await bob.evaluate(() => window.ws.send(JSON.stringify({ type: 'publish', room: 'browser', data: 'hello alice' })));
  assert.deepEqual(JSON.parse(await nextMessage(alice)), { type: 'message', room: 'browser', data: 'hello alice' });
  await Promise.all([alice.close(), bob.close()]);
});

test('a page echoes text and binary over /ws/echo with permessage-deflate', { skip }, async () => {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.port}/healthz`);
  const extensions = await page.evaluate(installClient, `ws://127.0.0.1:${server.port}/ws/echo`);
  assert.match(extensions, /permessage-deflate/);
  const text = 'Grüße aus Chromium '.repeat(500);
  await page.evaluate((t) => window.ws.send(t), text);
  assert.equal(await nextMessage(page), text);
  await page.evaluate(() => window.ws.send(new Uint8Array([0, 1, 2, 253, 254, 255])));
  assert.deepEqual(await nextMessage(page), [0, 1, 2, 253, 254, 255]);
  const code = await page.evaluate(
    () => new Promise((resolve) => { window.ws.onclose = (e) => resolve(e.code); window.ws.close(4001, 'done'); }),
  );
  assert.equal(code, 4001);
  await page.close();
});
