//! "Talk to a peer": how soon, a name or pseudonym, the confidentiality notice the first time, then
//! the waiting view. Nothing here tells the server who reaches out: the request comes from a fresh
//! unlinked mailbox and a pseudonymous identity (workflows/support.ts reachOut), and the name typed
//! here reaches only the supporter, end to end encrypted inside the conversation.

import { useState } from 'preact/hooks';
import { describeError, type Urgency } from '../api';
import { app, useApp } from '../app';
import { MAX_NAME_LENGTH } from '../engine/names';
import { randomPseudonym, URGENCIES } from '../support';
import { needsNotice, reachOut } from '../workflows/support';
import { CrisisLineList } from './CrisisLineList';
import { WaitingScreen } from './WaitingScreen';

const DEFAULT_NOTICE =
  'What you say to a peer supporter stays between you. Sallyport does not tell the institution who asked for help. ' +
  'A supporter may have to act if you are in danger of harming yourself or someone else, or if the law requires it.';

export function ReachOutScreen() {
  useApp();
  const m = app.messenger!;
  const pending = m.supportRequests().find((r) => r.request && !m.conversationOfRequest(r.mailbox));
  // Opened from a debrief invitation's "one-to-one": the urgency it chose (history state), nothing else.
  const [urgency, setUrgency] = useState<Urgency>(() => {
    const u = (history.state as { urgency?: unknown } | null)?.urgency;
    return URGENCIES.some((x) => x.id === u) ? (u as Urgency) : 'now';
  });
  const [name, setName] = useState(randomPseudonym);
  const [step, setStep] = useState<'form' | 'notice' | 'sending'>('form');
  const [error, setError] = useState('');
  const [active, setActive] = useState<string | undefined>();

  // The request just made (until its conversation opens), or one still waiting from before.
  const current = (active && m.supportIdentity(active) ? active : undefined) ?? pending?.mailbox;
  if (current) return <WaitingScreen mailbox={current} onGone={() => { setActive(undefined); setStep('form'); }} />;

  const create = async (acknowledgeNotice = false) => {
    setStep('sending');
    setError('');
    try {
      const id = await reachOut(urgency, name, { acknowledgeNotice });
      if (id) setActive(id.mailbox);
    } catch (e) {
      setError(describeError(e));
      setStep('form');
    }
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    if (await needsNotice()) setStep('notice');
    else await create();
  };

  if (step === 'notice') {
    return (
      <main>
        <h1>Before you reach out</h1>
        <section class="card" aria-labelledby="notice-title">
          <h2 id="notice-title">What stays confidential</h2>
          <p class="notice-text">{app.config.confidentiality_notice || DEFAULT_NOTICE}</p>
          <button type="button" onClick={() => create(true)}>
            I understand
          </button>
          <button type="button" class="secondary" onClick={() => setStep('form')}>
            Back
          </button>
        </section>
      </main>
    );
  }

  return (
    <main>
      <h1>Talk to a peer</h1>
      <p>A trained peer supporter from the team will answer. They see only the name you choose below.</p>
      {error && <p role="alert" class="error">{error}</p>}
      <form onSubmit={submit}>
        <fieldset>
          <legend>How soon?</legend>
          {URGENCIES.map((u) => (
            <label key={u.id} class="check">
              <input type="radio" name="urgency" value={u.id} checked={urgency === u.id} onChange={() => setUrgency(u.id)} />
              <span>
                {u.label}
                <span class="muted"> — {u.hint}</span>
              </span>
            </label>
          ))}
        </fieldset>
        <label for="pseudonym">Name or pseudonym</label>
        <input id="pseudonym" type="text" autocomplete="off" maxLength={MAX_NAME_LENGTH} aria-describedby="pseudonym-hint" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <p class="muted" id="pseudonym-hint">
          We suggest keeping this made-up name. It is end-to-end encrypted: only the supporter who answers sees it, never
          the server. You can reveal your real name later in the conversation.
        </p>
        <button type="submit" disabled={step === 'sending'}>
          {step === 'sending' ? 'Reaching out…' : 'Reach out'}
        </button>
      </form>
      {urgency === 'now' && (
        <section class="card" aria-labelledby="now-crisis">
          <h2 id="now-crisis">If you need help right now</h2>
          <CrisisLineList />
        </section>
      )}
    </main>
  );
}
