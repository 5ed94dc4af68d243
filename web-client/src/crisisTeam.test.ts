//! Unit tests of the crisis team and readiness logic (crisisTeam.ts, readiness.ts, screens/crisisRoutes.ts):
//! the quorum policy form within the server's limits, members by tier and on call without rotations,
//! readiness in words, "inside until" at most 16 hours ahead, and every view's path.

import { describe, expect, it } from 'vitest';
import { byTier, onCallWithoutRotations, policyForm, policyFromForm, policySummary, readinessWords, type CrisisMember } from './crisisTeam';
import { insideUntilFrom, MAX_INSIDE_MS, myReadinessWords } from './readiness';
import { crisisView, memberPath, crisisTeamPath } from './screens/crisisRoutes';

const member = (account: string, tier: number, sw: CrisisMember['switch'] = 'available'): CrisisMember => ({
  account,
  display_name: account,
  tier,
  role: 'peer',
  added_at: 0,
  switch: sw,
  on_call: sw === 'available',
});

describe('quorum policy form', () => {
  const roles = ['peer', 'clinician', 'chaplain', 'lead'];
  const policy = { responders: 3, at_least: { clinician: 1, peer: 1 }, repeat_every_minutes: 3, escalate_after_minutes: 10 };

  it('round-trips the policy, leaving roles at 0 out', () => {
    const form = policyForm(policy, roles);
    expect(form.at_least).toEqual({ peer: '1', clinician: '1', chaplain: '0', lead: '0' });
    expect(policyFromForm(form)).toEqual({ policy });
  });

  it('refuses minimums that add up to more than the responders needed', () => {
    const form = { ...policyForm(policy, roles), responders: '1' };
    expect(policyFromForm(form)).toEqual({ error: 'The minimums per role add up to 2, more than the 1 responders needed.' });
  });

  it('keeps to the server limits: 1-100 responders, 1-1440 minutes, whole numbers', () => {
    const ok = policyForm(policy, roles);
    expect('error' in policyFromForm({ ...ok, responders: '0' })).toBe(true);
    expect('error' in policyFromForm({ ...ok, responders: '101' })).toBe(true);
    expect('error' in policyFromForm({ ...ok, responders: '2.5' })).toBe(true);
    expect('error' in policyFromForm({ ...ok, repeat: '0' })).toBe(true);
    expect('error' in policyFromForm({ ...ok, escalate: '1441' })).toBe(true);
    expect('error' in policyFromForm({ ...ok, at_least: { ...ok.at_least, lead: '-1' } })).toBe(true);
    // An emptied role field counts as 0.
    expect(policyFromForm({ ...ok, at_least: { ...ok.at_least, lead: '' } })).toEqual({ policy });
  });

  it('says the policy in words', () => {
    expect(policySummary(policy)).toBe('3 responders, at least 1 clinician and 1 peer');
    expect(policySummary({ ...policy, responders: 1, at_least: {} })).toBe('1 responder');
  });
});

describe('members', () => {
  it('groups members by tier, keeping the team order within one', () => {
    const groups = byTier([member('a', 1), member('b', 2), member('c', 1)]);
    expect(groups.map((g) => [g.tier, g.members.map((m) => m.account)])).toEqual([
      [1, ['a', 'c']],
      [2, ['b']],
    ]);
  });

  it('without rotations, everyone available is on call', () => {
    expect(onCallWithoutRotations([member('a', 1), member('b', 1, 'busy'), member('c', 2, 'off')]).map((m) => m.account)).toEqual(['a']);
  });
});

describe('readiness in words', () => {
  it('has plain words for every status, and passes an unknown one through', () => {
    for (const s of ['no_subscription', 'push_failing', 'unconfirmed', 'not_checked', 'pending', 'ready']) {
      expect(readinessWords(s)).not.toBe(s);
      expect(myReadinessWords(s)).not.toBe(s);
    }
    expect(readinessWords('something_new')).toBe('something_new');
  });
});

describe('inside the perimeter until', () => {
  const now = new Date(2026, 10, 27, 14, 30).getTime(); // 2:30 PM local

  it('is the next time of day after now', () => {
    expect(insideUntilFrom('18:00', now)).toEqual({ at: new Date(2026, 10, 27, 18, 0).getTime() });
    // Earlier than now: tomorrow.
    expect(insideUntilFrom('06:15', now)).toEqual({ at: new Date(2026, 10, 28, 6, 15).getTime() });
  });

  it('is at most 16 hours ahead', () => {
    const r = insideUntilFrom('07:00', now); // 16.5 h ahead
    expect('error' in r).toBe(true);
    const at = insideUntilFrom('06:30', now);
    expect('at' in at && at.at - now).toBe(MAX_INSIDE_MS);
  });

  it('refuses what is not a time', () => {
    expect('error' in insideUntilFrom('', now)).toBe(true);
    expect('error' in insideUntilFrom('25:00', now)).toBe(true);
  });
});

describe('crisis team routes', () => {
  it('reads every view from its path, ids with any characters', () => {
    const id = '-a/b c';
    expect(crisisView('/crisis-teams')).toEqual({ kind: 'list' });
    expect(crisisView('/crisis-teams/')).toEqual({ kind: 'list' });
    expect(crisisView('/crisis-teams/new')).toEqual({ kind: 'new' });
    expect(crisisView(crisisTeamPath(id))).toEqual({ kind: 'team', team: id });
    expect(crisisView(crisisTeamPath(id) + '/policy')).toEqual({ kind: 'policy', team: id });
    expect(crisisView(crisisTeamPath(id) + '/add')).toEqual({ kind: 'add', team: id });
    expect(crisisView(crisisTeamPath(id) + '/new-rotation')).toEqual({ kind: 'new-rotation', team: id });
    expect(crisisView(memberPath(id, '-x'))).toEqual({ kind: 'member', team: id, account: '-x' });
    expect(crisisView(crisisTeamPath(id) + '/rotations/r1')).toEqual({ kind: 'rotation', team: id, id: 'r1' });
    expect(crisisView(crisisTeamPath(id) + '/members')).toEqual({ kind: 'missing' });
    expect(crisisView('/crisis-teams/%E0%A4%A')).toEqual({ kind: 'missing' });
    expect(crisisView('/crisis-teamsx')).toEqual({ kind: 'missing' });
  });
});
