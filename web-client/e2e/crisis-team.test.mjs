// Crisis-response teams and readiness in headless Chromium (phone viewport) against a real
// `sallyport serve` and a local push service (e2e/lib/pushService.mjs). A coordinator (Casey, a
// phone) opens "Crisis teams" from the home screen, makes a team, adds Riley (a phone, tier 1
// peer) and Jordan (a device without a browser, tier 2 clinician), changes the quorum policy,
// sees who is on call (every available member, then a rotation's week), and the readiness board
// ("Reachable now"); "Check now" sends Jordan a readiness check and "Send a test page" pages Riley
// only, marked as a test. Riley confirms with "I can get pages" on /ready (where a readiness
// check's notification opens), sets "inside until" and the switch; Casey's board shows Riley
// ready. axe-core on every new view, light and dark.
//
//   cd web-client && npm run build && node --test e2e/crisis-team.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { stepper } from './lib/steps.mjs';
import { launchBrowser, newPhone, bothThemes, screenshot, waitUntil } from './lib/browser.mjs';
import { heading, button, link, enrol } from './lib/app.mjs';
import { startPushService, usePushSubscription } from './lib/pushService.mjs';
import { enrolClient } from './lib/client.mjs';

const CASEY = { name: 'Casey Coordinator', pin: '318274' };
const RILEY = { name: 'Riley Chen', pin: '660418' };
const JORDAN = 'Jordan Clinician';
const TEAM = 'North yard CRT';

