// Chromium's own WebRTC stack through our TURN server: two pages whose only ICE server is
// switchboard's TURN, with iceTransportPolicy 'relay', connect and exchange data-channel
// messages over UDP and over TCP to the server; a wrong password surfaces as a 401
// icecandidateerror and yields no relay candidate. Run by tests/turn/run.sh inside its
// loopback-only namespace, against `switchboard serve --turn` with loopback peers allowed.
//
// Usage: node chromium.mjs HTTP_URL TURN_HOST:PORT USER PASSWORD
// Prints one line per check; exits non-zero on the first failure.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from '../interop/node_modules/playwright-core/index.mjs';

const [httpUrl, turnAddr, username, password] = process.argv.slice(2);
assert.ok(httpUrl && turnAddr && username && password, 'usage: chromium.mjs HTTP_URL TURN USER PASS');
const MESSAGES = 200;
const DEADLINE_MS = 30_000;
const debug = process.env.DEBUG_TURN_CHROMIUM ? (...a) => console.error("debug:", ...a) : () => {};

/// Reads one counter (summing its labelled series) from /metrics.
async function metric(name) {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name) && !line.startsWith('#'))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

// --- what runs inside the pages (installed as window.* by `installHelpers`) ---

function installHelpers({ iceServers }) {
  window.errors = [];
  window.received = [];
  window.pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: 'relay' });
  window.pc.onicecandidateerror = (e) => window.errors.push({ code: e.errorCode, text: e.errorText });
  let opened;
  window.channelOpen = new Promise((resolve) => { opened = resolve; });
  const attach = (channel) => {
    window.channel = channel;
    channel.binaryType = 'arraybuffer';
    channel.onmessage = (e) => window.received.push(
      typeof e.data === 'string' ? e.data : Array.from(new Uint8Array(e.data)));
    if (channel.readyState === 'open') opened();
    else channel.onopen = () => opened();
  };
  window.pc.ondatachannel = (e) => attach(e.channel);

  // Candidates travel inside the SDP: wait until a relay candidate is gathered (or gathering
  // ends without one). Chromium keeps gathering for tens of seconds after the TURN allocation
  // succeeds (its loopback IPv6 socket cannot reach the IPv4 server), so "complete" comes late.
  const gathered = () => new Promise((resolve) => {
    const done = () => window.pc.iceGatheringState === 'complete' ||
      / typ relay /.test(window.pc.localDescription?.sdp ?? '');
    if (done()) return resolve();
    window.pc.addEventListener('icecandidate', () => { if (done()) resolve(); });
    window.pc.addEventListener('icegatheringstatechange', () => { if (done()) resolve(); });
  });
  window.startOffer = async () => {
    attach(window.pc.createDataChannel('relay-test', { ordered: true }));
    await window.pc.setLocalDescription(await window.pc.createOffer());
  };
  window.makeOffer = async () => {
    await window.startOffer();
    await gathered();
    return window.pc.localDescription.toJSON();
  };
  window.makeAnswer = async (offer) => {
    await window.pc.setRemoteDescription(offer);
    await window.pc.setLocalDescription(await window.pc.createAnswer());
    await gathered();
    return window.pc.localDescription.toJSON();
  };
  // Sends `count` messages, alternating text and binary, each naming its index.
  window.sendMany = (count) => {
    for (let i = 0; i < count; i++) {
      if (i % 2 === 0) window.channel.send(`message ${i}`);
      else window.channel.send(new Uint8Array([i & 0xff, (i >> 8) & 0xff, 0xfe, 0xff]));
    }
  };
  // The candidate types of the nominated pair, from getStats.
  window.selectedPair = async () => {
    const stats = await window.pc.getStats();
    let pair;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    if (!pair) return null;
    const local = stats.get(pair.localCandidateId);
    const remote = stats.get(pair.remoteCandidateId);
    return { local: local.candidateType, remote: remote.candidateType, relayProtocol: local.relayProtocol };
  };
}

// --- the checks ---

function expected(count) {
  return Array.from({ length: count }, (_, i) =>
    i % 2 === 0 ? `message ${i}` : [i & 0xff, (i >> 8) & 0xff, 0xfe, 0xff]);
}

