//! The programme report's trend chart, inline SVG: support requests per period as bars (a hidden
//! count an outline labelled "<10", never a zero) and the median time to acceptance as a line with
//! gaps where it is hidden. Its text alternative is the title and description.

import { chartOf, chartSummary, formatSeconds, shortLabel, type Period, type ReportRow } from '../report';

export function ReportChart({ rows, period }: { rows: ReportRow[]; period: Period }) {
  const c = chartOf(rows);
  const summary = chartSummary(rows, period);
  const first = rows[0];
  const last = rows[rows.length - 1];
  return (
    <figure class="report-chart">
      <svg viewBox={`0 0 ${c.width} ${c.height}`} role="img" aria-labelledby="report-chart-title report-chart-desc" preserveAspectRatio="xMidYMid meet">
        <title id="report-chart-title">Trend: support requests and median time to acceptance</title>
        <desc id="report-chart-desc">{summary}</desc>
        <line class="axis" x1={0} x2={c.width} y1={c.baseline} y2={c.baseline} />
        <text class="scale" x={4} y={16}>
          {c.maxCount} requests
        </text>
        <text class="scale line-scale" x={c.width - 4} y={16} text-anchor="end">
          {formatSeconds(c.maxMinutes * 60)}
        </text>
        {c.bars.map((b, i) =>
          b.hidden ? (
            <g key={i} class="bar-hidden">
              <rect x={b.x} y={b.y} width={b.width} height={b.height} />
              <text x={b.x + b.width / 2} y={b.y - 4} text-anchor="middle">
                {b.hidden}
              </text>
            </g>
          ) : (
            <rect key={i} class="bar" x={b.x} y={b.y} width={b.width} height={b.height} />
          ),
        )}
        {c.lines.map((run, i) =>
          run.length === 1 ? (
            <circle key={i} class="line-point" cx={run[0].x} cy={run[0].y} r={4} />
          ) : (
            <g key={i}>
              <polyline class="line" points={run.map((p) => `${p.x},${p.y}`).join(' ')} />
              {run.map((p, j) => (
                <circle key={j} class="line-point" cx={p.x} cy={p.y} r={3} />
              ))}
            </g>
          ),
        )}
        {first && (
          <text class="scale" x={4} y={c.height - 8}>
            {shortLabel(first, period)}
          </text>
        )}
        {last && rows.length > 1 && (
          <text class="scale" x={c.width - 4} y={c.height - 8} text-anchor="end">
            {shortLabel(last, period)}
          </text>
        )}
      </svg>
      <figcaption class="report-legend">
        <span>
          <span class="swatch bar-swatch" aria-hidden="true" /> Requests (left scale)
        </span>
        <span>
          <span class="swatch hidden-swatch" aria-hidden="true" /> Hidden count (&lt;10, or ≥10 where a total needed it)
        </span>
        <span>
          <span class="swatch line-swatch" aria-hidden="true" /> Median time to acceptance (right scale; gaps: fewer than 10)
        </span>
      </figcaption>
    </figure>
  );
}
