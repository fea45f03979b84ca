// WebRTC calls set up by switchboard, in headless Chromium (Debian's chromium via
// playwright-core, fake camera): pages use the SDK served by the binary (/sdk/rtc.js) and the
// signaling namespace /rtc. Run by tests/rtc/run.sh inside a loopback-only namespace, with
// RTC_URL pointing at `switchboard serve --turn` (TURN REST secret, loopback peers allowed).
//
// Every wait polls getStats or page state every 100 ms against a deadline; nothing sleeps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from '../interop/node_modules/playwright-core/index.mjs';

const BASE = process.env.RTC_URL;
const skip = !BASE && 'RTC_URL not set (tests/rtc/run.sh sets it)';
const DEADLINE = 30_000;
let browser;
let profile;
let rooms = 0;

before(async () => {
  if (skip) return;
  profile = mkdtempSync(join(tmpdir(), 'sb-rtc-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection',
    ],
    timeout: DEADLINE,
  });
});
after(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/// Polls `check` (an async function returning a truthy value when done) until the deadline.
async function waitFor(check, what, ms = DEADLINE) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => { setTimeout(resolve, 100); });
  }
}

/// A page joined to `room` through the SDK; `window.room` is its Room.
async function joined(room, name, { video = true, policy = 'all' } = {}) {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`[${name}] ${e}`));
  if (process.env.DEBUG_RTC) page.on('console', (m) => console.error(`[${name}] ${m.text()}`));
  await page.goto(`${BASE}/healthz`);
  if (process.env.DEBUG_RTC) await page.evaluate(() => { globalThis.SWITCHBOARD_RTC_DEBUG = true; });
  await page.evaluate(async ({ room, name, video, policy }) => {
    const { joinRoom } = await import('/sdk/rtc.js');
    const media = video
      ? await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: false })
      : null;
    window.errors = [];
    window.files = [];
    window.received = 0;
    window.tracks = 0;
    window.reconnects = [];
    window.room = await joinRoom({ room, name, media, iceTransportPolicy: policy });
    const r = window.room;
    r.addEventListener('error', ({ detail }) => window.errors.push(String(detail?.error?.message ?? detail?.error?.code ?? detail)));
    r.addEventListener('file', ({ detail }) => window.files.push({ name: detail.name, size: detail.size, sha256: detail.sha256 }));
    r.addEventListener('file-progress', ({ detail }) => { if (detail.direction === 'receive') window.received += 1; });
    r.addEventListener('track', () => { window.tracks += 1; });
    r.addEventListener('reconnected', ({ detail }) => window.reconnects.push(detail.resumed));
  }, { room, name, video, policy });
  page.name = name;
  return page;
}

/// Video frames decoded from each peer, by participant id.
function framesByPeer(page) {
  return page.evaluate(async () => {
    const out = {};
    for (const [id, peer] of window.room.peers) {
      let frames = 0;
      (await peer.pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded ?? 0;
      });
      out[id] = frames;
    }
    return out;
  });
}

/// What a page's peer connections are doing, for failure messages.
function describe(page) {
  return page.evaluate(() => JSON.stringify({
    id: window.room.id,
    peers: [...window.room.peers.values()].map((p) => ({
      id: p.id, polite: p.polite, state: p.pc.connectionState, signaling: p.pc.signalingState,
      receivers: p.pc.getReceivers().map((r) => r.track.kind),
    })),
    errors: window.errors,
  }));
}

/// Waits until `page` decodes video from `peers` peers, and the count keeps rising.
async function decoding(page, peers) {
  let first;
  try {
    first = await waitFor(async () => {
      const frames = await framesByPeer(page);
      const values = Object.values(frames);
      return values.length === peers && values.every((n) => n > 0) && frames;
    }, `${page.name} to decode video from ${peers} peer(s)`);
  } catch (e) {
    e.message += ` (${await describe(page)}; frames ${JSON.stringify(await framesByPeer(page))})`;
    throw e;
  }
  await waitFor(async () => {
    const now = await framesByPeer(page);
    return Object.entries(first).every(([id, n]) => (now[id] ?? 0) > n);
  }, `${page.name}'s decoded frames to keep rising`);
}

function room() {
  rooms += 1;
  return `t${rooms}-${Date.now()}`;
}

async function closeAll(pages) {
  await Promise.all(pages.map((p) => p.close()));
}

test('two pages in a room connect and each decodes the other\'s video', { skip }, async () => {
  const name = room();
  const a = await joined(name, 'a');
  const b = await joined(name, 'b');
  await decoding(a, 1);
  await decoding(b, 1);
  const states = await a.evaluate(() => [...window.room.peers.values()].map((p) => p.pc.connectionState));
  assert.deepEqual(states, ['connected']);
  assert.deepEqual(await a.evaluate(() => window.errors), []);
  await closeAll([a, b]);
});

