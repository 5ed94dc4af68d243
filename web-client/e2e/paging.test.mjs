// Crisis paging in headless Chromium (phone viewport) against a real `sallyport serve` and a local
// push service (e2e/lib/pushService.mjs: checks VAPID, decrypts RFC 8291 as a browser vendor's
// would). An administrator (Alex) sets the facility's incident locations in Administration; a
// coordinator (Casey, a device without a browser on the same client core) makes a crisis team of
// Riley (a phone, tier 1 peer) and Jordan (no browser, tier 1 clinician) that needs two responders
// with a clinician. A shift supervisor (Sky, on no team) declares from the home screen in three
// taps — what happened, where, the severity — with a note; the board shows the details, "Short
// by 2 (a clinician)" and who was paged. The push service gets Riley's and Jordan's pages with
// nothing readable; Riley's phone is locked and its service worker gets Riley's page as pushed:
// it opens the sealed details with the device's notification key and shows them with "Responding"
// / "Unavailable"; the "Responding" action answers without opening or unlocking the app, and
// Sky's board shows it without a reload. Sky resolves after a question: paging stops (Jordan's
// page's token is refused). A test page goes the same way, declared offline: kept, and sent when
// the phone is back online. The type, location and note are in no
// push payload, nor in the server's files or log. axe-core on every new screen, light and dark.
//
//   cd web-client && npm run build && node --test e2e/paging.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { stepper } from './lib/steps.mjs';
import { launchBrowser, newPhone, bothThemes, screenshot, waitUntil, serviceWorkerRegistration } from './lib/browser.mjs';
import { heading, button, link, enrol, goTo } from './lib/app.mjs';
import { findOnServer } from './lib/leaks.mjs';
import { startPushService, usePushSubscription } from './lib/pushService.mjs';
import { createTeam, enrolClient } from './lib/client.mjs';

const ALEX = { name: 'Alex Morgan', pin: '482916' };
const SKY = { name: 'Sky Supervisor', pin: '603918' };
const RILEY = { name: 'Riley Chen', pin: '660418' };

// What happened, as the supervisor enters it: none of it may reach the server or a push in the clear.
const LOCATION = 'Tier-C stairwell 7';
const NOTE = 'Officer Hollis down, ambulance called';
const TYPE_LABEL = 'Assault on staff';
const TYPE_ID = 'assault_on_staff';
const TEST_NOTE = 'Quarterly drill, pager check';

