//! The public server config (/v1/config): crisis lines and the VAPID key. Cached in localStorage so
//! the crisis lines open offline; built-in defaults as the last resort.

import { getConfig, type CrisisLine, type ServerConfig } from './api';

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

/** Fetches the config (the service worker answers from its cache offline) and caches it. */
export async function refreshConfig(): Promise<ServerConfig> {
  try {
    const c = await getConfig();
    if (c && Array.isArray(c.crisis_lines)) {
      storeConfig(c);
      return c;
    }
  } catch {
    // offline: keep the cached copy
  }
  return cachedConfig();
}

/** Digits and + only, for tel:/sms: links. */
export const dialable = (n: string): string => n.replace(/[^0-9+]/g, '');
