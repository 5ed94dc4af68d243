//! "On call this week" on a team's page (peer support or crisis): seven days of this phone's time
//! zone from today, each with who holds each rotation and when it is handed off, as the server
//! lists the rotations' next stretches (swaps and overrides applied); gaps with no one on call
//! stand out. A team without rotations shows what the team says then (`none`).

import type { ComponentChildren } from 'preact';
import type { Rotation } from '../api';
import { dayName, deviceZone, timeOfDay } from './teamFormat';
import { weekView, type DayPiece, type WeekDay } from './teamWeek';

function span(p: DayPiece, day: WeekDay, zone: string): string {
  const from = p.from === day.start;
  const to = p.to === day.end;
  if (from && to) return 'all day';
  if (from) return `until ${timeOfDay(p.to, zone)}`;
  if (to) return `from ${timeOfDay(p.from, zone)}`;
  return `${timeOfDay(p.from, zone)} – ${timeOfDay(p.to, zone)}`;
}

function Piece({ piece, day, zone, warnings }: { piece: DayPiece; day: WeekDay; zone: string; warnings: Map<string, string> }) {
  const time = <span class="when">{span(piece, day, zone)}</span>;
  if (piece.kind === 'nobody') {
    return (
      <li>
        <span class="error">No one on call</span> {time}
      </li>
    );
  }
  if (piece.kind === 'unknown') {
    return (
      <li>
        <span class="muted">Not listed yet</span> {time}
      </li>
    );
  }
  return (
    <li>
      <span class="who">{piece.display_name}</span>
      {piece.source !== 'rotation' && <span class="muted"> ({piece.source})</span>} {time}
      {warnings.has(piece.account) && <span class="error"> · {warnings.get(piece.account)}</span>}
    </li>
  );
}

/** `warnings`: what shows by a holder's name (training missing, switched off). */
export function OnCallWeek(props: { rotations: Rotation[]; warnings: Map<string, string>; loaded: boolean; none: ComponentChildren }) {
  const { rotations, warnings, loaded } = props;
  const zone = deviceZone();
  const week = weekView(rotations, Date.now(), zone);
  const unknown = week.some((d) => d.rotations.some((r) => r.pieces.some((p) => p.kind === 'unknown')));
  const otherZones = rotations.some((r) => r.time_zone !== zone);
  return (
    <section class="team-section" aria-labelledby="week-title">
      <h2 id="week-title">On call this week</h2>
      {!loaded && <p class="muted">Loading…</p>}
      {loaded && rotations.length === 0 && props.none}
      {rotations.length > 0 && (
        <>
          {otherZones && <p class="muted">Times are this phone’s ({zone}).</p>}
          <ol class="week">
            {week.map((day, i) => (
              <li key={day.date} class="day">
                <h3>
                  {i === 0 ? 'Today' : i === 1 ? 'Tomorrow' : dayName(day.start, zone)}
                  {i < 2 && (
                    <>
                      {' '}
                      <span class="date">{dayName(day.start, zone)}</span>
                    </>
                  )}
                </h3>
                <div>
                  {day.rotations.map((r) => (
                    <div key={r.rotation}>
                      {rotations.length > 1 && <p class="rotation-name">{r.name}</p>}
                      <ul class="holders">
                        {r.pieces.map((p) => (
                          <Piece key={p.from} piece={p} day={day} zone={zone} warnings={warnings} />
                        ))}
                      </ul>
                    </div>
                  ))}
                </div>
              </li>
            ))}
          </ol>
          {unknown && <p class="muted">Hand-offs further ahead are listed as the week goes on.</p>}
        </>
      )}
    </section>
  );
}
