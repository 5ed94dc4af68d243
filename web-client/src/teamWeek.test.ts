//! Unit tests of "On call this week" (screens/teamWeek.ts): local days across DST changes, a
//! rotation that has not started, an override over part of a day, a period longer than a week,
//! a server list that stops mid-week, and a supporter's next shifts.

import { describe, expect, it } from 'vitest';
import type { Rotation, Stretch } from './api';
import { SERVER_UPCOMING, handOffs, holderAt, localDate, shiftsOf, startOfDay, weekView, type DayPiece } from './screens/teamWeek';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (iso: string) => Date.parse(iso);
const PAT = { account: 'pat', display_name: 'Pat Quinn' };
const SAM = { account: 'sam', display_name: 'Sam Lee' };

function rotation(id: string, upcoming: Stretch[], extra: Partial<Rotation> = {}): Rotation {
  return { id, name: id, members: [PAT, SAM], handoff: '08:00', time_zone: 'America/Chicago', period_days: 1, start_date: '2026-01-01', upcoming, ...extra };
}

/** Stretches between consecutive `boundaries`, held in turn by `people`. */
function stretches(boundaries: number[], people: { account: string; display_name: string }[], source = 'rotation'): Stretch[] {
  return boundaries.slice(1).map((end, i) => ({ start: boundaries[i], end, ...people[i % people.length], source }));
}

/** `n + 1` boundaries at 08:00 in Chicago on consecutive days from `first` (a YYYY-MM-DD). */
function chicago8am(first: string, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i <= n; i++) {
    const date = localDate('UTC', at(`${first}T12:00:00Z`) + i * DAY);
    out.push(startOfDay('America/Chicago', date) + 8 * HOUR + dstShift(date));
  }
  return out;
}
/** On a spring-forward day 08:00 is 7 h after midnight; on a fall-back day, 9 h. */
function dstShift({ m, d }: { m: number; d: number }): number {
  if (m === 3 && d === 8) return -HOUR;
  if (m === 11 && d === 1) return HOUR;
  return 0;
}

