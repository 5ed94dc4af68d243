import { describe, expect, it } from 'vitest';
import { formatTime } from './formatTime';

describe('formatTime', () => {
  // Local times, so the cases hold in any time zone the tests run in.
  const now = new Date(2026, 11, 7, 15, 30).getTime();
  const cases = [
    new Date(2026, 11, 7, 0, 0).getTime(), // today, first minute
    new Date(2026, 11, 7, 9, 5).getTime(),
    new Date(2026, 11, 7, 23, 59).getTime(), // today, last minute
    new Date(2026, 11, 6, 23, 59).getTime(), // yesterday
    new Date(2025, 11, 7, 15, 30).getTime(), // same day and month, a year before
    new Date(2026, 0, 1, 12, 0).getTime(),
  ];

  it('matches what the locale functions give, time of day for today and the date otherwise', () => {
    for (const at of cases) {
      const d = new Date(at);
      const today = d.toDateString() === new Date(now).toDateString();
      const expected = today
        ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
        : d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
      expect(formatTime(at, now)).toBe(expected);
    }
  });

  it('shows the time of day only for the same calendar day', () => {
    expect(formatTime(cases[1], now)).not.toBe(formatTime(cases[1], now + 24 * 3600 * 1000));
    expect(formatTime(cases[4], now)).toBe(formatTime(new Date(2026, 11, 7, 15, 30).getTime(), new Date(2026, 11, 8).getTime()));
  });
});
