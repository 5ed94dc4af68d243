// Headless Debian Chromium through playwright-core (no browser download), phone-sized contexts,
// axe-core checks and screenshots.

import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { WEB_CLIENT } from './server.mjs';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const SCREENSHOTS = join(WEB_CLIENT, 'e2e', 'screenshots');

/** How long a single wait for something in the page may take. */
export const WAIT_MS = 20_000;

/**
 * Starts Chromium. A browser process that dies while starting (it crashed with SIGSEGV once in CI,
 * on a machine busy with other browsers) is started again, at most twice more: that is the
 * machine, not the app under test, and every test after it would otherwise be cancelled.
 */
export async function launchBrowser() {
  const options = {
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  };
  for (let attempt = 1; ; attempt++) {
    try {
      return await chromium.launch(options);
    } catch (e) {
      if (attempt >= 3) throw e;
      console.error(`Chromium did not start (attempt ${attempt} of 3), starting it again: ${String(e).split('\n')[0]}`);
    }
  }
}

/**
 * A phone: 390×844, touch, mobile. Each context is its own browser profile (incognito), so two
 * contexts are two devices. Console errors and page errors are collected for failure reports.
 */
export async function newPhone(browser, label) {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: 'en-US',
    timezoneId: 'America/Chicago',
  });
  context.setDefaultTimeout(WAIT_MS);
  // WebSocket messages by kind, to check the app speaks the binary encoding of the hot frames.
  const ws = { binarySent: 0, binaryReceived: 0, textSent: 0, textReceived: 0 };
  const phone = { label, context, page: null, errors: [], ws };
  phone.page = await openPage(phone);
  return phone;
}

/** Opens a new page in the phone's context (after closing the page it had, if asked). */
export async function openPage(phone) {
  const page = await phone.context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') phone.errors.push(`[${phone.label} console] ${msg.text()}`);
  });
  page.on('pageerror', (err) => phone.errors.push(`[${phone.label} pageerror] ${err.message}`));
  page.on('websocket', (socket) => {
    socket.on('framesent', ({ payload }) => (typeof payload === 'string' ? phone.ws.textSent++ : phone.ws.binarySent++));
    socket.on('framereceived', ({ payload }) =>
      typeof payload === 'string' ? phone.ws.textReceived++ : phone.ws.binaryReceived++,
    );
  });
  phone.page = page;
  return page;
}

/**
 * Runs axe-core on the whole page and fails with the list of serious and critical violations; the
 * others go to the test's diagnostics when `t` is given.
 * axe is injected with `evaluate` (DevTools protocol), which the page's CSP does not apply to.
 */
export async function checkAccessibility(page, screen, t = null) {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    // axe's default rules (WCAG 2.0/2.1 A and AA, best practices) and WCAG 2.2's target size,
    // which axe leaves off by default: the design asks for WCAG 2.2 AA.
    const result = await axe.run(document, { resultTypes: ['violations'], rules: { 'target-size': { enabled: true } } });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`),
    }));
  });
  // A phone screen never scrolls sideways as a whole (a wide table may scroll inside its box).
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (overflow > 0) {
    violations.push({
      id: 'page-wider-than-screen',
      impact: 'serious',
      help: `the page is ${overflow} px wider than the ${await page.evaluate(() => document.documentElement.clientWidth)} px screen`,
      nodes: [],
    });
  }
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  // Lesser findings are reported, not failed on.
  for (const v of violations.filter((x) => !bad.includes(x))) {
    t?.diagnostic(`axe-core on ${screen}: [${v.impact}] ${v.id}: ${v.help} (${v.nodes.length} node(s))`);
  }
  if (bad.length > 0) {
    const list = bad
      .map((v) => `- [${v.impact}] ${v.id}: ${v.help}\n${v.nodes.map((n) => `    ${n}`).join('\n')}`)
      .join('\n');
    throw new Error(`axe-core: ${bad.length} serious or critical violation(s) on the ${screen} screen:\n${list}`);
  }
  return violations;
}

/**
 * axe-core on the whole page, in the light and the dark theme: with the viewport as tall as the
 * page, since what sits half under the sticky tab bar depends on the scroll position.
 */
export async function bothThemes(page, screen, t) {
  const viewport = page.viewportSize();
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: viewport.width, height: Math.max(viewport.height, height) });
  try {
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      await checkAccessibility(page, `${screen} (${scheme})`, t);
    }
  } finally {
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize(viewport);
  }
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * Polls `probe` (async, returns a truthy value when done) up to `timeout` ms; throws `message` with
 * the last value seen otherwise. Bounded: at most timeout / interval rounds.
 */
export async function waitUntil(probe, { timeout = WAIT_MS, interval = 200, message = 'condition' } = {}) {
  const rounds = Math.ceil(timeout / interval);
  let last;
  for (let i = 0; i < rounds; i++) {
    last = await probe();
    if (last) return last;
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${message} (last value: ${JSON.stringify(last)})`);
}

/**
 * The page's service worker registration for `${origin}/` through the DevTools protocol: the CDP
 * session (ServiceWorker domain enabled; detach it when done) and the registration id.
 */
export async function serviceWorkerRegistration(context, page, origin) {
  const cdp = await context.newCDPSession(page);
  const registrations = new Map();
  cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: list }) => {
    for (const r of list) registrations.set(r.registrationId, r);
  });
  await cdp.send('ServiceWorker.enable');
  const registrationId = await waitUntil(
    () => [...registrations.values()].find((r) => r.scopeURL === `${origin}/` && !r.isDeleted)?.registrationId,
    { message: `the service worker registration for ${origin}/` },
  );
  return { cdp, registrationId };
}
