// Browser relay: N messages (default 1,000) from one Chromium tab to another through the whole app:
// in tab A the client core (wasm) encrypts each with MLS, the app persists it with its outbox entry
// in IndexedDB and writes it to the WebSocket; `sallyport serve` stores and relays it; in tab B the
// core decrypts it, the app stores it (IndexedDB), acks it, renders it in the open conversation and
// sends a read receipt back, which A decrypts and stores ("Delivered").
//
// Each measurement starts a fresh `sallyport serve` (release build, fresh SQLite database, the built
// web app) and a fresh headless Chromium with two contexts (two phones, two people), set up through
// the real UI exactly as the browser tests do (web-client/e2e/lib/): the first administrator (Alex)
// enrols from the printed link, Dana from a `sallyport admin invite` link; Alex opens "New
// conversation", "Message Dana Reyes" and sends a first message by the composer; Dana opens the
// conversation and sees it; Alex sees it Delivered. Then, timed:
//   - sequential: for each message, in A, `app.messenger.sendText(group, text)` (what the composer's
//     Send calls, through workflows/conversations.ts `send`) is awaited (encrypted, persisted, written
//     to the socket), then the server's acceptance ("Sent" in A's state) is awaited before the next;
//   - pipelined: all N `sendText` calls are made at once (the app queues them in order, as it does
//     when someone sends faster than the server answers); nothing waits for acceptance.
// B is watched by a MutationObserver on its Messages log: a message counts when its text is in B's
// DOM (decrypted, stored, rendered). The run ends when all N are there (bounded wait).
//
// Figures: wall time from the first send to the last message in B's DOM, ms per message; latency
// percentiles of each message from the moment its sendText resolved in A (left A's app) to its
// arrival in B's DOM, and (sequential) of the server's acceptance from the sendText call; the CPU
// each process took in the window (server, Chromium by process type, this script) and the rest of
// the machine's (the noise gauge: /proc/stat minus ours).
//
//   cd web-client && npm ci && npm run build && cd ..      # wasm: scripts/build-web (see scripts/test)
//   cargo build --release -j1 --bin sallyport
//   node bench/browser-relay.mjs [--runs 3] [--messages 1000] [--mode both|sequential|pipelined]
//        [--server-bin target/release/sallyport] [--web-dir web-client/dist] [--profile] [--json]
//
// --profile also records a V8 CPU profile of both pages during the window and prints where their
// main threads spent it (wasm, app JS by chunk, garbage collection, idle). playwright-core comes
// from web-client/node_modules; Chromium from $CHROMIUM_PATH or /usr/bin/chromium.

import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, resolve, dirname, basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const RUNS = Number(option('--runs', '3'));
const MESSAGES = Number(option('--messages', '1000'));
const MODE = option('--mode', 'both');
const MODES = MODE === 'both' ? ['sequential', 'pipelined'] : [MODE];
const SERVER_BIN = resolve(option('--server-bin', process.env.SALLYPORT_BIN || join(REPO, 'target', 'release', 'sallyport')));
const WEB_DIR = resolve(option('--web-dir', process.env.SALLYPORT_WEB_DIR || join(REPO, 'web-client', 'dist')));
const JSON_OUT = process.argv.includes('--json');
const PROFILE = process.argv.includes('--profile');
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs takes a positive integer');
if (!Number.isInteger(MESSAGES) || MESSAGES < 1) throw new Error('--messages takes a positive integer');
for (const m of MODES) if (!['sequential', 'pipelined'].includes(m)) throw new Error('--mode is both, sequential or pipelined');
if (!existsSync(SERVER_BIN)) throw new Error(`no server binary at ${SERVER_BIN}: cargo build --release --bin sallyport (or --server-bin PATH)`);
if (!existsSync(join(WEB_DIR, 'index.html'))) throw new Error(`no built web app in ${WEB_DIR}: cd web-client && npm run build`);

// The e2e helpers read these; the server logs warnings only (as in first-visit.mjs).
process.env.SALLYPORT_BIN = SERVER_BIN;
process.env.SALLYPORT_WEB_DIR = WEB_DIR;
process.env.SALLYPORT_LOG = process.env.SALLYPORT_LOG || 'warn';
const { startServer } = await import('../web-client/e2e/lib/server.mjs');
const { launchBrowser, newPhone } = await import('../web-client/e2e/lib/browser.mjs');
const { heading, button, enrol, goTo, send, expectMessage, waitForStatus } = await import('../web-client/e2e/lib/app.mjs');

