//! Parts the "Peer support team" and crisis team views share: what a view is given, the "Back"
//! link to the list, the training badge, a button that asks before it acts, the view of a record
//! that is gone, and what the rotation views need of a team (`Schedule`).

import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Override, Rotation, RotationBody } from '../api';
import type { Team } from '../workflows/team';
import { backToList, TEAM } from './teamRoutes';

export interface TeamViewProps {
  team: Team;
  /** The team has been loaded once (until then the lists are empty, not known to be). */
  loaded: boolean;
  busy: boolean;
  /** The alert or status of the last action, when it was done on this view. */
  messages: JSX.Element | null;
  /** Runs one action; `ok` is said when it succeeds, its error when it fails. */
  act: (fn: () => Promise<unknown>, ok?: string) => Promise<void>;
  setTeam: (team: Team) => void;
}

/** "Back" to `list` (the peer support team by default; a crisis team's page). */
export function BackToTeam({ list = TEAM }: { list?: string }) {
  return (
    <a
      href={list}
      class="back"
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        void backToList(list);
      }}
    >
      <span aria-hidden="true">‹</span>Back
    </a>
  );
}

export function TrainingBadge({ current }: { current: boolean }) {
  return <span class={current ? 'badge ok' : 'badge missing'}>{current ? 'Training current' : 'Training missing'}</span>;
}

/**
 * `label` opens a question with `confirm` and "Cancel" in its place; focus goes to the question
 * (scrolled to the middle of the screen), and back to the button on "Cancel". `id` names the question (one per view).
 */
export function ConfirmButton(props: { id: string; label: string; question: string; confirm: string; busy: boolean; onConfirm: () => void }) {
  const [asking, setAsking] = useState(false);
  const question = useRef<HTMLParagraphElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const changed = useRef(false);
  const { id } = props;
  useEffect(() => {
    if (!changed.current) return;
    if (!asking) return button.current?.focus();
    // Its buttons in the middle of the screen, clear of the sticky tab bar.
    question.current?.focus({ preventScroll: true });
    question.current?.parentElement?.scrollIntoView({ block: 'center' });
  }, [asking]);
  const ask = (on: boolean) => {
    changed.current = true;
    setAsking(on);
  };
  if (!asking) {
    return (
      <button type="button" class="secondary" ref={button} disabled={props.busy} onClick={() => ask(true)}>
        {props.label}
      </button>
    );
  }
  return (
    <div class="confirm" role="group" aria-labelledby={id}>
      <p id={id} ref={question} tabIndex={-1}>
        <strong>{props.question}</strong>
      </p>
      <button type="button" class="danger" disabled={props.busy} onClick={props.onConfirm}>
        {props.confirm}
      </button>
      <button type="button" class="secondary" onClick={() => ask(false)}>
        Cancel
      </button>
    </div>
  );
}

/** A supporter or rotation that is not (or no longer) there, or not loaded yet. */
export function Gone({ title, loaded, text, messages, list }: { title: string; loaded: boolean; text: string; messages: JSX.Element | null; list?: string }) {
  return (
    <main>
      <BackToTeam list={list} />
      <h1 tabIndex={-1}>{title}</h1>
      {messages}
      <p class="muted">{loaded ? text : 'Loading…'}</p>
    </main>
  );
}

/**
 * A team's schedule as the rotation views see it (the peer support team's and each crisis team's
 * keep the same rules, protocol §15): its rotations and overrides, who may hold a rotation, and the
 * changes, each of which brings the team up to date.
 */
export interface Schedule {
  rotations: Rotation[];
  overrides: Override[];
  /** Who may be put on a rotation; `warning` shows by the name ("training missing"). */
  members: { account: string; display_name: string; warning?: string }[];
  /** The team's page, where "Back" goes. */
  list: string;
  rotationPath: (id: string) => string;
  /** What "New rotation" suggests as its name. */
  defaultName: string;
  createRotation: (body: RotationBody) => Promise<Rotation>;
  /** Resolves with what shows the team without it, applied once the view has gone back to the list. */
  deleteRotation: (id: string) => Promise<() => void>;
  addOverride: (body: { rotation: string; account: string; start: number; end: number }) => Promise<void>;
  deleteOverride: (id: string) => Promise<void>;
}

/** What a rotation view is given. */
export type ScheduleViewProps = Omit<TeamViewProps, 'team' | 'setTeam'> & { schedule: Schedule };
