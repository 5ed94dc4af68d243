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

export const SUPPORT_TITLE = 'Support request';

/**
 * Title, body, tag and URL for any push payload. `{"v":1,"kind":"support_request","urgency"}`
 * (peer supporters, protocol §13.2) opens the queue; it says only that someone asked and how soon.
 */
export function pushNotification(data: unknown): { title: string; body: string; tag: string; url: string; support: boolean } {
  const o = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
  if (o.v === 1 && o.kind === 'support_request') {
    const soon = o.urgency === 'now' ? 'now' : o.urgency === 'today' ? 'today' : o.urgency === 'week' ? 'this week' : undefined;
    const body = soon ? `Someone wants to talk ${soon}. Open Sallyport to answer.` : 'Someone wants to talk. Open Sallyport to answer.';
    return { title: SUPPORT_TITLE, body, tag: 'support', url: '/requests', support: true };
  }
  return { title: NOTIFICATION_TITLE, body: NOTIFICATION_BODY, ...notificationFor(data), support: false };
}
