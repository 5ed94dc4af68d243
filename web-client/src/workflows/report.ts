//! The programme report (protocol §19), for coordinators: one function per user action — read a
//! period's table, and download it as CSV (saved through a Blob link). Only the lazy report
//! screen imports this module.

import { ApiError, request, requestText, type Signer } from '../api';
import { app } from '../app';
import { csvFileName, type Period, type Report } from '../report';

function signer(): Signer {
  const s = app.signer;
  if (!s) throw new ApiError('locked', 'Sallyport is locked.');
  return s;
}

/** `GET /v1/reports/programme?period=…`: the last completed weeks or months, small cells hidden. */
export const loadReport = (period: Period): Promise<Report> =>
  request<Report>('GET', `/v1/reports/programme?period=${period}`, undefined, signer());

/** Fetches the CSV (signed) and saves it as `sallyport-report-weekly.csv` (or monthly). */
export async function downloadCsv(period: Period): Promise<void> {
  const text = await requestText(`/v1/reports/programme.csv?period=${period}`, signer());
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  try {
    const a = document.createElement('a');
    a.href = url;
    a.download = csvFileName(period);
    a.rel = 'noopener';
    document.body.append(a);
    a.click();
    a.remove();
  } finally {
    // The click has started the download; the URL can go once this task ends.
    setTimeout(() => URL.revokeObjectURL(url), 0);
  }
}

/** Whether this device's person is a coordinator (the only ones the server answers). */
export const isCoordinator = (): boolean => (app.messenger?.creds.roles ?? []).includes('coordinator');
