//! A crisis team's member views: "Add a member" (a person from the directory, a tier and a team
//! role), one member (their state, changing tier or role, removing them after a question), and
//! "Change the policy" (name, responders, per-role minimums, repeat and escalate minutes).

import { useState } from 'preact/hooks';
import { policyForm, policyFromForm, TIERS, type PolicyForm } from '../crisisTeam';
import { removeMember, saveTeam, setMember } from '../workflows/crisisTeams';
import { memberState, type CrisisViewProps } from './crisisViews';
import { BackToTeam, ConfirmButton, Gone } from './teamParts';
import { when } from './teamFormat';
import { CRISIS_TEAMS, crisisTeamPath, memberPath } from './crisisRoutes';
import { backToList, replaceView } from './teamRoutes';

function TierAndRole(props: { tier: string; role: string; roles: string[]; setTier: (t: string) => void; setRole: (r: string) => void }) {
  return (
    <div class="pair">
      <div>
        <label for="member-tier">Tier</label>
        <select id="member-tier" value={props.tier} onChange={(e) => props.setTier(e.currentTarget.value)}>
          {TIERS.map((t) => (
            <option key={t} value={String(t)}>
              {t === 1 ? '1 (paged first)' : String(t)}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label for="member-role">Role</label>
        <select id="member-role" value={props.role} onChange={(e) => props.setRole(e.currentTarget.value)}>
          <option value="">Choose…</option>
          {props.roles.map((r) => (
            <option key={r} value={r}>{r}</option>
          ))}
        </select>
      </div>
    </div>
  );
}

export function AddMemberView({ team, people, loaded, busy, act, setTeam, messages }: CrisisViewProps) {
  const [account, setAccount] = useState('');
  const [tier, setTier] = useState('1');
  const [role, setRole] = useState('');
  if (!team) return <Gone title="Add a member" loaded={loaded} text="This team is not there any more." messages={messages} list={CRISIS_TEAMS} />;
  const onTeam = new Set(team.members.map((m) => m.account));
  const candidates = people.filter((p) => !onTeam.has(p.account));
  return (
    <main>
      <BackToTeam list={crisisTeamPath(team.id)} />
      <h1 tabIndex={-1}>Add a member</h1>
      {messages}
      <p class="muted">{team.name}: tier 1 is paged first, then each tier after the other while the team is short.</p>
      <label for="add-member">Person</label>
      <select id="add-member" value={account} onChange={(e) => setAccount(e.currentTarget.value)}>
        <option value="">Choose…</option>
        {candidates.map((p) => (
          <option key={p.account} value={p.account}>{p.display_name}</option>
        ))}
      </select>
      {loaded && candidates.length === 0 && <p class="muted">Everyone in the directory is on the team already.</p>}
      <TierAndRole tier={tier} role={role} roles={team.roles} setTier={setTier} setRole={setRole} />
      <button
        type="button"
        disabled={busy || !account || !role}
        onClick={() =>
          act(async () => {
            setTeam(await setMember(team.id, account, Number(tier), role));
            replaceView(memberPath(team.id, account));
          }, 'Added to the team.')
        }
      >
        Add to the team
      </button>
    </main>
  );
}

export function MemberDetail({ account, team, loaded, busy, act, setTeam, messages }: CrisisViewProps & { account: string }) {
  const member = team?.members.find((m) => m.account === account);
  // Until changed, the member's own (the team may load after the view opens).
  const [tierEdit, setTier] = useState<string | undefined>();
  const [roleEdit, setRole] = useState<string | undefined>();
  const tier = tierEdit ?? String(member?.tier ?? 1);
  const role = roleEdit ?? member?.role ?? '';
  if (!team || !member) return <Gone title="Member" loaded={loaded} text="This person is not on the team." messages={messages} list={team ? crisisTeamPath(team.id) : CRISIS_TEAMS} />;
  const name = member.display_name;
  const list = crisisTeamPath(team.id);
  return (
    <main>
      <BackToTeam list={list} />
      <h1 tabIndex={-1}>{name}</h1>
      {messages}
      <p>
        Tier {member.tier} · {member.role} · {memberState(member)}
      </p>
      <p class="muted">On the team since {when(member.added_at)}.</p>

      <section class="card" aria-labelledby="tier-title">
        <h2 id="tier-title">Tier and role</h2>
        <TierAndRole tier={tier} role={role} roles={team.roles} setTier={setTier} setRole={setRole} />
        <button
          type="button"
          disabled={busy || !role || (Number(tier) === member.tier && role === member.role)}
          onClick={() => act(async () => setTeam(await setMember(team.id, account, Number(tier), role)), 'Tier and role saved.')}
        >
          Save tier and role
        </button>
      </section>

      <section class="card" aria-labelledby="remove-title">
        <h2 id="remove-title">Remove from the team</h2>
        <p class="muted">Their places on this team’s rotations, their overrides and swaps go too.</p>
        <ConfirmButton
          id="confirm-remove-member"
          label={`Remove ${name}`}
          question={`Remove ${name} from ${team.name}?`}
          confirm={`Yes, remove ${name}`}
          busy={busy}
          onConfirm={() =>
            act(async () => {
              const next = await removeMember(team.id, account);
              await backToList(list);
              setTeam(next);
            }, `${name} was removed.`)
          }
        />
      </section>
    </main>
  );
}

export function PolicyView({ team, loaded, busy, act, setTeam, messages }: CrisisViewProps) {
  const [nameEdit, setName] = useState<string | undefined>();
  const [formEdit, setForm] = useState<PolicyForm | undefined>();
  const name = nameEdit ?? team?.name ?? '';
  const form = formEdit ?? (team && policyForm(team.policy, team.roles));
  const [error, setError] = useState('');
  if (!team || !form) return <Gone title="Quorum policy" loaded={loaded} text="This team is not there any more." messages={messages} list={CRISIS_TEAMS} />;
  const list = crisisTeamPath(team.id);
  const field = (id: string, label: string, value: string, set: (v: string) => void) => (
    <div>
      <label for={id}>{label}</label>
      <input id={id} type="text" inputMode="numeric" value={value} onInput={(e) => set(e.currentTarget.value)} />
    </div>
  );
  return (
    <main>
      <BackToTeam list={list} />
      <h1 tabIndex={-1}>Quorum policy</h1>
      {messages}
      {error && <p role="alert" class="error">{error}</p>}
      <label for="policy-name">Team name</label>
      <input id="policy-name" type="text" maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
      <div class="pair">{field('responders', 'Responders needed', form.responders, (v) => setForm({ ...form, responders: v }))}</div>
      <fieldset>
        <legend>At least, of them</legend>
        <div class="pair">
          {team.roles.map((r) => field(`at-least-${r}`, r, form.at_least[r] ?? '0', (v) => setForm({ ...form, at_least: { ...form.at_least, [r]: v } })))}
        </div>
      </fieldset>
      <div class="pair">
        {field('repeat', 'Page again every (minutes)', form.repeat, (v) => setForm({ ...form, repeat: v }))}
        {field('escalate', 'Next tier after (minutes)', form.escalate, (v) => setForm({ ...form, escalate: v }))}
      </div>
      <button
        type="button"
        disabled={busy || !name.trim()}
        onClick={() => {
          const parsed = policyFromForm(form);
          if ('error' in parsed) {
            setError(parsed.error);
            return;
          }
          setError('');
          void act(async () => {
            const next = await saveTeam(team.id, name.trim(), parsed.policy);
            await backToList(list);
            setTeam(next);
          }, 'Policy saved.');
        }}
      >
        Save policy
      </button>
    </main>
  );
}
