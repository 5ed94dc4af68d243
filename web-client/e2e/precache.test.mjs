// What the service worker precaches, by the device's roles (src/screenPrecache.ts): an officer's
// phone gets the shell at install (with "Talk to a peer" and Debriefings, as every phone does) and
// none of the coordinators' or administrators' screens, and
// still opens offline; a coordinator's phone gets the coordinators' screens once unlocked and opens
// them offline; an administrator's gets Administration; an officer who opens a coordinators'
// screen gets it then. Each phone's requests, its page's and its worker's, are recorded.
//
//   cd web-client && npm run build && node --test e2e/precache.test.mjs

// Before Playwright starts: the worker's own fetches are reported as the context's requests.
process.env.PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS = '1';

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, webDir } from './lib/server.mjs';
import { stepper } from './lib/steps.mjs';
import { launchBrowser, newPhone, waitUntil } from './lib/browser.mjs';
import { heading, enrol, unlock, goTo, OFFLINE_TEXT } from './lib/app.mjs';

const ADMIN = { name: 'Ada Admin', pin: '314159' };
const OFFICER = { name: 'Owen Officer', pin: '271828' };
const COORDINATOR = { name: 'Cleo Coordinator', pin: '161803' };

/** The built chunk of each on-demand screen (and the QR code's, which only Administration loads). */
function chunks() {
  const files = readdirSync(join(webDir(), 'assets'));
  const one = (prefix) => {
    const found = files.filter((f) => f.startsWith(`${prefix}-`) && f.endsWith('.js'));
    assert.equal(found.length, 1, `one ${prefix} chunk in dist/assets: ${found}`);
    return `/assets/${found[0]}`;
  };
  return {
    admin: [one('AdminScreen'), one('qrcode')],
    coordinator: ['TeamScreen', 'ReportScreen', 'IncidentsScreen', 'DeclareScreen', 'SupportRequestsScreen', 'ShiftsScreen'].map(one),
    // On every device: a cached "Talk to a peer" or Debriefings must not tell a seized phone apart.
    shell: [one('main'), one('SettingsScreen'), one('ReachOutScreen'), one('DebriefsScreen'), `/assets/${files.find((f) => f.endsWith('.wasm'))}`],
  };
}

/** The paths in the service worker's shell cache, as the page sees them. */
const cachedPaths = (page) =>
  page.evaluate(async () => {
    const out = [];
    for (const name of await caches.keys()) {
      if (!name.startsWith('sallyport-shell-')) continue;
      for (const request of await (await caches.open(name)).keys()) out.push(new URL(request.url).pathname);
    }
    return out.sort();
  });

/** Waits until the worker is active and its cache holds every path of `paths`. */
async function waitForCached(page, paths, what) {
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  return waitUntil(async () => {
    const cached = await cachedPaths(page);
    return paths.every((p) => cached.includes(p)) && cached;
  }, { message: `${what} in the service worker's cache` });
}

/** A phone whose every request (page and service worker) is recorded by path. */
async function recordedPhone(browser, label) {
  const phone = await newPhone(browser, label);
  phone.requested = [];
  phone.context.on('request', (r) => phone.requested.push(new URL(r.url()).pathname));
  return phone;
}

/** The chunk at `path` loads in the page (offline: only from the worker's cache). */
async function loads(page, path) {
  const error = await page.evaluate((url) => import(url).then(() => null, (e) => String(e)), path);
  assert.equal(error, null, `${path} loads`);
}

/** No on-demand screen failed to load on the page. */
async function noLoadFailure(page) {
  assert.equal(await page.getByText('This screen could not be loaded', { exact: false }).count(), 0, 'no screen failed to load');
}

