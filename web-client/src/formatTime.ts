//! The time shown beside a message and a conversation: the time of day for today, else the date.
//!
//! One shared `Intl.DateTimeFormat` per form: `toLocaleTimeString` builds a new formatter on every
//! call (36.5 µs here against 0.8 µs), and a conversation formats every message's time on every
//! redraw, which made that one function half of each tab's main thread in the two-tab benchmark
//! (bench/README.md, "Browser: 1,000 messages between two tabs").

const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayOfYear = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

export function formatTime(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  const n = new Date(now);
  const sameDay = d.getFullYear() === n.getFullYear() && d.getMonth() === n.getMonth() && d.getDate() === n.getDate();
  return sameDay ? timeOfDay.format(d) : dayOfYear.format(d);
}