const ALEX = { name: 'Alex Morgan', pin: '482916' };
const DANA = { name: 'Dana Reyes', pin: '735204' };
/** Bounded waits: a whole run, and one acceptance in the sequential loop. */
const RUN_TIMEOUT_MS = Math.max(120_000, MESSAGES * 1_000);
const ACCEPT_TIMEOUT_MS = 30_000;

// ---- CPU accounting (/proc) ------------------------------------------------------------------

const HZ = 100; // USER_HZ (getconf CLK_TCK) on Linux everywhere this runs

/** Busy jiffies of the whole machine (all CPUs; everything but idle and iowait). */
function machineBusy() {
  const v = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  return v.reduce((n, x, i) => (i === 3 || i === 4 ? n : n + x), 0);
}

/** { pid: { ppid, cpu (utime + stime jiffies), kind } } of every process now. */
function processes() {
  const out = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(name), { ppid: Number(f[1]), cpu: Number(f[11]) + Number(f[12]), comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function descendants(procs, root) {
  const set = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of procs) if (!set.has(pid) && set.has(p.ppid)) (set.add(pid), (grew = true));
  }
  return set;
}

/** Chromium's process type from its command line (--type=renderer …; none: the browser process). */
function chromiumKind(pid) {
  try {
    // Zygote children rewrite their command line as one space-separated string.
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    const type = /--type=(\S+)/.exec(args)?.[1];
    const sub = /--utility-sub-type=(\S+)/.exec(args)?.[1];
    if (!type) return 'browser';
    if (type === 'utility') return `utility ${sub?.replace(/^.*\./, '') ?? ''}`.trim();
    return type;
  } catch {
    return 'gone';
  }
}

/** A snapshot of who used how much CPU so far: the machine, the server, Chromium's processes, us. */
function cpuSnapshot(serverPid) {
  const procs = processes();
  const chromium = new Map();
  // Everything this script started but the server is Chromium (the only other child then).
  for (const pid of descendants(procs, process.pid)) {
    if (pid !== process.pid && pid !== serverPid) chromium.set(pid, { cpu: procs.get(pid)?.cpu ?? 0, kind: chromiumKind(pid) });
  }
  return {
    at: performance.now(),
    machine: machineBusy(),
    server: procs.get(serverPid)?.cpu ?? 0,
    self: procs.get(process.pid)?.cpu ?? 0,
    chromium,
  };
}

/** CPU used between two snapshots, in cores (CPU-seconds per second of wall time). */
function cpuBetween(a, b) {
  const seconds = (b.at - a.at) / 1000;
  const cores = (jiffies) => jiffies / HZ / seconds;
  const byKind = {};
  let chromium = 0;
  for (const [pid, p] of b.chromium) {
    const used = p.cpu - (a.chromium.get(pid)?.cpu ?? 0);
    chromium += used;
    byKind[p.kind] = (byKind[p.kind] ?? 0) + used;
  }
  const server = b.server - a.server;
  const self = b.self - a.self;
  const machine = b.machine - a.machine;
  return {
    server: cores(server),
    chromium: cores(chromium),
    chromium_by_kind: Object.fromEntries(Object.entries(byKind).map(([k, v]) => [k, cores(v)])),
    bench: cores(self),
    machine: cores(machine),
    // The noise gauge: what every other process took (processes that ended inside the window are
    // in neither side of ours, so they count here too).
    other: Math.max(0, cores(machine - server - chromium - self)),
  };
}

