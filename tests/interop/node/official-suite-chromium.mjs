// Runs one of the official protocol test suites (engine.io-protocol or socket.io-protocol,
// fetched from github.com/socketio, never committed) unchanged inside Chromium, the way the
// suite's own index.html does, but offline: mocha, chai and chai-string come from the suite's
// node_modules instead of unpkg. The suite's test-suite.js expects its server at
// http://localhost:3000 (`engineio_echo` or `conformance`); this page is served from
// http://localhost:3100, so the suite's requests are cross-origin as in a browser deployment.
//
//   node tests/interop/node/official-suite-chromium.mjs <suite>/test-suite
//
// Prints the pass and failure counts and each failure; exits 1 when any test failed.
import http from 'node:http';
import { readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join, extname, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { chromium } from 'playwright-core';

const dir = resolve(process.argv[2] ?? '.');
if (!existsSync(join(dir, 'test-suite.js')) || !existsSync(join(dir, 'node_modules', 'mocha'))) {
  console.error(`${dir}: no test-suite.js, or no node_modules (run npm ci there first)`);
  process.exit(2);
}
const page = `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><div id="mocha"></div>
<script src="/node_modules/mocha/mocha.js"></script>
<script src="/node_modules/chai/chai.js"></script>
<script src="/node_modules/chai-string/chai-string.js"></script>
<script>mocha.setup("bdd"); mocha.checkLeaks();</script>
<script type="module">
import "/test-suite.js";
const failed = [];
const runner = mocha.run();
runner.on("fail", (test, err) => failed.push(test.fullTitle() + ": " + err.message));
runner.on("end", () => { window.__result = { stats: runner.stats, failed }; });
</script></body></html>`;
const types = { '.js': 'text/javascript', '.css': 'text/css' };
const files = http.createServer((req, res) => {
  const path = decodeURIComponent(req.url.split('?')[0]);
  if (path === '/') {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(page);
    return;
  }
  const file = join(dir, path);
  if (!file.startsWith(dir + '/') || !existsSync(file)) {
    res.writeHead(404);
    res.end();
    return;
  }
  res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
  res.end(readFileSync(file));
});
await new Promise((ready) => files.listen(3100, '127.0.0.1', ready));
const profile = mkdtempSync(join(tmpdir(), 'switchboard-official-suite-'));
let failures = 1;
try {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
  try {
    const tab = await context.newPage();
    tab.on('pageerror', (e) => console.log('page error:', e.message));
    await tab.goto('http://localhost:3100/');
    await tab.waitForFunction(() => window.__result, null, { timeout: 180_000, polling: 200 });
    const { stats, failed } = await tab.evaluate(() => window.__result);
    console.log(`${stats.passes} passing, ${stats.failures} failing (of ${stats.tests})`);
    for (const failure of failed) console.log(`failed: ${failure}`);
    failures = stats.failures;
  } finally {
    await context.close();
  }
} finally {
  rmSync(profile, { recursive: true, force: true });
  files.close();
}
process.exit(failures === 0 ? 0 : 1);
