// First visit: the bytes a phone downloads the first time it opens Sallyport. Starts `sallyport
// serve` (a release build by default) on a fresh SQLite database with the built web app, opens
// `/` in headless Chromium with a fresh profile at a phone's viewport, waits until the page has
// loaded and the service worker has installed (it precaches the whole app shell), and sums:
//   - cdp:  `encodedDataLength` of every `Network.loadingFinished` (DevTools protocol) of the page
//           and of the service worker: the bytes Chromium received, headers included;
//   - wire: the bytes the server sent on its TCP connections, counted by a pass-through proxy
//           between Chromium and the server (a check on the first: nothing is missed).
// A request the service worker answered is counted once: at the worker's fetch, if it fetched.
//
//   cd web-client && npm run build && cd .. && cargo build --release --bin sallyport
//   node bench/first-visit.mjs [--runs 3] [--server-bin target/release/sallyport] [--web-dir web-client/dist] [--list] [--json]
//
// playwright-core comes from web-client/node_modules; Chromium from $CHROMIUM_PATH or /usr/bin/chromium.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, createWriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// Service-worker requests are reported to the browser context only with this set (Chromium).
process.env.PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS = '1';
const { chromium } = createRequire(join(REPO, 'web-client', 'package.json'))('playwright-core');

const WAIT_MS = 60_000;
/** The network is idle once no request is open and no byte has moved for this long. */
const QUIET_MS = 1_500;

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const RUNS = Number(option('--runs', '3'));
const SERVER_BIN = resolve(option('--server-bin', process.env.SALLYPORT_BIN || join(REPO, 'target', 'release', 'sallyport')));
const WEB_DIR = resolve(option('--web-dir', join(REPO, 'web-client', 'dist')));
const LIST = process.argv.includes('--list');
const JSON_OUT = process.argv.includes('--json');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (!existsSync(SERVER_BIN)) throw new Error(`no server binary at ${SERVER_BIN}: cargo build --release --bin sallyport (or --server-bin PATH)`);
if (!existsSync(join(WEB_DIR, 'index.html'))) throw new Error(`no built web app in ${WEB_DIR}: cd web-client && npm run build`);

