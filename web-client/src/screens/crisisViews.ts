//! What every crisis-team view is given by the screen that routes between them, and how a
//! member's state reads: shared by the views without their importing the screen (no cycle).

import type { JSX } from 'preact';
import type { Person } from '../api';
import type { CrisisMember, CrisisTeam, TeamReadiness } from '../crisisTeam';
import { switchLabel, when } from './teamFormat';

export interface CrisisViewProps {
  team: CrisisTeam | undefined;
  people: Person[];
  readiness: TeamReadiness | undefined;
  loaded: boolean;
  busy: boolean;
  messages: JSX.Element | null;
  act: (fn: () => Promise<unknown>, ok?: string) => Promise<void>;
  setTeam: (team: CrisisTeam | undefined) => void;
  setReadiness: (r: TeamReadiness) => void;
  /** Lists the teams again (after creating or deleting one). */
  reloadList: () => Promise<void>;
}

/** "Available · inside until 18:00 · on call now". */
export function memberState(m: CrisisMember, now = Date.now()): string {
  const parts = [switchLabel(m.switch)];
  if (m.inside_until && m.inside_until > now) parts.push(`inside until ${when(m.inside_until)}`);
  parts.push(m.on_call ? 'on call now' : 'not on call');
  return parts.join(' · ');
}
