// The web app end to end in headless Chromium against a real `sallyport serve`: two people on two
// phones (two browser contexts) enrol, talk both ways, go offline and come back, reload, lock and
// unlock; the service worker's push and notification-click paths through the DevTools protocol; the
// app shell offline; axe-core on every main screen; a screenshot of each in e2e/screenshots/.
//
//   cd web-client && npm run build && node --test e2e/
//
// The tests share one server and run in order: later ones build on what earlier ones did (who is
// enrolled, the conversation). A test whose prerequisite failed is skipped and says which.

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';
import { stepper } from './lib/steps.mjs';
import { launchBrowser, newPhone, openPage, checkAccessibility, screenshot, waitUntil, serviceWorkerRegistration } from './lib/browser.mjs';
import {
  heading,
  button,
  expectChrome,
  enrol,
  unlock,
  checkIdleNow,
  goTo,
  send,
  expectMessage,
  messageStatus,
  waitForStatus,
  OFFLINE_TEXT,
  NOTIFICATIONS_UNAVAILABLE,
} from './lib/app.mjs';

const ALEX = { name: 'Alex Morgan', pin: '482916' };
const DANA = { name: 'Dana Reyes', pin: '735204' };
const SAM = { name: 'Sam Lee', pin: '551207' };
const RILEY = { name: 'Riley Chen', pin: '660418' };
const WRONG_PIN = '000000';

// Every message text sent in the tests; none may appear in the server's files or logs.
const SENT_TEXTS = [];

