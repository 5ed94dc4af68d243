// Peer support end to end in headless Chromium (phone viewport) against a real `sallyport serve`:
// an administrator enrols; a coordinator who is also a peer supporter (Pat), a second supporter
// (Sam) and a staff member (Dana) enrol from `sallyport admin invite` links. Pat puts Pat and Sam
// on the team with current training and Pat on call (a rotation). Dana reaches out ("now", under a
// name nobody else uses), sees the confidentiality notice once, the crisis lines and "waiting"; Pat
// sees the request in the queue and accepts; the conversation opens on both sides, Pat's showing
// the name Dana chose, which never reaches the server (searched for before and after the accept and
// after the close); they talk; Pat hands off to Sam and leaves; Sam and Dana talk. Later Pat hands
// a second request to Sam, and Sam (now its holder on the server) closes it. Every URL the phones
// request is kept, as a reverse proxy's access log would: no request, mailbox or device id is in
// one (ids travel in bodies). axe-core on every new screen; screenshots.
//
//   cd web-client && npm run build && node --test e2e/

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';
import { stepper } from './lib/steps.mjs';
import { launchBrowser, newPhone, checkAccessibility, screenshot, waitUntil, serviceWorkerRegistration } from './lib/browser.mjs';
import { heading, button, link, enrol, goTo, unlock, send, expectMessage, messages } from './lib/app.mjs';
import { findOnServer } from './lib/leaks.mjs';

const ALEX = { name: 'Alex Morgan', pin: '482916' };
const PAT = { name: 'Pat Quinn', pin: '318274' };
const SAM = { name: 'Sam Lee', pin: '551207' };
const DANA = { name: 'Dana Reyes', pin: '735204' };
// A name no one else uses, so that finding it anywhere on the server means it leaked.
const PSEUDONYM = `Zq${Array.from({ length: 10 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('')}`;

/** The name Dana typed is nowhere the server keeps anything: its data directory, logs and stdout. */
function assertNameNotOnServer(server, when) {
  const { hits, searched } = findOnServer(server, PSEUDONYM);
  assert.ok(searched.some((f) => /\.db$|sqlite/.test(f)), `the database was searched: ${searched.join(', ')}`);
  assert.deepEqual(hits, [], `the chosen name "${PSEUDONYM}" reached the server ${when}`);
}

/** On "Talk to a peer" after the notice was acknowledged: "Today", the suggested pseudonym, waiting. */
async function reachOutToday(page) {
  await heading(page, 'Talk to a peer').waitFor();
  await page.getByRole('radio', { name: /^Today/ }).check();
  await button(page, 'Reach out').click();
  await page.getByRole('status').filter({ hasText: 'Waiting for a peer supporter.' }).waitFor();
}

/**
 * axe-core on the whole of a view that is longer than the screen, at once: the viewport is made as
 * tall as the page for the check, then put back. On a long page something is always half under
 * the sticky tab bar, and what is depends on where the page is scrolled, not on the view.
 */
async function checkWholeView(page, screen, t) {
  const viewport = page.viewportSize();
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: viewport.width, height: Math.max(height, viewport.height) });
  try {
    await checkAccessibility(page, screen, t);
  } finally {
    await page.setViewportSize(viewport);
  }
}

/** A base64url id of 16 bytes, as request, mailbox and device ids are written. */
const ID = /^[A-Za-z0-9_-]{22}$/;

/**
 * What a reverse proxy in front of the server would see of a phone: every URL it requests (`urls`),
 * and every request, mailbox or device id its API calls carried in a body or got in an answer
 * (`ids`), to look for in those URLs.
 */
function recordTraffic(phone, traffic) {
  const collect = (text) => {
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      return;
    }
    const walk = (value, key) => {
      if (Array.isArray(value)) value.forEach((v) => walk(v, key));
      else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, k);
      else if (['id', 'mailbox', 'mailboxes', 'device'].includes(key) && typeof value === 'string' && ID.test(value)) traffic.ids.add(value);
    };
    walk(body, '');
  };
  // Where request, mailbox and device ids travel. Roster, rotation, override and swap ids are about
  // the team's schedule and stay in paths (protocol §11), so their answers are not searched.
  const api = (url) => /^\/v1\/(support\/(requests|queue|mailboxes)|admin\/devices|me$|enrol$|directory$)/.test(new URL(url).pathname);
  phone.context.on('request', (request) => {
    traffic.urls.push(`${request.method()} ${request.url()}`);
    if (api(request.url()) && request.postData()) collect(request.postData());
  });
  phone.context.on('response', (response) => {
    if (api(response.url())) traffic.pending.push(response.text().then(collect, () => {}));
  });
}

