//! How the team and shifts screens write dates ("2026-11-27"), times ("Fri, Nov 27, 08:00") and
//! training kinds.

import { TRAINING_KINDS } from '../api';

export const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
export const when = (ms: number) => new Date(ms).toLocaleString(undefined, { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
export const trainingLabel = (k: string) => TRAINING_KINDS.find((t) => t.kind === k)?.label ?? k;
