//! "On call this week" as pure functions: the stretches the server lists with each rotation
//! (`upcoming`: swaps and overrides applied, DST included) cut into local days of a time zone; who
//! holds a rotation at an instant, its hand-offs, and a supporter's next shifts. Nothing here
//! recomputes the schedule; it only lays out what the server listed.

import type { Rotation, Stretch } from '../api';

/**
 * How many stretches the server lists with each rotation (`UPCOMING` in
 * server/src/workflows/peer_support/bodies.rs). A full list may stop short of the week (overrides
 * split shifts); what comes after its last stretch is not known here.
 */
export const SERVER_UPCOMING = 12;

const HOUR = 3_600_000;

/** One part of a rotation's day, clipped to the day: `[from, to)`. */
export type DayPiece =
  | { kind: 'holder'; from: number; to: number; account: string; display_name: string; source: string }
  /** Nobody holds it (before the rotation starts). */
  | { kind: 'nobody'; from: number; to: number }
  /** Past the last stretch the server listed. */
  | { kind: 'unknown'; from: number; to: number };

export interface RotationDay {
  rotation: string;
  name: string;
  pieces: DayPiece[];
}

export interface WeekDay {
  /** The local date, `YYYY-MM-DD`. */
  date: string;
  /** `[start, end)`; the first day starts now, not at midnight (what is past is not listed). */
  start: number;
  end: number;
  rotations: RotationDay[];
}

interface LocalDate {
  y: number;
  m: number;
  d: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();

function wallClock(timeZone: string, t: number) {
  let f = formats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formats.set(timeZone, f);
  }
  const parts: Record<string, number> = {};
  for (const p of f.formatToParts(t)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { y: parts.year, m: parts.month, d: parts.day, h: parts.hour, min: parts.minute, s: parts.second };
}

/** The local date at instant `t` in `timeZone`. */
export function localDate(timeZone: string, t: number): LocalDate {
  const { y, m, d } = wallClock(timeZone, t);
  return { y, m, d };
}

/** Local time minus UTC at instant `t`, in ms. */
function offset(timeZone: string, t: number): number {
  const w = wallClock(timeZone, t);
  const whole = Math.floor(t / 1000) * 1000;
  return Date.UTC(w.y, w.m - 1, w.d, w.h, w.min, w.s) - whole;
}

const same = (a: LocalDate, b: LocalDate) => a.y === b.y && a.m === b.m && a.d === b.d;

/**
 * The first instant of local date `date` in `timeZone`: local midnight, or where the day begins
 * when clocks skip midnight (e.g. America/Santiago at the start of summer time). Offsets either
 * side of the date give the candidates; the earliest whose previous millisecond is another date wins.
 */
export function startOfDay(timeZone: string, date: LocalDate): number {
  const wall = Date.UTC(date.y, date.m - 1, date.d);
  const candidates = [wall - offset(timeZone, wall - 36 * HOUR), wall - offset(timeZone, wall + 36 * HOUR)].sort((a, b) => a - b);
  for (const c of candidates) {
    if (same(localDate(timeZone, c), date) && !same(localDate(timeZone, c - 1), date)) return c;
  }
  return candidates[0];
}

function nextDate({ y, m, d }: LocalDate, days: number): LocalDate {
  const t = new Date(Date.UTC(y, m - 1, d + days));
  return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate() };
}

const iso = ({ y, m, d }: LocalDate) => `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;

/** The known stretches of a rotation, in order, and up to when they are known. */
function known(rotation: Rotation): { stretches: Stretch[]; until: number } {
  const stretches = [...rotation.upcoming].sort((a, b) => a.start - b.start);
  const full = stretches.length >= SERVER_UPCOMING;
  return { stretches, until: full ? stretches[stretches.length - 1].end : Infinity };
}

/** What holds `[from, to)` of one rotation: its stretches clipped, gaps as nobody, the rest unknown. */
function piecesOf(stretches: Stretch[], until: number, from: number, to: number): DayPiece[] {
  const out: DayPiece[] = [];
  const push = (p: DayPiece) => {
    if (p.from >= p.to) return;
    const last = out[out.length - 1];
    // One person across a hand-off to themselves (a one-member rotation, back-to-back shifts)
    // reads as one stretch; gaps and unknowns merge too.
    const mergeable =
      last &&
      last.to === p.from &&
      last.kind === p.kind &&
      (p.kind !== 'holder' || (last.kind === 'holder' && last.account === p.account && last.source === p.source));
    if (mergeable) last.to = p.to;
    else out.push({ ...p });
  };
  const knownTo = Math.min(to, until);
  let at = from;
  for (const s of stretches) {
    if (s.end <= at || s.start >= knownTo) continue;
    const a = Math.max(s.start, at);
    const b = Math.min(s.end, knownTo);
    push({ kind: 'nobody', from: at, to: a });
    push({ kind: 'holder', from: a, to: b, account: s.account, display_name: s.display_name, source: s.source });
    at = b;
  }
  push({ kind: 'nobody', from: at, to: knownTo });
  push({ kind: 'unknown', from: Math.max(at, knownTo), to });
  return out;
}

/**
 * `days` local days of `timeZone` from the one holding `now` (that one from `now` on), each with
 * who holds each rotation when. Hand-offs are where one holder piece ends and the next begins.
 */
export function weekView(rotations: Rotation[], now: number, timeZone: string, days = 7): WeekDay[] {
  const today = localDate(timeZone, now);
  const lists = rotations.map((r) => ({ r, ...known(r) }));
  const week: WeekDay[] = [];
  let start = now;
  for (let i = 0; i < days; i++) {
    const date = nextDate(today, i);
    const end = startOfDay(timeZone, nextDate(today, i + 1));
    week.push({
      date: iso(date),
      start,
      end,
      rotations: lists.map(({ r, stretches, until }) => ({ rotation: r.id, name: r.name, pieces: piecesOf(stretches, until, start, end) })),
    });
    start = end;
  }
  return week;
}

export interface UpcomingShift extends Stretch {
  rotation: string;
  rotation_name: string;
}

/** The stretches `account` holds in the rotations' upcoming lists, soonest first. */
export function shiftsOf(rotations: Rotation[], account: string): UpcomingShift[] {
  return rotations
    .flatMap((r) => r.upcoming.filter((s) => s.account === account).map((s) => ({ ...s, rotation: r.id, rotation_name: r.name })))
    .sort((a, b) => a.start - b.start || a.end - b.end);
}

/** Who holds `rotation` at `t` among its listed stretches. */
export function holderAt(rotation: Rotation, t: number): Stretch | undefined {
  return rotation.upcoming.find((s) => s.start <= t && t < s.end);
}

/** The listed stretches where the holder changes: back-to-back shifts of one person are one. */
export function handOffs(upcoming: Stretch[]): Stretch[] {
  const out: Stretch[] = [];
  for (const s of [...upcoming].sort((a, b) => a.start - b.start)) {
    const last = out[out.length - 1];
    if (last && last.end === s.start && last.account === s.account && last.source === s.source) last.end = s.end;
    else out.push({ ...s });
  }
  return out;
}
