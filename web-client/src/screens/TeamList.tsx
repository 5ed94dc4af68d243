//! The "Peer support team" list (where a coordinator lands): "Add to the team" and "New rotation"
//! at the top, who is on call this week, then the supporters and the rotations, each row opening
//! its detail.

import { OnCallWeek } from './OnCallWeek';
import { TrainingBadge, type TeamViewProps } from './teamParts';
import { clockTime, periodLabel, switchLabel } from './teamFormat';
import { ADD_PATH, NEW_ROTATION_PATH, onOpenView, rotationPath, supporterPath } from './teamRoutes';
import { holderAt } from './teamWeek';

export function TeamList({ team, loaded, messages }: TeamViewProps) {
  const { roster, rotations } = team;
  const now = Date.now();
  return (
    <main>
      <h1 tabIndex={-1}>Peer support team</h1>
      {messages}
      <div class="actions">
        <a class="button" href={ADD_PATH} onClick={onOpenView}>
          Add to the team
        </a>
        <a class="button" href={NEW_ROTATION_PATH} onClick={onOpenView}>
          New rotation
        </a>
      </div>
      <OnCallWeek
        rotations={rotations}
        warnings={new Map(roster.filter((s) => !s.training_current).map((s) => [s.account, 'training missing']))}
        loaded={loaded}
        none={<p class="muted">No rotations yet, so no one is on call.</p>}
      />

      <section class="team-section" aria-labelledby="supporters-title">
        <h2 id="supporters-title">Supporters</h2>
        {loaded && roster.length === 0 && <p class="muted">No one is on the team yet.</p>}
        <ul class="rows">
          {roster.map((s) => (
            <li key={s.account}>
              <a href={supporterPath(s.account)} onClick={onOpenView}>
                <span class="text">
                  <span class="name">{s.display_name}</span>{' '}
                  <span class="detail">
                    {switchLabel(s.switch)} · <TrainingBadge current={s.training_current} />
                  </span>
                </span>
                <span class="chevron" aria-hidden="true">›</span>
              </a>
            </li>
          ))}
        </ul>
      </section>

      <section class="team-section" aria-labelledby="rotations-title">
        <h2 id="rotations-title">Rotations</h2>
        {loaded && rotations.length === 0 && <p class="muted">No rotations yet.</p>}
        <ul class="rows">
          {rotations.map((r) => {
            const holder = holderAt(r, now)?.display_name;
            return (
              <li key={r.id}>
                <a href={rotationPath(r.id)} onClick={onOpenView}>
                  <span class="text">
                    <span class="name">{r.name}</span>{' '}
                    <span class="detail">
                      {periodLabel(r.period_days)}, hand-off {clockTime(r.handoff)}
                    </span>{' '}
                    {holder ? <span class="detail">On call now: {holder}</span> : <span class="error">No one on call now</span>}
                  </span>
                  <span class="chevron" aria-hidden="true">›</span>
                </a>
              </li>
            );
          })}
        </ul>
      </section>
    </main>
  );
}