describe('crisis teams and readiness in headless Chromium', () => {
  let server;
  let push;
  let browser;
  const phones = [];
  let casey;
  let riley;
  let rileySub;
  let jordan;
  let jordanSub;
  let teamPath;

  before(async () => {
    push = await startPushService();
    server = await startServer({ adminName: 'Alex Morgan', extraArgs: ['--push-allow-insecure-endpoints'] });
    const config = await (await fetch(`${server.url}/v1/config`)).json();
    push.expectVapidKey(config.vapid_public_key);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await push?.close();
  });

  const { step } = stepper({ phones, server: () => server, prefix: 'crisis-team-' });
  const ofKind = (token, kind) => push.received(token).map((p) => JSON.parse(p.text)).filter((p) => p.kind === kind);
  const waitKind = (token, kind, n, message) =>
    waitUntil(() => (ofKind(token, kind).length >= n ? ofKind(token, kind) : null), { message: `${message} (push service errors: ${push.errors.join('; ')})` });
  /** The readiness board's entry for `name`. */
  const boardRow = (page, name) => page.getByRole('region', { name: 'Readiness' }).getByRole('listitem').filter({ hasText: name });

  const SETUP = 'a coordinator, a member with a phone and a member without a browser enrol';
  const CREATE = 'the coordinator makes a crisis team from the home screen';
  const MEMBERS = 'the coordinator adds two members with tiers and roles';
  const POLICY = 'the coordinator changes the quorum policy';
  const WEEK = 'the team page shows who is on call, without and with a rotation';
  const BOARD = 'the readiness board: reachable now, Check now, a test page to one member';
  const CONFIRM = 'the member confirms with "I can get pages" and the board shows them ready';

  step(SETUP, [], async () => {
    casey = await newPhone(browser, 'casey');
    phones.push(casey);
    await enrol(casey.page, await server.invite(CASEY.name, ['coordinator', 'staff']), { pin: CASEY.pin });

    riley = await newPhone(browser, 'riley');
    phones.push(riley);
    rileySub = push.subscribe();
    await riley.context.grantPermissions(['notifications'], { origin: server.origin });
    await usePushSubscription(riley.context, rileySub);
    await enrol(riley.page, await server.invite(RILEY.name, ['staff']), { pin: RILEY.pin });
    await waitUntil(() => riley.page.evaluate(() => localStorage.getItem('sallyport.push') === 'enabled'), { message: "Riley's notifications enabled" });

    jordan = await enrolClient(server, await server.invite(JORDAN, ['staff']));
    jordanSub = push.subscribe();
    const sub = await jordan.call('POST', '/v1/push/subscriptions', { endpoint: jordanSub.endpoint, p256dh: jordanSub.p256dh, auth: jordanSub.auth });
    assert.equal(sub.status, 204, JSON.stringify(sub.body));
  });

  step(CREATE, [SETUP], async (t) => {
    const { page } = casey;
    await link(page, 'Crisis teams').click();
    await heading(page, 'Crisis teams').waitFor();
    await page.getByText('No crisis teams yet.').waitFor();
    await bothThemes(page, 'crisis teams (none yet)', t);
    await link(page, 'New team').click();
    await heading(page, 'New team').waitFor();
    await page.getByLabel('Team name', { exact: true }).fill(TEAM);
    await bothThemes(page, 'new crisis team', t);
    await button(page, 'Create team').click();
    await heading(page, TEAM).waitFor();
    await page.getByText('Team created.').waitFor();
    teamPath = new URL(page.url()).pathname;
    assert.match(teamPath, /^\/crisis-teams\/[^/]+$/);
    await page.getByText('No one is on the team yet.').waitFor();
    // The server's default policy.
    await page.getByText('3 responders, at least 1 clinician and 1 peer').waitFor();
    // The board has loaded: the page is as tall as it gets before axe measures it.
    await page.getByText('Reachable now: 0 of 0', { exact: true }).waitFor();
    await bothThemes(page, 'crisis team page (empty)', t);
  });

  /** "Add a member" on the team page: the person, tier and role; ends back on the team page. */
  async function addMember(page, name, tier, role) {
    await link(page, 'Add a member').click();
    await heading(page, 'Add a member').waitFor();
    await page.getByLabel('Person', { exact: true }).selectOption({ label: name });
    await page.getByLabel('Tier', { exact: true }).selectOption(String(tier));
    await page.getByLabel('Role', { exact: true }).selectOption(role);
    await button(page, 'Add to the team').click();
    await heading(page, name).waitFor();
    await page.getByText(`Tier ${tier} · ${role} ·`).waitFor();
  }

  step(MEMBERS, [CREATE], async (t) => {
    const { page } = casey;
    await addMember(page, RILEY.name, 1, 'peer');
    await bothThemes(page, 'crisis team member', t);
    await link(page, 'Back').click();
    await heading(page, TEAM).waitFor();
    await link(page, 'Add a member').click();
    await heading(page, 'Add a member').waitFor();
    await bothThemes(page, 'add a crisis team member', t);
    await link(page, 'Back').click();
    await heading(page, TEAM).waitFor();
    // Jordan first as a peer, then changed to a clinician on their page.
    await addMember(page, JORDAN, 2, 'peer');
    await page.getByLabel('Role', { exact: true }).selectOption('clinician');
    await button(page, 'Save tier and role').click();
    await page.getByText('Tier and role saved.').waitFor();
    await page.getByText('Tier 2 · clinician ·').waitFor();
    await link(page, 'Back').click();
    await heading(page, TEAM).waitFor();
    const members = page.getByRole('region', { name: 'Members' });
    await members.getByRole('heading', { name: 'Tier 1 (paged first)' }).waitFor();
    await members.getByRole('heading', { name: 'Tier 2' }).waitFor();
    await members.getByRole('link', { name: new RegExp(`^${RILEY.name} peer Available · on call now`) }).waitFor();
    await members.getByRole('link', { name: new RegExp(`^${JORDAN} clinician Available · on call now`) }).waitFor();
  });

  step(POLICY, [MEMBERS], async (t) => {
    const { page } = casey;
    await link(page, 'Change the policy').click();
    await heading(page, 'Quorum policy').waitFor();
    await page.getByLabel('Responders needed', { exact: true }).fill('2');
    await page.getByLabel('peer', { exact: true }).fill('0');
    await page.getByLabel('clinician', { exact: true }).fill('1');
    await page.getByLabel('Page again every (minutes)', { exact: true }).fill('5');
    await page.getByLabel('Next tier after (minutes)', { exact: true }).fill('12');
    await bothThemes(page, 'quorum policy', t);
    // More minimums than responders is refused in the form, before the server.
    await page.getByLabel('peer', { exact: true }).fill('2');
    await button(page, 'Save policy').click();
    await page.getByRole('alert').filter({ hasText: 'add up to 3, more than the 2 responders' }).waitFor();
    await page.getByLabel('peer', { exact: true }).fill('0');
    await button(page, 'Save policy').click();
    await heading(page, TEAM).waitFor();
    await page.getByText('Policy saved.').waitFor();
    await page.getByText('2 responders, at least 1 clinician', { exact: true }).waitFor();
    const team = await jordan.call('GET', `/v1/teams/${teamPath.split('/').pop()}`);
    assert.equal(team.status, 200, JSON.stringify(team.body));
    assert.deepEqual(team.body.policy, { responders: 2, at_least: { clinician: 1 }, repeat_every_minutes: 5, escalate_after_minutes: 12 });
  });

  step(WEEK, [MEMBERS], async (t) => {
    const { page } = casey;
    const week = page.getByRole('region', { name: 'On call this week' });
    await week.getByText(`every member who is available is on call: ${RILEY.name}, ${JORDAN}.`).waitFor();
    await link(page, 'New rotation').click();
    await heading(page, 'New rotation').waitFor();
    await page.getByRole('checkbox', { name: RILEY.name }).check();
    await page.getByRole('checkbox', { name: JORDAN }).check();
    await page.getByLabel('Period', { exact: true }).selectOption('1');
    await button(page, 'Create rotation').click();
    await heading(page, `${TEAM} on call`).waitFor();
    await page.getByText('Rotation created.').waitFor();
    await bothThemes(page, 'crisis team rotation', t);
    await link(page, 'Back').click();
    await heading(page, TEAM).waitFor();
    await week.getByRole('heading', { name: /^Today/ }).waitFor();
    await waitUntil(async () => (await week.getByText(RILEY.name).count()) > 0 && (await week.getByText(JORDAN).count()) > 0, { message: 'both members in the week view' });
    await page.getByRole('region', { name: 'Rotations' }).getByRole('link', { name: new RegExp(`^${TEAM} on call Daily`) }).waitFor();
    await screenshot(page, 'crisis-team-page');
    await bothThemes(page, 'crisis team page', t);
  });

  step(BOARD, [MEMBERS], async (t) => {
    const { page } = casey;
    // Each member was sent a readiness check on joining their first crisis team.
    await waitKind(rileySub.token, 'readiness', 1, "Riley's first readiness check");
    await waitKind(jordanSub.token, 'readiness', 1, "Jordan's first readiness check");
    const board = page.getByRole('region', { name: 'Readiness' });
    await waitUntil(
      async () => {
        await button(page, 'Refresh readiness').click();
        return (await board.getByText('Reachable now: 2 of 2', { exact: true }).count()) > 0;
      },
      { message: 'both members reachable (checks pushed, waiting for the tap)' },
    );
    await boardRow(page, JORDAN).getByText('Check sent, waiting for the tap').waitFor();

    await button(page, `Check now: ${JORDAN}`).click();
    await page.getByText(`Readiness check sent to ${JORDAN}.`).waitFor();
    await waitKind(jordanSub.token, 'readiness', 2, "Jordan's second readiness check, sent with Check now");

    // A test page to Riley only: sealed like any page, marked as a test; Jordan is not paged.
    await button(page, `Send a test page: ${RILEY.name}`).click();
    await page.getByText(`Test page sent to ${RILEY.name}.`).waitFor();
    const [pagePush] = await waitKind(rileySub.token, 'page', 1, "Riley's test page");
    assert.equal(pagePush.test, true, 'marked as a test');
    assert.ok(pagePush.sealed, 'the preview sealed to the device');
    assert.equal(ofKind(jordanSub.token, 'page').length, 0, 'only Riley is paged');
    await bothThemes(page, 'readiness board', t);
  });

  step(CONFIRM, [BOARD], async (t) => {
    const { page } = riley;
    // Where the readiness check's notification navigates.
    await page.evaluate(() => {
      history.pushState(null, '', '/ready');
      dispatchEvent(new PopStateEvent('popstate'));
    });
    await heading(page, 'Can pages reach you?').waitFor();
    const card = page.getByRole('region', { name: 'Crisis team pages' });
    await card.getByText(TEAM).waitFor();
    await card.getByText('Tier 1 · peer ·').waitFor();
    await bothThemes(page, 'my readiness (/ready)', t);
    await button(page, 'I can get pages').click();
    await page.getByText('Thank you: the team’s coordinators see that pages reach you.').waitFor();
    await card.getByText('Pages reach you.', { exact: true }).waitFor();

    // Inside the perimeter for a while, then out; the switch (Riley is not a peer supporter).
    const until = await page.evaluate(() => {
      const d = new Date(Date.now() + 2 * 3_600_000);
      return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
    });
    await page.getByLabel('Inside until', { exact: true }).fill(until);
    await button(page, 'I am going inside').click();
    await card.getByText(/^You are inside until /).waitFor();
    await bothThemes(page, 'my readiness, inside', t);
    await button(page, 'I am out').click();
    await page.getByText('You are out.').waitFor();
    await page.getByRole('radio', { name: 'Busy' }).check();
    await page.getByText('You are busy.').waitFor();
    await page.getByRole('radio', { name: 'Available' }).check();
    await page.getByText('You are available.').waitFor();

    // The same card in Settings.
    await page.getByRole('navigation').getByRole('link', { name: 'Settings', exact: true }).click();
    await heading(page, 'Settings').waitFor();
    await page.getByRole('region', { name: 'Crisis team pages' }).getByText('Pages reach you.', { exact: true }).waitFor();
    await bothThemes(page, 'settings with my readiness', t);

    const coordinator = casey.page;
    await button(coordinator, 'Refresh readiness').click();
    await boardRow(coordinator, RILEY.name).getByText('Ready: confirmed pages reach them').waitFor();
    await screenshot(coordinator, 'crisis-team-readiness');
  });

  step('the coordinator deletes the team after a question', [CREATE], async () => {
    const { page } = casey;
    await button(page, `Delete team ${TEAM}`).click();
    await page.getByText(`Delete the team ${TEAM}?`).waitFor();
    await button(page, `Yes, delete ${TEAM}`).click();
    await heading(page, 'Crisis teams').waitFor();
    await page.getByText('Team deleted.').waitFor();
    await page.getByText('No crisis teams yet.').waitFor();
    const mine = await jordan.call('GET', '/v1/oncall/me');
    assert.deepEqual(mine.status === 200 ? mine.body.teams : [], [], `Jordan is on no team any more: ${JSON.stringify(mine.body)}`);
  });
});
