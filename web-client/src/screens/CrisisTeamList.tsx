//! "Crisis teams" (where a coordinator lands): "New team" at the top, then each team with its
//! members and how many are on call now, each row opening the team's page; and the "New team" view.

import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { CrisisTeamSummary } from '../crisisTeam';
import { createTeam } from '../workflows/crisisTeams';
import type { CrisisViewProps } from './crisisViews';
import { BackToTeam } from './teamParts';
import { CRISIS_TEAMS, crisisTeamPath, NEW_TEAM_PATH } from './crisisRoutes';
import { onOpenView, replaceView } from './teamRoutes';

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export function CrisisTeamList({ teams, loaded, messages }: { teams: CrisisTeamSummary[]; loaded: boolean; messages: JSX.Element | null }) {
  return (
    <main>
      <h1 tabIndex={-1}>Crisis teams</h1>
      {messages}
      <div class="actions">
        <a class="button" href={NEW_TEAM_PATH} onClick={onOpenView}>
          New team
        </a>
      </div>
      <section class="team-section" aria-labelledby="teams-title">
        <h2 id="teams-title">Teams</h2>
        {!loaded && <p class="muted">Loading…</p>}
        {loaded && teams.length === 0 && <p class="muted">No crisis teams yet.</p>}
        <ul class="rows">
          {teams.map((t) => (
            <li key={t.id}>
              <a href={crisisTeamPath(t.id)} onClick={onOpenView}>
                <span class="text">
                  <span class="name">{t.name}</span>{' '}
                  <span class="detail">{count(t.members, 'member', 'members')}</span>{' '}
                  {t.on_call_now > 0 ? <span class="detail">On call now: {t.on_call_now}</span> : <span class="error">No one on call now</span>}
                </span>
                <span class="chevron" aria-hidden="true">›</span>
              </a>
            </li>
          ))}
        </ul>
      </section>
    </main>
  );
}

/** "New team": its name; once created, its page opens (the policy starts as the server's default). */
export function NewTeamView({ busy, act, setTeam, reloadList, messages }: CrisisViewProps) {
  const [name, setName] = useState('');
  return (
    <main>
      <BackToTeam list={CRISIS_TEAMS} />
      <h1 tabIndex={-1}>New team</h1>
      {messages}
      <label for="team-name">Team name</label>
      <input id="team-name" type="text" maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
      <p class="muted">It starts needing 3 responders with at least a clinician and a peer; change that on its page.</p>
      <button
        type="button"
        disabled={busy || !name.trim()}
        onClick={() =>
          act(async () => {
            const team = await createTeam(name.trim());
            setTeam(team);
            void reloadList().catch(() => {});
            replaceView(crisisTeamPath(team.id));
          }, 'Team created.')
        }
      >
        Create team
      </button>
    </main>
  );
}
