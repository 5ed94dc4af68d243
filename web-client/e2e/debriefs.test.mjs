// Debriefings in headless Chromium (phone viewport) against a real `sallyport serve` and the local
// push service (e2e/lib/pushService.mjs: checks VAPID, decrypts as a browser vendor's would).
// A coordinator who is also a shift supervisor (Casey, a phone) declares an incident; Riley and
// Sam (phones, on the crisis team a browserless coordinator made) answer "Responding". From the
// incident's board Casey schedules a debriefing: Riley and Sam prefilled as invitees, Lee (a
// clinician's phone) picked as facilitator, a place typed and shown in reminders, the start a
// little over an hour ahead so that the 1-hour reminder falls due within the test. Riley answers
// Attending; Sam "I'd rather talk one-to-one" and lands in "Talk to a peer" with "Today" chosen.
// Casey's tally shows both; Riley's phone shows no answers. Both download the calendar file and
// Python's icalendar reads it: the right UTC start and end, "Appointment", the place only for the
// one who ticked it, no incident words. The server sends Riley's reminder: the push carries only
// the sealed preview, and Riley's locked phone shows "Appointment at HH:MM today" with the place.
// A follow-up due now (PUT by a browserless coordinator on the same client core) shows "How are
// you doing?" with "Talk to a peer" (which opens the reach-out flow) and "Crisis lines". Casey
// moves the session (Riley gets the updated calendar file, SEQUENCE 1) and cancels it (METHOD:CANCEL).
// Nothing readable (the place, the incident's words, the names typed) is in the server's files,
// log or any push. axe-core on each new screen, light and dark.
//
//   cd web-client && npm run build && node --test e2e/debriefs.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startServer, WEB_CLIENT } from './lib/server.mjs';
import { stepper } from './lib/steps.mjs';
import { launchBrowser, newPhone, bothThemes, screenshot, serviceWorkerRegistration, waitUntil } from './lib/browser.mjs';
import { heading, button, link, enrol, unlock } from './lib/app.mjs';
import { findOnServer } from './lib/leaks.mjs';
import { clientCore, createTeam, enrolClient } from './lib/client.mjs';
import { startPushService, usePushSubscription } from './lib/pushService.mjs';

const run = promisify(execFile);

const CASEY = { name: 'Casey Coordinator', pin: '604281' };
const RILEY = { name: 'Riley Chen', pin: '660418' };
const SAM = { name: 'Sam Ortiz', pin: '771520' };
const LEE = { name: 'Lee Clinician', pin: '812734' };
const TYPE_LABEL = 'Disturbance';
const LOCATION = 'Laundry block 7';
const PLACE = 'Chapel annex room 3';

