//! Unit tests of the programme report's formatting (report.ts): how cells read, period labels
//! across months and years, and the chart: a hidden count drawn as an outline (never a zero), the
//! median line broken where it is hidden, and the text alternative.

import { describe, expect, it } from 'vitest';
import { cellSpoken, cellText, chartOf, chartSummary, csvFileName, formatSeconds, niceCeiling, periodLabel, shortLabel, type ReportCells, type ReportRow } from './report';

const F = { suppressed: 'fewer_than_10' } as const;
const C = { suppressed: 'complementary' } as const;

function cells(extra: Partial<ReportCells> = {}): ReportCells {
  return {
    requests_now: 0,
    requests_today: 0,
    requests_week: 0,
    requests_total: 0,
    escalations: 0,
    accepted_median_seconds: null,
    accepted_p90_seconds: null,
    pages_declared: 0,
    first_responder_median_seconds: null,
    first_responder_p90_seconds: null,
    quorum_median_seconds: null,
    quorum_p90_seconds: null,
    defusings_held: 0,
    debriefings_held: 0,
    followups_sent: 0,
    ...extra,
  };
}

const row = (start: string, end: string, extra: Partial<ReportCells> = {}): ReportRow => ({ start, end, cells: cells(extra) });

describe('report cells', () => {
  it('reads counts, hidden cells and delays', () => {
    expect(cellText(12, 'count')).toBe('12');
    expect(cellText(0, 'count')).toBe('0');
    expect(cellText(F, 'count')).toBe('<10');
    expect(cellSpoken(F, 'count')).toBe('fewer than 10');
    expect(cellText(C, 'count')).toBe('suppressed');
    expect(cellText(null, 'seconds')).toBe('—');
    expect(cellSpoken(null, 'seconds')).toBe('none');
    expect(cellText(420, 'seconds')).toBe('7 min');
  });

  it('says durations as people do', () => {
    expect(formatSeconds(45)).toBe('45 s');
    expect(formatSeconds(90)).toBe('2 min');
    expect(formatSeconds(3600)).toBe('1 h');
    expect(formatSeconds(3900)).toBe('1 h 5 min');
  });

  it('labels weeks across months and years, and months', () => {
    expect(periodLabel(row('2026-12-07', '2026-12-13'), 'week')).toBe('7–13 Dec 2026');
    expect(periodLabel(row('2026-11-30', '2026-12-06'), 'week')).toBe('30 Nov – 6 Dec 2026');
    expect(periodLabel(row('2026-12-28', '2027-01-03'), 'week')).toBe('28 Dec 2026 – 3 Jan 2027');
    expect(periodLabel(row('2027-02-01', '2027-02-28'), 'month')).toBe('February 2027');
    expect(shortLabel(row('2026-12-07', '2026-12-13'), 'week')).toBe('7 Dec');
    expect(shortLabel(row('2027-02-01', '2027-02-28'), 'month')).toBe('Feb 2027');
    expect(csvFileName('week')).toBe('sallyport-report-weekly.csv');
    expect(csvFileName('month')).toBe('sallyport-report-monthly.csv');
  });
});

describe('the trend chart', () => {
  const rows = [
    row('2026-11-16', '2026-11-22', { requests_total: 40, accepted_median_seconds: 300 }),
    row('2026-11-23', '2026-11-29', { requests_total: F, accepted_median_seconds: F }),
    row('2026-11-30', '2026-12-06', { requests_total: 0 }),
    row('2026-12-07', '2026-12-13', { requests_total: C, accepted_median_seconds: 600 }),
    row('2026-12-14', '2026-12-20', { requests_total: 25, accepted_median_seconds: 480 }),
  ];

  it('draws a hidden count as a labelled outline, not as zero', () => {
    const c = chartOf(rows);
    expect(c.maxCount).toBe(50);
    expect(c.bars[1].hidden).toBe('<10');
    expect(c.bars[1].height).toBeGreaterThan(0);
    expect(c.bars[1].value).toBeUndefined();
    expect(c.bars[2].hidden).toBeUndefined();
    expect(c.bars[2].height).toBe(0);
    expect(c.bars[3].hidden).toBe('≥10');
    expect(c.bars[0].height).toBeCloseTo((40 / 50) * (c.baseline - 28));
  });

  it('breaks the median line where it is hidden or missing', () => {
    const c = chartOf(rows);
    expect(c.lines.map((run) => run.length)).toEqual([1, 2]);
    expect(c.maxMinutes).toBe(10);
  });

  it('has a text alternative that says what is hidden', () => {
    const text = chartSummary(rows, 'week');
    expect(text).toContain('16–22 Nov 2026: 40 requests, median time to acceptance 5 min');
    expect(text).toContain('23–29 Nov 2026: fewer than 10 requests, median time to acceptance fewer than 10');
    expect(text).toContain('30 Nov – 6 Dec 2026: 0 requests, no acceptances');
    expect(chartSummary([], 'month')).toBe('No completed periods yet.');
  });

  it('rounds scales up to 1, 2 or 5 times a power of ten', () => {
    expect([niceCeiling(0), niceCeiling(7), niceCeiling(10), niceCeiling(11), niceCeiling(33), niceCeiling(120)]).toEqual([10, 10, 10, 20, 50, 200]);
  });
});
