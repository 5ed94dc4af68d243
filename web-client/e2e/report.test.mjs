// The programme report in headless Chromium (phone viewport) against a real `sallyport serve`.
// Twelve completed weeks of events are seeded into the server's SQLite database with the `sqlite3`
// CLI (day, kind, delay: what the stores record); a coordinator (Casey, a phone) opens "Programme
// report" from the home screen, sees the trend chart and the table with a small count as "<10" and
// the cell that would give it away as "suppressed", switches to monthly, downloads the CSV and
// checks its content; a staff member is told the report is for coordinators. axe-core on each
// view, light and dark.
//
//   cd web-client && npm run build && node --test e2e/report.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './lib/server.mjs';
import { stepper } from './lib/steps.mjs';
import { launchBrowser, newPhone, bothThemes, screenshot } from './lib/browser.mjs';
import { heading, button, link, enrol } from './lib/app.mjs';

const CASEY = { name: 'Casey Coordinator', pin: '318274' };
const SAM = { name: 'Sam Staff', pin: '550912' };
const DAY = 86_400_000;

/** `YYYY-MM-DD` of a UTC day number. */
const iso = (day) => new Date(day * DAY).toISOString().slice(0, 10);

/**
 * Twelve completed weeks, oldest first: in week i, 10 + i requests "now" and 12 "today" (3 in week
 * 5: a small count), 2 escalations, 10 acceptances (4 in week 7: no median) of 4 + i minutes;
 * week 2 only 4 requests "now" and no acceptance (a small total).
 * Returns the SQL and the weeks' Mondays.
 */
function seed(nowMs) {
  const today = Math.floor(nowMs / DAY);
  const thisMonday = today - ((((today + 3) % 7) + 7) % 7);
  const mondays = Array.from({ length: 12 }, (_, i) => thisMonday - 7 * (12 - i));
  const rows = [];
  mondays.forEach((monday, i) => {
    const day = monday + 2;
    const add = (kind, n, value = null) => {
      for (let k = 0; k < n; k++) rows.push(`(${day}, '${kind}', ${value === null ? 'NULL' : value})`);
    };
    add('request_now', i === 2 ? 4 : 10 + i);
    add('request_today', i === 2 ? 0 : i === 5 ? 3 : 12);
    add('escalated', 2);
    add('accepted', i === 2 ? 0 : i === 7 ? 4 : 10, (4 + i) * 60);
  });
  return { sql: `INSERT INTO report_events (day, kind, value) VALUES ${rows.join(', ')};`, mondays };
}