describe('debriefings in headless Chromium', () => {
  let server;
  let browser;
  let push;
  let tmp;
  const phones = [];
  let casey;
  let riley;
  let sam;
  let lee;
  let rileySub;
  let pat; // a coordinator without a browser (the crisis team's maker)
  let incident;
  let debrief;
  let start; // ms, the debriefing's start as scheduled
  let r0uid; // the calendar event's UID, the same across changes

  before(async () => {
    push = await startPushService();
    server = await startServer({ adminName: 'Alex Morgan', extraArgs: ['--push-allow-insecure-endpoints'] });
    const config = await (await fetch(`${server.url}/v1/config`)).json();
    push.expectVapidKey(config.vapid_public_key);
    browser = await launchBrowser();
    tmp = mkdtempSync(join(tmpdir(), 'sallyport-ics-'));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await push?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const { step } = stepper({ phones, server: () => server, prefix: 'debriefs-' });

  async function phone(label, who, roles, withPush = false) {
    const p = await newPhone(browser, label);
    phones.push(p);
    let sub;
    if (withPush) {
      sub = push.subscribe();
      await p.context.grantPermissions(['notifications'], { origin: server.origin });
      await usePushSubscription(p.context, sub);
    }
    await enrol(p.page, await server.invite(who.name, roles), { pin: who.pin });
    return { ...p, sub };
  }

  async function open(p, who, path) {
    await p.page.goto(`${server.url}${path}`);
    await unlock(p.page, who.pin);
  }

  const SETUP = 'a coordinator, two responders on a crisis team and a clinician enrol';
  const DECLARED = 'the coordinator declares and both responders answer Responding';
  const SCHEDULED = "the coordinator schedules a debriefing from the incident's board";
  const STORED = 'the server has the debrief, its reminders and the follow-ups';
  const ANSWERED = 'each invitee sees the invitation and answers; one-to-one opens Talk to a peer';
  const TALLY = "the coordinator's tally shows both answers; an invitee's phone shows none";
  const CALENDAR = 'both invitees download a calendar file that says only "Appointment"';
  const CHANGED = "a change of time reaches the invitee, with the updated calendar file";
  const CANCELLED = 'a cancellation reaches the invitee, with a calendar file that cancels it';
  const FOLLOWUP = 'a follow-up push shows "How are you doing?" and its "Talk to a peer" opens the reach-out flow';
  const REMINDER = "the reminder push shows the sealed time and place on the invitee's locked phone";

  step(SETUP, [], async () => {
    pat = await enrolClient(server, await server.invite('Pat Planner', ['coordinator']));
    riley = await phone('riley', RILEY, ['staff'], true);
    rileySub = riley.sub;
    sam = await phone('sam', SAM, ['staff']);
    lee = await phone('lee', LEE, ['staff', 'clinician']);
    casey = await phone('casey', CASEY, ['supervisor', 'coordinator']);
    const policy = { responders: 2, at_least: {}, repeat_every_minutes: 3, escalate_after_minutes: 10 };
    await createTeam(pat, 'West block CRT', policy, [[RILEY.name, 'peer'], [SAM.name, 'peer']]);
    await waitUntil(() => riley.page.evaluate(() => localStorage.getItem('sallyport.push') === 'enabled'), { message: "Riley's notifications enabled" });
  });

  step(DECLARED, [SETUP], async () => {
    const { page } = casey;
    await link(page, TYPE_LABEL).click();
    await heading(page, 'Declare a critical incident').waitFor();
    await page.getByLabel('Location', { exact: true }).fill(LOCATION);
    await page.getByRole('button', { name: /^Severity 2\b/ }).click();
    await waitUntil(() => /^\/incidents\/[A-Za-z0-9_-]{22}$/.test(new URL(page.url()).pathname), { message: 'the board after declaring' });
    incident = new URL(page.url()).pathname.split('/').pop();
    for (const [p, who] of [
      [riley, RILEY],
      [sam, SAM],
    ]) {
      await open(p, who, `/incidents/${incident}`);
      await button(p.page, 'Responding').click();
      await p.page.getByText('You answered: responding.', { exact: true }).first().waitFor();
    }
  });

  step(SCHEDULED, [DECLARED], async (t) => {
    const { page } = casey;
    await open(casey, CASEY, `/incidents/${incident}`);
    await link(page, 'Schedule debriefing / defusing').click();
    await heading(page, 'Schedule a debriefing').waitFor();
    const invite = page.getByRole('list', { name: 'Invite' });
    // Prefilled with the people who answered "Responding".
    await waitUntil(async () => (await invite.getByRole('checkbox', { name: RILEY.name }).isChecked()) && (await invite.getByRole('checkbox', { name: SAM.name }).isChecked()), { message: 'the responders prefilled' });
    assert.equal(await invite.getByRole('checkbox', { name: LEE.name, exact: false }).isChecked(), false);
    await page.getByRole('list', { name: 'Facilitators' }).getByRole('checkbox', { name: `${LEE.name} (clinician)` }).check();
    await page.getByLabel('Place or call link (optional)').fill(PLACE);
    await page.getByLabel(/^Show the place in reminders/).check();
    await bothThemes(page, 'schedule a debriefing', t);
    // A start a little over an hour ahead (whole minutes, the form's precision): the 1-hour
    // reminder falls due 45–105 s from now, the 24-hour one is already past and dropped.
    const local = await page.evaluate(() => {
      const d = new Date(Math.ceil((Date.now() + 3_645_000) / 60_000) * 60_000);
      const p = (n) => String(n).padStart(2, '0');
      return { value: `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`, ms: d.getTime() };
    });
    start = local.ms;
    await page.getByLabel('Starts').fill(local.value);
    await page.getByLabel('Length (minutes)').fill('90');
    await button(page, 'Schedule and invite').click();
    await waitUntil(() => /^\/debriefs\/[A-Za-z0-9_-]{22}$/.test(new URL(page.url()).pathname), { message: 'the debrief page after scheduling' });
    debrief = new URL(page.url()).pathname.split('/').pop();
    await page.getByRole('heading', { level: 1, name: 'Debriefing' }).waitFor();
    await page.getByRole('region', { name: 'Answers' }).getByText('0 attending, 0 can\'t attend, 0 one-to-one, 2 not answered').waitFor();
    await screenshot(page, 'debriefs-coordinator');
    await bothThemes(page, 'debrief, coordinator', t);
  });

  step(STORED, [SCHEDULED], async () => {
    // No "Send again": the server answered the PUT (reminders and follow-ups set).
    const { page } = casey;
    await page.getByText(/follow-ups set\.$/).waitFor();
    assert.equal(await button(page, 'Send again').count(), 0, 'the server confirmed the debrief');
  });

  step(ANSWERED, [SCHEDULED], async (t) => {
    await open(riley, RILEY, `/debriefs/${debrief}`);
    const card = riley.page.getByRole('region', { name: 'Invitation' });
    await card.getByText(/attendance may be expected/i).waitFor();
    await card.getByText(new RegExp(`Where: ${PLACE}`)).waitFor();
    await card.getByText(/Led by Lee Clinician/).waitFor();
    await bothThemes(riley.page, 'invitation', t);
    await button(riley.page, 'Attending').click();
    await riley.page.getByText('Your answer was sent to the organisers.').waitFor();
    assert.equal(await button(riley.page, 'Attending').getAttribute('aria-pressed'), 'true');
    await screenshot(riley.page, 'debriefs-invitation');

    await open(sam, SAM, `/debriefs/${debrief}`);
    await button(sam.page, "I'd rather talk one-to-one").click();
    await heading(sam.page, 'Talk to a peer').waitFor();
    assert.equal(await sam.page.getByRole('radio', { name: /^Today/ }).isChecked(), true, 'Today is chosen');
  });

  step(TALLY, [ANSWERED], async (t) => {
    const answers = casey.page.getByRole('region', { name: 'Answers' });
    await answers.getByText("1 attending, 0 can't attend, 1 one-to-one, 0 not answered").waitFor();
    await answers.getByText(`${RILEY.name}: Attending`).waitFor();
    await answers.getByText(`${SAM.name}: I'd rather talk one-to-one`).waitFor();
    await bothThemes(casey.page, 'debrief with answers', t);
    // The facilitator sees them too (sealed to Lee's device as well).
    await open(lee, LEE, `/debriefs/${debrief}`);
    await lee.page.getByRole('region', { name: 'Answers' }).getByText(/1 attending, .*1 one-to-one/).waitFor();
    // Riley's phone received Sam's RSVP inside the group but cannot open it: no answers shown.
    await riley.page.reload();
    await unlock(riley.page, RILEY.pin);
    await button(riley.page, 'Attending').waitFor();
    assert.equal(await riley.page.getByRole('region', { name: 'Answers' }).count(), 0);
    assert.equal(await riley.page.getByText(/one-to-one/i).count(), 1, 'only the button names one-to-one');
  });

  step(CALENDAR, [ANSWERED], async () => {
    async function download(p, includePlace, file) {
      const card = p.page.getByRole('region', { name: 'Invitation' });
      if (includePlace) await card.getByLabel('Include the place').check();
      const [d] = await Promise.all([p.page.waitForEvent('download'), button(card, 'Add to calendar').click()]);
      assert.equal(d.suggestedFilename(), 'appointment.ics');
      const path = join(tmp, file);
      await d.saveAs(path);
      const { stdout } = await run('/usr/bin/python3', [join(WEB_CLIENT, 'e2e', 'lib', 'check_ics.py'), path]);
      return JSON.parse(stdout);
    }
    const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
    await open(riley, RILEY, `/debriefs/${debrief}`);
    const r = await download(riley, false, 'riley.ics');
    await open(sam, SAM, `/debriefs/${debrief}`);
    const s = await download(sam, true, 'sam.ics');
    for (const ev of [r, s]) {
      assert.equal(ev.summary, 'Appointment');
      assert.equal(ev.dtstart, iso(start));
      assert.equal(ev.dtend, iso(start + 90 * 60_000));
      assert.equal(ev.sequence, 0);
      for (const word of [TYPE_LABEL, LOCATION, 'ebrief', 'incident', 'Sallyport', LEE.name]) assert.ok(!ev.text.includes(word), `"${word}" in a calendar file`);
    }
    assert.equal(r.location, null, 'no place unless ticked');
    r0uid = r.uid;
    assert.equal(s.uid, r.uid);
    assert.ok(!r.text.includes(PLACE));
    assert.equal(s.location, PLACE);
    assert.equal(readFileSync(join(tmp, 'sam.ics'), 'utf8').includes('METHOD:PUBLISH'), true);
  });

  step(REMINDER, [STORED], async () => {
    // The server sends the 1-hour reminder when it falls due (45–105 s after scheduling).
    const isDebrief = (p) => JSON.parse(p.text).kind === 'debrief';
    const [reminder] = await waitUntil(() => (push.received(rileySub.token).filter(isDebrief).length ? push.received(rileySub.token).filter(isDebrief) : null), {
      timeout: 110_000,
      interval: 500,
      message: `Riley's reminder push (push service errors: ${push.errors.join('; ')})`,
    });
    const payload = JSON.parse(reminder.text);
    assert.equal(payload.debrief, debrief);
    assert.ok(!reminder.text.includes(PLACE), 'the place is sealed in the push');

    const { page, context } = riley;
    await button(page, 'Lock now').click();
    await heading(page, 'Sallyport is locked').waitFor();
    const { cdp, registrationId } = await serviceWorkerRegistration(context, page, server.origin);
    await cdp.send('ServiceWorker.stopAllWorkers');
    // The service worker gets the push as the browser would: the Declarative Web Push message.
    await cdp.send('ServiceWorker.deliverPushMessage', { origin: server.origin, registrationId, data: reminder.text });
    const hhmm = await page.evaluate((ms) => new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }), start);
    const [n] = await waitUntil(
      () =>
        page.evaluate(async () => {
          const reg = await navigator.serviceWorker.ready;
          const list = (await reg.getNotifications()).filter((x) => x.tag.startsWith('debrief'));
          return list.length ? list.map((x) => ({ title: x.title, body: x.body, tag: x.tag })) : null;
        }),
      { message: 'the reminder notification' },
    );
    assert.match(n.title, new RegExp(`^Appointment at ${hhmm} (today|tomorrow)$`));
    assert.equal(n.body, `At ${PLACE}.`);
    assert.equal(n.tag, `debrief-${debrief}`);
    await cdp.detach();
  });

  step(FOLLOWUP, [REMINDER], async () => {
    // A follow-up due now, as a coordinator's client makes one (Pat, browserless, on the same client
    // core): "How are you doing?" sealed to Riley's device, the id starting with '-'.
    const dir = (await pat.call('GET', '/v1/directory')).body;
    const device = dir.people.find((p) => p.display_name === RILEY.name).devices[0];
    const id = Buffer.from([0xfb, ...randomBytes(15)]).toString('base64url');
    assert.ok(id.startsWith('-'));
    const aad = Buffer.concat([Buffer.from('sallyport-debrief-v1\0'), Buffer.from(id, 'base64url'), Buffer.from(device.device, 'base64url')]);
    const sealed = Buffer.from(clientCore().seal(device.notification_key, aad, Buffer.from(JSON.stringify({ t: 'followup' })))).toString('base64');
    const now = Date.now();
    const put = await pat.call('PUT', `/v1/debriefs/${id}`, { kind: 'followup', at: now, revision: 0, notices: [{ at: now, sealed: [{ device: device.device, sealed }] }] });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const mine = () => push.received(rileySub.token).filter((p) => JSON.parse(p.text).debrief === id);
    const [got] = await waitUntil(() => (mine().length ? mine() : null), { message: `the follow-up push (errors: ${push.errors.join('; ')})` });

    const { page, context } = riley;
    await page.goto(server.url);
    await heading(page, 'Sallyport is locked').waitFor();
    const { cdp, registrationId } = await serviceWorkerRegistration(context, page, server.origin);
    await cdp.send('ServiceWorker.deliverPushMessage', { origin: server.origin, registrationId, data: got.text });
    const tag = `debrief-${id}`;
    const n = await waitUntil(
      () =>
        page.evaluate(async (tag) => {
          const reg = await navigator.serviceWorker.ready;
          const [x] = await reg.getNotifications({ tag });
          return x ? { title: x.title, body: x.body, actions: x.actions.map((a) => a.title) } : null;
        }, tag),
      { message: 'the follow-up notification' },
    );
    assert.equal(n.title, 'How are you doing?');
    assert.deepEqual(n.actions, ['Talk to a peer', 'Crisis lines']);
    await cdp.detach();

    // "Talk to a peer" opens the reach-out flow (after the PIN); no tool clicks an action, so the
    // worker gets the event the browser would dispatch.
    const worker = await runningWorker(context, page, `${server.origin}/sw.js`);
    const handled = await worker.evaluate(async (tag) => {
      const [x] = await self.registration.getNotifications({ tag });
      const event = new NotificationEvent('notificationclick', { notification: x, action: 'talk' });
      const pending = [];
      Object.defineProperty(event, 'waitUntil', { value: (p) => pending.push(Promise.resolve(p)) });
      self.dispatchEvent(event);
      const settled = await Promise.allSettled(pending);
      return settled.map((r) => (r.status === 'fulfilled' ? 'fulfilled' : `rejected: ${r.reason}`));
    }, tag);
    assert.deepEqual(handled, ['fulfilled']);
    await waitUntil(() => new URL(page.url()).pathname === '/reach-out', { message: 'the reach-out page' });
    await unlock(page, RILEY.pin);
    await heading(page, 'Talk to a peer').waitFor();
  });

  step(CHANGED, [CALENDAR, STORED], async (t) => {
    // Casey moves it a day later: Riley's invitation shows the new time and offers the updated file.
    const { page } = casey;
    await open(casey, CASEY, `/debriefs/${debrief}`);
    const later = await page.evaluate((ms) => {
      const d = new Date(ms + 86_400_000);
      const p = (n) => String(n).padStart(2, '0');
      return { value: `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`, ms: d.getTime() };
    }, start);
    await page.getByLabel('New start').fill(later.value);
    await button(page, 'Change time').click();
    await page.getByText(/^Moved\./).waitFor();
    await open(riley, RILEY, `/debriefs/${debrief}`);
    await riley.page.getByText('The plan changed: add the updated file to your calendar.').waitFor();
    await bothThemes(riley.page, 'invitation, changed', t);
    const card = riley.page.getByRole('region', { name: 'Invitation' });
    const [d] = await Promise.all([riley.page.waitForEvent('download'), button(card, 'Download the updated file').click()]);
    const path = join(tmp, 'riley-changed.ics');
    await d.saveAs(path);
    const ev = JSON.parse((await run('/usr/bin/python3', [join(WEB_CLIENT, 'e2e', 'lib', 'check_ics.py'), path])).stdout);
    assert.equal(ev.sequence, 1);
    assert.equal(ev.method, 'PUBLISH');
    assert.equal(ev.dtstart, new Date(later.ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));
  });

  step(CANCELLED, [CHANGED], async (t) => {
    const { page } = casey;
    await button(page, 'Cancel…').click();
    await button(page, 'Cancel the session').click();
    await page.getByText('Cancelled.', { exact: true }).waitFor();
    await open(riley, RILEY, `/debriefs/${debrief}`);
    const card = riley.page.getByRole('region', { name: 'Invitation — cancelled' });
    await card.getByText('This session was cancelled.').waitFor();
    assert.equal(await button(riley.page, 'Attending').count(), 0, 'no answers to a cancelled session');
    await bothThemes(riley.page, 'invitation, cancelled', t);
    const [d] = await Promise.all([riley.page.waitForEvent('download'), button(card, 'Download the cancellation').click()]);
    const path = join(tmp, 'riley-cancelled.ics');
    await d.saveAs(path);
    const ev = JSON.parse((await run('/usr/bin/python3', [join(WEB_CLIENT, 'e2e', 'lib', 'check_ics.py'), path])).stdout);
    assert.equal(ev.method, 'CANCEL');
    assert.equal(ev.status, 'CANCELLED');
    assert.equal(ev.sequence, 2);
    assert.equal(ev.uid, r0uid);
  });

  step('nothing readable reaches the server or a push', [SCHEDULED], async () => {
    for (const secret of [PLACE, LOCATION, TYPE_LABEL, 'not_attending', 'one_to_one']) {
      const { hits, searched } = findOnServer(server, secret);
      assert.deepEqual(hits, [], `"${secret}" found on the server (searched ${searched.join(', ')})`);
      for (const p of push.all()) assert.ok(!p.text.includes(secret), `"${secret}" in a push payload: ${p.text}`);
    }
    assert.deepEqual(push.errors, []);
  });
});

async function runningWorker(context, page, url) {
  const running = context.serviceWorkers().find((w) => w.url() === url);
  if (running) return running;
  const started = context.waitForEvent('serviceworker', { predicate: (w) => w.url() === url });
  await page.evaluate(() => fetch('/manifest.webmanifest').then(() => true, () => false));
  return started;
}
