// The incident conversation in headless Chromium (phone viewport) against a real `sallyport serve`.
// A coordinator (Casey, a device without a browser on the same client core) makes a crisis team of
// Riley (a phone, tier 1 peer) and Jordan (no browser, tier 1 clinician). A shift supervisor (Sky,
// a phone) declares: Sky's device opens the incident conversation at once, alone in it. Jordan
// answers "responding" from a device that never connected (no KeyPackage): the board says Jordan
// is not added yet. Riley answers "Responding" on the board in the app: Sky's board adds Riley's
// device and says so, and
// Riley's board and Conversations list show the conversation, under the name only the devices
// know. A message Sky sends there reaches Riley. Sky resolves: the conversation and its messages
// stay on both phones. Neither the conversation's name nor the message is on the server. axe-core
// on the changed views, light and dark.
//
//   cd web-client && npm run build && node --test e2e/incident-conversation.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { stepper } from './lib/steps.mjs';
import { launchBrowser, newPhone, bothThemes, screenshot, waitUntil } from './lib/browser.mjs';
import { heading, button, link, enrol, unlock, send, expectMessage, goTo } from './lib/app.mjs';
import { findOnServer } from './lib/leaks.mjs';
import { createTeam, enrolClient } from './lib/client.mjs';

const SKY = { name: 'Sky Supervisor', pin: '603918' };
const RILEY = { name: 'Riley Chen', pin: '660418' };
const TYPE_LABEL = 'Disturbance';
const LOCATION = 'Gym annex 4';
const MESSAGE = 'Meet at the east sally port, bring the trauma kit';
const OPEN = 'Open the incident conversation';