function serverPidOf(dataDir) {
  for (const [pid] of processes()) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (args.includes('serve') && args.includes(dataDir)) return pid;
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no sallyport serve process with --data-dir ${dataDir}`);
}

// ---- the app in a page -----------------------------------------------------------------------

/**
 * In the page: the app's `app` object (src/app.ts), found among the exports of the app's own
 * already-loaded modules (a module imported again is the same instance). The app has no test
 * hooks; its names are minified, so it is recognised by shape. Stored as `window.__bench_app`.
 */
async function findApp(page) {
  const found = await page.evaluate(async () => {
    const urls = new Set(performance.getEntriesByType('resource').map((e) => e.name).filter((u) => /\/assets\/[^/]+\.js$/.test(new URL(u).pathname)));
    for (const s of document.querySelectorAll('script[type=module][src]')) urls.add(s.src);
    for (const url of urls) {
      const ns = await import(url);
      for (const value of Object.values(ns)) {
        if (value && typeof value === 'object' && typeof value.subscribe === 'function' && value.messenger && typeof value.messenger.sendText === 'function') {
          window.__bench_app = value;
          return new URL(url).pathname;
        }
      }
    }
    return null;
  });
  if (!found) throw new Error('the app object was not found among the loaded modules\' exports');
  return found;
}

/** In B: records, per message text, when it first appears in the Messages log (the DOM). */
function watchArrivals(page, prefix) {
  return page.evaluate((prefix) => {
    const log = document.querySelector('[role=log][aria-label=Messages]');
    if (!log) throw new Error('no Messages log in B');
    const arrived = new Map();
    const clock = () => performance.timeOrigin + performance.now();
    const scan = (node) => {
      if (node.nodeType !== 1) return;
      for (const p of node.matches('p.body') ? [node] : node.querySelectorAll('p.body')) {
        const text = p.textContent;
        if (text.startsWith(prefix) && !arrived.has(text)) arrived.set(text, clock());
      }
    };
    const observer = new MutationObserver((records) => {
      for (const r of records) for (const n of r.addedNodes) scan(n);
    });
    observer.observe(log, { childList: true, subtree: true });
    window.__bench_arrivals = { arrived, observer };
  }, prefix);
}

/** In B: resolves with the arrival times once `n` messages arrived, or throws after `timeout`. */
function awaitArrivals(page, n, timeout) {
  return page.evaluate(
    async ({ n, timeout }) => {
      const { arrived, observer } = window.__bench_arrivals;
      const deadline = performance.now() + timeout;
      while (arrived.size < n) {
        if (performance.now() > deadline) throw new Error(`only ${arrived.size} of ${n} messages reached B's screen within ${timeout} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
      observer.disconnect();
      return Object.fromEntries(arrived);
    },
    { n, timeout },
  );
}

/**
 * In A: sends `texts` to `group` and returns, per text, when its sendText was called (`start`),
 * when it resolved (`left`: encrypted, persisted, written to the socket) and, sequentially, when
 * the server's acceptance made it Sent (`accepted`).
 */
function sendAll(page, group, texts, mode) {
  return page.evaluate(
    async ({ group, texts, mode, acceptTimeout }) => {
      const app = window.__bench_app;
      const m = app.messenger;
      const clock = () => performance.timeOrigin + performance.now();
      const times = {};
      const status = (text) => {
        const list = m.messagesOf(group);
        for (let i = list.length - 1; i >= 0; i--) if (list[i].mine && list[i].body === text) return list[i].status;
        return undefined;
      };
      if (mode === 'pipelined') {
        await Promise.all(
          texts.map((text) => {
            const t = { start: clock() };
            times[text] = t;
            return m.sendText(group, text).then(() => (t.left = clock()));
          }),
        );
        return times;
      }
      for (const text of texts) {
        const t = { start: clock() };
        times[text] = t;
        await m.sendText(group, text);
        t.left = clock();
        await new Promise((resolve, reject) => {
          const check = () => {
            const s = status(text);
            if (s === 'sending' || s === undefined) return false;
            if (s === 'failed') throw new Error(`"${text}" was not sent`);
            t.accepted = clock();
            return true;
          };
          if (check()) return resolve();
          const timer = setTimeout(() => (off(), reject(new Error(`"${text}" not accepted within ${acceptTimeout} ms`))), acceptTimeout);
          const off = app.subscribe(() => {
            try {
              if (check()) (off(), clearTimeout(timer), resolve());
            } catch (e) {
              off();
              clearTimeout(timer);
              reject(e);
            }
          });
        });
      }
      return times;
    },
    { group, texts, mode, acceptTimeout: ACCEPT_TIMEOUT_MS },
  );
}

// ---- V8 CPU profile summary ------------------------------------------------------------------

