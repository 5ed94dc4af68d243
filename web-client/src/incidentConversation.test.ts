//! Unit tests of the incident conversation's pure rules: its name, who on a board is still to add
//! given who is in it, and one run at a time per incident on the latest board however often the
//! board refreshes.

import { describe, expect, it } from 'vitest';
import type { Board, Paged } from './incidents';
import { incidentConversationTitle, oneAtATime, stillToAdd } from './incidentConversation';

const paged = (account: string, answer?: Paged['answer']): Paged => ({
  person: { account, display_name: account.toUpperCase() },
  role: 'peer',
  tier: 1,
  pages: 1,
  attempts: [],
  ...(answer ? { answer } : {}),
});
const board = (list: Paged[], resolved_at?: number) => ({ paged: list, ...(resolved_at ? { resolved_at } : {}) }) as Pick<Board, 'paged' | 'resolved_at'>;

describe('the incident conversation', () => {
  it('is named by type and local declaration time, "Test page" for a test, without a type when unknown', () => {
    const at = new Date(2025, 0, 5, 3, 7).getTime();
    expect(incidentConversationTitle({ test: false, declared_at: at }, { type: 'assault_on_staff' })).toBe('Incident · Assault on staff · 03:07');
    expect(incidentConversationTitle({ test: true, declared_at: new Date(2025, 0, 5, 18, 45).getTime() }, { type: 'other' })).toBe('Test page · Other incident · 18:45');
    expect(incidentConversationTitle({ test: false, declared_at: at }, undefined)).toBe('Incident · 03:07');
    expect(incidentConversationTitle({ test: false, declared_at: at }, { type: 'made_up' })).toBe('Incident · Incident · 03:07');
  });

  it('adds those responding who are not in it yet, never the declarer, never twice', () => {
    const b = board([paged('me', 'responding'), paged('riley', 'responding'), paged('jordan'), paged('sam', 'unavailable'), paged('kim', 'responding'), paged('riley', 'responding')]);
    expect(stillToAdd(b, [], 'me').map((p) => p.person.account)).toEqual(['riley', 'kim']);
    expect(stillToAdd(b, ['riley'], 'me').map((p) => p.person.account)).toEqual(['kim']);
    expect(stillToAdd(b, new Set(['riley', 'kim']), 'me')).toEqual([]);
    // Added, then changed their answer to unavailable: stays in, nothing to do.
    expect(stillToAdd(board([paged('riley', 'unavailable')]), ['riley'], 'me')).toEqual([]);
    // Once resolved, no one is added.
    expect(stillToAdd(board([paged('riley', 'responding')], 1), [], 'me')).toEqual([]);
  });

  it('runs one job at a time per incident, then once more on the latest input', async () => {
    const runs: string[] = [];
    let active = 0;
    let most = 0;
    const gates: (() => void)[] = [];
    const run = oneAtATime(async (key: string, input: number) => {
      active++;
      most = Math.max(most, active);
      runs.push(`${key}:${input}`);
      await new Promise<void>((r) => gates.push(r));
      active--;
      return input;
    });
    const first = run('i1', 1);
    const second = run('i1', 2);
    const third = run('i1', 3); // shares the run queued by the second call, with its input
    const other = run('i2', 9); // another incident runs beside it
    expect(runs).toEqual(['i1:1', 'i2:9']);
    gates.shift()!();
    expect(await first).toBe(1);
    await Promise.resolve();
    await new Promise((r) => setTimeout(r, 0));
    expect(runs).toEqual(['i1:1', 'i2:9', 'i1:3']);
    while (gates.length) gates.shift()!();
    expect(await second).toBe(3);
    expect(await third).toBe(3);
    expect(await other).toBe(9);
    expect(most).toBe(2); // i1 and i2, never two of i1
    // After everything settled, a new call runs at once; a failed run does not stop the next one.
    const failing = oneAtATime(async (_k: string, n: number) => {
      if (n === 1) throw new Error('offline');
      return n;
    });
    const f1 = failing('x', 1);
    const f2 = failing('x', 2);
    await expect(f1).rejects.toThrow('offline');
    expect(await f2).toBe(2);
    expect(await failing('x', 3)).toBe(3);
  });
});
