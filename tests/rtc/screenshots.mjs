// Screenshots of the demo pages for docs/images (not part of CI). Run inside a loopback-only
// namespace against a running `switchboard serve`:
//   unshare -n bash -c 'ip link set lo up; switchboard serve --listen 127.0.0.1:3000 & sleep 1;
//     node tests/rtc/screenshots.mjs http://127.0.0.1:3000'
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from '../interop/node_modules/playwright-core/index.mjs';

const base = process.argv[2] ?? 'http://127.0.0.1:3000';
const out = new URL('../../docs/images/', import.meta.url).pathname;
const profile = mkdtempSync(join(tmpdir(), 'sb-shots-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1100, height: 560 },
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection'],
});
try {
  const [ann, ben] = [await browser.newPage(), await browser.newPage()];
  await ann.goto(`${base}/call?room=standup&name=ann&autojoin`);
  await ben.goto(`${base}/call?room=standup&name=ben&autojoin`);
  await ann.waitForFunction(() => [...document.querySelectorAll('#tiles video')].every((v) => v.videoWidth > 0)
    && document.querySelectorAll('#tiles video').length === 2, null, { timeout: 20_000 });
  await ann.screenshot({ path: `${out}/call.png` });

  const [sender, receiver] = [await browser.newPage(), await browser.newPage()];
  await receiver.goto(`${base}/files?room=share&name=rita&autojoin`);
  await sender.goto(`${base}/files?room=share&name=sam&autojoin`);
  await sender.waitForFunction(() => !document.getElementById('send').disabled, null, { timeout: 20_000 });
  await sender.setInputFiles('#file', { name: 'report.pdf', mimeType: 'application/pdf', buffer: Buffer.alloc(3 << 20, 7) });
  await sender.click('#send');
  await receiver.waitForFunction(() => document.querySelector('#incoming .ok'), null, { timeout: 20_000 });
  await receiver.screenshot({ path: `${out}/files.png` });
  console.log(`screenshots in ${out}`);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