describe('Peer support in headless Chromium', () => {
  let server;
  let browser;
  const phones = [];
  let pat;
  let sam;
  let dana;
  const traffic = { urls: [], ids: new Set(), pending: [] };

  before(async () => {
    server = await startServer({ adminName: ALEX.name });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const { step } = stepper({ phones, server: () => server, prefix: 'support-' });

  const ENROL = 'the administrator, a coordinator-supporter, a second supporter and a staff member enrol';
  const ROSTER = 'the coordinator puts both supporters on the team with current training and Pat on call';
  const REACH = 'Dana reaches out now under a pseudonym: the notice once, the crisis lines, waiting';
  const ACCEPT = 'Pat sees the request in the queue and accepts; the conversation opens on both sides';
  const TALK = 'Pat and Dana exchange messages';
  const HANDOFF = 'Pat hands off to Sam and leaves; Sam and Dana exchange messages';

  step(ENROL, [], async () => {
    assert.ok(server.adminLink, 'the server printed an administrator enrolment link');
    const alex = await newPhone(browser, 'alex');
    phones.push(alex);
    await enrol(alex.page, server.adminLink, { pin: ALEX.pin });
    const links = {
      pat: await server.invite(PAT.name, ['staff', 'peer_supporter', 'coordinator']),
      // Sam joins the team only later (the coordinator's "Add to the team"): the app must pick up
      // the new role from the server at its next start.
      sam: await server.invite(SAM.name, ['staff']),
      dana: await server.invite(DANA.name, ['staff']),
    };
    pat = await newPhone(browser, 'pat');
    sam = await newPhone(browser, 'sam');
    dana = await newPhone(browser, 'dana');
    phones.push(pat, sam, dana);
    for (const phone of [pat, sam, dana]) recordTraffic(phone, traffic);
    await enrol(pat.page, links.pat, { pin: PAT.pin });
    await enrol(sam.page, links.sam, { pin: SAM.pin });
    await enrol(dana.page, links.dana, { pin: DANA.pin });
    await alex.context.close();
    phones.splice(phones.indexOf(alex), 1);
    // Staff see "Talk to a peer" but not the supporters' screens.
    await link(dana.page, 'Talk to a peer').waitFor();
    assert.equal(await link(dana.page, 'Support requests').count(), 0);
  });

  step(ROSTER, [ENROL], async (t) => {
    const { page } = pat;
    await link(page, 'Peer support team').click();
    await heading(page, 'Peer support team').waitFor();
    for (const who of [PAT.name, SAM.name]) {
      // "Add to the team" on the list is its own view; adding someone opens their page.
      await link(page, 'Add to the team').click();
      await heading(page, 'Add to the team').waitFor();
      const person = page.getByLabel('Person', { exact: true });
      await waitUntil(async () => (await person.locator('option', { hasText: who }).count()) > 0, { message: `${who} in the Person list` });
      await person.selectOption({ label: who });
      if (who === PAT.name) {
        await screenshot(page, 'support-team-add');
        await checkWholeView(page, 'add to the team', t);
      }
      await button(page, 'Add to the team').click();
      await heading(page, who).waitFor();
      await button(page, `Remove ${who}`).waitFor();
      await page.getByRole('status').filter({ hasText: 'Added to the team.' }).waitFor();
      await link(page, 'Back').click();
      await heading(page, 'Peer support team').waitFor();
    }
    for (const who of [PAT.name, SAM.name]) {
      // A supporter's row opens their page, where training is recorded.
      await page.getByRole('link', { name: new RegExp(`^${who}`) }).click();
      await heading(page, who).waitFor();
      await page.getByLabel('Training', { exact: true }).selectOption({ label: 'All five' });
      await button(page, 'Record training').click();
      await page.getByRole('status').filter({ hasText: 'Training recorded.' }).waitFor();
      if (who === SAM.name) {
        await screenshot(page, 'support-team-supporter');
        await checkWholeView(page, 'supporter', t);
        // Removing asks first; "Cancel" keeps them on the team.
        await button(page, `Remove ${who}`).click();
        await button(page, `Yes, remove ${who}`).waitFor();
        await checkWholeView(page, 'supporter (remove?)', t);
        await button(page, 'Cancel').click();
        await button(page, `Remove ${who}`).waitFor();
        // The browser's back button goes back to the list too.
        await page.goBack();
      } else {
        await link(page, 'Back').click();
      }
      await heading(page, 'Peer support team').waitFor();
    }
    await waitUntil(async () => (await page.getByText('Training current', { exact: true }).count()) === 2, { message: 'both supporters with current training' });
    // Sam's app learns the role it gained at its next start (a reload, then the PIN).
    assert.equal(await link(sam.page, 'Support requests').count(), 0, 'not a supporter when enrolled');
    await sam.page.reload();
    await unlock(sam.page, SAM.pin);
    await link(sam.page, 'Support requests').waitFor();
    await link(page, 'New rotation').click();
    await heading(page, 'New rotation').waitFor();
    await page.getByRole('checkbox', { name: PAT.name, exact: true }).check();
    await screenshot(page, 'support-team-new-rotation');
    await checkWholeView(page, 'new rotation', t);
    await button(page, 'Create rotation').click();
    await page.getByRole('status').filter({ hasText: 'Rotation created.' }).waitFor();
    await heading(page, 'Peer support on call').waitFor();
    await button(page, 'Delete rotation Peer support on call').waitFor();
    await screenshot(page, 'support-team-rotation');
    await checkWholeView(page, 'rotation', t);
    await link(page, 'Back').click();
    await heading(page, 'Peer support team').waitFor();
    // The week view: Pat, the rotation's only member, holds it all day on each of the seven days.
    const week = page.getByRole('region', { name: 'On call this week' });
    await waitUntil(async () => (await week.getByText(PAT.name, { exact: true }).count()) === 7, { message: 'Pat on call on seven days' });
    assert.equal(await week.getByText('all day', { exact: true }).count(), 7);
    assert.equal(await week.getByText('No one on call').count(), 0);
    await screenshot(page, 'support-team');
    // From the top, as a person arriving on the screen sees it (the sticky tab bar covers the bottom).
    await page.evaluate(() => window.scrollTo(0, 0));
    await checkAccessibility(page, 'peer support team', t);
    await checkWholeView(page, 'peer support team (whole list)', t);
    // The dark theme: the list, a supporter's page and a rotation's.
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(page, 'support-team-dark');
    await checkWholeView(page, 'peer support team (dark)', t);
    await page.getByRole('link', { name: new RegExp(`^${PAT.name}`) }).click();
    await heading(page, PAT.name).waitFor();
    await screenshot(page, 'support-team-supporter-dark');
    await checkWholeView(page, 'supporter (dark)', t);
    await link(page, 'Back').click();
    await heading(page, 'Peer support team').waitFor();
    await page.getByRole('link', { name: /^Peer support on call/ }).click();
    await heading(page, 'Peer support on call').waitFor();
    await button(page, 'Delete rotation Peer support on call').click();
    await button(page, 'Yes, delete Peer support on call').waitFor();
    await screenshot(page, 'support-team-rotation-dark');
    await checkWholeView(page, 'rotation, delete? (dark)', t);
    await button(page, 'Cancel').click();
    await link(page, 'Back').click();
    await heading(page, 'Peer support team').waitFor();
    await page.emulateMedia({ colorScheme: 'light' });

    await goTo(page, 'Conversations');
    await link(page, 'My shifts').click();
    await heading(page, 'My shifts').waitFor();
    const available = page.getByRole('radio', { name: 'Available', exact: true });
    await available.waitFor();
    if (!(await available.isChecked())) {
      await available.check();
      await page.getByRole('status').filter({ hasText: 'You are available.' }).waitFor();
    }
    const shifts = page.getByRole('region', { name: 'Next shifts' }).or(page.locator('section', { has: heading(page, 'Next shifts') }));
    await waitUntil(async () => /Peer support on call/.test(await shifts.first().innerText()), { message: 'a shift in "Next shifts"' });
    await screenshot(page, 'support-my-shifts');
    await checkAccessibility(page, 'my shifts', t);
  });

  step(REACH, [ROSTER], async (t) => {
    const { page } = dana;
    await link(page, 'Talk to a peer').click();
    await heading(page, 'Talk to a peer').waitFor();
    const now = page.getByRole('radio', { name: /^Now/ });
    await now.check();
    const name = page.getByRole('textbox', { name: 'Name or pseudonym', exact: true });
    assert.notEqual(await name.inputValue(), '', 'a pseudonym is suggested');
    await name.fill(PSEUDONYM);
    // For "now" the crisis lines are right there.
    await page.getByRole('link', { name: /^Call 988/ }).first().waitFor();
    await screenshot(page, 'support-reach-out');
    await checkAccessibility(page, 'reach out', t);
    await button(page, 'Reach out').click();
    await heading(page, 'Before you reach out').waitFor();
    await screenshot(page, 'support-notice');
    await checkAccessibility(page, 'confidentiality notice', t);
    await button(page, 'I understand').click();
    await page.getByRole('status').filter({ hasText: 'Waiting for a peer supporter.' }).waitFor();
    await page.getByRole('link', { name: /^Call 988/ }).first().waitFor();
    await page.getByRole('link', { name: /^Text 988/ }).first().waitFor();
    await screenshot(page, 'support-waiting');
    await checkAccessibility(page, 'waiting for a supporter', t);
    assertNameNotOnServer(server, 'when the request was made');
  });

  let danaGroup;
  step(ACCEPT, [REACH], async (t) => {
    const { page } = pat;
    await goTo(page, 'Conversations');
    await link(page, 'Support requests').click();
    await heading(page, 'Support requests').waitFor();
    await page.getByText(/Now · waiting/).waitFor();
    const body = await page.locator('main').innerText();
    assert.ok(!body.includes(PSEUDONYM) && !body.includes(DANA.name), 'the queue shows no identity');
    await screenshot(page, 'support-queue');
    await checkAccessibility(page, 'support requests', t);
    await button(page, 'Accept').click();
    // The name Dana chose arrives inside the conversation (end to end), after the group exists.
    await heading(page, PSEUDONYM).waitFor({ timeout: 30_000 });
    // Dana's waiting screen turns into the conversation with Pat.
    await heading(dana.page, PAT.name).waitFor({ timeout: 30_000 });
    danaGroup = new URL(dana.page.url()).pathname;
    assert.match(danaGroup, /^\/c\/[0-9a-f]+$/);
    assertNameNotOnServer(server, 'after the supporter accepted');
  });

  step(TALK, [ACCEPT], async (t) => {
    await send(dana.page, 'Rough night on the block. Can we talk?');
    await expectMessage(pat.page, 'Rough night on the block. Can we talk?');
    await send(pat.page, 'Of course. I am here. What happened?');
    await expectMessage(dana.page, 'Of course. I am here. What happened?');
    // The pseudonymous identity and its mailbox survive a reload (kept sealed in IndexedDB).
    await dana.page.reload();
    await unlock(dana.page, DANA.pin);
    await heading(dana.page, PAT.name).waitFor();
    await goTo(dana.page, 'Conversations');
    await dana.page.getByRole('link', { name: new RegExp(`^${PAT.name}`) }).click();
    await expectMessage(dana.page, 'Of course. I am here. What happened?');
    await send(pat.page, 'Take your time.');
    await expectMessage(dana.page, 'Take your time.', 30_000);
    await send(dana.page, 'Thanks. It was a bad cell extraction.');
    await expectMessage(pat.page, 'Thanks. It was a bad cell extraction.', 30_000);
    await dana.page.getByText('Support options').click();
    await button(dana.page, 'Reveal my name').waitFor();
    await button(dana.page, 'Close conversation').waitFor();
    await screenshot(dana.page, 'support-conversation-requester');
    await checkAccessibility(dana.page, 'support conversation (requester)', t);
    await pat.page.getByText('Support options').click();
    await button(pat.page, 'Hand off').waitFor();
    await screenshot(pat.page, 'support-conversation-supporter');
    await checkAccessibility(pat.page, 'support conversation (supporter)', t);
  });

  step(HANDOFF, [TALK], async () => {
    const { page } = pat;
    await button(page, 'Hand off').click();
    await button(page, `Hand off to ${SAM.name}`).click();
    await page.getByRole('status').filter({ hasText: `${SAM.name} was added` }).waitFor({ timeout: 30_000 });
    await button(page, 'Leave conversation').click();
    await page.getByText('You were removed from this conversation.').waitFor();

    await heading(sam.page, 'Conversations').waitFor();
    await sam.page.getByRole('link', { name: new RegExp(PSEUDONYM) }).click({ timeout: 30_000 });
    await messages(sam.page).waitFor();
    // Pat's leave is committed by those who stay: Pat is no longer a member.
    await waitUntil(async () => !(await sam.page.getByRole('heading', { level: 1 }).innerText()).includes(PAT.name), {
      timeout: 30_000,
      message: 'Pat gone from the members',
    });
    await send(sam.page, 'Hi, I am Sam. Pat asked me to take over.');
    await expectMessage(dana.page, 'Hi, I am Sam. Pat asked me to take over.', 30_000);
    await send(dana.page, 'Thanks Sam.');
    await expectMessage(sam.page, 'Thanks Sam.', 30_000);
    await screenshot(sam.page, 'support-handed-off');
  });

  const CLOSE_NAME = 'Dana reveals her name inside the conversation, then closes it; a second reach-out skips the notice';
  step(CLOSE_NAME, [HANDOFF], async (t) => {
    const { page } = dana;
    await page.getByText('Support options').click().catch(() => {});
    const reveal = button(page, 'Reveal my name');
    if (!(await reveal.isVisible())) await page.getByText('Support options').click();
    await reveal.click();
    await expectMessage(page, `My name is ${DANA.name}.`);
    await expectMessage(sam.page, `My name is ${DANA.name}.`, 30_000);
    await button(page, 'Close conversation').click();
    await page.getByText('This conversation was closed.').waitFor();
    assert.equal(await page.getByRole('textbox', { name: 'Message', exact: true }).count(), 0, 'no composer once closed');
    assertNameNotOnServer(server, 'after the conversation was closed');
    // The server forgot the request: Sam's next message finds no mailbox, so Sam sees it closed too.
    await sam.page.getByRole('textbox', { name: 'Message', exact: true }).fill('Are you still there?');
    await button(sam.page, 'Send').click();
    await sam.page.getByText('This conversation was closed.').waitFor({ timeout: 30_000 });

    // The notice was acknowledged once: reaching out again goes straight to waiting.
    await goTo(page, 'Conversations');
    await link(page, 'Talk to a peer').click();
    await heading(page, 'Talk to a peer').waitFor();
    await page.getByRole('radio', { name: /^This week/ }).check();
    assert.equal(await page.getByRole('link', { name: /^Call 988/ }).count(), 0, 'no crisis lines block for "this week"');
    await button(page, 'Reach out').click();
    await page.getByRole('status').filter({ hasText: 'Waiting for a peer supporter.' }).waitFor();
    assert.equal(await heading(page, 'Before you reach out').count(), 0, 'the notice is not shown twice');
    await checkAccessibility(page, 'waiting (this week)', t);
    await button(page, 'Cancel request').click();
    await button(page, 'Reach out').waitFor();
  });

  step('a support request push says only "Support request" and how soon, and opens the queue', [ROSTER], async () => {
    const { page, context } = pat;
    const origin = server.origin;
    await context.grantPermissions(['notifications'], { origin });
    await goTo(page, 'Conversations');
    const { cdp, registrationId } = await serviceWorkerRegistration(context, page, origin);
    await cdp.send('ServiceWorker.stopAllWorkers');
    // What the server pushes to on-call supporters (protocol §13.2): no id, no requester.
    await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data: JSON.stringify({ v: 1, kind: 'support_request', urgency: 'now' }) });
    const notification = await waitUntil(
      async () =>
        (
          await page.evaluate(async () => {
            const reg = await navigator.serviceWorker.ready;
            return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
          })
        ).find((n) => n.tag === 'support'),
      { message: 'the support request notification' },
    );
    assert.deepEqual(notification, {
      title: 'Support request',
      body: 'Someone wants to talk now. Open Sallyport to answer.',
      tag: 'support',
      data: { url: '/requests' },
    });
    await cdp.detach();
  });

  step('supporters see their shifts, set their switch and swap a shift (propose, accept)', [ROSTER], async (t) => {
    const { page } = pat;
    // A daily rotation of Pat and Sam from today: Pat's shift today, Sam's tomorrow.
    await goTo(page, 'Conversations');
    await link(page, 'Peer support team').click();
    await heading(page, 'Peer support team').waitFor();
    await link(page, 'New rotation').click();
    await heading(page, 'New rotation').waitFor();
    await page.getByRole('textbox', { name: 'Rotation name', exact: true }).fill('Nights');
    await page.getByRole('checkbox', { name: PAT.name, exact: true }).check();
    await page.getByRole('checkbox', { name: SAM.name, exact: true }).check();
    await page.getByLabel('Period', { exact: true }).selectOption({ label: 'Daily' });
    await page.getByRole('status').filter({ hasText: /./ }).first().waitFor({ state: 'attached' }).catch(() => {});
    await button(page, 'Create rotation').click();
    await button(page, 'Delete rotation Nights').waitFor();
    // A rotation's page survives a reload (its own path), and "Back" still leads to the list.
    await page.reload();
    await unlock(page, PAT.pin);
    await heading(page, 'Nights').waitFor();
    await button(page, 'Delete rotation Nights').waitFor();
    await link(page, 'Back').click();
    await heading(page, 'Peer support team').waitFor();
    // The week view: Nights on each of the seven days, handed off at 08:00 between Pat and Sam.
    const week = page.getByRole('region', { name: 'On call this week' });
    await waitUntil(async () => (await week.getByText('Nights', { exact: true }).count()) === 7, { message: 'Nights on seven days' });
    assert.ok((await week.getByText(/^from 8:00\sAM$/).count()) >= 6, 'a hand-off at 8:00 AM on each day after today');
    assert.ok((await week.getByText(SAM.name, { exact: true }).count()) >= 3, 'Sam on call on some days');
    await screenshot(page, 'support-team-week');

    await goTo(page, 'Conversations');
    await link(page, 'My shifts').click();
    await heading(page, 'My shifts').waitFor();
    const mine = page.getByLabel('My shift', { exact: true });
    await waitUntil(async () => (await mine.locator('option', { hasText: 'Nights' }).count()) > 0, { message: 'a Nights shift of Pat' });
    const myValue = await mine.locator('option', { hasText: 'Nights' }).first().getAttribute('value');
    await mine.selectOption(myValue);
    const theirs = page.getByLabel('Their shift', { exact: true });
    const theirValue = await theirs.locator('option', { hasText: SAM.name }).first().getAttribute('value');
    await theirs.selectOption(theirValue);
    await button(page, 'Propose swap').click();
    await page.getByRole('status').filter({ hasText: 'Swap proposed.' }).waitFor();
    await button(page, 'Cancel swap').waitFor();

    await goTo(sam.page, 'Conversations');
    await link(sam.page, 'My shifts').click();
    await heading(sam.page, 'My shifts').waitFor();
    await button(sam.page, 'Accept swap').click();
    await sam.page.getByRole('status').filter({ hasText: 'Swap accepted.' }).waitFor();
    await sam.page.getByText(/: accepted$/).first().waitFor();
    // Sam's own switch.
    await sam.page.getByRole('radio', { name: 'Busy', exact: true }).check();
    await sam.page.getByRole('status').filter({ hasText: 'You are busy.' }).waitFor();
    await sam.page.getByRole('radio', { name: 'Available', exact: true }).check();
    await sam.page.getByRole('status').filter({ hasText: 'You are available.' }).waitFor();
    await screenshot(sam.page, 'support-my-shifts-swap');
    await sam.page.evaluate(() => window.scrollTo(0, 0));
    await checkAccessibility(sam.page, 'my shifts (swap)', t);
  });

  const TAKEN = 'a request taken by another supporter says so and leaves the queue; the accepting supporter closes it';
  step(TAKEN, [CLOSE_NAME], async () => {
    await goTo(dana.page, 'Conversations');
    await link(dana.page, 'Talk to a peer').click();
    await reachOutToday(dana.page);
    // Sam's queue shows it; Sam's phone then loses the network (so its queue is not refreshed).
    await goTo(sam.page, 'Conversations');
    await link(sam.page, 'Support requests').click();
    await heading(sam.page, 'Support requests').waitFor();
    await button(sam.page, 'Accept').waitFor();
    await sam.context.setOffline(true);
    await goTo(pat.page, 'Conversations');
    await link(pat.page, 'Support requests').click();
    await button(pat.page, 'Accept').click();
    const group = await waitUntil(async () => /^\/c\/[0-9a-f]+$/.test(new URL(pat.page.url()).pathname) && new URL(pat.page.url()).pathname, { message: 'Pat in the conversation' });
    await sam.context.setOffline(false);
    await button(sam.page, 'Accept').click();
    await sam.page.getByRole('alert').filter({ hasText: 'Another supporter has taken this request.' }).waitFor();
    await waitUntil(async () => (await button(sam.page, 'Accept').count()) === 0, { message: 'the taken request gone from Sam\'s queue' });
    // Dana's conversation opens; Pat, who accepted, closes it.
    await dana.page.waitForURL((u) => u.pathname === group, { timeout: 30_000 });
    await pat.page.getByText('Support options').click();
    await button(pat.page, 'Close conversation').click();
    await pat.page.getByText('This conversation was closed.').waitFor();
  });

  const HELD = 'after a hand-off the new supporter holds the request on the server and closes it';
  step(HELD, [TAKEN], async () => {
    await goTo(dana.page, 'Conversations');
    await link(dana.page, 'Talk to a peer').click();
    await reachOutToday(dana.page);
    await goTo(pat.page, 'Conversations');
    await link(pat.page, 'Support requests').click();
    await button(pat.page, 'Accept').click();
    const group = await waitUntil(async () => /^\/c\/[0-9a-f]+$/.test(new URL(pat.page.url()).pathname) && new URL(pat.page.url()).pathname, { message: 'Pat in the conversation' });
    await dana.page.waitForURL((u) => u.pathname === group, { timeout: 30_000 });
    // Pat adds Sam, the server records Sam as the holder (POST …/handoff), and Pat leaves.
    await pat.page.getByText('Support options').click();
    await button(pat.page, 'Hand off').click();
    await button(pat.page, `Hand off to ${SAM.name}`).click();
    await pat.page.getByRole('status').filter({ hasText: `${SAM.name} was added` }).waitFor({ timeout: 30_000 });
    assert.equal(await pat.page.getByRole('alert').count(), 0, 'the hand-off was recorded');
    await button(pat.page, 'Leave conversation').click();
    await pat.page.getByText('You were removed from this conversation.').waitFor();
    // Sam, not the supporter who accepted, closes it: the server allows it only after the hand-off.
    await goTo(sam.page, 'Conversations');
    await sam.page.locator(`a[href="${group}"]`).click({ timeout: 30_000 });
    await messages(sam.page).waitFor();
    const options = sam.page.getByText('Support options');
    await options.waitFor({ timeout: 30_000 });
    await options.click();
    await button(sam.page, 'Close conversation').click();
    await sam.page.getByText('This conversation was closed.').waitFor({ timeout: 30_000 });
    assert.equal(await sam.page.getByRole('alert').count(), 0, 'no "not allowed" for Sam');
  });

  step('no request, mailbox or device id is in any URL a phone requested (an access log holds none)', [HELD], async () => {
    await Promise.all(traffic.pending);
    const calls = (path) => traffic.urls.filter((u) => new URL(u.split(' ')[1]).pathname === path).length;
    for (const path of ['/v1/support/requests', '/v1/support/requests/status', '/v1/support/requests/claim', '/v1/support/requests/handoff', '/v1/support/requests/close']) {
      assert.ok(calls(path) > 0, `the flow called ${path}`);
    }
    // Three requests reached out, each with its mailbox, plus the phones' own devices and mailboxes.
    assert.ok(traffic.ids.size >= 6, `ids seen in bodies: ${traffic.ids.size}`);
    for (const url of traffic.urls) {
      const target = decodeURIComponent(url);
      for (const id of traffic.ids) assert.ok(!target.includes(id), `an id in a requested URL: ${url}`);
    }
  });

  step('nothing readable on the server: no support message, revealed name or pseudonym in its files or log', [CLOSE_NAME], async () => {
    const texts = [
      'Rough night on the block. Can we talk?',
      'Of course. I am here. What happened?',
      'Take your time.',
      'Thanks. It was a bad cell extraction.',
      'Hi, I am Sam. Pat asked me to take over.',
      'Thanks Sam.',
      `My name is ${DANA.name}.`,
    ];
    for (const file of readdirSync(server.dataDir).map((f) => join(server.dataDir, f))) {
      const bytes = readFileSync(file);
      for (const text of texts) assert.equal(bytes.indexOf(Buffer.from(text, 'utf8')), -1, `"${text}" found in ${file}`);
    }
    // The pseudonym travels only inside MLS (a KeyPackage credential, then encrypted): never logged.
    assert.ok(!server.logTail(100000).includes(PSEUDONYM), 'the pseudonym is not in the server log');
  });
});
