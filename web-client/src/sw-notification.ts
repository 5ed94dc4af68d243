//! What the service worker shows for a push: a wake-up with no content (protocol §12), a support
//! request (§13.2), a page with its sealed details (§16). Pure: only the service worker imports this
//! module (the build inlines it into sw.js).

import { FOLLOWUP_BODY, FOLLOWUP_TITLE, GENERIC_DEBRIEF_BODY, GENERIC_DEBRIEF_TITLE, reminderTitle, type PushPreview } from './debriefs';
import { ANSWERS, GENERIC_PAGE_BODY, GENERIC_PAGE_TITLE, pageBody, pageTitle, type Answer, type PagePush, type Preview } from './incidents';

const ICON = '/icon-192.png';

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

export const READINESS_TITLE = 'Readiness check';
export const READINESS_BODY = "Tap to confirm that Sallyport's pages reach you.";
export const READINESS_ACTION = 'ready';

/** What a readiness check shows (protocol §17): a visible notification with an "I can get pages"
 *  action whose tap confirms the check with its token, without opening the app. `undefined` when
 *  the payload is not a readiness check. */
export function readinessNotification(data: unknown):
  | { title: string; options: NotificationOptions & { actions: { action: string; title: string }[]; data: { url: string; kind: 'readiness'; token?: string } } }
  | undefined {
  const o = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
  if (o.v !== 1 || o.kind !== 'readiness') return undefined;
  const token = typeof o.token === 'string' && /^[A-Za-z0-9_-]{43}$/.test(o.token) ? o.token : undefined;
  return {
    title: READINESS_TITLE,
    options: {
      body: READINESS_BODY,
      tag: 'readiness',
      icon: ICON,
      actions: token ? [{ action: READINESS_ACTION, title: 'I can get pages' }] : [],
      data: { url: '/', kind: 'readiness', token },
    },
  };
}

/** What a page push shows (protocol §16): the opened preview when there is one, else generic text. */
export interface PageNotification {
  title: string;
  options: NotificationOptions & {
    renotify?: boolean;
    actions?: { action: string; title: string }[];
    data: { url: string; kind: 'page'; incident?: string; token?: string; title?: string };
  };
}

/**
 * The notification for a page: `page` as `parsePagePush` read it (undefined when the payload was
 * not a sound page), `preview` the opened details (undefined when they could not be opened). Tagged
 * per incident with `renotify` (repeats replace it and alert again), kept until acted on, with the
 * "Responding" / "Unavailable" actions that answer without opening the app.
 */
export function pageNotification(page: PagePush | undefined, preview: Preview | undefined): PageNotification {
  if (!page) {
    return {
      title: GENERIC_PAGE_TITLE,
      options: { body: GENERIC_PAGE_BODY, tag: 'incident', renotify: true, requireInteraction: true, icon: ICON, data: { url: '/incidents', kind: 'page' } },
    };
  }
  const title = preview ? pageTitle(page) : page.test ? 'Test page — open Sallyport' : GENERIC_PAGE_TITLE;
  const body = preview ? pageBody(preview) : `Severity ${page.severity}. ${GENERIC_PAGE_BODY}`;
  return {
    title,
    options: {
      body,
      tag: `incident-${page.incident}`,
      renotify: true,
      requireInteraction: true,
      icon: ICON,
      actions: ANSWERS.map((a) => ({ action: a.id, title: a.label })),
      data: { url: `/incidents/${page.incident}`, kind: 'page', incident: page.incident, token: page.token, title },
    },
  };
}

/** The answer a notification action names, if it is one. */
export const actionAnswer = (action: string): Answer | undefined => ANSWERS.find((a) => a.id === action)?.id;

/** What a debrief push shows (protocol §18): a reminder ("Appointment at 14:00 tomorrow", the place
 *  only if the coordinator included it) or a follow-up ("How are you doing?" with "Talk to a peer"
 *  and "Crisis lines"); the generic text when the preview could not be opened. Neutral words only:
 *  nothing about an incident on a lock screen. */
export interface DebriefNotification {
  title: string;
  options: NotificationOptions & { actions?: { action: string; title: string }[]; data: { url: string; kind: 'debrief' } };
}

export const TALK_ACTION = 'talk';
export const CRISIS_ACTION = 'crisis';

export function debriefNotification(push: { debrief: string } | undefined, preview: PushPreview | undefined, now: number): DebriefNotification {
  const tag = push ? `debrief-${push.debrief}` : 'debrief';
  if (preview?.t === 'reminder') {
    return {
      title: reminderTitle(preview.start, now),
      options: { body: preview.place ? `At ${preview.place}.` : 'Open Sallyport for the details.', tag, icon: ICON, data: { url: push ? `/debriefs/${push.debrief}` : '/', kind: 'debrief' } },
    };
  }
  if (preview?.t === 'followup') {
    return {
      title: FOLLOWUP_TITLE,
      options: {
        body: FOLLOWUP_BODY,
        tag,
        icon: ICON,
        actions: [
          { action: TALK_ACTION, title: 'Talk to a peer' },
          { action: CRISIS_ACTION, title: 'Crisis lines' },
        ],
        data: { url: '/reach-out', kind: 'debrief' },
      },
    };
  }
  return { title: GENERIC_DEBRIEF_TITLE, options: { body: GENERIC_DEBRIEF_BODY, tag, icon: ICON, data: { url: '/', kind: 'debrief' } } };
}

/** Where a tap on a debrief notification's action goes. */
export const debriefActionUrl = (action: string, fallback: string): string =>
  action === TALK_ACTION ? '/reach-out' : action === CRISIS_ACTION ? '/?crisis=1' : fallback;