describe('the programme report in headless Chromium', () => {
  let server;
  let browser;
  const phones = [];
  let casey;
  let mondays;

  before(async () => {
    // The server's clock reads a Wednesday noon (UTC) throughout, so the completed weeks stay the
    // same whenever the test runs (signatures are checked against the real time, which no offset
    // moves).
    const today = Math.floor(Date.now() / DAY);
    const wednesday = (today + 1 + ((((2 - (today + 1 + 3)) % 7) + 7) % 7)) * DAY + DAY / 2;
    const clockFile = join(mkdtempSync(join(tmpdir(), 'sallyport-report-clock-')), 'offset');
    writeFileSync(clockFile, String(wednesday - Date.now()));
    server = await startServer({ adminName: 'Alex Morgan', extraArgs: ['--clock-offset-file', clockFile] });
    // The server has made the schema; it reads the events on each request.
    const seeded = seed(wednesday);
    mondays = seeded.mondays;
    execFileSync('sqlite3', ['-cmd', '.timeout 10000', join(server.dataDir, 'sallyport.db'), seeded.sql]);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const { step } = stepper({ phones, server: () => server, prefix: 'report-' });

  const SETUP = 'a coordinator enrols';
  const WEEKLY = 'the coordinator opens the weekly report: chart and table, small counts hidden';
  const MONTHLY = 'the coordinator switches to monthly';
  const CSV = 'the coordinator downloads the CSV';
  const OTHERS = 'someone who is not a coordinator is told the report is not theirs';

  step(SETUP, [], async () => {
    casey = await newPhone(browser, 'casey');
    phones.push(casey);
    await enrol(casey.page, await server.invite(CASEY.name, ['coordinator', 'staff']), { pin: CASEY.pin });
  });

  /** What each cell of a table row shows (the visible text, not the words for screen readers). */
  const shown = (row) => row.locator('td').evaluateAll((tds) => tds.map((td) => (td.querySelector('[aria-hidden="true"]') ?? td).textContent));

  /** The table's row for the week starting on `monday` (a UTC day number). */
  const weekRow = (page, monday) => {
    const [y, m, d] = iso(monday).split('-').map(Number);
    const month = new Date(Date.UTC(y, m - 1, d)).toLocaleString('en-GB', { month: 'short', timeZone: 'UTC' });
    return page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: new RegExp(`^${d}( ${month}| ${month} ${y})?[–\\s]`) }) });
  };

  step(WEEKLY, [SETUP], async (t) => {
    const { page } = casey;
    await link(page, 'Programme report').click();
    await heading(page, 'Programme report').waitFor();
    assert.equal(new URL(page.url()).pathname, '/report');
    await page.getByRole('button', { name: 'Weekly', pressed: true }).waitFor();
    const table = page.getByRole('table', { name: 'Completed weeks (Monday to Sunday, UTC)' });
    await table.waitFor();
    // Twelve weeks, newest first, and a header row.
    assert.equal(await table.getByRole('row').count(), 13);
    // Week 11: 21 now + 12 today = 33, all shown.
    const newest = weekRow(page, mondays[11]);
    await newest.waitFor();
    assert.deepEqual((await shown(newest)).slice(0, 5), ['33', '21', '12', '0', '<10']);
    // Week 5: 15 now + 3 today = 18; "today" is fewer than 10, and "now" would give it away.
    const small = weekRow(page, mondays[5]);
    assert.deepEqual((await shown(small)).slice(0, 4), ['18', 'suppressed', '<10', '0']);
    await small.getByRole('cell', { name: 'fewer than 10' }).first().waitFor();
    // Week 7: four acceptances, no median.
    assert.equal((await shown(weekRow(page, mondays[7])))[5], '<10');
    assert.equal((await shown(weekRow(page, mondays[6])))[5], '10 min');

    // Week 2: four requests in all, both hidden.
    assert.deepEqual((await shown(weekRow(page, mondays[2]))).slice(0, 4), ['<10', '<10', '0', '0']);

    // The chart: an image with a text alternative naming every week; eleven bars and week 2's
    // hidden total drawn as an outline labelled "<10"; the median line broken at weeks 2 and 7.
    const chart = page.getByRole('img', { name: 'Trend: support requests and median time to acceptance' });
    await chart.waitFor();
    const desc = await page.locator('#report-chart-desc').textContent();
    assert.match(desc, /18 requests, median time to acceptance 9 min/);
    assert.match(desc, /fewer than 10$|median time to acceptance fewer than 10/);
    assert.equal(await page.locator('.report-chart rect.bar').count(), 11);
    assert.equal(await page.locator('.report-chart .bar-hidden rect').count(), 1);
    assert.equal(await page.locator('.report-chart .bar-hidden text').textContent(), '<10');
    assert.equal(await page.locator('.report-chart polyline.line').count(), 3, 'the line has two gaps');
    await page.getByRole('heading', { name: 'Why some numbers are hidden' }).waitFor();
    await screenshot(page, 'report-weekly');
    await bothThemes(page, 'programme report (weekly)', t);
  });

  step(MONTHLY, [WEEKLY], async (t) => {
    const { page } = casey;
    await button(page, 'Monthly').click();
    await page.getByRole('button', { name: 'Monthly', pressed: true }).waitFor();
    const table = page.getByRole('table', { name: 'Completed months (UTC)' });
    await table.waitFor();
    assert.equal(await table.getByRole('row').count(), 13);
    // Every seeded week lies in the last four completed months or in this one: the months before
    // are empty, and something is counted in the last ones.
    const totals = await table.locator('tbody tr td:first-of-type').allInnerTexts();
    assert.equal(totals.length, 12);
    assert.ok(totals.slice(0, 3).some((text) => text !== '0'), `recent months have requests: ${totals}`);
    assert.ok(totals.slice(6).every((text) => text === '0'), `older months are empty: ${totals}`);
    await screenshot(page, 'report-monthly');
    await bothThemes(page, 'programme report (monthly)', t);
  });

  step(CSV, [MONTHLY], async () => {
    const { page } = casey;
    await button(page, 'Weekly').click();
    await page.getByRole('table', { name: 'Completed weeks (Monday to Sunday, UTC)' }).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), button(page, 'Download CSV').click()]);
    assert.equal(download.suggestedFilename(), 'sallyport-report-weekly.csv');
    const text = readFileSync(await download.path(), 'utf8');
    const lines = text.trimEnd().split('\r\n');
    assert.equal(lines.length, 13, text);
    assert.ok(lines[0].startsWith('Period start,Period end,Requests: now,Requests: today,Requests: this week,Requests: total,Escalations'), lines[0]);
    const week5 = lines.find((l) => l.startsWith(iso(mondays[5])));
    assert.ok(week5, text);
    assert.deepEqual(week5.split(',').slice(0, 7), [iso(mondays[5]), iso(mondays[5] + 6), 'suppressed', 'fewer than 10', '0', '18', 'fewer than 10']);
    await page.getByText('The CSV file is downloaded.').waitFor();
  });

  step(OTHERS, [SETUP], async (t) => {
    const sam = await newPhone(browser, 'sam');
    phones.push(sam);
    await enrol(sam.page, await server.invite(SAM.name, ['staff']), { pin: SAM.pin });
    assert.equal(await link(sam.page, 'Programme report').count(), 0, 'no link for staff');
    await sam.page.evaluate(() => {
      history.pushState(null, '', '/report');
      dispatchEvent(new PopStateEvent('popstate'));
    });
    await heading(sam.page, 'Programme report').waitFor();
    await sam.page.getByText('Only EAP coordinators can read the programme report.').waitFor();
    await bothThemes(sam.page, 'programme report (not a coordinator)', t);
  });
});