describe('Sallyport web app in headless Chromium', () => {
  let server;
  let browser;
  const phones = [];
  let alex; // the first administrator's phone
  let dana; // the second person's phone
  let group = null; // the conversation's group id (hex), from its /c/<group> URL

  before(async () => {
    server = await startServer({ adminName: ALEX.name });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const { step, done } = stepper({ phones, server: () => server });

  const ENROL_ADMIN = 'the first administrator enrols from the printed link';
  const INVITE = 'the administrator invites a second person in Administration and they enrol on another phone';
  const TALK = 'they open a conversation and exchange messages both ways, marked Delivered';

  step('an unknown invitation code is refused with an alert', [], async (t) => {
    const phone = await newPhone(browser, 'stranger');
    phones.push(phone);
    const { page } = phone;
    try {
      await page.goto(`${server.url}/enrol`);
      await expectChrome(page);
      const code = page.getByRole('textbox', { name: 'Invitation link or code' });
      await code.waitFor();
      await screenshot(page, 'enrol-without-code');
      await checkAccessibility(page, 'enrol (no code)', t);
      await code.fill('AAAAAAAAAAAAAAAAAAAAAA');
      await button(page, 'Continue').click();
      await heading(page, 'Enrol this device').waitFor();
      // A PIN shorter than 6 digits is refused before anything is sent.
      await page.getByLabel('Choose a PIN', { exact: true }).fill('1234');
      await page.getByLabel('Repeat the PIN', { exact: true }).fill('1234');
      await button(page, 'Enrol').click();
      await page.getByRole('alert').filter({ hasText: 'The PIN must be at least 6 digits.' }).waitFor();
      await page.getByLabel('Choose a PIN', { exact: true }).fill('123456');
      await page.getByLabel('Repeat the PIN', { exact: true }).fill('123456');
      await button(page, 'Enrol').click();
      const alert = page.getByRole('alert').filter({ hasText: /invalid/i });
      await alert.waitFor();
      assert.match(await alert.innerText(), /invalid, used or expired/i);
      await heading(page, 'Enrol this device').waitFor(); // still there: nothing enrolled
    } finally {
      await phone.context.close();
      phones.splice(phones.indexOf(phone), 1);
    }
  });

  step('iOS Safari outside the Home Screen gets the "Install Sallyport" guide; installed, it does not', [], async () => {
    const IPHONE_UA =
      'Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1';
    for (const standalone of [false, true]) {
      const context = await browser.newContext({
        viewport: { width: 390, height: 844 },
        isMobile: true,
        hasTouch: true,
        userAgent: IPHONE_UA,
      });
      // Safari's navigator.standalone, which Chromium lacks.
      await context.addInitScript((value) => {
        Object.defineProperty(Navigator.prototype, 'standalone', { get: () => value, configurable: true });
      }, standalone);
      try {
        const page = await context.newPage();
        await page.goto(`${server.url}/enrol`);
        await page.getByRole('textbox', { name: 'Invitation link or code' }).waitFor();
        const guide = heading(page, 'Install Sallyport');
        if (standalone) {
          assert.equal(await guide.count(), 0, 'no install guide when opened from the Home Screen');
        } else {
          await guide.waitFor();
          const text = await page.locator('body').innerText();
          assert.match(text, /Share/);
          assert.match(text, /Add to Home Screen/);
          await screenshot(page, 'install-guide-ios');
        }
      } finally {
        await context.close();
      }
    }
  });

  step(ENROL_ADMIN, [], async (t) => {
    assert.ok(server.adminLink, 'the server printed no "administrator enrolment link: URL" line');
    assert.ok(server.adminLink.startsWith(`${server.url}/enrol#`), `link ${server.adminLink}`);
    alex = await newPhone(browser, 'alex');
    phones.push(alex);
    const { page } = alex;
    await enrol(page, server.adminLink, {
      pin: ALEX.pin,
      beforeSubmit: async () => {
        await expectChrome(page);
        const pinField = page.getByLabel('Choose a PIN', { exact: true });
        assert.equal(await pinField.getAttribute('type'), 'password');
        assert.equal(await pinField.getAttribute('inputmode'), 'numeric');
        assert.equal(await page.getByRole('textbox', { name: 'Display name' }).count(), 0, 'the administrator gives the name');
        await screenshot(page, 'enrol');
        await checkAccessibility(page, 'enrol', t);
      },
    });
    await expectChrome(page);
    assert.match(new URL(page.url()).pathname, /^\/$/);
    const nav = page.getByRole('navigation');
    for (const name of ['Conversations', 'Administration', 'Settings']) {
      await nav.getByRole('link', { name, exact: true }).waitFor();
    }
  });

  step(INVITE, [ENROL_ADMIN], async (t) => {
    const { page } = alex;
    await goTo(page, 'Administration');
    await heading(page, 'Invite someone').waitFor();
    await page.getByRole('textbox', { name: 'Name', exact: true }).fill(DANA.name);
    await page.getByRole('checkbox', { name: 'Staff', exact: true }).check();
    await page.getByRole('checkbox', { name: 'Peer supporter', exact: true }).check();
    await button(page, 'Create invitation').click();
    const linkBox = page.getByRole('textbox', { name: 'Invitation link', exact: true });
    const invitation = await waitUntil(async () => (await linkBox.inputValue().catch(() => '')) || null, {
      message: 'the "Invitation link" textbox to hold the link',
    });
    assert.ok(invitation.startsWith(`${server.url}/enrol#`), `invitation link ${invitation}`);
    assert.ok(await linkBox.evaluate((el) => el.readOnly), '"Invitation link" is readonly');
    await page.getByRole('img', { name: 'QR code of the invitation link' }).waitFor();
    await button(page, 'Copy link').waitFor();
    await heading(page, 'Devices').waitFor();
    await heading(page, 'Agency EAP line').or(page.getByRole('textbox', { name: 'EAP line name' })).first().waitFor();
    await screenshot(page, 'administration');
    await checkAccessibility(page, 'administration', t);

    dana = await newPhone(browser, 'dana');
    phones.push(dana);
    await enrol(dana.page, invitation, { pin: DANA.pin });
    await expectChrome(dana.page);
    const nav = dana.page.getByRole('navigation');
    await nav.getByRole('link', { name: 'Settings', exact: true }).waitFor();
    assert.equal(
      await nav.getByRole('link', { name: 'Administration', exact: true }).count(),
      0,
      'no Administration link for a person without the admin role',
    );
  });

  step('a new phone shows that notifications are unavailable (no Push API in this browser)', [INVITE], async (t) => {
    // pushManager.subscribe fails at once in Chromium's incognito contexts.
    const { page } = dana;
    await page.getByText(NOTIFICATIONS_UNAVAILABLE).first().waitFor();
    await screenshot(page, 'conversations-first-start');
    await goTo(page, 'Settings');
    await page.getByText(NOTIFICATIONS_UNAVAILABLE).first().waitFor();
    await page.getByLabel('Lock after').waitFor();
    await expectChrome(page);
    await screenshot(page, 'settings');
    await checkAccessibility(page, 'settings', t);
    await goTo(page, 'Conversations');
  });

  step(TALK, [INVITE], async (t) => {
    const { page } = alex;
    await goTo(page, 'Conversations');
    await page.getByRole('link', { name: 'New conversation' }).or(page.getByRole('button', { name: 'New conversation' })).first().click();
    await heading(page, 'New conversation').waitFor();
    await expectChrome(page);
    await screenshot(page, 'new-conversation');
    await checkAccessibility(page, 'new conversation', t);
    await button(page, `Message ${DANA.name}`).click();
    await page.waitForURL(/\/c\/[0-9a-f]+$/);
    group = new URL(page.url()).pathname.split('/')[2];
    await heading(page, DANA.name).waitFor();

    const hello = 'Hello from Alex, first message';
    SENT_TEXTS.push(hello);
    await send(page, hello);
    // Dana is on her Conversations screen: the conversation appears, named after Alex.
    const danaPage = dana.page;
    if ((await heading(danaPage, 'Conversations').count()) === 0) await goTo(danaPage, 'Conversations');
    const row = danaPage.getByRole('link', { name: ALEX.name });
    await row.waitFor();
    await waitForStatus(page, hello, 'Delivered');
    await row.click();
    await heading(danaPage, ALEX.name).waitFor();
    assert.equal(new URL(danaPage.url()).pathname, `/c/${group}`);
    await expectMessage(danaPage, hello);

    const reply = 'Hi Alex, Dana here';
    SENT_TEXTS.push(reply);
    await send(danaPage, reply);
    await expectMessage(page, reply);
    await waitForStatus(danaPage, reply, 'Delivered');
    assert.equal(await messageStatus(page, reply), 'none', 'a received message carries no status');
    // The app offers sallyport.bin.v1: group messages, deliveries, acks and acceptances travel as
    // binary WebSocket messages, everything else as JSON text.
    for (const phone of [alex, dana]) {
      const { binarySent, binaryReceived, textSent, textReceived } = phone.ws;
      assert.ok(binarySent >= 1 && binaryReceived >= 1, `${phone.label}: binary frames ${JSON.stringify(phone.ws)}`);
      assert.ok(textSent >= 1 && textReceived >= 1, `${phone.label}: text frames ${JSON.stringify(phone.ws)}`);
    }
    await expectChrome(page);
    await screenshot(page, 'conversation');
    await checkAccessibility(page, 'conversation', t);
  });

  step('a conversation has the "Disappearing messages" setting, 7 days by default', [TALK], async () => {
    const select = alex.page.getByLabel('Disappearing messages');
    assert.equal(await select.count(), 1, 'one "Disappearing messages" control');
    const { options, selected } = await select.evaluate((el) => ({
      options: [...el.options].map((o) => o.text.trim()),
      selected: el.options[el.selectedIndex]?.text.trim(),
    }));
    assert.deepEqual(options, ['Off', '1 day', '7 days', '30 days']);
    assert.equal(selected, '7 days');
  });

  const OFFLINE = 'a message written while the other phone is away is delivered when it comes back';
  step(OFFLINE, [TALK], async () => {
    // 1. Dana closes the app; Alex writes: the server accepts it (Sent), not yet Delivered.
    await dana.page.close();
    const whileClosed = 'Are you there? Written while your app was closed';
    SENT_TEXTS.push(whileClosed);
    await send(alex.page, whileClosed);
    await waitForStatus(alex.page, whileClosed, 'Sent');
    // Dana opens the app again at the conversation.
    const danaPage = await openPage(dana);
    await danaPage.goto(`${server.url}/c/${group}`);
    await unlock(danaPage, DANA.pin);
    await heading(danaPage, ALEX.name).waitFor();
    await expectMessage(danaPage, whileClosed);
    await waitForStatus(alex.page, whileClosed, 'Delivered');

    // 2. Dana's phone loses the network; she writes; it goes once she is back online.
    await dana.context.setOffline(true);
    await danaPage.getByRole('status').filter({ hasText: OFFLINE_TEXT }).waitFor();
    const whileOffline = 'Back soon, written offline';
    SENT_TEXTS.push(whileOffline);
    await send(danaPage, whileOffline);
    await waitForStatus(danaPage, whileOffline, 'Sending');
    await screenshot(danaPage, 'conversation-offline');
    await dana.context.setOffline(false);
    await expectMessage(alex.page, whileOffline, 45_000);
    await waitForStatus(danaPage, whileOffline, 'Delivered', 45_000);
    await danaPage.getByText(OFFLINE_TEXT).waitFor({ state: 'hidden' });
  });

  step('a message written offline survives a reload and is sent once back online', [TALK], async () => {
    const page = dana.page;
    assert.equal(new URL(page.url()).pathname, `/c/${group}`);
    await dana.context.setOffline(true);
    await page.getByRole('status').filter({ hasText: OFFLINE_TEXT }).waitFor();
    const queued = 'Queued offline, then the app was reloaded';
    SENT_TEXTS.push(queued);
    await send(page, queued);
    await waitForStatus(page, queued, 'Sending');
    await page.reload(); // still offline: the service worker serves the app
    await unlock(page, DANA.pin);
    await heading(page, ALEX.name).waitFor();
    await waitForStatus(page, queued, 'Sending');
    await dana.context.setOffline(false);
    await expectMessage(alex.page, queued, 45_000);
    await waitForStatus(page, queued, 'Delivered', 45_000);
  });

  step('a reload keeps the history and the keys (after unlocking)', [TALK], async () => {
    const { page } = alex;
    await page.reload();
    await unlock(page, ALEX.pin);
    assert.equal(new URL(page.url()).pathname, `/c/${group}`);
    await heading(page, DANA.name).waitFor();
    for (const text of SENT_TEXTS) await expectMessage(page, text);
    // Keys survived: both directions still encrypt and decrypt.
    const afterReload = 'Still here after a reload';
    SENT_TEXTS.push(afterReload);
    await send(page, afterReload);
    await expectMessage(dana.page, afterReload);
    await waitForStatus(page, afterReload, 'Delivered');
    const answer = 'Got it after your reload';
    SENT_TEXTS.push(answer);
    await send(dana.page, answer);
    await expectMessage(page, answer);
  });

  step('the same device opened in another tab: the first says so and "Use here" takes it back', [TALK], async () => {
    const first = dana.page;
    assert.equal(new URL(first.url()).pathname, `/c/${group}`);
    const second = await openPage(dana);
    try {
      await second.goto(`${server.url}/`);
      await unlock(second, DANA.pin);
      await heading(second, 'Conversations').waitFor();
      await first.getByText('Sallyport is open in another tab.').waitFor();
      await screenshot(first, 'superseded');
      await button(first, 'Use here').click();
      await second.getByText('Sallyport is open in another tab.').waitFor();
      await first.getByText('Sallyport is open in another tab.').waitFor({ state: 'hidden' });
    } finally {
      await second.close();
      dana.page = first;
    }
    // The first tab is connected again: it receives.
    const afterTakeover = 'Hello again after the other tab';
    SENT_TEXTS.push(afterTakeover);
    await send(alex.page, afterTakeover);
    await expectMessage(first, afterTakeover);
    await waitForStatus(alex.page, afterTakeover, 'Delivered');
  });

  step('Lock now locks the app; a wrong PIN is refused, the right one unlocks', [ENROL_ADMIN], async (t) => {
    const { page } = alex;
    await goTo(page, 'Conversations');
    await button(page, 'Lock now').click();
    await heading(page, 'Sallyport is locked').waitFor();
    await expectChrome(page);
    assert.equal(await page.getByRole('heading', { name: 'Conversations', exact: true }).count(), 0, 'nothing behind the lock is shown');
    await screenshot(page, 'lock');
    await checkAccessibility(page, 'lock', t);
    await page.getByLabel('PIN', { exact: true }).fill(WRONG_PIN);
    await button(page, 'Unlock').click();
    await page.getByRole('alert').filter({ hasText: 'Wrong PIN' }).waitFor();
    await heading(page, 'Sallyport is locked').waitFor();
    await unlock(page, ALEX.pin);
    await heading(page, 'Conversations').waitFor();
    if (done.has(TALK)) {
      // The conversation's entry: a link named after the other person, with the last message as
      // its preview (in the link, its list item, or the element the link is described by).
      const entry = () =>
        page.getByRole('link', { name: DANA.name }).evaluate((a) => {
          const described = (a.getAttribute('aria-describedby') || '')
            .split(/\s+/)
            .map((id) => document.getElementById(id)?.textContent ?? '');
          const item = a.closest('li, [role="listitem"], article');
          return [a.textContent, ...described, item?.textContent ?? ''].join(' ');
        });
      const last = SENT_TEXTS[SENT_TEXTS.length - 1];
      let shown = '';
      await waitUntil(async () => (shown = await entry()).includes(last), { message: `the last message "${last}"` }).catch(() => {
        throw new Error(`the conversation entry for ${DANA.name} does not show the last message "${last}": ${shown}`);
      });
    }
    await screenshot(page, 'conversations');
    await checkAccessibility(page, 'conversations', t);
  });

  step('the Crisis lines dialog lists call and text links and closes', [ENROL_ADMIN], async (t) => {
    const { page } = alex;
    await button(page, 'Crisis lines').click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Crisis lines' }).waitFor();
    await checkCrisisLines(dialog);
    await screenshot(page, 'crisis-lines');
    await checkAccessibility(page, 'crisis lines dialog', t);
    await dialog.getByRole('button', { name: 'Close', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
  });

  step('a push shows the generic "New message" notification; clicking it opens the conversation', [TALK], async () => {
    const { page, context } = alex;
    const origin = server.origin;
    await context.grantPermissions(['notifications'], { origin });
    await goTo(page, 'Conversations');

    const { cdp, registrationId } = await serviceWorkerRegistration(context, page, origin);

    const shown = () =>
      page.evaluate(async () => {
        const reg = await navigator.serviceWorker.ready;
        return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
      });
    await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.ready;
      for (const n of await reg.getNotifications()) n.close();
    });

    // A push usually finds the worker stopped: stop it, so the push has to start it.
    await cdp.send('ServiceWorker.stopAllWorkers');
    // What the server pushes for a conversation message: a wake-up with the group, no content.
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin,
      registrationId,
      data: JSON.stringify({ v: 1, kind: 'message', group }),
    });
    const [notification] = await waitUntil(async () => {
      const list = await shown();
      return list.length > 0 ? list : null;
    }, { message: 'a notification after the push' });
    assert.deepEqual(notification, {
      title: 'New message',
      body: 'Open Sallyport to read it.',
      tag: `msg-${group}`,
      data: { url: `/c/${group}` },
    });
    for (const text of SENT_TEXTS) {
      assert.ok(!JSON.stringify(notification).includes(text), 'no message content in the notification');
    }

    // Without a group: the generic notification opening the conversations list.
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin,
      registrationId,
      data: JSON.stringify({ v: 1, kind: 'message' }),
    });
    const generic = await waitUntil(async () => (await shown()).find((n) => n.tag === 'msg'), {
      message: 'the notification tagged "msg"',
    });
    assert.deepEqual(generic, { title: 'New message', body: 'Open Sallyport to read it.', tag: 'msg', data: { url: '/' } });

    // No tool clicks a notification: dispatch a notificationclick event for it inside the worker.
    // A script-made event's waitUntil throws (untrusted), so the promises it is given are collected.
    const worker = await runningWorker(context, page, `${origin}/sw.js`);
    const clicked = await worker.evaluate(async (tag) => {
      const [n] = await self.registration.getNotifications({ tag });
      const event = new NotificationEvent('notificationclick', { notification: n });
      const pending = [];
      Object.defineProperty(event, 'waitUntil', { value: (p) => pending.push(Promise.resolve(p)) });
      self.dispatchEvent(event);
      const settled = await Promise.allSettled(pending);
      return settled.map((s) => (s.status === 'fulfilled' ? 'fulfilled' : `rejected: ${s.reason}`));
    }, `msg-${group}`);
    await waitUntil(() => new URL(page.url()).pathname === `/c/${group}`, {
      message: `the open app to navigate to /c/${group} (now ${page.url()}; handler promises: ${JSON.stringify(clicked)})`,
    });
    // The navigation loaded the app afresh: locked, then the conversation.
    await unlock(page, ALEX.pin);
    await heading(page, DANA.name).waitFor();
    await cdp.detach();
  });

  step('an administrator revokes a device after confirming', [ENROL_ADMIN], async () => {
    const sam = await newPhone(browser, 'sam');
    phones.push(sam);
    try {
      await enrol(sam.page, await server.invite(SAM.name, ['staff']), { pin: SAM.pin });
    } finally {
      await sam.context.close();
      phones.splice(phones.indexOf(sam), 1);
    }
    const { page } = alex;
    await goTo(page, 'Conversations');
    await goTo(page, 'Administration'); // loads the device list afresh, with Sam's
    await heading(page, 'Devices').waitFor();
    await page.getByRole('button', { name: /^Revoke Sam Lee[’']s device$/ }).click();
    const confirm = page.getByRole('dialog').or(page.getByRole('alertdialog')).first();
    await confirm.getByRole('button', { name: 'Revoke', exact: true }).click();
    const samRow = page.getByRole('row').or(page.getByRole('listitem')).filter({ hasText: SAM.name });
    await samRow.filter({ hasText: /Revoked/ }).first().waitFor();
    await page.getByRole('row').or(page.getByRole('listitem')).filter({ hasText: DANA.name }).first().waitFor();
    assert.equal(
      await page.getByRole('row').or(page.getByRole('listitem')).filter({ hasText: DANA.name }).filter({ hasText: /Revoked/ }).count(),
      0,
      'only the revoked device is marked Revoked',
    );
    await goTo(page, 'Conversations');
  });

  step('inactivity locks the app: after 5 minutes by default, after the time chosen in Settings', [], async () => {
    // Playwright's fake clock (time flows, and jumps on fastForward): no real waiting. A fresh
    // phone, since the jumps put its clock ahead of the server's.
    const riley = await newPhone(browser, 'riley');
    phones.push(riley);
    const { page, context } = riley;
    try {
      await context.clock.install();
      await enrol(page, await server.invite(RILEY.name, ['staff']), { pin: RILEY.pin });
      await page.clock.fastForward('04:30');
      await checkIdleNow(page); // the check its timer just made, made again and rendered
      assert.equal(await heading(page, 'Sallyport is locked').count(), 0, 'not locked after 4.5 idle minutes');
      await page.clock.fastForward('00:45');
      await heading(page, 'Sallyport is locked').waitFor();
      await unlock(page, RILEY.pin);
      await goTo(page, 'Settings');
      await page.getByLabel('Lock after').selectOption({ label: '1 minute of inactivity' });
      await page.clock.fastForward('01:10');
      await heading(page, 'Sallyport is locked').waitFor();
    } finally {
      await context.close();
      phones.splice(phones.indexOf(riley), 1);
    }
  });

  step('nothing readable: no message text in the database files or the server log', [TALK], async () => {
    assert.ok(SENT_TEXTS.length > 0);
    const files = readdirSync(server.dataDir).map((f) => join(server.dataDir, f));
    for (const file of files) {
      const bytes = readFileSync(file);
      for (const text of SENT_TEXTS) {
        assert.equal(bytes.indexOf(Buffer.from(text, 'utf8')), -1, `"${text}" found in ${file}`);
      }
    }
  });

  const EAP = 'an administrator sets the agency EAP line and it joins the crisis lines';
  step(EAP, [ENROL_ADMIN], async () => {
    const { page } = alex;
    await goTo(page, 'Administration');
    await page.getByRole('textbox', { name: 'EAP line name' }).fill('Agency EAP line');
    await page.getByRole('textbox', { name: 'EAP phone number' }).fill('1-800-555-0100');
    await button(page, 'Save EAP line').click();
    await button(page, 'Crisis lines').click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('link', { name: /^Call Agency EAP line\b/ }).waitFor();
    assert.equal(await dialog.getByRole('link', { name: /^Call Agency EAP line\b/ }).getAttribute('href'), 'tel:18005550100');
    await checkCrisisLines(dialog);
    await dialog.getByRole('button', { name: 'Close', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
  });

  const OFFLINE_OPEN = 'the app opens without the network (shell cached by the service worker)';
  step(OFFLINE_OPEN, [ENROL_ADMIN], async () => {
    const { page, context } = alex;
    await goTo(page, 'Conversations');
    // Service worker installed and the shell cached before going offline.
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    // Really offline: the server is gone, and the phone has no network.
    await server.stop({ keepData: true });
    await context.setOffline(true);
    await page.reload();
    await heading(page, 'Sallyport is locked').waitFor();
    await expectChrome(page);
    await button(page, 'Crisis lines').click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Crisis lines' }).waitFor();
    await checkCrisisLines(dialog);
    await dialog.getByRole('button', { name: 'Close', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await unlock(page, ALEX.pin);
    await heading(page, 'Conversations').waitFor();
    if (done.has(TALK)) await page.getByRole('link', { name: DANA.name }).waitFor();
    await page.getByRole('status').filter({ hasText: OFFLINE_TEXT }).waitFor();
    await screenshot(page, 'conversations-offline');
  });

  step('offline, the crisis lines still include the agency EAP line this phone saved', [OFFLINE_OPEN, EAP], async () => {
    // Saved just before the server went away, with no reload in between: the configuration the
    // phone keeps for offline use must be the one it saved, not the copy from its last load.
    const { page } = alex;
    await button(page, 'Crisis lines').click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Crisis lines' }).waitFor();
    await dialog.getByRole('link', { name: /^Call Agency EAP line\b/ }).waitFor({ timeout: 5_000 });
    await dialog.getByRole('button', { name: 'Close', exact: true }).click();
  });
});

/**
 * The service worker at `url` as a Playwright Worker. Chromium stops an idle worker; a fetch from
 * the page (which the worker handles) starts it again.
 */
async function runningWorker(context, page, url) {
  const running = context.serviceWorkers().find((w) => w.url() === url);
  if (running) return running;
  const started = context.waitForEvent('serviceworker', { predicate: (w) => w.url() === url });
  await page.evaluate(() => fetch('/manifest.webmanifest').then(() => true, () => false));
  return started;
}

/**
 * The built-in crisis lines: links named "Call …" (tel:) and "Text …" (sms:), 988 and Safe Call Now
 * among them.
 */
async function checkCrisisLines(dialog) {
  const href = (name) => dialog.getByRole('link', { name }).first().getAttribute('href');
  assert.equal(await href(/^Call 988\b/), 'tel:988');
  assert.equal(await href(/^Text 988\b/), 'sms:988');
  assert.match(await href(/^Call Safe Call Now\b/), /^tel:\+?1?-?206-?459-?3020$/);
  const links = await dialog.getByRole('link').evaluateAll((els) =>
    els.map((a) => ({ name: (a.getAttribute('aria-label') || a.textContent).trim(), href: a.getAttribute('href') })),
  );
  const callOrText = links.filter((l) => /^(Call|Text) /.test(l.name));
  assert.ok(callOrText.length >= 4, `call and text links: ${JSON.stringify(links)}`);
  for (const { name, href } of callOrText) {
    assert.match(href, name.startsWith('Call ') ? /^tel:/ : /^sms:/, `${name} → ${href}`);
  }
}
