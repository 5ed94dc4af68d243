//! The programme report (protocol §19), pure: its types, the columns with readable names, how a
//! cell reads (a number, "<10", "suppressed", a duration), the period labels, and the trend
//! chart's geometry and text alternative. The server has already hidden small cells; nothing here
//! tries to work them out.

export type Period = 'week' | 'month';
export type Suppression = 'fewer_than_10' | 'complementary';
export type ReportCell = number | { suppressed: Suppression };

export interface ReportCells {
  requests_now: ReportCell;
  requests_today: ReportCell;
  requests_week: ReportCell;
  requests_total: ReportCell;
  escalations: ReportCell;
  accepted_median_seconds: ReportCell | null;
  accepted_p90_seconds: ReportCell | null;
  pages_declared: ReportCell;
  first_responder_median_seconds: ReportCell | null;
  first_responder_p90_seconds: ReportCell | null;
  quorum_median_seconds: ReportCell | null;
  quorum_p90_seconds: ReportCell | null;
  defusings_held: ReportCell;
  debriefings_held: ReportCell;
  followups_sent: ReportCell;
}

export interface ReportRow {
  /** First and last day, YYYY-MM-DD (UTC), inclusive. */
  start: string;
  end: string;
  cells: ReportCells;
}

export interface Report {
  period: Period;
  rows: ReportRow[];
}

export interface Column {
  key: keyof ReportCells;
  label: string;
  /** A count, or a delay in seconds. */
  kind: 'count' | 'seconds';
}

export const COLUMNS: Column[] = [
  { key: 'requests_total', label: 'Support requests', kind: 'count' },
  { key: 'requests_now', label: 'Requests: now', kind: 'count' },
  { key: 'requests_today', label: 'Requests: today', kind: 'count' },
  { key: 'requests_week', label: 'Requests: this week', kind: 'count' },
  { key: 'escalations', label: 'Escalations', kind: 'count' },
  { key: 'accepted_median_seconds', label: 'Time to acceptance (median)', kind: 'seconds' },
  { key: 'accepted_p90_seconds', label: 'Time to acceptance (90th percentile)', kind: 'seconds' },
  { key: 'pages_declared', label: 'Pages declared', kind: 'count' },
  { key: 'first_responder_median_seconds', label: 'Time to first responder (median)', kind: 'seconds' },
  { key: 'first_responder_p90_seconds', label: 'Time to first responder (90th percentile)', kind: 'seconds' },
  { key: 'quorum_median_seconds', label: 'Time to quorum (median)', kind: 'seconds' },
  { key: 'quorum_p90_seconds', label: 'Time to quorum (90th percentile)', kind: 'seconds' },
  { key: 'defusings_held', label: 'Defusings held', kind: 'count' },
  { key: 'debriefings_held', label: 'Debriefings held', kind: 'count' },
  { key: 'followups_sent', label: 'Follow-ups sent', kind: 'count' },
];

/** The number in a cell, or undefined when it is hidden or there is none. */
export function cellNumber(cell: ReportCell | null | undefined): number | undefined {
  return typeof cell === 'number' ? cell : undefined;
}

/** A duration as people say it: "45 s", "7 min", "1 h 5 min". */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m === 0 ? `${h} h` : `${h} h ${m} min`;
}

/** How a cell reads in the table: "<10" and "suppressed" for hidden ones, "—" for no delays. */
export function cellText(cell: ReportCell | null | undefined, kind: Column['kind']): string {
  if (cell === null || cell === undefined) return '—';
  if (typeof cell === 'number') return kind === 'seconds' ? formatSeconds(cell) : String(cell);
  return cell.suppressed === 'fewer_than_10' ? '<10' : 'suppressed';
}

