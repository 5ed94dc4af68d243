//! The public server config (/v1/config): crisis lines and the VAPID key. Cached in localStorage so
//! the crisis lines open offline; built-in defaults as the last resort.

import type { CrisisLine, ServerConfig } from './api';

const KEY = 'sallyport.config';

export const DEFAULT_CRISIS_LINES: CrisisLine[] = [
  { name: '988 Suicide & Crisis Lifeline', call: '988', text: '988', description: 'Call or text, 24/7' },
  { name: 'Safe Call Now', call: '1-206-459-3020', description: 'For public safety staff and their families, 24/7' },
  { name: 'CopLine', call: '1-800-267-5463', description: 'Peer listeners for law enforcement, 24/7' },
];

export function cachedConfig(): ServerConfig {
  try {
    const raw = localStorage.getItem(KEY);
    if (raw) {
      const c = JSON.parse(raw) as ServerConfig;
      if (Array.isArray(c.crisis_lines) && c.crisis_lines.length) return c;
    }
  } catch {
    // fall through to the defaults
  }
  return { crisis_lines: DEFAULT_CRISIS_LINES };
}

export function storeConfig(c: ServerConfig): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(c));
  } catch {
    // storage full or disabled: the defaults still work
  }
}

/**
 * Fetches the config and caches it. Offline, the service worker answers from its own cache (marked
 * `Sallyport-From-Cache`); the copy in localStorage may be newer (an EAP line this phone just
 * saved), so it wins then.
 */
export async function refreshConfig(): Promise<ServerConfig> {
  try {
    const r = await fetch('/v1/config', { cache: 'no-store' });
    const fromCache = r.headers.has('Sallyport-From-Cache');
    const c = (await r.json()) as ServerConfig;
    if (r.ok && c && Array.isArray(c.crisis_lines)) {
      if (fromCache && localStorage.getItem(KEY)) return cachedConfig();
      storeConfig(c);
      return c;
    }
  } catch {
    // offline without a cached copy: keep ours
  }
  return cachedConfig();
}

/** Digits and + only, for tel:/sms: links. */
export const dialable = (n: string): string => n.replace(/[^0-9+]/g, '');
