//! Where the crisis team views live: the list at `/crisis-teams`, `/crisis-teams/new`, and a
//! team's page at `/crisis-teams/<id>` with its views `…/add`, `…/policy`, `…/new-rotation`,
//! `…/members/<account>`, `…/rotations/<id>`. Back, scroll and focus work as in teamRoutes.ts.

export const CRISIS_TEAMS = '/crisis-teams';
export const NEW_TEAM_PATH = '/crisis-teams/new';
export const crisisTeamPath = (id: string) => `${CRISIS_TEAMS}/${encodeURIComponent(id)}`;
export const addMemberPath = (id: string) => `${crisisTeamPath(id)}/add`;
export const policyPath = (id: string) => `${crisisTeamPath(id)}/policy`;
export const newCrisisRotationPath = (id: string) => `${crisisTeamPath(id)}/new-rotation`;
export const memberPath = (id: string, account: string) => `${crisisTeamPath(id)}/members/${encodeURIComponent(account)}`;
export const crisisRotationPath = (id: string, rotation: string) => `${crisisTeamPath(id)}/rotations/${encodeURIComponent(rotation)}`;

export type CrisisView =
  | { kind: 'list' }
  | { kind: 'new' }
  | { kind: 'team'; team: string }
  | { kind: 'add'; team: string }
  | { kind: 'policy'; team: string }
  | { kind: 'new-rotation'; team: string }
  | { kind: 'member'; team: string; account: string }
  | { kind: 'rotation'; team: string; id: string }
  | { kind: 'missing' };

function decoded(part: string | undefined): string | undefined {
  if (!part) return undefined;
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

export function crisisView(path: string): CrisisView {
  const parts = path.split('/').slice(2);
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  if (!path.startsWith(CRISIS_TEAMS + '/') && path !== CRISIS_TEAMS) return { kind: 'missing' };
  if (parts.length === 0) return { kind: 'list' };
  if (parts.length === 1 && parts[0] === 'new') return { kind: 'new' };
  const team = decoded(parts[0]);
  if (!team) return { kind: 'missing' };
  if (parts.length === 1) return { kind: 'team', team };
  if (parts.length === 2 && parts[1] === 'add') return { kind: 'add', team };
  if (parts.length === 2 && parts[1] === 'policy') return { kind: 'policy', team };
  if (parts.length === 2 && parts[1] === 'new-rotation') return { kind: 'new-rotation', team };
  const value = parts.length === 3 ? decoded(parts[2]) : undefined;
  if (value && parts[1] === 'members') return { kind: 'member', team, account: value };
  if (value && parts[1] === 'rotations') return { kind: 'rotation', team, id: value };
  return { kind: 'missing' };
}

/** The team a view belongs to, if any. */
export const teamOf = (v: CrisisView): string | undefined => ('team' in v ? v.team : undefined);
