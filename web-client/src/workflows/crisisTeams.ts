//! Crisis-response teams and readiness (protocol §15, §17), one function per user action:
//! coordinators' teams, members, policy, schedule and readiness board (each change answers with
//! the team as it is now), and a test page to one member (declared like any page, incidents.ts).
//! A member's own readiness is in readiness.ts.

import { ApiError, getDirectory, request, type Override, type Person, type Rotation, type RotationBody, type Signer } from '../api';
import { app } from '../app';
import type { CrisisTeam, CrisisTeamSummary, Policy, TeamReadiness } from '../crisisTeam';
import { declare, newDeclaration } from './incidents';

function signer(): Signer {
  const s = app.signer;
  if (!s) throw new ApiError('locked', 'Sallyport is locked.');
  return s;
}

const enc = encodeURIComponent;
const team = (id: string) => `/v1/teams/${enc(id)}`;

export async function listTeams(): Promise<CrisisTeamSummary[]> {
  return (await request<{ teams: CrisisTeamSummary[] }>('GET', '/v1/teams', undefined, signer())).teams;
}

export const createTeam = (name: string): Promise<CrisisTeam> => request<CrisisTeam>('POST', '/v1/teams', { name }, signer());

export const loadTeam = (id: string): Promise<CrisisTeam> => request<CrisisTeam>('GET', team(id), undefined, signer());

/** The people a coordinator can add (the directory). */
export async function loadPeople(): Promise<Person[]> {
  return (await getDirectory(signer())).people;
}

export const saveTeam = (id: string, name: string, policy?: Policy): Promise<CrisisTeam> =>
  request<CrisisTeam>('PUT', team(id), policy ? { name, policy } : { name }, signer());

export const deleteTeam = (id: string) => request<{ deleted: boolean }>('DELETE', team(id), undefined, signer());

/** Adds a member, or changes their tier or role. */
export const setMember = (id: string, account: string, tier: number, role: string): Promise<CrisisTeam> =>
  request<CrisisTeam>('PUT', `${team(id)}/members/${enc(account)}`, { tier, role }, signer());

export async function removeMember(id: string, account: string): Promise<CrisisTeam> {
  await request('DELETE', `${team(id)}/members/${enc(account)}`, undefined, signer());
  return loadTeam(id);
}

export async function createRotation(id: string, body: RotationBody): Promise<{ team: CrisisTeam; rotation: Rotation }> {
  const rotation = await request<Rotation>('POST', `${team(id)}/rotations`, body, signer());
  return { team: await loadTeam(id), rotation };
}

export async function deleteRotation(id: string, rotation: string): Promise<CrisisTeam> {
  await request('DELETE', `${team(id)}/rotations/${enc(rotation)}`, undefined, signer());
  return loadTeam(id);
}

export async function addOverride(id: string, body: { rotation: string; account: string; start: number; end: number }): Promise<CrisisTeam> {
  await request<Override>('POST', `${team(id)}/overrides`, body, signer());
  return loadTeam(id);
}

export async function deleteOverride(id: string, override: string): Promise<CrisisTeam> {
  await request('DELETE', `${team(id)}/overrides/${enc(override)}`, undefined, signer());
  return loadTeam(id);
}

export const loadReadiness = (id: string): Promise<TeamReadiness> => request<TeamReadiness>('GET', `${team(id)}/readiness`, undefined, signer());

/** "Check now": a readiness check to one member; the board as it is now. */
export async function checkNow(id: string, account: string): Promise<TeamReadiness> {
  await request('POST', `${team(id)}/readiness/${enc(account)}/check`, undefined, signer());
  return loadReadiness(id);
}

/**
 * "Send a test page" to one member: declared like any page (the preview sealed to every device the
 * team's pages reach), marked as a test and paged to them only. Resolves with the incident's id.
 */
export async function sendTestPage(id: string, account: string, name: string): Promise<string> {
  const d = newDeclaration({ team: id, type: 'other', location: 'Readiness test', note: `Test page to ${name}`, severity: 3, test: true, only: account });
  return (await declare(d)).id;
}
