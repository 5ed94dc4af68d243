//! The service worker (/sw.js, scope /): precaches the app shell so the app opens offline, and
//! the screens only some devices open (screenPrecache.ts) on the devices that open them,
//! network-first for /v1/config (crisis lines offline), cache-first for hashed assets; shows a
//! content-free notification for each message or support push and opens it on click; for a page,
//! opens the sealed details with the device's notification key and the client core, and answers
//! from the notification's actions without opening the app. vite.config.ts builds it on its own
//! as one classic script (an IIFE) with the core's wasm-bindgen glue inlined: a classic worker
//! runs in Chromium, Safari and Firefox alike, where a module service worker does not everywhere.

import init, { openSealedWith } from '../core/wasm/pkg/sallyport_core_wasm.js';
import { fromBase64 } from './bytes';
import { GENERIC_PAGE_BODY, GENERIC_PAGE_TITLE, answeredNotification, pageAad, parsePagePush, parsePreview, type Answer, type PagePush, type Preview } from './incidents';
import { loadNotificationKey } from './notifyKey';
import { debriefAad, parseDebriefPush, parsePushPreview, type PushPreview } from './debriefs';
import { READINESS_ACTION, actionAnswer, debriefActionUrl, debriefNotification, pageNotification, pushNotification, readinessNotification, type PageNotification } from './sw-notification';
import type { PrecacheScreensMessage } from './screenPrecache';

const sw = self as unknown as ServiceWorkerGlobalScope;

// Replaced at build time by the list of built files (vite.config.ts, precacheManifest).
function precacheList(): string[] {
  try {
    const v: unknown = JSON.parse('__SALLYPORT_PRECACHE__');
    return Array.isArray(v) ? (v as string[]) : ['/'];
  } catch {
    return ['/']; // development server: nothing injected
  }
}
const PRECACHE = precacheList();

// Replaced at build time by the hashed URL of the client core's wasm (vite.config.ts).
function wasmUrl(): string | undefined {
  try {
    const v: unknown = JSON.parse('__SALLYPORT_WASM__');
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined; // development server: pages show their generic text
  }
}
const WASM_URL = wasmUrl();
const CONFIG_URL = '/v1/config';

// Replaced at build time by each on-demand screen's files not in PRECACHE (vite.config.ts).
function screenFiles(): Record<string, string[]> {
  try {
    const v: unknown = JSON.parse('__SALLYPORT_SCREENS__');
    return v && typeof v === 'object' ? (v as Record<string, string[]>) : {};
  } catch {
    return {}; // development server: nothing injected
  }
}
const SCREENS = screenFiles();

function hash(s: string): string {
  let h = 5381;
  for (let i = 0; i < s.length; i++) h = (h * 33) ^ s.charCodeAt(i);
  return (h >>> 0).toString(36);
}
const CACHE = `sallyport-shell-${hash(PRECACHE.join('\n') + JSON.stringify(SCREENS))}`;
const CONFIG_CACHE = 'sallyport-config';
/** The on-demand screens this device precaches (a JSON list), kept across versions of the worker. */
const SCREENS_KEY = '/sallyport-precached-screens';

async function rememberedScreens(): Promise<string[]> {
  try {
    const v: unknown = await (await caches.match(SCREENS_KEY, { cacheName: CONFIG_CACHE }))?.json();
    return Array.isArray(v) ? v.filter((n): n is string => typeof n === 'string') : [];
  } catch {
    return [];
  }
}

/** The files of `screens` (unknown names ignored), once each. */
const filesOf = (screens: string[]): string[] => [...new Set(screens.flatMap((n) => (Object.hasOwn(SCREENS, n) ? SCREENS[n] : [])))];

/**
 * Precaches `screens` in the current shell's cache (what is there already is not fetched again)
 * and remembers them, so the next version of the worker precaches them at its install. A device
 * keeps a screen once it had one: the few kilobytes are not worth a device that lost a role
 * finding a screen missing offline while the server has not told it yet.
 */
function precacheScreens(screens: string[]): Promise<void> {
  // One at a time: two at once would each rewrite the remembered list without the other's screens.
  const run = precaching.then(() => fetchScreens(screens));
  precaching = run.catch(() => undefined);
  return run;
}
let precaching: Promise<unknown> = Promise.resolve();

async function fetchScreens(screens: string[]): Promise<void> {
  const known = screens.filter((n) => Object.hasOwn(SCREENS, n));
  const before = await rememberedScreens();
  const all = [...new Set([...before, ...known])].sort();
  if (all.length !== before.length) {
    await (await caches.open(CONFIG_CACHE)).put(SCREENS_KEY, new Response(JSON.stringify(all), { headers: { 'Content-Type': 'application/json' } }));
  }
  const cache = await caches.open(CACHE);
  const missing: string[] = [];
  for (const url of filesOf(known)) if (!(await cache.match(url))) missing.push(url);
  await cache.addAll(missing);
}

