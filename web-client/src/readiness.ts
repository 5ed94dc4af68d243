//! A crisis-team member's own readiness (protocol §17) as pure data: their status in plain words,
//! and "inside the perimeter until" (§15) from a time of day. Apart from crisisTeam.ts so that
//! Settings, which shows it, loads nothing of the coordinators' screens. No I/O here.

import type { ReadinessStatus } from './crisisTeam';

const MY_STATUS_WORDS: Record<ReadinessStatus, string> = {
  no_subscription: 'Pages cannot reach you: notifications are off on every phone of yours.',
  push_failing: 'The last check did not reach your phone.',
  unconfirmed: 'You did not confirm the last check.',
  not_checked: 'Your phone has not been checked yet.',
  pending: 'A check was sent: confirm that pages reach you.',
  ready: 'Pages reach you.',
};

/** The member's own readiness status in plain words. */
export const myReadinessWords = (status: string): string => MY_STATUS_WORDS[status as ReadinessStatus] ?? status;

/** How far ahead "inside the perimeter until" may be (§15). */
export const MAX_INSIDE_MS = 16 * 3_600_000;

/**
 * The next instant after `now` whose local time of day (this phone's zone) is `hhmm`, or what is
 * wrong: more than 16 hours ahead, or not a time.
 */
export function insideUntilFrom(hhmm: string, now: number): { at: number } | { error: string } {
  const m = /^(\d{1,2}):(\d{2})$/.exec(hhmm);
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59) return { error: 'Choose the time you come out.' };
  const at = new Date(now);
  at.setHours(Number(m[1]), Number(m[2]), 0, 0);
  if (at.getTime() <= now) at.setDate(at.getDate() + 1);
  // setDate keeps the wall-clock time across a DST change; a skipped time lands an hour later.
  if (at.getTime() - now > MAX_INSIDE_MS) return { error: 'That is more than 16 hours from now: choose an earlier time.' };
  return { at: at.getTime() };
}

