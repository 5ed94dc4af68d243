// Tests that run in order and build on each other (one server, one browser per file): a step
// names the steps it needs and is skipped, saying which, if one of them failed; a failing step
// leaves a screenshot of every open phone and adds the browser errors and the server log's tail.

import { test } from 'node:test';
import { screenshot } from './browser.mjs';

/** How long one step may take. */
export const STEP_TIMEOUT = 120_000;

/**
 * `{ step(name, needs, body), done }`: `done` holds the names of the steps that succeeded.
 * `phones`: the open phones (read at failure time); `server`: a function giving the running server
 * (it starts in `before`); `prefix`: for the screenshot names.
 */
export function stepper({ phones, server, prefix = '' }) {
  const done = new Set();
  function step(name, needs, body) {
    test(name, { timeout: STEP_TIMEOUT }, async (t) => {
      const missing = needs.filter((n) => !done.has(n));
      if (missing.length > 0) {
        t.skip(`needs: ${missing.join(', ')}`);
        return;
      }
      try {
        await body(t);
        done.add(name);
      } catch (err) {
        const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 60);
        for (const phone of phones) {
          if (phone.page && !phone.page.isClosed()) {
            await screenshot(phone.page, `FAILED-${prefix}${slug}-${phone.label}`).catch(() => {});
          }
        }
        const errors = phones.flatMap((p) => p.errors.slice(-10));
        err.message +=
          (errors.length ? `\n--- browser errors:\n${errors.join('\n')}` : '') +
          `\n--- server log (tail):\n${server()?.logTail(15)}`;
        throw err;
      }
    });
  }
  return { step, done };
}
