// A seized, locked phone must not show that its owner reached out (issue 10, item 3): in headless
// Chromium against a real `sallyport serve`, a coordinator-supporter (Pat) goes on call; a staff
// member (Dana) reaches out under a pseudonym, Pat accepts, they exchange messages, and Dana's app
// locks. Then everything the browser keeps for the origin is dumped — every IndexedDB database and
// store (keys and values), the service-worker registrations' scopes, localStorage, sessionStorage
// and Cache Storage — and none of it may name the unlinked mailbox, the request, the MLS group or
// the pseudonym, in clear or as base64 / base64url / hex / raw bytes; nor say "support" anywhere
// but where it was before she reached out (the precached app and its cached config).
//
//   cd web-client && npm run build && node --test e2e/seized.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { stepper } from './lib/steps.mjs';
import { launchBrowser, newPhone, waitUntil } from './lib/browser.mjs';
import { heading, button, link, enrol, goTo, send, expectMessage } from './lib/app.mjs';

const PAT = { name: 'Pat Quinn', pin: '318274' };
const DANA = { name: 'Dana Reyes', pin: '735204' };
const PSEUDONYM = 'Quiet Harbor';

/** Everything the browser keeps for the page's origin, as plain data (bytes as `{ bytes: [...] }`). */
function dumpOrigin(page) {
  return page.evaluate(async () => {
    const plain = (v) => {
      if (v instanceof ArrayBuffer) return { bytes: [...new Uint8Array(v)] };
      if (ArrayBuffer.isView(v)) return { bytes: [...new Uint8Array(v.buffer, v.byteOffset, v.byteLength)] };
      if (Array.isArray(v)) return v.map(plain);
      if (v instanceof Date) return v.toISOString();
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
      return v;
    };
    const done = (r) => new Promise((resolve, reject) => {
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const idb = {};
    for (const { name } of await indexedDB.databases()) {
      const db = await done(indexedDB.open(name));
      for (const store of db.objectStoreNames) {
        const s = db.transaction(store).objectStore(store);
        const [keys, values] = await Promise.all([done(s.getAllKeys()), done(s.getAll())]);
        idb[`${name}/${store}`] = keys.map((k, i) => [plain(k), plain(values[i])]);
        idb[`${name}/${store} indexes`] = [...s.indexNames];
      }
      db.close();
    }
    const scopes = (await navigator.serviceWorker.getRegistrations()).map((r) => r.scope);
    const storage = (s) => Object.fromEntries(Array.from({ length: s.length }, (_, i) => [s.key(i), s.getItem(s.key(i))]));
    const caches_ = {};
    for (const name of await caches.keys()) caches_[name] = (await (await caches.open(name)).keys()).map((r) => r.url);
    return { idb, scopes, local: storage(localStorage), session: storage(sessionStorage), caches: caches_ };
  });
}

const hex = (bytes) => Buffer.from(bytes).toString('hex');

/** A dump as text: strings as they are, bytes as base64, base64url, hex and Latin-1 (UTF-8 inside). */
function asText(value) {
  return JSON.stringify(value, (_k, v) => {
    if (v && typeof v === 'object' && Array.isArray(v.bytes)) {
      const b = Buffer.from(v.bytes);
      return [b.toString('base64'), b.toString('base64url'), hex(b), b.toString('latin1')].join(' ');
    }
    return v;
  });
}

/** An id and its other spellings: as bytes (when it is hex or base64url) in base64, base64url and hex. */
function spellings(id) {
  const out = new Set([id]);
  const byteForms = [];
  if (/^([0-9a-f]{2})+$/i.test(id)) byteForms.push(Buffer.from(id, 'hex'));
  if (/^[A-Za-z0-9_-]+$/.test(id)) byteForms.push(Buffer.from(id, 'base64url'));
  for (const b of byteForms) {
    if (b.length < 8) continue;
    for (const s of [b.toString('base64').replace(/=+$/, ''), b.toString('base64url'), hex(b)]) out.add(s);
  }
  return [...out];
}

const supportMarks = (text) => (text.match(/support/gi) ?? []).length;

describe('A seized, locked phone in headless Chromium', () => {
  let server;
  let browser;
  const phones = [];
  let pat;
  let dana;
  let before_;
  const ids = {};

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const { step } = stepper({ phones, server: () => server, prefix: 'seized-' });

  const SETUP = 'a coordinator-supporter goes on call and a staff member enrols';
  const REACH = 'Dana reaches out under a pseudonym, Pat accepts, they exchange messages';

  step(SETUP, [], async () => {
    const links = { pat: await server.invite(PAT.name, ['staff', 'peer_supporter', 'coordinator']), dana: await server.invite(DANA.name, ['staff']) };
    pat = await newPhone(browser, 'pat');
    dana = await newPhone(browser, 'dana');
    phones.push(pat, dana);
    await enrol(pat.page, links.pat, { pin: PAT.pin });
    await enrol(dana.page, links.dana, { pin: DANA.pin });
    const { page } = pat;
    await link(page, 'Peer support team').click();
    await heading(page, 'Peer support team').waitFor();
    await link(page, 'Add to the team').click();
    const person = page.getByLabel('Person', { exact: true });
    await waitUntil(async () => (await person.locator('option', { hasText: PAT.name }).count()) > 0, { message: 'Pat in the Person list' });
    await person.selectOption({ label: PAT.name });
    await button(page, 'Add to the team').click();
    // Adding opens Pat's page, with the training form.
    await button(page, `Remove ${PAT.name}`).waitFor();
    await page.getByLabel('Training', { exact: true }).selectOption({ label: 'All five' });
    await button(page, 'Record training').click();
    await page.getByRole('status').filter({ hasText: 'Training recorded.' }).waitFor();
    await link(page, 'Back').click();
    await link(page, 'New rotation').click();
    await page.getByRole('checkbox', { name: PAT.name, exact: true }).check();
    await button(page, 'Create rotation').click();
    await page.getByRole('status').filter({ hasText: 'Rotation created.' }).waitFor();
    await goTo(page, 'Conversations');
    await link(page, 'My shifts').click();
    const available = page.getByRole('radio', { name: 'Available', exact: true });
    await available.waitFor();
    if (!(await available.isChecked())) {
      await available.check();
      await page.getByRole('status').filter({ hasText: 'You are available.' }).waitFor();
    }
  });

  step(REACH, [SETUP], async () => {
    const { page, context } = dana;
    // Notifications allowed: the app tries push for the request's unlinked mailbox (its own
    // service-worker registration), as on a phone where the officer allowed them.
    await context.grantPermissions(['notifications'], { origin: server.origin });
    before_ = await dumpOrigin(page);
    await link(page, 'Talk to a peer').click();
    await heading(page, 'Talk to a peer').waitFor();
    await page.getByRole('radio', { name: /^Now/ }).check();
    await page.getByRole('textbox', { name: 'Name or pseudonym', exact: true }).fill(PSEUDONYM);
    await button(page, 'Reach out').click();
    await heading(page, 'Before you reach out').waitFor();
    const made = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/support/requests' && r.request().method() === 'POST');
    await button(page, 'I understand').click();
    const response = await made;
    ids.mailbox = JSON.parse(response.request().postData()).mailbox;
    ids.request = (await response.json()).id;
    assert.ok(ids.mailbox && ids.request, 'the request and its unlinked mailbox were seen on the wire');
    await page.getByRole('status').filter({ hasText: 'Waiting for a peer supporter.' }).waitFor();

    await goTo(pat.page, 'Conversations');
    await link(pat.page, 'Support requests').click();
    await pat.page.getByText(/Now · waiting/).waitFor();
    await button(pat.page, 'Accept').click();
    await heading(pat.page, PSEUDONYM).waitFor();
    await heading(page, PAT.name).waitFor({ timeout: 30_000 });
    ids.group = new URL(page.url()).pathname.replace(/^\/c\//, '');
    assert.match(ids.group, /^[0-9a-f]{16,}$/);
    await send(page, 'Rough night. Can we talk?');
    await expectMessage(pat.page, 'Rough night. Can we talk?');
    await send(pat.page, 'Of course. I am here.');
    await expectMessage(page, 'Of course. I am here.');
  });

  step('Dana\'s phone, locked, keeps nothing that names the request, its mailbox, the group or the pseudonym', [REACH], async (t) => {
    const { page } = dana;
    await button(page, 'Lock now').click();
    await heading(page, 'Sallyport is locked').waitFor();
    // Whatever the app starts or finishes in the background has settled: the dump is stable.
    let dump = await dumpOrigin(page);
    await waitUntil(async () => {
      const next = await dumpOrigin(page);
      const same = asText(next) === asText(dump);
      dump = next;
      return same;
    }, { message: 'the stored data to settle after locking' });

    const text = asText(dump);
    t.diagnostic(`service-worker scopes: ${dump.scopes.join(' ')}; stores: ${Object.entries(dump.idb).filter(([k]) => !k.endsWith('indexes')).map(([k, v]) => `${k} (${v.length})`).join(', ')}`);
    assert.ok(dump.idb['sallyport/meta']?.length > 0, 'the app database was dumped');
    const found = [];
    for (const [what, id] of [['mailbox', ids.mailbox], ['request', ids.request], ['group', ids.group], ['pseudonym', PSEUDONYM], ['real name', DANA.name]]) {
      for (const s of spellings(id)) if (text.includes(s)) found.push(`${what} (${s})`);
    }
    // "support" in the database or a registration's scope says she reached out; the precached app
    // (chunk names) and its cached config said it before she did, so there it may only stay the same.
    const idbAndScopes = asText({ idb: dump.idb, scopes: dump.scopes });
    if (supportMarks(idbAndScopes) > 0) found.push(`"support" in IndexedDB or a scope: ${idbAndScopes.match(/.{0,60}support.{0,60}/i)[0]}`);
    for (const area of ['local', 'session', 'caches']) {
      if (supportMarks(asText(dump[area])) !== supportMarks(asText(before_[area]))) found.push(`"support" newly in ${area}`);
    }
    assert.deepEqual(found, [], `in the clear on the locked phone:\n${found.join('\n')}\n--- dump:\n${text.slice(0, 4000)}`);
    assert.deepEqual(dump.scopes.map((s) => new URL(s).pathname).filter((p) => p !== '/').every((p) => /^\/[A-Za-z0-9_-]{22}\/$/.test(p)), true, 'any second registration has a random scope');
  });
});
