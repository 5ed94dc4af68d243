// A new device of an existing account, end to end in headless Chromium against a real
// `sallyport serve` (issue 10 item 2: an administrator cannot add a reader). Lee and Pat talk. An
// administrator enrols a second device on Pat's account (`sallyport admin invite --account`): it
// shows that it waits for approval, with its code. Lee opens the conversation with Pat: the device
// is not added, and Lee sees "new, unverified device" with the same code. Pat's first device shows
// the new device with that code; Pat approves it. Then Lee's app adds it (the approval is signed by
// a device of Pat's that Lee's app trusts), and the new device reads what Lee writes next.
//
//   cd web-client && npm run build && node --test e2e/

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { stepper } from './lib/steps.mjs';
import { launchBrowser, newPhone, checkAccessibility, screenshot, waitUntil, WAIT_MS } from './lib/browser.mjs';
import { heading, button, enrol, goTo, unlock, send, expectMessage, messages } from './lib/app.mjs';

const PAT = { name: 'Pat Quinn', pin: '318274' };
const LEE = { name: 'Lee Park', pin: '629105' };
const UNVERIFIED = `${PAT.name} has a new, unverified device.`;
const ADDED = `${PAT.name}’s device was added.`;

/** The 30-digit device code shown in a card (six groups of five digits). */
async function codeIn(locator) {
  const text = await locator.innerText();
  const m = text.match(/\d{5}(?: \d{5}){5}/);
  assert.ok(m, `a device code in: ${text}`);
  return m[0];
}

describe('a new device of an account needs that account’s approval', () => {
  let server;
  let browser;
  const phones = [];
  let pat; // Pat's first phone
  let lee;
  let patNew; // the device an administrator enrolled on Pat's account
  let group;
  let newCode;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const { step } = stepper({ phones, server: () => server, prefix: 'devices-' });

  const TALK = 'Pat and Lee enrol and talk';
  const ROGUE = 'an administrator enrols a device on Pat’s account: it waits for approval and shows its code';
  const WARNED = 'Lee opens the conversation: the device is not added, and Lee sees the warning with its code';
  const APPROVED = 'Pat’s first device shows the new device with the same code and approves it';

  step(TALK, [], async () => {
    pat = await newPhone(browser, 'pat');
    lee = await newPhone(browser, 'lee');
    phones.push(pat, lee);
    // Lee first, so that Pat's app finds Lee's name in the directory when it starts.
    await enrol(lee.page, await server.invite(LEE.name), { pin: LEE.pin });
    await enrol(pat.page, await server.invite(PAT.name), { pin: PAT.pin });
    const { page } = lee;
    await page.getByRole('link', { name: 'New conversation' }).click();
    await button(page, `Message ${PAT.name}`).click();
    await page.waitForURL(/\/c\/[0-9a-f]+$/);
    group = new URL(page.url()).pathname.split('/')[2];
    await send(page, 'Hello Pat, Lee here');
    await pat.page.getByRole('link', { name: LEE.name }).click();
    await expectMessage(pat.page, 'Hello Pat, Lee here');
    await goTo(pat.page, 'Conversations');
  });

  step(ROGUE, [TALK], async (t) => {
    patNew = await newPhone(browser, 'pat-new');
    phones.push(patNew);
    await enrol(patNew.page, await server.inviteDevice(PAT.name), { pin: PAT.pin });
    const card = patNew.page.getByRole('region', { name: 'This device waits for approval' });
    await card.waitFor();
    newCode = await codeIn(card);
    await screenshot(patNew.page, 'device-waiting');
    await checkAccessibility(patNew.page, 'device waiting for approval', t);
  });

  step(WARNED, [ROGUE], async (t) => {
    const { page } = lee;
    await page.goto(`${server.url}/c/${group}`);
    await unlock(page, LEE.pin);
    const warning = page.getByRole('alert', { name: `${PAT.name}: unverified device` });
    await warning.waitFor();
    const text = await warning.innerText();
    assert.ok(text.includes(UNVERIFIED), text);
    assert.ok(text.includes('It was not added to this conversation.'), text);
    assert.equal(await codeIn(warning), newCode, 'the warning shows the new device’s own code');
    await screenshot(page, 'device-unverified-warning');
    await checkAccessibility(page, 'conversation with an unverified device', t);
    // Lee writes; the waiting device gets nothing and no line says a device was added.
    await send(page, 'Only Pat’s first phone should read this');
    await pat.page.getByRole('link', { name: LEE.name }).click();
    await expectMessage(pat.page, 'Only Pat’s first phone should read this');
    assert.equal(await messages(page).getByText(ADDED).count(), 0, 'the device was not added');
    await goTo(patNew.page, 'Conversations');
    assert.equal(await patNew.page.getByRole('link', { name: LEE.name }).count(), 0, 'the waiting device is in no conversation');
    await goTo(pat.page, 'Conversations');
  });

  step(APPROVED, [WARNED], async (t) => {
    const { page } = pat;
    // Pat's first device loads the devices to approve when it comes online on this screen.
    await page.reload();
    await unlock(page, PAT.pin);
    const card = page.getByRole('region', { name: 'A new device was enrolled on your account' });
    await card.waitFor();
    assert.equal(await codeIn(card), newCode, 'the approving device shows the same code as the new one');
    await screenshot(page, 'device-approve');
    await checkAccessibility(page, 'approve a new device', t);
    await card.getByRole('button', { name: 'Approve this device', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Device approved.' }).waitFor();
    // The new device learns it was approved (it asks every few seconds) and says no more that it waits.
    await patNew.page.getByRole('region', { name: 'This device waits for approval' }).waitFor({ state: 'detached', timeout: WAIT_MS });
  });

  step('then Lee’s app adds the approved device, and it reads what Lee writes next', [APPROVED], async () => {
    const { page } = lee;
    // Lee's app syncs members once per page life: open the conversation again until the new
    // device (which publishes its KeyPackages when it reconnects approved) has been added.
    await waitUntil(
      async () => {
        await page.goto(`${server.url}/c/${group}`);
        await unlock(page, LEE.pin);
        await heading(page, PAT.name).waitFor();
        try {
          await messages(page).getByText(ADDED).waitFor({ timeout: 5_000 });
          return true;
        } catch {
          return null;
        }
      },
      { timeout: 60_000, interval: 500, message: `"${ADDED}" in Lee's conversation` },
    );
    assert.equal(await page.getByRole('alert', { name: `${PAT.name}: unverified device` }).count(), 0, 'no warning once approved');
    await send(page, 'Hello to both of your phones');
    await goTo(patNew.page, 'Conversations');
    await patNew.page.getByRole('link', { name: LEE.name }).click();
    await expectMessage(patNew.page, 'Hello to both of your phones');
  });
});
