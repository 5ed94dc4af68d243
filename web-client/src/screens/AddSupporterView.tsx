//! "Add to the team": choose a person from the directory who is not on the team yet; once added,
//! their page opens, where their training is recorded.

import { useState } from 'preact/hooks';
import { addToTeam } from '../workflows/team';
import { BackToTeam, type TeamViewProps } from './teamParts';
import { replaceView, supporterPath } from './teamRoutes';

export function AddSupporterView({ team, loaded, busy, act, setTeam, messages }: TeamViewProps) {
  const [account, setAccount] = useState('');
  const onTeam = new Set(team.roster.map((s) => s.account));
  const candidates = team.people.filter((p) => !onTeam.has(p.account));
  return (
    <main>
      <BackToTeam />
      <h1 tabIndex={-1}>Add to the team</h1>
      {messages}
      <p class="muted">A peer supporter can be put on rotations once their training is recorded.</p>
      <label for="add-person">Person</label>
      <select id="add-person" value={account} onChange={(e) => setAccount(e.currentTarget.value)}>
        <option value="">Choose…</option>
        {candidates.map((p) => (
          <option key={p.account} value={p.account}>{p.display_name}</option>
        ))}
      </select>
      {loaded && candidates.length === 0 && <p class="muted">Everyone in the directory is on the team already.</p>}
      <button
        type="button"
        disabled={busy || !account}
        onClick={() =>
          act(async () => {
            setTeam(await addToTeam(account));
            replaceView(supporterPath(account));
          }, 'Added to the team.')
        }
      >
        Add to the team
      </button>
    </main>
  );
}