/** Self time by category (wasm, app chunk, GC, idle, program) and the top functions. */
function summariseProfile(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const categories = {};
  const functions = {};
  let total = 0;
  for (const [id, us] of self) {
    const { functionName, url } = byId.get(id).callFrame;
    let cat;
    if (['(idle)', '(program)', '(garbage collector)', '(root)'].includes(functionName)) cat = functionName;
    else if (url.endsWith('.wasm') || /^(\$|wasm-function|js-to-wasm|wasm-to-js)/.test(functionName)) cat = 'wasm (client core)';
    else if (!url) cat = `native: ${functionName || '(anonymous)'}`;
    else cat = `js: ${basename(new URL(url).pathname).replace(/-[\w-]{8}\.js$/, '.js')}`;
    categories[cat] = (categories[cat] ?? 0) + us;
    const fn = `${functionName || '(anonymous)'} ${url ? basename(new URL(url).pathname) : ''}`.trim();
    functions[fn] = (functions[fn] ?? 0) + us;
    total += us;
  }
  const top = (o, n) =>
    Object.entries(o)
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => ({ what: k, ms: Math.round(v / 1000), share: +(v / total).toFixed(3) }));
  return { total_ms: Math.round(total / 1000), categories: top(categories, 12), functions: top(functions, 12) };
}

// ---- one measurement -------------------------------------------------------------------------

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  const r = (x) => +x.toFixed(2);
  return { p50: r(percentile(s, 50)), p90: r(percentile(s, 90)), p99: r(percentile(s, 99)), max: r(s[s.length - 1]) };
}

async function measure(mode, run) {
  const server = await startServer({ adminName: ALEX.name });
  const browser = await launchBrowser();
  try {
    const serverPid = serverPidOf(server.dataDir);

    // Set-up through the UI, as web-client/e2e/app.test.mjs does.
    const alex = await newPhone(browser, 'alex');
    await enrol(alex.page, server.adminLink, { pin: ALEX.pin });
    const dana = await newPhone(browser, 'dana');
    await enrol(dana.page, await server.invite(DANA.name, ['staff']), { pin: DANA.pin });
    const a = alex.page;
    const b = dana.page;
    await goTo(a, 'Conversations');
    await a.getByRole('link', { name: 'New conversation' }).click();
    await heading(a, 'New conversation').waitFor();
    await button(a, `Message ${DANA.name}`).click();
    await a.waitForURL(/\/c\/[0-9a-f]+$/);
    const group = new URL(a.url()).pathname.split('/')[2];
    await heading(a, DANA.name).waitFor();
    const hello = 'Hello from Alex, first message';
    await send(a, hello);
    if ((await heading(b, 'Conversations').count()) === 0) await goTo(b, 'Conversations');
    await b.getByRole('link', { name: ALEX.name }).click();
    await heading(b, ALEX.name).waitFor();
    await expectMessage(b, hello);
    await waitForStatus(a, hello, 'Delivered');
    // The inactivity lock (5 minutes by default) must not fall inside a run: the longest choice.
    for (const page of [a, b]) await page.evaluate(() => localStorage.setItem('sallyport.lockAfterMinutes', '60'));
    const appModule = await findApp(a);
    await findApp(b);

    const prefix = `Bench ${run}${mode[0]} `;
    const texts = Array.from({ length: MESSAGES }, (_, i) => `${prefix}${String(i + 1).padStart(4, '0')}: a line of about the length people write in a chat.`);
    await watchArrivals(b, prefix);
    const profilers = [];
    if (PROFILE) {
      for (const page of [a, b]) {
        const cdp = await page.context().newCDPSession(page);
        await cdp.send('Profiler.enable');
        await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
        await cdp.send('Profiler.start');
        profilers.push(cdp);
      }
    }

    const before = cpuSnapshot(serverPid);
    const arrivalsPromise = awaitArrivals(b, MESSAGES, RUN_TIMEOUT_MS);
    const sent = await sendAll(a, group, texts, mode);
    const arrivals = await arrivalsPromise;
    const after = cpuSnapshot(serverPid);
    const profiles = [];
    for (const cdp of profilers) profiles.push(summariseProfile((await cdp.send('Profiler.stop')).profile));

    const first = Math.min(...texts.map((t) => sent[t].start));
    const last = Math.max(...texts.map((t) => arrivals[t]));
    const wallMs = last - first;
    // Throughput at the start and at the end of the run: does it slow down as the conversation grows?
    const tenth = Math.max(1, Math.floor(MESSAGES / 10));
    const arrivedSorted = texts.map((t) => arrivals[t]).sort((x, y) => x - y);
    const firstTenth = (arrivedSorted[tenth - 1] - first) / tenth;
    const lastTenth = (last - arrivedSorted[MESSAGES - 1 - tenth]) / tenth;
    const result = {
      mode,
      run,
      messages: MESSAGES,
      wall_ms: Math.round(wallMs),
      ms_per_message: +(wallMs / MESSAGES).toFixed(3),
      messages_per_second: +((MESSAGES * 1000) / wallMs).toFixed(1),
      ms_per_message_first_tenth: +firstTenth.toFixed(3),
      ms_per_message_last_tenth: MESSAGES > tenth ? +lastTenth.toFixed(3) : null,
      // From the moment sendText resolved in A (encrypted, persisted, on the socket) to B's DOM.
      left_a_to_b_screen_ms: stats(texts.map((t) => arrivals[t] - sent[t].left)),
      // sendText alone in A: encrypt + IndexedDB write + socket write (and queueing when pipelined).
      send_call_ms: stats(texts.map((t) => sent[t].left - sent[t].start)),
      ...(mode === 'sequential' ? { accepted_ms: stats(texts.map((t) => sent[t].accepted - sent[t].start)) } : {}),
      cpu_cores: cpuBetween(before, after),
      app_module: appModule,
      ...(PROFILE ? { profile: { a: profiles[0], b: profiles[1] } } : {}),
    };
    if (!JSON_OUT) print(result);
    return result;
  } finally {
    await browser.close();
    await server.stop();
  }
}

