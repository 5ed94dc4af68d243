//! One supporter of the team: switch and training status, each training record with the form to
//! record more, their next shifts (from the rotations' listed stretches) and removing them from
//! the team, after a question.

import { useState } from 'preact/hooks';
import { TRAINING_KINDS, type SupporterRecord } from '../api';
import { recordTraining, removeFromTeam } from '../workflows/team';
import { BackToTeam, ConfirmButton, Gone, TrainingBadge, type TeamViewProps } from './teamParts';
import { day, switchLabel, trainingLabel, when } from './teamFormat';
import { backToList } from './teamRoutes';
import { shiftsOf } from './teamWeek';

function TrainingRecords({ supporter }: { supporter: SupporterRecord }) {
  return (
    <ul class="records">
      {TRAINING_KINDS.map(({ kind }) => {
        const record = supporter.training.find((t) => t.kind === kind);
        return (
          <li key={kind}>
            <span class="name">{trainingLabel(kind)}</span>{' '}
            {!record ? (
              <span class="error">Missing</span>
            ) : record.current ? (
              <span class="muted">
                Current, expires {record.expires_at}
              </span>
            ) : (
              <span class="error">Expired on {record.expires_at}</span>
            )}
          </li>
        );
      })}
    </ul>
  );
}

export function SupporterDetail({ account, team, loaded, busy, act, setTeam, messages }: TeamViewProps & { account: string }) {
  const [kind, setKind] = useState('all');
  const [completed, setCompleted] = useState(() => day(Date.now()));
  const [expires, setExpires] = useState(() => day(Date.now() + 2 * 365 * 86400_000));
  const supporter = team.roster.find((s) => s.account === account);
  if (!supporter) return <Gone title="Supporter" loaded={loaded} text="This person is not on the team." messages={messages} />;
  const name = supporter.display_name;
  const shifts = shiftsOf(team.rotations, account).slice(0, 4);

  return (
    <main>
      <BackToTeam />
      <h1 tabIndex={-1}>{name}</h1>
      {messages}
      <p>
        {switchLabel(supporter.switch)} · <TrainingBadge current={supporter.training_current} />
      </p>

      <section class="card" aria-labelledby="records-title">
        <h2 id="records-title">Training records</h2>
        <TrainingRecords supporter={supporter} />
        <h3>Record training</h3>
        <label for="training-kind">Training</label>
        <select id="training-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
          <option value="all">All five</option>
          {TRAINING_KINDS.map((t) => (
            <option key={t.kind} value={t.kind}>{t.label}</option>
          ))}
        </select>
        <label for="completed">Completed on</label>
        <input id="completed" type="date" value={completed} onInput={(e) => setCompleted(e.currentTarget.value)} />
        <label for="expires">Expires on</label>
        <input id="expires" type="date" value={expires} onInput={(e) => setExpires(e.currentTarget.value)} />
        <button type="button" disabled={busy} onClick={() => act(async () => setTeam(await recordTraining(account, kind, completed, expires)), 'Training recorded.')}>
          Record training
        </button>
      </section>

      <section class="card" aria-labelledby="shifts-title">
        <h2 id="shifts-title">Next shifts</h2>
        {shifts.length === 0 ? (
          <p class="muted">None in the rotations’ next hand-offs.</p>
        ) : (
          <ul class="records">
            {shifts.map((s) => (
              <li key={`${s.rotation}|${s.start}`}>
                <span class="name">{s.rotation_name}</span>{' '}
                <span>
                  {when(s.start)} – {when(s.end)}
                  {s.source !== 'rotation' && <span class="muted"> ({s.source})</span>}
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>

      <section class="card" aria-labelledby="remove-title">
        <h2 id="remove-title">Remove from the team</h2>
        <p class="muted">They come off every rotation; their training records, overrides and swaps are deleted.</p>
        <ConfirmButton
          id="confirm-remove"
          label={`Remove ${name}`}
          question={`Remove ${name} from the team?`}
          confirm={`Yes, remove ${name}`}
          busy={busy}
          onConfirm={() =>
            act(async () => {
              const next = await removeFromTeam(account);
              await backToList();
              setTeam(next);
            }, `${name} was removed.`)
          }
        />
      </section>
    </main>
  );
}
