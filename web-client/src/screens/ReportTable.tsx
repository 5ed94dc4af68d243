//! The programme report's numbers: one row per period, newest first, every column; it scrolls
//! sideways inside its box on a phone, the period staying in view; its heading names it (a caption
//! as wide as the table would scroll out of view).

import { COLUMNS, cellSpoken, cellText, periodLabel, type Period, type ReportRow } from '../report';

export function ReportTable({ rows, period }: { rows: ReportRow[]; period: Period }) {
  const newestFirst = [...rows].reverse();
  return (
    <>
    <h2 id="report-table-caption">{period === 'week' ? 'Completed weeks (Monday to Sunday, UTC)' : 'Completed months (UTC)'}</h2>
    <div class="report-scroll" role="region" aria-labelledby="report-table-caption" tabIndex={0}>
      <table class="report-table" aria-labelledby="report-table-caption">
        <thead>
          <tr>
            <th scope="col">{period === 'week' ? 'Week' : 'Month'}</th>
            {COLUMNS.map((c) => (
              <th key={c.key} scope="col">
                {c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {newestFirst.map((r) => (
            <tr key={r.start}>
              <th scope="row">{periodLabel(r, period)}</th>
              {COLUMNS.map((c) => {
                const cell = r.cells[c.key];
                const text = cellText(cell, c.kind);
                const spoken = cellSpoken(cell, c.kind);
                const hidden = typeof cell === 'object' && cell !== null;
                return (
                  <td key={c.key} class={hidden ? 'hidden-cell' : undefined}>
                    {text === spoken ? (
                      text
                    ) : (
                      <>
                        <span aria-hidden="true">{text}</span>
                        <span class="visually-hidden">{spoken}</span>
                      </>
                    )}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
    </>
  );
}