test('three pages form a full mesh', { skip }, async () => {
  const name = room();
  const pages = [await joined(name, 'a'), await joined(name, 'b'), await joined(name, 'c')];
  for (const page of pages) await decoding(page, 2);
  await closeAll(pages);
});

test('a 5 MiB file arrives with a matching SHA-256', { skip }, async () => {
  const name = room();
  const a = await joined(name, 'a', { video: false });
  const b = await joined(name, 'b', { video: false });
  const bId = await b.evaluate(() => window.room.id);
  await waitFor(() => a.evaluate(() => window.room.peers.size === 1 &&
    [...window.room.peers.values()][0].channel.readyState === 'open'), 'the chat channel');
  const sent = await a.evaluate(async (to) => {
    const bytes = new Uint8Array(5 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
    return window.room.sendFile(to, new Blob([bytes]), { name: 'random.bin' });
  }, bId);
  const files = await waitFor(async () => {
    const f = await b.evaluate(() => window.files);
    return f.length === 1 && f;
  }, 'the file to arrive');
  assert.deepEqual(files[0], { name: 'random.bin', size: 5 * 1024 * 1024, sha256: sent });
  assert.ok(await b.evaluate(() => window.received) >= 320, 'progress events for every chunk');
  await closeAll([a, b]);
});

test('relay-only: the call goes through switchboard\'s TURN with credentials from the join', { skip }, async () => {
  const name = room();
  const a = await joined(name, 'a', { policy: 'relay' });
  const b = await joined(name, 'b', { policy: 'relay' });
  const ice = await a.evaluate(() => window.room.iceServers);
  assert.ok(ice.some((s) => s.urls.some((u) => u.startsWith('turn:')) && s.username && s.credential));
  await decoding(a, 1);
  await decoding(b, 1);
  for (const page of [a, b]) {
    const types = await page.evaluate(async () => {
      const peer = [...window.room.peers.values()][0];
      const stats = await peer.pc.getStats();
      let pair;
      stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
      return [stats.get(pair?.localCandidateId)?.candidateType, stats.get(pair?.remoteCandidateId)?.candidateType];
    });
    assert.deepEqual(types, ['relay', 'relay'], `${page.name}'s selected pair`);
  }
  await closeAll([a, b]);
});

test('a cut signaling connection is restored: same place, the call goes on and renegotiates', { skip }, async () => {
  const name = room();
  const a = await joined(name, 'a');
  const b = await joined(name, 'b');
  await decoding(a, 1);
  await decoding(b, 1);
  const id = await a.evaluate(() => window.room.id);
  await a.evaluate(() => window.room.socket.ws.close());
  await waitFor(() => a.evaluate(() => window.reconnects.length > 0), 'the page to rejoin');
  assert.deepEqual(await a.evaluate(() => window.reconnects), [true], 'resumed its place');
  assert.equal(await a.evaluate(() => window.room.id), id);
  await decoding(b, 1);
  // A renegotiation over the new signaling connection: a second video track.
  const before = await b.evaluate(() => window.tracks);
  await a.evaluate(async () => {
    const extra = await navigator.mediaDevices.getUserMedia({ video: { width: 160, height: 120 } });
    window.room.addTrack(extra.getVideoTracks()[0], extra);
  });
  await waitFor(async () => (await b.evaluate(() => window.tracks)) > before, 'the new track at b');
  assert.deepEqual(await a.evaluate(() => window.errors), []);
  assert.deepEqual(await b.evaluate(() => window.errors), []);
  await closeAll([a, b]);
});

test('the demo pages work from the binary: a call with two tabs, the files page', { skip }, async () => {
  const name = room();
  const tabs = [];
  for (const who of ['ann', 'ben']) {
    const page = await browser.newPage();
    await page.goto(`${BASE}/call?room=${name}&name=${who}&autojoin`);
    tabs.push(page);
  }
  for (const page of tabs) {
    await waitFor(() => page.evaluate(() => [...document.querySelectorAll('#tiles video')]
      .filter((v) => !v.muted && v.videoWidth > 0).length === 1), 'a remote video tile playing');
  }
  const files = await browser.newPage();
  await files.goto(`${BASE}/files?room=${name}-f&autojoin`);
  await waitFor(() => files.evaluate(() => document.getElementById('status').textContent.startsWith('in ')), 'the files page to join');
  await closeAll([...tabs, files]);
});
