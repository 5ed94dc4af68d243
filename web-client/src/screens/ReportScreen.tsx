//! "Programme report" (/report, coordinators): completed weeks or months of support requests,
//! escalations, times to acceptance, pages and their responders, defusings, debriefings and
//! follow-ups, as a trend chart and a table, with "Download CSV". Small counts arrive hidden from
//! the server; the screen says why.

import { useEffect, useState } from 'preact/hooks';
import { describeError } from '../api';
import type { Period, Report } from '../report';
import { downloadCsv, isCoordinator, loadReport } from '../workflows/report';
import { ReportChart } from './ReportChart';
import { ReportTable } from './ReportTable';
import './report.css';

export function ReportScreen() {
  const [period, setPeriod] = useState<Period>('week');
  const [report, setReport] = useState<Report | undefined>();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState('');
  const coordinator = isCoordinator();

  useEffect(() => {
    if (!coordinator) return;
    let live = true;
    setReport(undefined);
    setError('');
    loadReport(period).then(
      (r) => live && setReport(r),
      (e) => live && setError(describeError(e)),
    );
    return () => {
      live = false;
    };
  }, [period, coordinator]);

  const download = async () => {
    setBusy(true);
    setError('');
    setSaved('');
    try {
      await downloadCsv(period);
      setSaved('The CSV file is downloaded.');
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  if (!coordinator) {
    return (
      <main>
        <h1>Programme report</h1>
        <p>Only EAP coordinators can read the programme report.</p>
      </main>
    );
  }
  const choice = (value: Period, label: string) => (
    <button type="button" class={period === value ? undefined : 'secondary'} aria-pressed={period === value} onClick={() => setPeriod(value)}>
      {label}
    </button>
  );
  return (
    <main class="report">
      <h1>Programme report</h1>
      <div class="row report-switch" role="group" aria-label="Period">
        {choice('week', 'Weekly')}
        {choice('month', 'Monthly')}
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {!report && !error && <p class="muted">Loading…</p>}
      {report && report.period === period && (
        <>
          <ReportChart rows={report.rows} period={period} />
          <ReportTable rows={report.rows} period={period} />
        </>
      )}
      <button type="button" class="secondary" disabled={busy} onClick={download}>
        Download CSV
      </button>
      {saved && <p role="status">{saved}</p>}
      <section class="card" aria-labelledby="report-privacy">
        <h2 id="report-privacy">Why some numbers are hidden</h2>
        <p>
          So that no one can be recognised from the numbers, a count from 1 to 9 shows as “&lt;10” (“fewer than 10” in the CSV). Where a total
          and its other parts would let someone work a hidden count out, another count is hidden too (“suppressed”). Times are shown only when
          they come from 10 or more requests or incidents.
        </p>
        <p>Only completed weeks (Monday to Sunday) and months are shown, in UTC. Nothing here says who asked for help.</p>
      </section>
    </main>
  );
}