describe('service worker precache by role', () => {
  let server;
  let browser;
  const phones = [];
  let files;
  let officer;
  let coordinator;

  before(async () => {
    server = await startServer({ adminName: ADMIN.name });
    browser = await launchBrowser();
    files = chunks();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const { step } = stepper({ phones, server: () => server, prefix: 'precache-' });

  const OFFICER_INSTALL = "an officer's phone precaches the shell and none of the coordinators' or administrators' screens";
  step(OFFICER_INSTALL, [], async () => {
    officer = await recordedPhone(browser, 'officer');
    phones.push(officer);
    await enrol(officer.page, await server.invite(OFFICER.name, ['staff']), { pin: OFFICER.pin });
    const cached = await waitForCached(officer.page, files.shell, 'the shell');
    for (const path of [...files.admin, ...files.coordinator]) {
      assert.ok(!cached.includes(path), `${path} is not precached on an officer's phone`);
      assert.ok(!officer.requested.includes(path), `${path} was not downloaded by an officer's phone`);
    }
  });

  step('offline, the officer\'s app opens and its screens load from the cache', [OFFICER_INSTALL], async () => {
    const { page, context } = officer;
    await context.setOffline(true);
    try {
      await page.reload();
      await unlock(page, OFFICER.pin);
      await heading(page, 'Conversations').waitFor();
      await page.getByRole('status').filter({ hasText: OFFLINE_TEXT }).waitFor();
      await goTo(page, 'Settings');
      await page.getByLabel('Lock after').waitFor(); // Settings itself, not its stand-in
      await noLoadFailure(page);
    } finally {
      await context.setOffline(false);
    }
    for (const path of [...files.admin, ...files.coordinator]) {
      assert.ok(!officer.requested.includes(path), `${path} was not downloaded by an officer's phone`);
    }
  });

  const COORDINATOR_INSTALL = "a coordinator's phone precaches the coordinators' screens once unlocked, not Administration";
  step(COORDINATOR_INSTALL, [], async () => {
    coordinator = await recordedPhone(browser, 'coordinator');
    phones.push(coordinator);
    await enrol(coordinator.page, await server.invite(COORDINATOR.name, ['coordinator', 'staff']), { pin: COORDINATOR.pin });
    // Nothing opened yet but Conversations: the worker fetched them because of the role.
    const cached = await waitForCached(coordinator.page, [...files.shell, ...files.coordinator], "the coordinators' screens");
    for (const path of files.admin) assert.ok(!cached.includes(path), `${path} is not precached on a coordinator's phone`);
  });

  step("offline, the coordinator's phone opens the coordinators' screens from the cache", [COORDINATOR_INSTALL], async () => {
    const { page, context } = coordinator;
    await context.setOffline(true);
    try {
      await page.reload();
      await unlock(page, COORDINATOR.pin);
      await heading(page, 'Conversations').waitFor();
      for (const path of files.coordinator) await loads(page, path);
      await page.getByRole('link', { name: 'Programme report', exact: true }).click();
      await heading(page, 'Programme report').waitFor();
      await noLoadFailure(page);
    } finally {
      await context.setOffline(false);
    }
  });

  step("an administrator's phone precaches Administration (and its QR code) once unlocked", [], async () => {
    const admin = await recordedPhone(browser, 'admin');
    phones.push(admin);
    await enrol(admin.page, server.adminLink, { pin: ADMIN.pin });
    await waitForCached(admin.page, [...files.shell, ...files.admin], 'Administration');
  });

  step("an officer who opens a coordinators' screen gets it at its first opening, and keeps it", [OFFICER_INSTALL], async () => {
    const { page } = officer;
    const report = files.coordinator.find((p) => p.includes('/ReportScreen-'));
    await page.goto(`${server.url}/report`);
    await unlock(page, OFFICER.pin);
    await heading(page, 'Programme report').waitFor();
    await waitForCached(page, [report], 'the report screen, fetched at its first opening');
    assert.ok(officer.requested.includes(report), 'fetched at its first opening');
    await noLoadFailure(page);
    await officer.context.setOffline(true);
    try {
      await page.reload(); // a fresh page: the chunk comes from the worker's cache or not at all
      await heading(page, 'Sallyport is locked').waitFor();
      await loads(page, report);
    } finally {
      await officer.context.setOffline(false);
    }
  });
});
