//! The service worker (/sw.js, scope /): precaches the app shell so the app opens offline,
//! network-first for /v1/config (crisis lines offline), cache-first for hashed assets; shows a
//! content-free notification for each push and opens the conversation on click. Self-contained
//! (imports only sw-notification.ts), so the build emits it as one classic script.

import { pushNotification } from './sw-notification';

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
const CONFIG_URL = '/v1/config';

function hash(s: string): string {
  let h = 5381;
  for (let i = 0; i < s.length; i++) h = (h * 33) ^ s.charCodeAt(i);
  return (h >>> 0).toString(36);
}
const CACHE = `sallyport-shell-${hash(PRECACHE.join('\n'))}`;
const CONFIG_CACHE = 'sallyport-config';

sw.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(PRECACHE);
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

sw.addEventListener('push', (event) => {
  let data: unknown;
  try {
    data = event.data?.json();
  } catch {
    data = undefined;
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
  const url = (event.notification.data as { url?: string } | null)?.url ?? '/';
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