sw.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // The shell, and the on-demand screens the worker before this one had precached.
      await cache.addAll([...new Set([...PRECACHE, ...filesOf(await rememberedScreens())])]);
      try {
        const r = await fetch(CONFIG_URL, { cache: 'no-store' });
        if (r.ok) await (await caches.open(CONFIG_CACHE)).put(CONFIG_URL, r);
      } catch {
        // offline at install: cached on the first online request
      }
      await sw.skipWaiting();
    })(),
  );
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) if (name !== CACHE && name !== CONFIG_CACHE) await caches.delete(name);
      await sw.clients.claim();
    })(),
  );
});

sw.addEventListener('message', (event) => {
  const data = event.data as Partial<PrecacheScreensMessage> | null;
  if (data?.kind !== 'precache-screens' || !Array.isArray(data.screens)) return;
  const screens = data.screens.filter((n): n is string => typeof n === 'string');
  event.waitUntil(precacheScreens(screens).catch(() => undefined)); // offline: at their first opening
});

/** Marks an answer that came from the cache, so the app can prefer a newer copy it holds. */
const FROM_CACHE_HEADER = 'Sallyport-From-Cache';

async function networkFirst(request: Request, cacheName: string, key: string): Promise<Response> {
  try {
    const r = await fetch(request);
    if (r.ok) await (await caches.open(cacheName)).put(key, r.clone());
    return r;
  } catch (e) {
    const cached = await caches.match(key);
    if (!cached) throw e;
    const headers = new Headers(cached.headers);
    headers.set(FROM_CACHE_HEADER, '1');
    return new Response(cached.body, { status: cached.status, statusText: cached.statusText, headers });
  }
}

async function cacheFirst(request: Request): Promise<Response> {
  const cached = await caches.match(request);
  if (cached) return cached;
  const r = await fetch(request);
  if (r.ok && new URL(request.url).pathname.startsWith('/assets/')) await (await caches.open(CACHE)).put(request, r.clone());
  return r;
}

sw.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== sw.location.origin) return;
  if (url.pathname === CONFIG_URL) {
    event.respondWith(networkFirst(request, CONFIG_CACHE, CONFIG_URL));
    return;
  }
  if (url.pathname.startsWith('/v1/') || url.pathname.startsWith('/ws') || ['/healthz', '/readyz', '/metrics'].includes(url.pathname)) return;
  if (request.mode === 'navigate') {
    // Every app route is index.html: fresh when online, the cached shell offline.
    event.respondWith(
      fetch(request).catch(async () => (await caches.match('/')) ?? Response.error()),
    );
    return;
  }
  event.respondWith(cacheFirst(request));
});

// ---- pages (protocol §16)

/** The client core, loaded once per worker life from the precache (the network if missing). */
let core: Promise<unknown> | undefined;
function loadCore(): Promise<unknown> {
  if (!WASM_URL) return Promise.reject(new Error('no wasm in a development build'));
  core ??= init({ module_or_path: caches.match(WASM_URL).then((r) => r ?? fetch(WASM_URL)) }).catch((e: unknown) => {
    core = undefined;
    throw e;
  });
  return core;
}

/** The page's details opened with this device's notification key; undefined if anything fails. */
async function openPreview(page: PagePush): Promise<Preview | undefined> {
  if (!page.sealed) return undefined;
  const key = await loadNotificationKey();
  if (!key) return undefined;
  await loadCore();
  return parsePreview(openSealedWith(key.secret, pageAad(page.incident, key.device), fromBase64(page.sealed)));
}

/** Resolves with `p`, or undefined after `ms` (a notification never waits on a stuck core). */
function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(undefined), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      () => (clearTimeout(t), resolve(undefined)),
    );
  });
}

async function showPage(data: unknown): Promise<void> {
  const page = parsePagePush(data);
  let n: PageNotification;
  try {
    n = pageNotification(page, page ? await within(openPreview(page), 10_000) : undefined);
  } catch {
    n = pageNotification(page, undefined);
  }
  // Every push shows a notification (a browser revokes a subscription whose pushes show none):
  // if this browser refuses an option (actions, renotify), the plain generic one.
  try {
    await sw.registration.showNotification(n.title, n.options);
  } catch {
    await sw.registration.showNotification(GENERIC_PAGE_TITLE, { body: GENERIC_PAGE_BODY, tag: n.options.tag, icon: '/icon-192.png', data: { url: n.options.data.url } });
  }
  if (page) for (const c of await sw.clients.matchAll({ type: 'window', includeUncontrolled: true })) c.postMessage({ kind: 'incident', incident: page.incident });
}

// ---- debrief reminders and follow-ups (protocol §18)