describe('crisis paging in headless Chromium', () => {
  let server;
  let push;
  let browser;
  const phones = [];
  let alex;
  let sky;
  let riley;
  let rileySub;
  let casey;
  let jordan;
  let jordanSub;
  let team;
  let incident; // the declared incident's id
  let rileyPage; // the page push Riley's phone got, as decrypted
  let locationList = false; // the server has the administrators' list of locations
  const skyFrames = []; // the text frames Sky's WebSocket received

  before(async () => {
    push = await startPushService();
    server = await startServer({ adminName: ALEX.name, extraArgs: ['--push-allow-insecure-endpoints'] });
    const config = await (await fetch(`${server.url}/v1/config`)).json();
    push.expectVapidKey(config.vapid_public_key);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await push?.close();
  });

  const { step } = stepper({ phones, server: () => server, prefix: 'paging-' });

  /** The page pushes (not readiness checks) a subscription received, parsed; waits for `n`. */
  const pagesFor = (token) => push.received(token).filter((p) => JSON.parse(p.text).kind === 'page');
  const waitPages = (token, n, message) =>
    waitUntil(() => (pagesFor(token).length >= n ? pagesFor(token) : null), { message: `${message} (push service errors: ${push.errors.join('; ')})` });

  const SETUP = 'an administrator sets the locations; a coordinator makes a crisis team of a phone and a device';
  const DECLARE = 'a supervisor declares from the home screen in three taps and sees the board';
  const PAGED = 'the push service gets the pages, with nothing readable';
  const ANSWERED = "the responder's locked phone shows the sealed details and answers from the notification";

  step(SETUP, [], async (t) => {
    casey = await enrolClient(server, await server.invite('Casey Coordinator', ['coordinator']));
    // GET /v1/incidents/locations came with the administrators' list; a server without it has the
    // supervisor type the location instead.
    const listed = await casey.call('GET', '/v1/incidents/locations');
    locationList = listed.status === 200;
    if (!locationList) t.diagnostic(`this server has no incident locations list (GET /v1/incidents/locations: ${listed.status}): the location is typed`);
    alex = await newPhone(browser, 'alex');
    phones.push(alex);
    await enrol(alex.page, server.adminLink, { pin: ALEX.pin });
    await goTo(alex.page, 'Administration');
    if (locationList) {
      const locations = alex.page.getByLabel(/^Places a supervisor chooses from/);
      await locations.fill(['Unit C', LOCATION, 'Medical wing', 'Yard 2'].join('\n'));
      await button(alex.page, 'Save locations').click();
      await alex.page.getByText('4 locations saved.').waitFor();
    }
    await bothThemes(alex.page, 'administration with incident locations', t);

    jordan = await enrolClient(server, await server.invite('Jordan Clinician', ['staff']));
    jordanSub = push.subscribe();
    const sub = await jordan.call('POST', '/v1/push/subscriptions', { endpoint: jordanSub.endpoint, p256dh: jordanSub.p256dh, auth: jordanSub.auth });
    assert.equal(sub.status, 204, JSON.stringify(sub.body));

    // Riley's phone hands out a subscription at the local push service; the app registers it.
    riley = await newPhone(browser, 'riley');
    phones.push(riley);
    rileySub = push.subscribe();
    await riley.context.grantPermissions(['notifications'], { origin: server.origin });
    await usePushSubscription(riley.context, rileySub);
    await enrol(riley.page, await server.invite(RILEY.name, ['staff']), { pin: RILEY.pin });

    const policy = { responders: 2, at_least: { clinician: 1 }, repeat_every_minutes: 3, escalate_after_minutes: 10 };
    team = await createTeam(casey, 'North yard CRT', policy, [[RILEY.name, 'peer'], [jordan.account, 'clinician']]);
    // Riley's app registered the push service's subscription (notifications are on).
    await waitUntil(() => riley.page.evaluate(() => localStorage.getItem('sallyport.push') === 'enabled'), { message: "Riley's notifications enabled" });
  });

  step(DECLARE, [SETUP], async (t) => {
    sky = await newPhone(browser, 'sky');
    phones.push(sky);
    const { page } = sky;
    // Text frames only: the binary ones are the hot frames (`deliver`, `accepted`, …), never
    // `incident_changed`. Parsed as JSON, one that reached Sky failed the board's step.
    page.on('websocket', (ws) =>
      ws.on('framereceived', ({ payload }) => typeof payload === 'string' && skyFrames.push(payload)),
    );
    await enrol(page, await server.invite(SKY.name, ['supervisor', 'staff']), { pin: SKY.pin });
    await heading(page, 'Declare a critical incident').waitFor();
    await bothThemes(page, 'home screen with the declare buttons', t);

    let taps = 0;
    const tap = async (locator) => {
      taps++;
      await locator.click();
    };
    // 1: what happened (on the home screen).
    await tap(link(page, TYPE_LABEL));
    await heading(page, 'Declare a critical incident').waitFor();
    await page.getByText('Pages North yard CRT').waitFor();
    assert.equal(await button(page, TYPE_LABEL).getAttribute('aria-pressed'), 'true', 'the type chosen on the home screen');
    if (locationList) {
      // 2: where.
      await tap(button(page, LOCATION));
      assert.equal(await button(page, LOCATION).getAttribute('aria-pressed'), 'true');
    } else {
      await page.getByLabel('Location', { exact: true }).fill(LOCATION);
    }
    // The optional note, before the last tap.
    await page.getByLabel('Note (optional)', { exact: true }).fill(NOTE);
    await screenshot(page, 'declare');
    await bothThemes(page, 'declare', t);
    // 3: the severity declares.
    await tap(page.getByRole('button', { name: /^Severity 1\b/ }));
    assert.ok(taps <= 3, `declared in ${taps} taps`);

    await waitUntil(() => /^\/incidents\/[A-Za-z0-9_-]{22}$/.test(new URL(page.url()).pathname), { message: 'the board after declaring' });
    incident = new URL(page.url()).pathname.split('/').pop();
    await heading(page, `Critical incident · Severity 1 — ${TYPE_LABEL}`).waitFor();
    await page.getByText(LOCATION, { exact: true }).waitFor();
    await page.getByText(NOTE, { exact: true }).waitFor();
    await page.getByText('Short by 2 (a clinician)').waitFor();
    const paged = page.getByRole('region', { name: 'Paged' });
    await paged.getByText(RILEY.name).waitFor();
    await paged.getByText('Jordan Clinician').waitFor();
    // Each push's outcome in plain words, as the push service answered.
    await waitUntil(async () => (await paged.getByText(/notification sent/).count()) >= 2, { message: 'both pages sent on the board' });
    await screenshot(page, 'incident-board');
    await bothThemes(page, 'incident board', t);
  });

  step(PAGED, [DECLARE], async () => {
    const [page] = await waitPages(rileySub.token, 1, "Riley's page");
    await waitPages(jordanSub.token, 1, "Jordan's page");
    assert.equal(page.urgency, 'high');
    rileyPage = JSON.parse(page.text);
    assert.equal(rileyPage.kind, 'page');
    assert.equal(rileyPage.incident, incident);
    assert.equal(rileyPage.severity, 1);
    assert.equal(rileyPage.test, false);
    assert.equal(typeof rileyPage.sealed, 'string', 'a sealed preview for Riley’s device');
    assert.match(rileyPage.token, /^[A-Za-z0-9_-]{43}$/);
    for (const p of push.all()) {
      for (const secret of [LOCATION, NOTE, TYPE_LABEL, TYPE_ID, 'Hollis', 'stairwell']) {
        assert.ok(!p.text.includes(secret), `"${secret}" in a push payload: ${p.text}`);
      }
    }
    assert.deepEqual(push.errors, []);
  });

  step(ANSWERED, [PAGED], async () => {
    const { page, context } = riley;
    const origin = server.origin;
    await button(page, 'Lock now').click();
    await heading(page, 'Sallyport is locked').waitFor();
    const before = page.url();

    const { cdp, registrationId } = await serviceWorkerRegistration(context, page, origin);
    // A push usually finds the worker stopped: it has to start, load the core and read the key.
    await cdp.send('ServiceWorker.stopAllWorkers');
    await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data: JSON.stringify(rileyPage) });
    const shown = () =>
      page.evaluate(async () => {
        const reg = await navigator.serviceWorker.ready;
        return (await reg.getNotifications()).map((n) => ({
          title: n.title,
          body: n.body,
          tag: n.tag,
          renotify: n.renotify,
          requireInteraction: n.requireInteraction,
          actions: n.actions.map((a) => ({ action: a.action, title: a.title })),
          data: n.data,
        }));
      });
    const [notification] = await waitUntil(async () => {
      const list = await shown();
      return list.length ? list : null;
    }, { message: 'the page notification' });
    assert.equal(notification.title, 'Critical incident · Severity 1');
    assert.equal(notification.body, `${TYPE_LABEL} — ${LOCATION}\n${NOTE}`);
    assert.equal(notification.tag, `incident-${incident}`);
    assert.equal(notification.renotify, true);
    assert.equal(notification.requireInteraction, true);
    assert.deepEqual(notification.actions, [
      { action: 'responding', title: 'Responding' },
      { action: 'unavailable', title: 'Unavailable' },
    ]);

    // No tool clicks a notification's action: dispatch the event the browser would, with the
    // action, inside the worker (a script-made event's waitUntil throws, so its promises are
    // collected and awaited).
    const worker = await runningWorker(context, page, `${origin}/sw.js`);
    const handled = await worker.evaluate(async (tag) => {
      const [n] = await self.registration.getNotifications({ tag });
      const event = new NotificationEvent('notificationclick', { notification: n, action: 'responding' });
      const pending = [];
      Object.defineProperty(event, 'waitUntil', { value: (p) => pending.push(Promise.resolve(p)) });
      self.dispatchEvent(event);
      const settled = await Promise.allSettled(pending);
      return settled.map((s) => (s.status === 'fulfilled' ? 'fulfilled' : `rejected: ${s.reason}`));
    }, `incident-${incident}`);
    assert.deepEqual(handled, ['fulfilled']);
    const confirmed = await waitUntil(async () => (await shown()).find((n) => n.title === 'You answered: responding'), {
      message: 'the confirmation notification',
    });
    assert.equal(confirmed.tag, `incident-${incident}`, 'it replaced the page');
    assert.equal((await shown()).length, 1);
    // The app was neither opened nor unlocked.
    assert.equal(page.url(), before);
    await heading(page, 'Sallyport is locked').waitFor();
    assert.equal(context.pages().length, 1, 'no window opened');
    await cdp.detach();
  });

  step("the supervisor's board shows the answer without a reload", [ANSWERED], async () => {
    const { page } = sky;
    const url = page.url();
    const rileyRow = page.getByRole('region', { name: 'Paged' }).getByRole('listitem').filter({ hasText: RILEY.name }).first();
    await rileyRow.getByText(/^Responding/).waitFor();
    await page.getByText('Short by 1 (a clinician)').waitFor();
    assert.equal(page.url(), url);
    // The server told Sky's connection (the board also refreshes every 5 s without it).
    const changed = skyFrames.map((f) => JSON.parse(f)).filter((f) => f.type === 'incident_changed');
    assert.ok(changed.some((f) => f.incident === incident), `incident_changed frames: ${JSON.stringify(changed)}`);
  });

  step('the incident list shows it; resolving after a question stops the paging', [ANSWERED], async (t) => {
    const { page } = sky;
    await link(page, 'Incidents').click();
    await heading(page, 'Incidents').waitFor();
    await page.getByRole('link', { name: new RegExp(`Severity 1 — ${TYPE_LABEL}`) }).waitFor();
    await bothThemes(page, 'incident list', t);
    await page.getByRole('link', { name: new RegExp(`Severity 1 — ${TYPE_LABEL}`) }).click();
    await button(page, 'Resolve').click();
    await page.getByText('Resolve this incident?').waitFor();
    await bothThemes(page, 'resolve question', t);
    await button(page, 'Yes, resolve').click();
    await page.getByText(/^Resolved at /).waitFor();

    // Paging stopped: Jordan's page can no longer be answered, and no one is paged again.
    const jordanPage = JSON.parse(pagesFor(jordanSub.token)[0].text);
    const r = await fetch(`${server.url}/v1/incidents/answer`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: jordanPage.token, answer: 'responding' }),
    });
    assert.equal(r.status, 403);
    const board = await casey.call('GET', `/v1/incidents/${incident}`);
    assert.ok(board.body.resolved_at, JSON.stringify(board.body));
    assert.deepEqual(board.body.paged, []);
    const open = await casey.call('GET', '/v1/incidents');
    assert.deepEqual(open.body.incidents, []);
  });

  step('a test page declared offline is kept, sent when back online, and marked as a test', [ANSWERED], async (t) => {
    const { page } = sky;
    await page.goto(`${server.url}/declare?test=1`);
    await heading(page, 'Sallyport is locked').waitFor();
    await page.getByLabel('PIN', { exact: true }).fill(SKY.pin);
    await button(page, 'Unlock').click();
    await heading(page, 'Send a test page').waitFor();
    await bothThemes(page, 'test page', t);
    const already = pagesFor(rileySub.token).length;
    if (locationList) await button(page, 'Medical wing').click();
    else await page.getByLabel('Location', { exact: true }).fill('Medical wing');
    await button(page, 'Other incident').click();
    await page.getByLabel('Note (optional)', { exact: true }).fill(TEST_NOTE);
    // Declared without a connection: kept, said so, and sent once the phone is back online.
    await sky.context.setOffline(true);
    await page.getByRole('button', { name: /^Severity 3\b/ }).click();
    await page.getByRole('alert').filter({ hasText: 'Not sent yet.' }).waitFor();
    await page.getByText(/Sallyport has kept this declaration and tries again/).waitFor();
    await bothThemes(page, 'declaration not sent yet', t);
    await sky.context.setOffline(false);
    await heading(page, 'Test page · Severity 3 — Other incident').waitFor();
    const pages = await waitPages(rileySub.token, already + 1, "Riley's test page");
    const testPage = JSON.parse(pages.at(-1).text);
    assert.equal(testPage.test, true);
    assert.equal(testPage.notification.title, 'Test page');
    assert.ok(!pages.at(-1).text.includes(TEST_NOTE));
  });

  step('nothing readable about the incidents is on the server', [DECLARE], async () => {
    for (const secret of [NOTE, TYPE_LABEL, TYPE_ID, TEST_NOTE]) {
      const { hits, searched } = findOnServer(server, secret);
      assert.deepEqual(hits, [], `"${secret}" found on the server (searched ${searched.join(', ')})`);
    }
    // The facility's location names are the administrators' list, which the server keeps by
    // design (GET /v1/incidents/locations); which one an incident is at travels only sealed. So a
    // listed location is looked for in the log and stdout; a typed one (no list) everywhere.
    const { hits } = findOnServer(server, LOCATION);
    const where = locationList ? hits.filter((h) => !/\.db(-wal|-shm)?$/.test(h)) : hits;
    assert.deepEqual(where, [], `"${LOCATION}" found on the server`);
  });
});

async function runningWorker(context, page, url) {
  const running = context.serviceWorkers().find((w) => w.url() === url);
  if (running) return running;
  const started = context.waitForEvent('serviceworker', { predicate: (w) => w.url() === url });
  await page.evaluate(() => fetch('/manifest.webmanifest').then(() => true, () => false));
  return started;
}
