//! Web Push: subscribe with the server's VAPID key and register the subscription. Any failure,
//! refusal or 10 s without an answer marks notifications unavailable; the UI never waits on it.

import { addPushSubscription, addSupportPush, type Signer } from './api';
import { fromBase64, toBase64Url } from './bytes';

export type PushStatus = 'unknown' | 'enabled' | 'unavailable';
const KEY = 'sallyport.push';
export const PUSH_TIMEOUT_MS = 10_000;

export function pushStatus(): PushStatus {
  const v = localStorage.getItem(KEY);
  return v === 'enabled' || v === 'unavailable' ? v : 'unknown';
}

function setStatus(s: PushStatus): void {
  localStorage.setItem(KEY, s);
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timed out')), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

async function subscribe(signer: Signer, vapidKey: string): Promise<void> {
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) throw new Error('no push');
  let permission = Notification.permission;
  if (permission === 'default') permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error('permission ' + permission);
  const reg = await navigator.serviceWorker.ready;
  const sub =
    (await reg.pushManager.getSubscription()) ??
    (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64(vapidKey) as BufferSource }));
  const p256dh = sub.getKey('p256dh');
  const auth = sub.getKey('auth');
  if (!p256dh || !auth) throw new Error('subscription without keys');
  await addPushSubscription(signer, {
    endpoint: sub.endpoint,
    p256dh: toBase64Url(new Uint8Array(p256dh)),
    auth: toBase64Url(new Uint8Array(auth)),
  });
}

/** Tries to enable notifications; resolves with the resulting status, within about 10 s. */
export async function enablePush(signer: Signer, vapidKey: string | undefined): Promise<PushStatus> {
  try {
    if (!vapidKey) throw new Error('no VAPID key');
    await withTimeout(subscribe(signer, vapidKey), PUSH_TIMEOUT_MS);
    setStatus('enabled');
  } catch {
    setStatus('unavailable');
  }
  return pushStatus();
}

/**
 * Push for an unlinked mailbox (a support request): a second service-worker registration (same
 * sw.js) so its subscription has its own endpoint, unlinkable to the device's. Its scope is
 * `/<scope>/`, a random token kept sealed with the request, so the registration names neither
 * the mailbox nor support. Registered with the mailbox secret only. True when it worked; failures
 * are quiet (the device also reads the mailbox whenever the app is open).
 */
export async function enableSupportPush(scope: string, mailbox: string, secret: string, vapidKey: string | undefined): Promise<boolean> {
  try {
    if (!vapidKey) throw new Error('no VAPID key');
    await withTimeout(
      (async () => {
        if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) throw new Error('no push');
        if (Notification.permission !== 'granted') throw new Error('permission ' + Notification.permission);
        const reg = await navigator.serviceWorker.register('/sw.js', { scope: '/' + scope + '/' });
        const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64(vapidKey) as BufferSource });
        const p256dh = sub.getKey('p256dh');
        const auth = sub.getKey('auth');
        if (!p256dh || !auth) throw new Error('subscription without keys');
        await addSupportPush(mailbox, secret, { endpoint: sub.endpoint, p256dh: toBase64Url(new Uint8Array(p256dh)), auth: toBase64Url(new Uint8Array(auth)) });
      })(),
      PUSH_TIMEOUT_MS,
    );
    return true;
  } catch {
    return false;
  }
}

/** Removes an unlinked mailbox's service-worker registration (its push subscription goes with it). */
export async function dropSupportPush(scope: string): Promise<void> {
  try {
    const reg = await navigator.serviceWorker?.getRegistration('/' + scope + '/');
    if (reg && new URL(reg.scope).pathname === '/' + scope + '/') await reg.unregister();
  } catch {
    /* nothing to remove */
  }
}

/** Removes the registrations scoped `/support/<mailbox>/` (before scopes were random); their mailboxes. */
export async function dropLegacySupportPush(): Promise<string[]> {
  const mailboxes: string[] = [];
  try {
    for (const reg of (await navigator.serviceWorker?.getRegistrations()) ?? []) {
      const m = /^\/support\/([^/]+)\/$/.exec(new URL(reg.scope).pathname);
      if (!m) continue;
      await reg.unregister();
      mailboxes.push(decodeURIComponent(m[1]!));
    }
  } catch {
    /* no service workers here */
  }
  return mailboxes;
}
