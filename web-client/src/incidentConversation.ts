//! The incident conversation as pure rules: its name ("Incident · Assault on staff · 03:12", known
//! only on the devices), who on a board is still to add to it (answered `responding`, not added
//! yet, not the declarer), and running its upkeep one at a time per incident however often the
//! board refreshes. No I/O here: the workflow (workflows/incidents.ts) does the adding.

import type { Board, Paged, Preview } from './incidents';
import { incidentTypeLabel } from './incidents';

/** "Incident · <type> · <HH:MM declared>" ("Test page · …" for a test); the type only if known. */
export function incidentConversationTitle(board: Pick<Board, 'test' | 'declared_at'>, details: Pick<Preview, 'type'> | undefined): string {
  const at = new Date(board.declared_at);
  const hhmm = `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`;
  return [board.test ? 'Test page' : 'Incident', details && incidentTypeLabel(details.type), hhmm].filter(Boolean).join(' · ');
}

/**
 * The people on `board` to add to its conversation now: those whose answer is `responding`, other
 * than `me` (the declarer, already in it), who are not among `added` (accounts whose devices are in
 * the conversation). A person who answered `unavailable` after being added stays in; a resolved
 * incident adds no one.
 */
export function stillToAdd(board: Pick<Board, 'paged' | 'resolved_at'>, added: Iterable<string>, me: string | undefined): Paged[] {
  if (board.resolved_at) return [];
  const have = new Set(added);
  const seen = new Set<string>();
  return board.paged.filter((p) => {
    const a = p.person.account;
    if (p.answer !== 'responding' || a === me || have.has(a) || seen.has(a)) return false;
    seen.add(a);
    return true;
  });
}

/**
 * Runs `job(latest input)` for `key` one at a time: a call while one runs waits for it and then
 * runs once with the latest input it was given (calls meanwhile share that run); so a board that
 * refreshes every few seconds never has two runs of the same incident at once, and the last
 * board seen is always acted on.
 */
export function oneAtATime<I, O>(job: (key: string, input: I) => Promise<O>): (key: string, input: I) => Promise<O> {
  const flights = new Map<string, { running: Promise<O>; next?: Promise<O>; input?: I }>();
  const start = (key: string, input: I): Promise<O> => {
    const running = job(key, input).finally(() => {
      const f = flights.get(key);
      if (f?.running === running && !f.next) flights.delete(key);
    });
    return running;
  };
  return (key, input) => {
    const f = flights.get(key);
    if (!f) {
      const entry: { running: Promise<O>; next?: Promise<O>; input?: I } = { running: Promise.resolve() as Promise<O> };
      flights.set(key, entry);
      entry.running = start(key, input);
      return entry.running;
    }
    f.input = input;
    if (!f.next) {
      f.next = f.running
        .catch(() => undefined)
        .then(() => {
          const input = f.input as I;
          f.next = undefined;
          f.input = undefined;
          f.running = start(key, input);
          return f.running;
        });
    }
    return f.next;
  };
}
