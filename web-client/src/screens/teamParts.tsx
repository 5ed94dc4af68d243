//! Parts every "Peer support team" view shares: what a view is given, the "Back" link to the list,
//! the training badge, a button that asks before it acts, and the view of a record that is gone.

import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
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

export function BackToTeam() {
  return (
    <a
      href={TEAM}
      class="back"
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        void backToList();
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
export function Gone({ title, loaded, text, messages }: { title: string; loaded: boolean; text: string; messages: JSX.Element | null }) {
  return (
    <main>
      <BackToTeam />
      <h1 tabIndex={-1}>{title}</h1>
      {messages}
      <p class="muted">{loaded ? text : 'Loading…'}</p>
    </main>
  );
}