describe('the incident conversation in headless Chromium', () => {
  let server;
  let browser;
  const phones = [];
  let sky;
  let riley;
  let casey;
  let jordan;
  let team;
  let incident;
  let title; // the conversation's name, as Sky's board gives it

  before(async () => {
    server = await startServer({ adminName: 'Alex Morgan' });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const { step } = stepper({ phones, server: () => server, prefix: 'incident-conv-' });


  const conversationSection = (page) => page.getByRole('region', { name: 'Incident conversation' });
  const pagedRow = (page, name) => page.getByRole('region', { name: 'Paged' }).getByRole('listitem').filter({ hasText: name }).first();

  const SETUP = 'a coordinator makes a crisis team of a phone and a device';
  const DECLARE = "a supervisor declares and the board shows the conversation, the supervisor alone in it";
  const ANSWER = 'the responder answers Responding in the app and is added';
  const MESSAGED = "a message sent by the declarer arrives on the responder's phone";
  const RESOLVED = 'after resolving, the conversation and its messages stay on both phones';

  step(SETUP, [], async () => {
    casey = await enrolClient(server, await server.invite('Casey Coordinator', ['coordinator']));
    jordan = await enrolClient(server, await server.invite('Jordan Clinician', ['staff']));
    riley = await newPhone(browser, 'riley');
    phones.push(riley);
    await enrol(riley.page, await server.invite(RILEY.name, ['staff']), { pin: RILEY.pin });

    const policy = { responders: 2, at_least: { clinician: 1 }, repeat_every_minutes: 3, escalate_after_minutes: 10 };
    team = await createTeam(casey, 'East block CRT', policy, [[RILEY.name, 'peer'], [jordan.account, 'clinician']]);
  });

  step(DECLARE, [SETUP], async (t) => {
    // A server from before supervisors listed every team (GET /v1/teams) lets only coordinators
    // and members declare for it: Sky is then a coordinator too (paged only after the last tier).
    const probe = await enrolClient(server, await server.invite('Pat Probe', ['supervisor']));
    const listed = (await probe.call('GET', '/v1/teams')).body.teams.length > 0;
    if (!listed) t.diagnostic('this server lists no crisis team to a supervisor: Sky declares as a coordinator too');
    sky = await newPhone(browser, 'sky');
    phones.push(sky);
    const { page } = sky;
    await enrol(page, await server.invite(SKY.name, listed ? ['supervisor', 'staff'] : ['supervisor', 'coordinator']), { pin: SKY.pin });
    await link(page, TYPE_LABEL).click();
    await heading(page, 'Declare a critical incident').waitFor();
    await page.getByText('Pages East block CRT').waitFor();
    // No administrators' list on this server: the location is typed.
    await page.getByLabel('Location', { exact: true }).fill(LOCATION);
    await page.getByRole('button', { name: /^Severity 2\b/ }).click();
    await waitUntil(() => /^\/incidents\/[A-Za-z0-9_-]{22}$/.test(new URL(page.url()).pathname), { message: 'the board after declaring' });
    incident = new URL(page.url()).pathname.split('/').pop();
    await heading(page, `Critical incident · Severity 2 — ${TYPE_LABEL}`).waitFor();

    // Opened by the declaring device at once, before anyone answered.
    const section = conversationSection(page);
    await section.getByText('Responders are added as they answer “Responding”.').waitFor();
    await link(section, OPEN).waitFor();
    await pagedRow(page, RILEY.name).getByText('No answer yet').waitFor();
    assert.equal(await pagedRow(page, RILEY.name).getByText('In the incident conversation').count(), 0);
    await bothThemes(page, 'incident board with the conversation, before any answer', t);

    // Its name is the incident's type and the time declared; only Sky is in it.
    await link(section, OPEN).click();
    await waitUntil(() => new URL(page.url()).pathname.startsWith('/c/'), { message: 'the conversation view' });
    const h1 = page.getByRole('heading', { level: 1 });
    title = (await h1.textContent()).trim();
    assert.match(title, new RegExp(`^Incident · ${TYPE_LABEL} · \\d\\d:\\d\\d$`));
    await page.goBack();
    await heading(page, `Critical incident · Severity 2 — ${TYPE_LABEL}`).waitFor();
  });

  step(ANSWER, [DECLARE], async (t) => {
    // Jordan answers first, from a device that never connected (no KeyPackage to claim): Sky's
    // board says Jordan is not added yet, and that does not hold Riley back.
    const jordanAnswer = await jordan.call('POST', `/v1/incidents/${incident}/answer`, { answer: 'responding' });
    assert.equal(jordanAnswer.status, 200, JSON.stringify(jordanAnswer.body));
    await pagedRow(sky.page, 'Jordan Clinician').getByText(/^Not added to the incident conversation: not yet/).waitFor();
    await conversationSection(sky.page).getByText('1 person who is responding was not added: see below.').waitFor();

    const { page } = riley;
    // Riley opens the board as a page would (the notification's link), unlocking first.
    await page.goto(`${server.url}/incidents/${incident}`);
    await unlock(page, RILEY.pin);
    await heading(page, `Critical incident · Severity 2 — ${TYPE_LABEL}`).waitFor();
    const section = conversationSection(page);
    await section.getByText('Whoever answers “Responding” is added to the incident conversation.').waitFor();
    assert.equal(await link(section, OPEN).count(), 0, 'no conversation before answering');
    await button(page, 'Responding').click();
    await page.getByText('You answered: responding.', { exact: true }).first().waitFor();

    // Sky's board (refreshed by incident_changed, or its 5 s poll) adds Riley and says so.
    await pagedRow(sky.page, RILEY.name).getByText('In the incident conversation').waitFor();
    // Riley's phone joined through the Welcome: the board offers the conversation.
    await link(section, OPEN).waitFor();
    await section.getByText('You were added when you answered “Responding”.').waitFor();
    await screenshot(page, 'incident-conversation-responder-board');
    await screenshot(sky.page, 'incident-conversation-declarer-board');
    await bothThemes(page, 'responder board with the conversation', t);
    await bothThemes(sky.page, 'declarer board with the responder added', t);

    // Repeated refreshes add no one twice: exactly one "was added" line on Sky's side.
    await link(conversationSection(sky.page), OPEN).click();
    await heading(sky.page, title).waitFor();
    await sky.page.getByText(`${RILEY.name}’s device was added.`).waitFor();
    await waitUntil(async () => (await sky.page.getByText(/’s device was added\.$/).count()) === 1, { message: 'one add line' });
  });

  step(MESSAGED, [ANSWER], async (t) => {
    await send(sky.page, MESSAGE);
    const { page } = riley;
    await goTo(page, 'Conversations');
    const entry = page.getByRole('link', { name: new RegExp(`^${escape(title)}`) });
    await entry.waitFor();
    await bothThemes(page, 'conversations list with the incident conversation', t);
    await entry.click();
    await heading(page, title).waitFor();
    await expectMessage(page, MESSAGE);
    await bothThemes(page, 'incident conversation', t);
  });

  step(RESOLVED, [MESSAGED], async (t) => {
    const { page } = sky;
    await page.goto(`${server.url}/incidents/${incident}`);
    await unlock(page, SKY.pin);
    await heading(page, `Critical incident · Severity 2 — ${TYPE_LABEL}`).waitFor();
    await button(page, 'Resolve').click();
    await page.getByText('The incident conversation stays on the devices.', { exact: false }).waitFor();
    await button(page, 'Yes, resolve').click();
    await page.getByText(/^Resolved at /).waitFor();
    const section = conversationSection(page);
    await section.getByText('The incident is resolved; its conversation and messages stay on the devices of everyone in it.').waitFor();
    await bothThemes(page, 'resolved board with the conversation', t);
    await link(section, OPEN).click();
    await heading(page, title).waitFor();
    await expectMessage(page, MESSAGE);

    // Riley: the board (a team member still sees the resolved incident) and the conversation.
    const r = riley.page;
    await r.goto(`${server.url}/incidents/${incident}`);
    await unlock(r, RILEY.pin);
    await r.getByText(/^Resolved at /).waitFor();
    const rs = conversationSection(r);
    await rs.getByText('The incident is resolved; its conversation and messages stay on the devices of everyone in it.').waitFor();
    await bothThemes(r, 'resolved board, responder', t);
    await link(rs, OPEN).click();
    await heading(r, title).waitFor();
    await expectMessage(r, MESSAGE);
  });

  step("the conversation's name and message are not on the server", [MESSAGED], async () => {
    for (const secret of [title, MESSAGE, TYPE_LABEL, LOCATION]) {
      const { hits, searched } = findOnServer(server, secret);
      assert.deepEqual(hits, [], `"${secret}" found on the server (searched ${searched.join(', ')})`);
    }
  });
});

function escape(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
