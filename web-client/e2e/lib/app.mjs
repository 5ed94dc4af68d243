// Steps in the web app, by the accessible names of the UI contract (roles and names only; the app
// has no test hooks).

import { WAIT_MS, waitUntil } from './browser.mjs';

export const heading = (page, name) => page.getByRole('heading', { name, exact: true });
export const button = (page, name) => page.getByRole('button', { name, exact: true });
export const link = (page, name) => page.getByRole('link', { name, exact: true });
export const messages = (page) => page.getByRole('log', { name: 'Messages' });

/** Every screen has the header with the app name and the "Crisis lines" button. */
export async function expectChrome(page) {
  await page.locator('header').filter({ hasText: 'Sallyport' }).first().waitFor();
  await button(page, 'Crisis lines').waitFor();
}

/**
 * Enrols from an invitation link (under the name the administrator gave). Ends on the
 * Conversations screen.
 */
export async function enrol(page, invitationLink, { pin, beforeSubmit = null }) {
  await page.goto(invitationLink);
  await heading(page, 'Enrol this device').waitFor();
  if (beforeSubmit) await beforeSubmit();
  await page.getByLabel('Choose a PIN', { exact: true }).fill(pin);
  await page.getByLabel('Repeat the PIN', { exact: true }).fill(pin);
  await button(page, 'Enrol').click();
  await heading(page, 'Conversations').waitFor();
}

/** On the lock screen: enters the PIN and waits for the lock screen to go. */
export async function unlock(page, pin) {
  await heading(page, 'Sallyport is locked').waitFor();
  await page.getByLabel('PIN', { exact: true }).fill(pin);
  await button(page, 'Unlock').click();
  await heading(page, 'Sallyport is locked').waitFor({ state: 'detached' });
}

/**
 * Has the app check for inactivity now and render the outcome before returning, with no waiting on
 * time: the page "becomes visible" (the app checks then, as on each tick of its inactivity timer,
 * without counting it as activity), and Preact renders in a microtask queued during that check,
 * so it has run when the microtask queued after it runs.
 */
export async function checkIdleNow(page) {
  const visible = await page.evaluate(async () => {
    if (document.visibilityState !== 'visible') return false;
    document.dispatchEvent(new Event('visibilitychange'));
    await new Promise((resolve) => queueMicrotask(resolve));
    return true;
  });
  if (!visible) throw new Error('the page is not visible, so the app does not check for inactivity on visibilitychange');
}

/** A nav link ("Conversations", "Administration", "Settings"); waits for the screen's heading. */
export async function goTo(page, screen) {
  await page.getByRole('navigation').getByRole('link', { name: screen, exact: true }).click();
  await heading(page, screen).waitFor();
}

export async function send(page, text) {
  await page.getByRole('textbox', { name: 'Message', exact: true }).fill(text);
  await button(page, 'Send').click();
  await messages(page).getByText(text, { exact: true }).waitFor();
}

export async function expectMessage(page, text, timeout = WAIT_MS) {
  await messages(page).getByText(text, { exact: true }).waitFor({ timeout });
}

/**
 * The status text ("Sending", "Sent", "Delivered") inside the message element holding `text`, null
 * if no message holds it, 'none' if it has no status. The message element is the list item (or
 * article) around the text, or else the log's child that holds it.
 */
export async function messageStatus(page, text) {
  return messages(page).evaluate((log, text) => {
    const walker = document.createTreeWalker(log, NodeFilter.SHOW_TEXT);
    let holder = null;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.textContent.includes(text)) {
        holder = node.parentElement;
        break;
      }
    }
    if (!holder) return null;
    let item = holder;
    for (let el = holder; el && el !== log; el = el.parentElement) {
      item = el;
      const role = el.getAttribute('role');
      if (el.tagName === 'LI' || el.tagName === 'ARTICLE' || role === 'listitem' || role === 'article') break;
      if (el.parentElement === log) break;
    }
    const rest = item.textContent.replace(text, ' ');
    const status = /\b(Sending|Sent|Delivered)\b/.exec(rest);
    return status ? status[1] : 'none';
  }, text);
}

export async function waitForStatus(page, text, status, timeout = WAIT_MS) {
  let now = null;
  try {
    await waitUntil(async () => (now = await messageStatus(page, text)) === status, { timeout });
  } catch {
    throw new Error(`timed out after ${timeout} ms waiting for "${status}" on the message "${text}" (status: ${now})`);
  }
}

/** The connection-state text of the contract while the socket is down. */
export const OFFLINE_TEXT = 'Offline — messages will be sent when you reconnect';
export const NOTIFICATIONS_UNAVAILABLE = 'Notifications are unavailable on this browser';