/** The push's sealed preview opened with this device's notification key; undefined if anything fails. */
async function openDebriefPreview(push: { debrief: string; sealed: string }): Promise<PushPreview | undefined> {
  const key = await loadNotificationKey();
  if (!key) return undefined;
  await loadCore();
  return parsePushPreview(openSealedWith(key.secret, debriefAad(push.debrief, key.device), fromBase64(push.sealed)));
}

async function showDebrief(data: unknown): Promise<void> {
  const push = parseDebriefPush(data);
  let preview: PushPreview | undefined;
  try {
    preview = push ? await within(openDebriefPreview(push), 10_000) : undefined;
  } catch {
    preview = undefined;
  }
  const n = debriefNotification(push, preview, Date.now());
  try {
    await sw.registration.showNotification(n.title, n.options);
  } catch {
    const g = debriefNotification(push, undefined, Date.now());
    await sw.registration.showNotification(g.title, g.options);
  }
}

/** A notification action answers the page with its single-use token (no app, no PIN). */
async function answerFromNotification(notification: Notification, answer: Answer): Promise<void> {
  const data = (notification.data ?? {}) as PageNotification['options']['data'];
  let ok = false;
  try {
    const r = await fetch('/v1/incidents/answer', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: data.token, answer }),
      cache: 'no-store',
    });
    ok = r.ok;
  } catch {
    ok = false;
  }
  const shown = answeredNotification(answer, ok);
  await sw.registration.showNotification(shown.title, {
    body: data.title ? `${data.title}. ${shown.body}` : shown.body,
    tag: notification.tag,
    icon: '/icon-192.png',
    data: { url: data.url ?? '/incidents', kind: 'answered' },
  });
}

/** A tap on a readiness check confirms it with its single-use token (no app, no PIN). */
async function confirmReadiness(token: string): Promise<void> {
  let ok = false;
  try {
    const r = await fetch('/v1/readiness/confirm', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token }),
      cache: 'no-store',
    });
    ok = r.ok;
  } catch {
    ok = false;
  }
  await sw.registration.showNotification(ok ? 'Pages reach you' : 'Readiness not confirmed', {
    body: ok ? 'Thank you: your phone can get Sallyport pages.' : 'Open Sallyport to confirm that you can get pages.',
    tag: 'readiness',
    icon: '/icon-192.png',
    data: { url: '/', kind: 'answered' },
  });
}

sw.addEventListener('push', (event) => {
  let data: unknown;
  try {
    data = event.data?.json();
  } catch {
    data = undefined;
  }
  // A page opens Incidents, maybe later without the network: a crisis team member's device
  // fetches that screen now, while the push shows it is online, if it had not yet.
  if ((data as { kind?: unknown } | undefined)?.kind === 'page') {
    event.waitUntil(Promise.all([showPage(data), precacheScreens(['incidents']).catch(() => undefined)]));
    return;
  }
  if ((data as { kind?: unknown } | undefined)?.kind === 'debrief') {
    event.waitUntil(showDebrief(data));
    return;
  }
  const check = readinessNotification(data);
  if (check) {
    event.waitUntil(sw.registration.showNotification(check.title, check.options));
    return;
  }
  const { title, body, tag, url, support } = pushNotification(data);
  event.waitUntil(
    (async () => {
      await sw.registration.showNotification(title, { body, tag, icon: '/icon-192.png', data: { url } });
      // An open queue refreshes at once.
      if (support) for (const c of await sw.clients.matchAll({ type: 'window', includeUncontrolled: true })) c.postMessage({ kind: 'support_request' });
    })(),
  );
});

sw.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const answer = actionAnswer(event.action);
  if (answer && (event.notification.data as { kind?: string } | null)?.kind === 'page') {
    event.waitUntil(answerFromNotification(event.notification, answer));
    return;
  }
  const check = event.notification.data as { kind?: string; token?: string } | null;
  if (check?.kind === 'readiness' && check.token && (event.action === READINESS_ACTION || event.action === '')) {
    event.waitUntil(confirmReadiness(check.token));
    return;
  }
  const shown = event.notification.data as { url?: string; kind?: string } | null;
  const url = shown?.kind === 'debrief' ? debriefActionUrl(event.action, shown.url ?? '/') : (shown?.url ?? '/');
  event.waitUntil(
    (async () => {
      const windows = await sw.clients.matchAll({ type: 'window', includeUncontrolled: true });
      for (const client of windows) {
        if (new URL(client.url).origin !== sw.location.origin) continue;
        try {
          await client.focus();
        } catch {
          // focusing needs the click's user activation; navigate anyway
        }
        try {
          await client.navigate(url);
          return;
        } catch {
          // not controlled by this worker (yet): try the next window, else open one
        }
      }
      await sw.clients.openWindow(url);
    })(),
  );
});
