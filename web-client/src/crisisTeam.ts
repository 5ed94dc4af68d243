//! Crisis-response teams and readiness (protocol §15, §17) as pure data: the team and readiness
//! bodies, readiness statuses in plain words for the coordinators' board, and the quorum policy
//! from its form. A member's own readiness is in readiness.ts. No I/O here.

import type { Override, Rotation, SwitchState } from './api';

export interface Policy {
  responders: number;
  at_least: Record<string, number>;
  repeat_every_minutes: number;
  escalate_after_minutes: number;
}

export interface CrisisMember {
  account: string;
  display_name: string;
  tier: number;
  role: string;
  added_at: number;
  switch: SwitchState;
  inside_until?: number;
  on_call: boolean;
}

export interface CrisisTeam {
  id: string;
  name: string;
  policy: Policy;
  members: CrisisMember[];
  rotations: Rotation[];
  overrides: Override[];
  roles: string[];
  created_at: number;
}

export interface CrisisTeamSummary {
  id: string;
  name: string;
  members: number;
  on_call_now: number;
}

export type ReadinessStatus = 'no_subscription' | 'push_failing' | 'unconfirmed' | 'not_checked' | 'pending' | 'ready';

export interface Readiness {
  status: ReadinessStatus | string;
  reachable: boolean;
  fix?: string;
  checked_at?: number;
  outcome?: string;
  confirmed_at?: number;
  next_check_at?: number;
}

export interface TeamReadiness {
  reachable_now: number;
  members: number;
  people: { person: { account: string; display_name: string }; tier: number; role: string; on_call: boolean; readiness: Readiness }[];
}

/** `GET /v1/oncall/me`. */
export interface MyOnCall {
  switch: SwitchState;
  inside_until?: number;
  teams: { id: string; name: string; tier: number; role: string; on_call: boolean }[];
  readiness?: Readiness;
}

const STATUS_WORDS: Record<ReadinessStatus, string> = {
  no_subscription: 'Notifications are off on every phone',
  push_failing: 'The last check did not reach the phone',
  unconfirmed: 'Did not confirm the last check',
  not_checked: 'Not checked yet',
  pending: 'Check sent, waiting for the tap',
  ready: 'Ready: confirmed pages reach them',
};

/** A member's readiness status in plain words (the coordinator's board). */
export const readinessWords = (status: string): string => STATUS_WORDS[status as ReadinessStatus] ?? status;

/** Tiers a member may have (1 is paged first). */
export const TIERS = [1, 2, 3, 4, 5, 6, 7, 8, 9] as const;

/** The policy form's fields, as typed. */
export interface PolicyForm {
  responders: string;
  at_least: Record<string, string>;
  repeat: string;
  escalate: string;
}

export const policyForm = (p: Policy, roles: string[]): PolicyForm => ({
  responders: String(p.responders),
  at_least: Object.fromEntries(roles.map((r) => [r, String(p.at_least[r] ?? 0)])),
  repeat: String(p.repeat_every_minutes),
  escalate: String(p.escalate_after_minutes),
});

const whole = (s: string): number | undefined => (/^\s*\d+\s*$/.test(s) ? Number(s) : undefined);

/**
 * The policy from its form, or what is wrong with it (the server's limits, §15): 1–100 responders,
 * per-role minimums that fit within them, 1–1440 minutes each. Roles at 0 are left out.
 */
export function policyFromForm(f: PolicyForm): { policy: Policy } | { error: string } {
  const responders = whole(f.responders);
  if (responders === undefined || responders < 1 || responders > 100) return { error: 'Responders needed: a whole number from 1 to 100.' };
  const at_least: Record<string, number> = {};
  let sum = 0;
  for (const [role, v] of Object.entries(f.at_least)) {
    const n = whole(v || '0');
    if (n === undefined || n > 100) return { error: `At least, ${role}: a whole number from 0 to 100.` };
    if (n > 0) at_least[role] = n;
    sum += n;
  }
  if (sum > responders) return { error: `The minimums per role add up to ${sum}, more than the ${responders} responders needed.` };
  const repeat = whole(f.repeat);
  const escalate = whole(f.escalate);
  if (repeat === undefined || repeat < 1 || repeat > 1440) return { error: 'Page again every: from 1 to 1440 minutes.' };
  if (escalate === undefined || escalate < 1 || escalate > 1440) return { error: 'Escalate after: from 1 to 1440 minutes.' };
  return { policy: { responders, at_least, repeat_every_minutes: repeat, escalate_after_minutes: escalate } };
}

/** "2 responders, at least 1 clinician and 1 peer". */
export function policySummary(p: Policy): string {
  const roles = Object.entries(p.at_least)
    .filter(([, n]) => n > 0)
    .map(([r, n]) => `${n} ${r}`);
  const head = `${p.responders} ${p.responders === 1 ? 'responder' : 'responders'}`;
  return roles.length ? `${head}, at least ${roles.join(' and ')}` : head;
}

/** Members a team without rotations has on call: those whose switch is available (§15). */
export const onCallWithoutRotations = (members: CrisisMember[]): CrisisMember[] => members.filter((m) => m.switch === 'available');

/** Members by tier, in the team's order within a tier. */
export function byTier(members: CrisisMember[]): { tier: number; members: CrisisMember[] }[] {
  const out: { tier: number; members: CrisisMember[] }[] = [];
  for (const m of [...members].sort((a, b) => a.tier - b.tier)) {
    const last = out[out.length - 1];
    if (last && last.tier === m.tier) last.members.push(m);
    else out.push({ tier: m.tier, members: [m] });
  }
  return out;
}
