//! A crisis team's page: "Add a member", "New rotation" and "Change the policy" at the top, who is
//! on call this week, the readiness board ("Reachable now: 7 of 9", worst first, "Check now" and
//! "Send a test page" per member), the members by tier, the quorum policy, the rotations, and
//! deleting the team after a question.

import { useState } from 'preact/hooks';
import { byTier, onCallWithoutRotations, policySummary, readinessWords, type CrisisTeam, type TeamReadiness } from '../crisisTeam';
import { checkNow, deleteTeam, loadReadiness, sendTestPage } from '../workflows/crisisTeams';
import { OnCallWeek } from './OnCallWeek';
import { memberState, type CrisisViewProps } from './crisisViews';
import { BackToTeam, ConfirmButton, Gone } from './teamParts';
import { clockTime, periodLabel, switchLabel, when } from './teamFormat';
import { addMemberPath, CRISIS_TEAMS, crisisRotationPath, memberPath, newCrisisRotationPath, policyPath } from './crisisRoutes';
import { backToList, onOpenView } from './teamRoutes';
import { holderAt } from './teamWeek';
import { onLinkClick } from '../router';

/** "Available · inside until 6:00 PM · on call now". */

function ReadinessBoard({ team, readiness, busy, act, setReadiness }: Pick<CrisisViewProps, 'busy' | 'act' | 'setReadiness'> & { team: CrisisTeam; readiness: TeamReadiness | undefined }) {
  const [sent, setSent] = useState<{ incident: string; name: string } | undefined>();
  return (
    <section class="team-section" aria-labelledby="readiness-title">
      <h2 id="readiness-title">Readiness</h2>
      {!readiness ? (
        <p class="muted">Loading…</p>
      ) : (
        <>
          <p class={readiness.reachable_now < readiness.members ? 'reach short' : 'reach'}>
            Reachable now: {readiness.reachable_now} of {readiness.members}
          </p>
          <button type="button" class="secondary" disabled={busy} onClick={() => act(async () => setReadiness(await loadReadiness(team.id)))}>
            Refresh readiness
          </button>
          {sent && (
            <p role="status">
              Test page sent to {sent.name}.{' '}
              <a href={`/incidents/${sent.incident}`} onClick={onLinkClick}>
                Open its board
              </a>
            </p>
          )}
          <ul class="records readiness">
            {readiness.people.map(({ person, readiness: r }) => (
              <li key={person.account}>
                <span class="name">{person.display_name}</span>
                <span class={r.reachable ? 'badge ok' : 'badge missing'}>{readinessWords(r.status)}</span>
                {r.fix && !r.reachable && <span class="muted">{r.fix}</span>}
                <span class="muted">
                  {r.checked_at ? `Checked ${when(r.checked_at)}` : 'Never checked'}
                  {r.confirmed_at ? ` · confirmed ${when(r.confirmed_at)}` : ''}
                </span>
                <span class="row-buttons">
                  <button
                    type="button"
                    class="secondary small"
                    aria-label={`Check now: ${person.display_name}`}
                    disabled={busy}
                    onClick={() => act(async () => setReadiness(await checkNow(team.id, person.account)), `Readiness check sent to ${person.display_name}.`)}
                  >
                    Check now
                  </button>
                  <button
                    type="button"
                    class="secondary small"
                    aria-label={`Send a test page: ${person.display_name}`}
                    disabled={busy}
                    onClick={() =>
                      act(async () => {
                        setSent(undefined);
                        setSent({ incident: await sendTestPage(team.id, person.account, person.display_name), name: person.display_name });
                      })
                    }
                  >
                    Send a test page
                  </button>
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

export function CrisisTeamPage(props: CrisisViewProps) {
  const { team, loaded, busy, act, messages, readiness, setReadiness, reloadList } = props;
  if (!team) return <Gone title="Crisis team" loaded={loaded} text="This team is not there any more." messages={messages} list={CRISIS_TEAMS} />;
  const now = Date.now();
  const { id, name, policy, rotations } = team;
  const available = onCallWithoutRotations(team.members);
  const warnings = new Map(team.members.filter((m) => m.switch !== 'available').map((m) => [m.account, switchLabel(m.switch).toLowerCase()]));
  return (
    <main>
      <BackToTeam list={CRISIS_TEAMS} />
      <h1 tabIndex={-1}>{name}</h1>
      {messages}
      <div class="actions">
        <a class="button" href={addMemberPath(id)} onClick={onOpenView}>
          Add a member
        </a>
        <a class="button" href={newCrisisRotationPath(id)} onClick={onOpenView}>
          New rotation
        </a>
      </div>

      <OnCallWeek
        rotations={rotations}
        warnings={warnings}
        loaded={loaded}
        none={
          team.members.length === 0 ? (
            <p class="muted">No members yet, so no one is on call.</p>
          ) : (
            <p>
              No rotations: every member who is available is on call
              {available.length === 0 ? <span class="error"> — no one is available now.</span> : `: ${available.map((m) => m.display_name).join(', ')}.`}
            </p>
          )
        }
      />

      <ReadinessBoard team={team} readiness={readiness} busy={busy} act={act} setReadiness={setReadiness} />

      <section class="team-section" aria-labelledby="members-title">
        <h2 id="members-title">Members</h2>
        {team.members.length === 0 && <p class="muted">No one is on the team yet.</p>}
        {byTier(team.members).map(({ tier, members }) => (
          <div key={tier} class="team-section">
            <h3>Tier {tier}{tier === 1 ? ' (paged first)' : ''}</h3>
            <ul class="rows">
              {members.map((m) => (
                <li key={m.account}>
                  <a href={memberPath(id, m.account)} onClick={onOpenView}>
                    <span class="text">
                      <span class="name">{m.display_name}</span>{' '}
                      <span class="detail">{m.role}</span>{' '}
                      <span class="detail">{memberState(m, now)}</span>
                    </span>
                    <span class="chevron" aria-hidden="true">›</span>
                  </a>
                </li>
              ))}
            </ul>
          </div>
        ))}
      </section>

      <section class="team-section" aria-labelledby="policy-title">
        <h2 id="policy-title">Quorum policy</h2>
        <dl class="facts">
          <div>
            <dt>Needed</dt>
            <dd>{policySummary(policy)}</dd>
          </div>
          <div>
            <dt>Page again every</dt>
            <dd>{policy.repeat_every_minutes} min</dd>
          </div>
          <div>
            <dt>Next tier after</dt>
            <dd>{policy.escalate_after_minutes} min</dd>
          </div>
        </dl>
        <a class="button secondary" href={policyPath(id)} onClick={onOpenView}>
          Change the policy
        </a>
      </section>

      <section class="team-section" aria-labelledby="rotations-title">
        <h2 id="rotations-title">Rotations</h2>
        {rotations.length === 0 && <p class="muted">No rotations yet.</p>}
        <ul class="rows">
          {rotations.map((r) => {
            const holder = holderAt(r, now)?.display_name;
            return (
              <li key={r.id}>
                <a href={crisisRotationPath(id, r.id)} onClick={onOpenView}>
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

      <section class="card" aria-labelledby="delete-title">
        <h2 id="delete-title">Delete this team</h2>
        <p class="muted">Its members’ places, rotations and overrides go with it.</p>
        <ConfirmButton
          id="confirm-delete-team"
          label={`Delete team ${name}`}
          question={`Delete the team ${name}?`}
          confirm={`Yes, delete ${name}`}
          busy={busy}
          onConfirm={() =>
            act(async () => {
              await deleteTeam(id);
              await reloadList();
              await backToList(CRISIS_TEAMS);
            }, 'Team deleted.')
          }
        />
      </section>
    </main>
  );
}
