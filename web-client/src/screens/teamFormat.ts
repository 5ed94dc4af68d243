//! How the team and shifts screens write dates ("2026-11-27"), times ("Fri, Nov 27, 08:00"),
//! training kinds, switches and rotation periods.

import { TRAINING_KINDS, type SwitchState } from '../api';

export const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
export const when = (ms: number) => new Date(ms).toLocaleString(undefined, { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
export const trainingLabel = (k: string) => TRAINING_KINDS.find((t) => t.kind === k)?.label ?? k;

/** This phone's time zone (the week view's days are its days). */
export const deviceZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
/** "8:00 AM" (or "08:00") in `timeZone`. */
export const timeOfDay = (ms: number, timeZone: string) => new Date(ms).toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit', timeZone });
/** A rotation's hand-off ("08:00", a wall-clock time in its zone) as this phone writes times ("8:00 AM"). */
export function clockTime(hhmm: string): string {
  const [h, m] = hhmm.split(':').map(Number);
  return new Date(Date.UTC(2000, 0, 1, h, m)).toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit', timeZone: 'UTC' });
}
/** "Wed, Dec 3" in `timeZone`. */
export const dayName = (ms: number, timeZone: string) => new Date(ms).toLocaleDateString(undefined, { weekday: 'short', month: 'short', day: 'numeric', timeZone });

const SWITCHES: Record<SwitchState, string> = { available: 'Available', busy: 'Busy', off: 'Off' };
export const switchLabel = (s: SwitchState) => SWITCHES[s] ?? s;

export const periodLabel = (days: number) => (days === 1 ? 'Daily' : days === 7 ? 'Weekly' : days === 14 ? 'Every 2 weeks' : `Every ${days} days`);
