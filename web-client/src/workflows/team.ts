//! The peer support team, one function per user action: coordinators' roster, training, rotations
//! and overrides (each change answers with the team as it is now), and supporters' own shifts,
//! availability switch and swaps.

import {
  addSupporter,
  answerSwap as answerSwapRequest,
  createOverride,
  createRotation as createRotationRequest,
  deleteOverride as deleteOverrideRequest,
  deleteRotation as deleteRotationRequest,
  getDirectory,
  getMyRecord,
  getMyShifts,
  getRotations,
  getRoster,
  getSwaps,
  proposeSwap as proposeSwapRequest,
  recordTraining as recordTrainingRequest,
  removeSupporter,
  setSwitch,
  TRAINING_KINDS,
  type Override,
  type Person,
  type Rotation,
  type RotationBody,
  type Shift,
  type Signer,
  type SupporterRecord,
  type Swap,
  type SwitchState,
} from '../api';
import { app } from '../app';

export interface Team {
  roster: SupporterRecord[];
  people: Person[];
  rotations: Rotation[];
  overrides: Override[];
}

export interface MyShifts {
  record: SupporterRecord;
  shifts: Shift[];
  swaps: Swap[];
  rotations: Rotation[];
}

const signer = (): Signer => app.signer!;

export async function loadTeam(): Promise<Team> {
  const s = signer();
  const [r, d, rot] = await Promise.all([getRoster(s), getDirectory(s), getRotations(s)]);
  return { roster: r.supporters, people: d.people, rotations: rot.rotations, overrides: rot.overrides };
}

/** `added` runs once the server has added them, before the team is loaded again. */
export async function addToTeam(account: string, added?: () => void): Promise<Team> {
  await addSupporter(signer(), account);
  added?.();
  return loadTeam();
}

export async function removeFromTeam(account: string): Promise<Team> {
  await removeSupporter(signer(), account);
  return loadTeam();
}

/** Records one kind of training, or all five (`kind` 'all'). */
export async function recordTraining(account: string, kind: string, completed: string, expires: string): Promise<Team> {
  const kinds = kind === 'all' ? TRAINING_KINDS.map((t) => t.kind) : [kind];
  for (const k of kinds) await recordTrainingRequest(signer(), account, k, { completed_at: completed, expires_at: expires });
  return loadTeam();
}

/** `created` runs once the server has made it, before the team is loaded again. */
export async function createRotation(body: RotationBody, created?: () => void): Promise<{ team: Team; rotation: Rotation }> {
  const rotation = await createRotationRequest(signer(), body);
  created?.();
  return { team: await loadTeam(), rotation };
}

export async function deleteRotation(id: string): Promise<Team> {
  await deleteRotationRequest(signer(), id);
  return loadTeam();
}

export async function addOverride(body: { rotation: string; account: string; start: number; end: number }): Promise<Team> {
  await createOverride(signer(), body);
  return loadTeam();
}

export async function deleteOverride(id: string): Promise<Team> {
  await deleteOverrideRequest(signer(), id);
  return loadTeam();
}

export async function loadMyShifts(): Promise<MyShifts> {
  const s = signer();
  const [record, sh, w, rot] = await Promise.all([getMyRecord(s), getMyShifts(s), getSwaps(s), getRotations(s)]);
  return { record, shifts: sh.shifts, swaps: w.swaps, rotations: rot.rotations };
}

/** The availability switch; the server's record as it is now. */
export function setAvailability(state: SwitchState): Promise<SupporterRecord> {
  return setSwitch(signer(), state);
}

export async function answerSwap(id: string, answer: 'accept' | 'decline' | 'cancel'): Promise<MyShifts> {
  await answerSwapRequest(signer(), id, answer);
  return loadMyShifts();
}

export async function proposeSwap(body: { rotation: string; counterpart: string; my_shift_start: number; their_shift_start: number }): Promise<MyShifts> {
  await proposeSwapRequest(signer(), body);
  return loadMyShifts();
}