async function newPage(context, iceServers) {
  const page = await context.newPage();
  page.setDefaultTimeout(DEADLINE_MS);
  // An http:// page of the server itself as origin (about:blank trips local network checks).
  await page.goto(`${httpUrl}/healthz`);
  await page.evaluate(installHelpers, { iceServers });
  return page;
}

async function relayCheck(context, transport) {
  const iceServers = [{ urls: `turn:${turnAddr}?transport=${transport}`, username, credential: password }];
  const before = await metric('switchboard_turn_relayed_packets_total');
  const a = await newPage(context, iceServers);
  const b = await newPage(context, iceServers);
  try {
    const offer = await a.evaluate(() => window.makeOffer());
    debug('offer', offer.sdp);
    assert.match(offer.sdp, /typ relay/, `${transport}: page A gathered no relay candidate`);
    assert.doesNotMatch(offer.sdp, /typ host|typ srflx/, 'relay policy leaked other candidates');
    const answer = await b.evaluate((o) => window.makeAnswer(o), offer);
    assert.match(answer.sdp, /typ relay/, `${transport}: page B gathered no relay candidate`);
    debug('answer', answer.sdp);
    await a.evaluate((o) => window.pc.setRemoteDescription(o), answer);
    await Promise.all([a.evaluate(() => window.channelOpen), b.evaluate(() => window.channelOpen)]);

    await a.evaluate((n) => window.sendMany(n), MESSAGES);
    await b.evaluate((n) => window.sendMany(n), MESSAGES);
    for (const page of [a, b]) {
      await page.waitForFunction((n) => window.received.length >= n, MESSAGES);
      assert.deepEqual(await page.evaluate(() => window.received), expected(MESSAGES));
    }
    for (const page of [a, b]) {
      const pair = await page.evaluate(() => window.selectedPair());
      assert.ok(pair, 'no selected candidate pair');
      assert.equal(pair.local, 'relay');
      assert.equal(pair.remote, 'relay');
      assert.equal(pair.relayProtocol, transport);
    }
    const relayed = (await metric('switchboard_turn_relayed_packets_total')) - before;
    debug('relayed packets before', before, 'delta', relayed);
    // Every data-channel message crossed two allocations (to the peer, then to the client).
    assert.ok(relayed >= 4 * MESSAGES, `the server relayed only ${relayed} packets`);
    console.log(`ok   chromium: relay-only over ${transport}: ${MESSAGES} messages each way in order, ` +
      `selected pair relay/relay on both pages, ${relayed} packets relayed by switchboard`);
  } finally {
    await a.close();
    await b.close();
  }
}

async function wrongPasswordCheck(context) {
  const failuresBefore = await metric('switchboard_turn_auth_failures_total');
  const iceServers = [{ urls: `turn:${turnAddr}?transport=udp`, username, credential: 'wrong' }];
  const page = await newPage(context, iceServers);
  try {
    await page.evaluate(() => window.startOffer());
    await page.waitForFunction(() => window.errors.some((e) => e.code === 401));
    const sdp = await page.evaluate(() => window.pc.localDescription.sdp);
    assert.doesNotMatch(sdp, /typ relay/, 'a wrong password still produced a relay candidate');
    assert.ok((await metric('switchboard_turn_auth_failures_total')) > failuresBefore);
    console.log('ok   chromium: wrong password: icecandidateerror 401, no relay candidate');
  } finally {
    await page.close();
  }
}

const profile = mkdtempSync(join(tmpdir(), 'switchboard-turn-chromium-'));
let context;
const watchdog = setTimeout(() => {
  console.error('FAIL chromium: overall deadline passed');
  process.exit(1);
}, 4 * DEADLINE_MS);
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--allow-loopback-in-peer-connection',
    ],
    timeout: DEADLINE_MS,
  });
  await relayCheck(context, 'udp');
  await relayCheck(context, 'tcp');
  await wrongPasswordCheck(context);
} catch (e) {
  console.error(`FAIL chromium: ${e.stack ?? e}`);
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
}