/** `sallyport serve` on 127.0.0.1:0; resolves with its URL and a stop function. */
async function startServer() {
  const dataDir = mkdtempSync(join(tmpdir(), 'sallyport-first-visit-'));
  const log = createWriteStream(join(dataDir, 'server.log'));
  const child = spawn(SERVER_BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', join(dataDir, 'data'), '--web-dir', WEB_DIR], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SALLYPORT_LOG: 'warn', NO_COLOR: '1' },
  });
  child.stderr.pipe(log);
  process.once('exit', () => child.kill('SIGKILL'));
  const url = await new Promise((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the server did not start in ${WAIT_MS} ms:\n${out}`)), WAIT_MS);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/sallyport listening on (\S+)/);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`the server exited (${code}):\n${out}`)));
  });
  const stop = async () => {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000).then(() => child.kill('SIGKILL'))]);
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { url: url.replace(/\/$/, ''), stop };
}

/** A pass-through TCP proxy to `target` that counts the bytes each way. */
async function countingProxy(target) {
  const { hostname, port } = new URL(target);
  const counts = { down: 0, up: 0, connections: 0, last: Date.now() };
  const sockets = new Set();
  const server = createServer((client) => {
    counts.connections++;
    const upstream = connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    client.on('data', (d) => {
      counts.up += d.length;
      counts.last = Date.now();
    });
    upstream.on('data', (d) => {
      counts.down += d.length;
      counts.last = Date.now();
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    counts,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** One first visit in a fresh profile; returns the totals and each response. */
async function visit(url, proxy) {
  const profile = mkdtempSync(join(tmpdir(), 'sallyport-first-visit-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: 'en-US',
  });
  try {
    const before = { ...proxy.counts };
    const page = context.pages()[0] ?? (await context.newPage());
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    const responses = new Map(); // requestId → { url, encoding, fromServiceWorker, bytes }
    let open = 0;
    cdp.on('Network.requestWillBeSent', () => open++);
    cdp.on('Network.responseReceived', ({ requestId, response }) => {
      const h = Object.fromEntries(Object.entries(response.headers).map(([k, v]) => [k.toLowerCase(), v]));
      // encodedDataLength so far: the status line and headers.
      responses.set(requestId, { who: 'page', url: response.url, encoding: h['content-encoding'] ?? '', fromServiceWorker: !!response.fromServiceWorker, fromCache: !!response.fromDiskCache, bytes: 0, headers: response.encodedDataLength ?? 0 });
    });
    cdp.on('Network.loadingFinished', ({ requestId, encodedDataLength }) => {
      open--;
      const r = responses.get(requestId);
      if (r) {
        r.bytes = encodedDataLength;
        r.headers = Math.min(r.headers, encodedDataLength);
      }
    });
    cdp.on('Network.loadingFailed', () => open--);
    // The service worker's own fetches (its precache), through Playwright's events for workers.
    const workerRequests = [];
    let workerOpen = 0;
    context.on('request', (request) => {
      if (request.serviceWorker()) workerOpen++;
    });
    context.on('requestfailed', (request) => {
      if (request.serviceWorker()) workerOpen--;
    });
    context.on('requestfinished', async (request) => {
      if (!request.serviceWorker()) return;
      try {
        const response = await request.response();
        const sizes = await request.sizes();
        const encoding = (await response?.headerValue('content-encoding')) ?? '';
        workerRequests.push({ who: 'worker', url: request.url(), encoding, fromServiceWorker: false, fromCache: false, bytes: sizes.responseHeadersSize + sizes.responseBodySize, headers: sizes.responseHeadersSize });
      } finally {
        workerOpen--;
      }
    });

    const started = Date.now();
    await page.goto(url + '/', { waitUntil: 'load', timeout: WAIT_MS });
    // The worker installs (precaching the shell) before it activates.
    await page.evaluate(async () => {
      const registration = await navigator.serviceWorker.ready;
      if (registration.active?.state !== 'activated') {
        await new Promise((r) => registration.active.addEventListener('statechange', () => registration.active.state === 'activated' && r()));
      }
    });
    const deadline = Date.now() + WAIT_MS;
    while (!(open <= 0 && workerOpen <= 0 && Date.now() - proxy.counts.last >= QUIET_MS)) {
      if (Date.now() > deadline) throw new Error(`the network did not go quiet within ${WAIT_MS} ms (${open} page and ${workerOpen} worker requests open)`);
      await sleep(100);
    }
    const pageRows = [...responses.values()].filter((r) => !r.fromServiceWorker);
    const rows = [...pageRows, ...workerRequests].sort((a, b) => b.bytes - a.bytes);
    const cdpBytes = rows.reduce((n, r) => n + r.bytes, 0);
    return {
      cdp: cdpBytes,
      bodies: cdpBytes - rows.reduce((n, r) => n + r.headers, 0),
      wire: proxy.counts.down - before.down,
      sentByBrowser: proxy.counts.up - before.up,
      connections: proxy.counts.connections - before.connections,
      requests: rows.length,
      ms: Date.now() - started,
      rows,
    };
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

const server = await startServer();
const proxy = await countingProxy(server.url);
const runs = [];
try {
  for (let i = 0; i < RUNS; i++) {
    const run = await visit(proxy.url, proxy);
    runs.push(run);
    if (!JSON_OUT) {
      console.log(`run ${i + 1}: ${(run.cdp / 1000).toFixed(1)} KB received (CDP, ${run.requests} responses; ${(run.bodies / 1000).toFixed(1)} KB of it bodies), ${(run.wire / 1000).toFixed(1)} KB on the wire from the server over ${run.connections} connections, ${(run.sentByBrowser / 1000).toFixed(1)} KB sent by the browser`);
      if (LIST || i === 0) {
        for (const r of run.rows) console.log(`  ${String(r.bytes).padStart(8)} B  ${r.who.padEnd(6)} ${(r.encoding || 'identity').padEnd(8)} ${r.fromCache ? '(cache) ' : ''}${new URL(r.url).pathname}`);
      }
    }
  }
} finally {
  await proxy.close();
  await server.stop();
}
const kb = (xs) => xs.map((x) => (x / 1000).toFixed(1));
const summary = {
  server_bin: SERVER_BIN,
  web_dir: WEB_DIR,
  runs: runs.map(({ rows, ...r }) => r),
  cdp_kb: kb(runs.map((r) => r.cdp)),
  wire_kb: kb(runs.map((r) => r.wire)),
  bodies_kb: kb(runs.map((r) => r.bodies)),
};
if (JSON_OUT) console.log(JSON.stringify(summary));
else console.log(`first visit, KB received (CDP): ${summary.cdp_kb.join(', ')}; of it bodies: ${summary.bodies_kb.join(', ')}; KB on the wire: ${summary.wire_kb.join(', ')} (target ≤ 300 KB)`);