/** What a screen reader says for a cell ("fewer than 10", "none"). */
export function cellSpoken(cell: ReportCell | null | undefined, kind: Column['kind']): string {
  if (cell === null || cell === undefined) return 'none';
  if (typeof cell === 'number') return cellText(cell, kind);
  return cell.suppressed === 'fewer_than_10' ? 'fewer than 10' : 'suppressed';
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTHS_LONG = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

function parts(date: string): [number, number, number] {
  const [y, m, d] = date.split('-').map(Number);
  return [y, m, d];
}

/** "7–13 Dec 2026", "28 Dec 2026 – 3 Jan 2027" for a week; "December 2026" for a month. */
export function periodLabel(row: ReportRow, period: Period): string {
  const [y1, m1, d1] = parts(row.start);
  const [y2, m2, d2] = parts(row.end);
  if (period === 'month') return `${MONTHS_LONG[m1 - 1]} ${y1}`;
  if (y1 !== y2) return `${d1} ${MONTHS[m1 - 1]} ${y1} – ${d2} ${MONTHS[m2 - 1]} ${y2}`;
  if (m1 !== m2) return `${d1} ${MONTHS[m1 - 1]} – ${d2} ${MONTHS[m2 - 1]} ${y2}`;
  return `${d1}–${d2} ${MONTHS[m2 - 1]} ${y2}`;
}

/** A short label under the chart: "7 Dec" for a week, "Dec 2026" for a month (twelve months
 *  span two years). */
export function shortLabel(row: ReportRow, period: Period): string {
  const [y, m, d] = parts(row.start);
  return period === 'month' ? `${MONTHS[m - 1]} ${y}` : `${d} ${MONTHS[m - 1]}`;
}

export function csvFileName(period: Period): string {
  return period === 'week' ? 'sallyport-report-weekly.csv' : 'sallyport-report-monthly.csv';
}

// ---- the trend chart

export interface Bar {
  x: number;
  width: number;
  /** Top of the bar; `height` from there down to the baseline. */
  y: number;
  height: number;
  /** A hidden count: drawn as an outline of the threshold's height, labelled. */
  hidden?: '<10' | '≥10';
  value?: number;
}

export interface Chart {
  width: number;
  height: number;
  baseline: number;
  bars: Bar[];
  /** The median time to acceptance: runs of points, broken where a median is hidden or missing. */
  lines: { x: number; y: number }[][];
  /** The scales' tops: requests, and minutes for the line. */
  maxCount: number;
  maxMinutes: number;
}

export const CHART = { width: 360, height: 200, top: 28, bottom: 30, left: 6, right: 6 } as const;

/** A round number at least `n` (1, 2, 5 × 10^k), so the scale reads easily. */
export function niceCeiling(n: number): number {
  if (n <= 0) return 10;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const f of [1, 2, 5, 10]) if (f * p >= n) return f * p;
  return 10 * p;
}

/** Bars of requests per period and the line of median time to acceptance. */
export function chartOf(rows: ReportRow[]): Chart {
  const { width, height, top, bottom, left, right } = CHART;
  const baseline = height - bottom;
  const span = baseline - top;
  const counts = rows.map((r) => cellNumber(r.cells.requests_total));
  const maxCount = niceCeiling(Math.max(10, ...counts.map((c) => c ?? 10)));
  const minutes = rows.map((r) => cellNumber(r.cells.accepted_median_seconds)).map((s) => (s === undefined ? undefined : s / 60));
  const maxMinutes = niceCeiling(Math.max(1, ...minutes.map((m) => m ?? 0)));
  const slot = (width - left - right) / Math.max(1, rows.length);
  const bars: Bar[] = rows.map((r, i) => {
    const x = left + i * slot + slot * 0.15;
    const barWidth = slot * 0.7;
    const count = counts[i];
    const cell = r.cells.requests_total;
    const hidden = count === undefined ? (typeof cell === 'object' && cell.suppressed === 'complementary' ? '≥10' : '<10') : undefined;
    const value = count ?? 10;
    const h = (value / maxCount) * span;
    return { x, width: barWidth, y: baseline - h, height: h, hidden, value: count };
  });
  const lines: { x: number; y: number }[][] = [];
  let run: { x: number; y: number }[] = [];
  minutes.forEach((m, i) => {
    if (m === undefined) {
      if (run.length) lines.push(run);
      run = [];
      return;
    }
    run.push({ x: left + (i + 0.5) * slot, y: baseline - (m / maxMinutes) * span });
  });
  if (run.length) lines.push(run);
  return { width, height, baseline, bars, lines, maxCount, maxMinutes };
}

/** The chart in words, for screen readers (its text alternative). */
export function chartSummary(rows: ReportRow[], period: Period): string {
  if (rows.length === 0) return 'No completed periods yet.';
  const each = rows.map((r) => {
    const requests = cellSpoken(r.cells.requests_total, 'count');
    const median = r.cells.accepted_median_seconds;
    const time = median === null ? 'no acceptances' : `median time to acceptance ${cellSpoken(median, 'seconds')}`;
    return `${periodLabel(r, period)}: ${requests} requests, ${time}`;
  });
  return `Support requests per ${period} and median time to acceptance. ${each.join('; ')}.`;
}
