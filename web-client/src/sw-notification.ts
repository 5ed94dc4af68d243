//! What the service worker shows for a push: a wake-up with no content (protocol §12). Only the
//! service worker imports this module (the build inlines it into sw.js).

export const NOTIFICATION_TITLE = 'New message';
export const NOTIFICATION_BODY = 'Open Sallyport to read it.';

/** The tag and the URL to open for a push payload `{"v":1,"kind":"message","group"?: hex}`. */
export function notificationFor(data: unknown): { tag: string; url: string } {
  const o = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
  const group = o.v === 1 && o.kind === 'message' && typeof o.group === 'string' && /^[0-9a-f]{1,128}$/.test(o.group) ? o.group : undefined;
  return group ? { tag: `msg-${group}`, url: `/c/${group}` } : { tag: 'msg', url: '/' };
}