const summary = (pieces: DayPiece[]) => pieces.map((p) => `${p.kind === 'holder' ? p.display_name : p.kind} ${hhmm(p.from)}-${hhmm(p.to)}`);
const hhmm = (t: number) => new Intl.DateTimeFormat('en-GB', { timeZone: 'America/Chicago', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(t);

describe('local days', () => {
  it('are 23 h and 25 h long on the days clocks change, and start when midnight is skipped', () => {
    const chicago = (d: string) => startOfDay('America/Chicago', localDate('UTC', at(`${d}T12:00:00Z`)));
    expect(chicago('2026-03-08')).toBe(at('2026-03-08T06:00:00Z'));
    expect(chicago('2026-03-09') - chicago('2026-03-08')).toBe(23 * HOUR);
    expect(chicago('2026-11-01')).toBe(at('2026-11-01T05:00:00Z'));
    expect(chicago('2026-11-02') - chicago('2026-11-01')).toBe(25 * HOUR);
    // Santiago skips from 24:00 to 01:00 on 6 September 2026: that day begins at 01:00.
    expect(startOfDay('America/Santiago', { y: 2026, m: 9, d: 6 })).toBe(at('2026-09-06T04:00:00Z'));
    // ... and on 5 April it repeats 23:00-24:00 of the day before: the day begins at the second midnight.
    expect(startOfDay('America/Santiago', { y: 2026, m: 4, d: 5 })).toBe(at('2026-04-05T04:00:00Z'));
    expect(startOfDay('UTC', { y: 2026, m: 12, d: 31 })).toBe(at('2026-12-31T00:00:00Z'));
  });
});

describe('the week view', () => {
  it('has seven local days, the first from now, and shows the hand-off at 08:00 local across spring forward', () => {
    const now = at('2026-03-07T18:00:00Z'); // Saturday noon in Chicago
    const r = rotation('nights', stretches(chicago8am('2026-03-06', SERVER_UPCOMING), [PAT, SAM]));
    const week = weekView([r], now, 'America/Chicago');
    expect(week.map((d) => d.date)).toEqual(['2026-03-07', '2026-03-08', '2026-03-09', '2026-03-10', '2026-03-11', '2026-03-12', '2026-03-13']);
    expect(week[0].start).toBe(now);
    expect(week[1].end - week[1].start).toBe(23 * HOUR);
    for (let i = 1; i < 7; i++) expect(week[i].start).toBe(week[i - 1].end);
    expect(summary(week[0].rotations[0].pieces)).toEqual(['Sam Lee 12:00-00:00']);
    expect(summary(week[1].rotations[0].pieces)).toEqual(['Sam Lee 00:00-08:00', 'Pat Quinn 08:00-00:00']);
    expect(week[1].rotations[0].pieces[0].to).toBe(at('2026-03-08T13:00:00Z'));
    expect(summary(week[2].rotations[0].pieces)).toEqual(['Pat Quinn 00:00-08:00', 'Sam Lee 08:00-00:00']);
  });

  it('keeps a 25-hour day whole when clocks fall back', () => {
    const now = at('2026-10-31T20:00:00Z');
    const r = rotation('nights', stretches(chicago8am('2026-10-30', SERVER_UPCOMING), [PAT, SAM]));
    const [, sunday] = weekView([r], now, 'America/Chicago');
    expect(sunday.date).toBe('2026-11-01');
    expect(sunday.end - sunday.start).toBe(25 * HOUR);
    expect(summary(sunday.rotations[0].pieces)).toEqual(['Sam Lee 00:00-08:00', 'Pat Quinn 08:00-00:00']);
    expect(sunday.rotations[0].pieces[0].to).toBe(at('2026-11-01T14:00:00Z'));
  });

  it('shows no one on call before a rotation starts', () => {
    const now = at('2026-06-01T15:00:00Z'); // Monday 10:00 in Chicago; the rotation starts Thursday 08:00
    const r = rotation('new', stretches(chicago8am('2026-06-04', SERVER_UPCOMING), [PAT, SAM]));
    const week = weekView([r], now, 'America/Chicago');
    expect(summary(week[0].rotations[0].pieces)).toEqual(['nobody 10:00-00:00']);
    expect(summary(week[2].rotations[0].pieces)).toEqual(['nobody 00:00-00:00']);
    expect(summary(week[3].rotations[0].pieces)).toEqual(['nobody 00:00-08:00', 'Pat Quinn 08:00-00:00']);
    expect(summary(week[4].rotations[0].pieces)).toEqual(['Pat Quinn 00:00-08:00', 'Sam Lee 08:00-00:00']);
  });

  it('splits a day where an override covers part of it', () => {
    const now = at('2026-06-01T15:00:00Z');
    const weekStart = at('2026-05-28T13:00:00Z'); // Thursday 08:00
    const cover = [at('2026-06-03T19:00:00Z'), at('2026-06-03T23:00:00Z')]; // Wednesday 14:00-18:00
    const upcoming: Stretch[] = [
      { start: weekStart, end: cover[0], ...PAT, source: 'rotation' },
      { start: cover[0], end: cover[1], ...SAM, source: 'override' },
      { start: cover[1], end: weekStart + 7 * DAY, ...PAT, source: 'rotation' },
      { start: weekStart + 7 * DAY, end: weekStart + 14 * DAY, ...SAM, source: 'rotation' },
    ];
    const week = weekView([rotation('weekly', upcoming, { period_days: 7 })], now, 'America/Chicago');
    const wednesday = week[2].rotations[0].pieces;
    expect(summary(wednesday)).toEqual(['Pat Quinn 00:00-14:00', 'Sam Lee 14:00-18:00', 'Pat Quinn 18:00-00:00']);
    expect(wednesday.map((p) => (p.kind === 'holder' ? p.source : p.kind))).toEqual(['rotation', 'override', 'rotation']);
    expect(summary(week[3].rotations[0].pieces)).toEqual(['Pat Quinn 00:00-08:00', 'Sam Lee 08:00-00:00']);
  });

  it('shows one holder all week when a period is longer than a week', () => {
    const now = at('2026-06-01T15:00:00Z');
    const start = at('2026-05-28T13:00:00Z');
    const r = rotation('fortnight', [{ start, end: start + 14 * DAY, ...PAT, source: 'rotation' }], { period_days: 14, members: [PAT] });
    const week = weekView([r], now, 'America/Chicago');
    for (const day of week) expect(day.rotations[0].pieces).toEqual([{ kind: 'holder', from: day.start, to: day.end, ...PAT, source: 'rotation' }]);
  });

  it('reads back-to-back shifts of one person as one stretch', () => {
    const now = at('2026-06-01T15:00:00Z');
    const r = rotation('solo', stretches(chicago8am('2026-06-01', SERVER_UPCOMING), [PAT]), { members: [PAT] });
    const week = weekView([r], now, 'America/Chicago');
    for (const day of week) expect(summary(day.rotations[0].pieces)).toEqual([`Pat Quinn ${day === week[0] ? '10:00' : '00:00'}-00:00`]);
  });

  it('says what is past the last stretch the server listed when its list is full', () => {
    const now = at('2026-06-01T15:00:00Z');
    // Daily shifts cut by short overrides: twelve stretches end Wednesday 12:00.
    const b = (h: number) => at('2026-06-01T13:00:00Z') + h * HOUR;
    const cuts = [0, 2, 3, 6, 7, 24, 26, 27, 30, 31, 48, 50, 53];
    const upcoming = stretches(cuts.map(b), [PAT, SAM]);
    expect(upcoming).toHaveLength(SERVER_UPCOMING);
    const week = weekView([rotation('busy', upcoming)], now, 'America/Chicago');
    expect(summary(week[2].rotations[0].pieces).slice(-2)).toEqual(['Sam Lee 10:00-13:00', 'unknown 13:00-00:00']);
    expect(summary(week[3].rotations[0].pieces)).toEqual(['unknown 00:00-00:00']);
    // A shorter list is the whole schedule: after it, no one.
    const short = weekView([rotation('short', upcoming.slice(0, 3))], now, 'America/Chicago');
    expect(summary(short[0].rotations[0].pieces).slice(-1)).toEqual(['nobody 14:00-00:00']);
  });

  it('lists every rotation for each day, in the order given', () => {
    const now = at('2026-06-01T15:00:00Z');
    const a = rotation('a', stretches(chicago8am('2026-06-01', SERVER_UPCOMING), [PAT]));
    const b = rotation('b', []);
    const week = weekView([a, b], now, 'America/Chicago');
    expect(week[0].rotations.map((r) => r.rotation)).toEqual(['a', 'b']);
    expect(summary(week[0].rotations[1].pieces)).toEqual(['nobody 10:00-00:00']);
  });
});

describe("a supporter's next shifts", () => {
  it('come from every rotation, soonest first', () => {
    const a = rotation('Days', [
      { start: 30, end: 40, ...PAT, source: 'rotation' },
      { start: 10, end: 20, ...SAM, source: 'rotation' },
    ]);
    const b = rotation('Nights', [{ start: 20, end: 30, ...PAT, source: 'swap' }]);
    expect(shiftsOf([a, b], 'pat').map((s) => [s.rotation_name, s.start, s.source])).toEqual([
      ['Nights', 20, 'swap'],
      ['Days', 30, 'rotation'],
    ]);
    expect(shiftsOf([a, b], 'nobody')).toEqual([]);
  });
});

describe("a rotation's hand-offs", () => {
  it('join back-to-back shifts of one person, and say who holds it at an instant', () => {
    const r = rotation('r', [
      { start: 20, end: 30, ...PAT, source: 'rotation' },
      { start: 10, end: 20, ...PAT, source: 'rotation' },
      { start: 30, end: 35, ...SAM, source: 'override' },
      { start: 35, end: 40, ...PAT, source: 'rotation' },
      { start: 40, end: 50, ...PAT, source: 'swap' },
    ]);
    expect(handOffs(r.upcoming).map((s) => [s.account, s.start, s.end, s.source])).toEqual([
      ['pat', 10, 30, 'rotation'],
      ['sam', 30, 35, 'override'],
      ['pat', 35, 40, 'rotation'],
      ['pat', 40, 50, 'swap'],
    ]);
    expect(r.upcoming[1].end).toBe(20); // the server's list is left as it was
    expect(holderAt(r, 30)?.account).toBe('sam');
    expect(holderAt(r, 29)?.account).toBe('pat');
    expect(holderAt(r, 50)).toBeUndefined();
  });
});