const f2 = (x) => x.toFixed(2);
function print(r) {
  const c = r.cpu_cores;
  const kinds = Object.entries(c.chromium_by_kind)
    .filter(([, v]) => v >= 0.005)
    .sort((x, y) => y[1] - x[1])
    .map(([k, v]) => `${k} ${f2(v)}`)
    .join(', ');
  const s = (x) => `p50 ${f2(x.p50)}, p90 ${f2(x.p90)}, p99 ${f2(x.p99)}, max ${f2(x.max)}`;
  console.log(`${r.mode} run ${r.run}: ${r.messages} messages in ${r.wall_ms} ms = ${f2(r.ms_per_message)} ms/message (${r.messages_per_second} msg/s)`);
  if (r.ms_per_message_last_tenth !== null) console.log(`  ms/message over the first tenth ${f2(r.ms_per_message_first_tenth)}, the last tenth ${f2(r.ms_per_message_last_tenth)}`);
  console.log(`  left A → on B's screen (ms): ${s(r.left_a_to_b_screen_ms)}`);
  console.log(`  sendText in A (ms): ${s(r.send_call_ms)}`);
  if (r.accepted_ms) console.log(`  sendText call → accepted by the server (ms): ${s(r.accepted_ms)}`);
  console.log(`  CPU (cores): server ${f2(c.server)}, Chromium ${f2(c.chromium)} (${kinds}), bench ${f2(c.bench)}; machine ${f2(c.machine)}, other processes ${f2(c.other)} (noise)`);
  if (r.profile) {
    for (const [tab, p] of Object.entries(r.profile)) {
      console.log(`  tab ${tab.toUpperCase()} main thread, ${p.total_ms} ms sampled: ${p.categories.map((x) => `${x.what} ${(x.share * 100).toFixed(1)}%`).join(', ')}`);
      console.log(`    top functions: ${p.functions.slice(0, 8).map((x) => `${x.what} ${x.ms} ms`).join('; ')}`);
    }
  }
}

const results = [];
for (let run = 1; run <= RUNS; run++) for (const mode of MODES) results.push(await measure(mode, run));

const summary = { server_bin: SERVER_BIN, web_dir: WEB_DIR, messages: MESSAGES, runs: results };
if (JSON_OUT) console.log(JSON.stringify(summary));
else {
  for (const mode of MODES) {
    const rs = results.filter((r) => r.mode === mode);
    console.log(
      `${mode}: ${rs.map((r) => f2(r.ms_per_message)).join(', ')} ms/message over ${MESSAGES} messages; left A → B's screen p50 ${rs.map((r) => f2(r.left_a_to_b_screen_ms.p50)).join(', ')} ms, p99 ${rs.map((r) => f2(r.left_a_to_b_screen_ms.p99)).join(', ')} ms; other processes ${rs.map((r) => f2(r.cpu_cores.other)).join(', ')} cores`,
    );
  }
}
