//! Peer support helpers without UI: the urgencies and their labels, random friendly pseudonyms,
//! and how long a request has waited.

import type { Urgency } from './api';

export const URGENCIES: { id: Urgency; label: string; hint: string }[] = [
  { id: 'now', label: 'Now', hint: 'I need to talk to someone now.' },
  { id: 'today', label: 'Today', hint: 'Sometime today is fine.' },
  { id: 'week', label: 'This week', hint: 'Sometime this week is fine.' },
];
export const urgencyLabel = (u: string): string => URGENCIES.find((x) => x.id === u)?.label ?? u;

const ADJECTIVES = ['Quiet', 'Steady', 'Gentle', 'Bright', 'Calm', 'Brave', 'Kind', 'Patient', 'Warm', 'Clear'];
const NOUNS = ['Harbor', 'Cedar', 'River', 'Falcon', 'Meadow', 'Lantern', 'Willow', 'Summit', 'Sparrow', 'Oak'];

/** A random friendly pseudonym, e.g. "Steady Cedar". */
export function randomPseudonym(): string {
  const r = crypto.getRandomValues(new Uint8Array(2));
  return `${ADJECTIVES[r[0]! % ADJECTIVES.length]} ${NOUNS[r[1]! % NOUNS.length]}`;
}

export function ageText(ms: number, now = Date.now()): string {
  const min = Math.max(0, Math.floor((now - ms) / 60_000));
  if (min < 1) return 'less than a minute';
  if (min < 60) return `${min} minute${min === 1 ? '' : 's'}`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} hour${h === 1 ? '' : 's'}`;
  return `${Math.floor(h / 24)} days`;
}
