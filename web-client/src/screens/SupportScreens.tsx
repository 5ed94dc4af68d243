//! Peer support for everyone: reaching out (staff) and the queue of waiting requests (peer
//! supporters). Nothing here tells the server who reaches out: the request comes from a fresh
//! unlinked mailbox and a pseudonymous identity (messenger.reachOut).

import { useEffect, useState } from 'preact/hooks';
import { ApiError, claimRequest, closeRequestAsRequester, createSupportRequest, describeError, getQueue, getRequestStatus, type QueuedRequest, type Urgency } from '../api';
import { app, useApp } from '../app';
import { enableSupportPush } from '../push';
import { navigate } from '../router';
import { CrisisLineList } from './CrisisLinesDialog';
import { ageText, randomPseudonym, URGENCIES, urgencyLabel } from '../support';

const NOTICE_KEY = 'supportNoticeAcknowledged';
const DEFAULT_NOTICE =
  'What you say to a peer supporter stays between you. Sallyport does not tell the institution who asked for help. ' +
  'A supporter may have to act if you are in danger of harming yourself or someone else, or if the law requires it.';

export function ReachOutScreen() {
  useApp();
  const m = app.messenger!;
  const pending = m.supportRequests().find((r) => r.request && !m.conversationOfRequest(r.mailbox));
  const [urgency, setUrgency] = useState<Urgency>('now');
  const [name, setName] = useState(randomPseudonym);
  const [step, setStep] = useState<'form' | 'notice' | 'sending'>('form');
  const [error, setError] = useState('');
  const [active, setActive] = useState<string | undefined>();

  // The request just made (until its conversation opens), or one still waiting from before.
  const current = (active && m.supportIdentity(active) ? active : undefined) ?? pending?.mailbox;
  if (current) return <Waiting mailbox={current} onGone={() => { setActive(undefined); setStep('form'); }} />;

  const create = async () => {
    setStep('sending');
    setError('');
    const signer = app.signer;
    if (!signer) return;
    try {
      const id = await m.reachOut(urgency, name.trim() || randomPseudonym(), async (mailbox, secret, keyPackage) => {
        const r = await createSupportRequest(signer, { urgency, mailbox, mailbox_secret: secret, key_package: keyPackage });
        return r.id;
      });
      setActive(id.mailbox);
      void enableSupportPush(id.mailbox, id.secret, app.config.vapid_public_key);
    } catch (e) {
      setError(describeError(e));
      setStep('form');
    }
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    const acked = await m.db.get('meta', NOTICE_KEY);
    if (!acked) setStep('notice');
    else await create();
  };

  if (step === 'notice') {
    return (
      <main>
        <h1>Before you reach out</h1>
        <section class="card" aria-labelledby="notice-title">
          <h2 id="notice-title">What stays confidential</h2>
          <p class="notice-text">{app.config.confidentiality_notice || DEFAULT_NOTICE}</p>
          <button
            type="button"
            onClick={async () => {
              await m.db.put('meta', true, NOTICE_KEY);
              await create();
            }}
          >
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
        <input id="pseudonym" type="text" autocomplete="off" maxLength={60} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <p class="muted">Use your own name or keep this made-up one. You can reveal your name later in the conversation.</p>
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

function Waiting({ mailbox, onGone }: { mailbox: string; onGone: () => void }) {
  useApp();
  const m = app.messenger!;
  const req = m.supportIdentity(mailbox);
  const [status, setStatus] = useState<'waiting' | 'accepted' | 'gone' | undefined>();
  const [error, setError] = useState('');
  const conv = m.conversationOfRequest(mailbox);
  useEffect(() => {
    if (conv) navigate(`/c/${conv.id}`, true);
  }, [conv?.id]);
  useEffect(() => {
    if (!req) return;
    let stop = false;
    const poll = () =>
      getRequestStatus(req.request, req.secret).then(
        (r) => !stop && setStatus(r.status),
        (e: unknown) => {
          if (stop) return;
          if (e instanceof ApiError && e.code === 'not_found') setStatus('gone');
        },
      );
    void poll();
    const t = setInterval(poll, 3000);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, [req?.request]);

  if (!req) return null; // forgotten (cancelled) meanwhile

  const cancel = async () => {
    try {
      await closeRequestAsRequester(req.request, req.secret).catch((e: unknown) => {
        if (!(e instanceof ApiError && e.code === 'not_found')) throw e;
      });
      await m.forgetSupport(mailbox);
      onGone();
    } catch (e) {
      setError(describeError(e));
    }
  };

  return (
    <main>
      <h1>Talk to a peer</h1>
      <section class="card" aria-labelledby="req-title">
        <h2 id="req-title">Your request</h2>
        <p>
          You reached out as <strong>{req.handle}</strong> ({urgencyLabel(req.urgency)}).
        </p>
        <p role="status" class="request-status">
          {status === 'accepted'
            ? 'Accepted: a peer supporter is opening the conversation.'
            : status === 'gone'
              ? 'This request was closed.'
              : 'Waiting for a peer supporter.'}
        </p>
        {error && <p role="alert" class="error">{error}</p>}
        <button type="button" class="secondary" onClick={cancel}>
          {status === 'gone' ? 'Start again' : 'Cancel request'}
        </button>
      </section>
      {req.urgency === 'now' && (
        <section class="card" aria-labelledby="now-crisis">
          <h2 id="now-crisis">While you wait</h2>
          <p>If you need help right now, these lines answer at any hour.</p>
          <CrisisLineList />
        </section>
      )}
    </main>
  );
}

/** Waiting requests for peer supporters: urgency and age only. */
export function SupportQueueScreen() {
  useApp();
  const [requests, setRequests] = useState<QueuedRequest[] | undefined>();
  const [error, setError] = useState('');
  const [info, setInfo] = useState('');
  const [busy, setBusy] = useState(false);
  const [, setTick] = useState(0);
  const load = () => {
    const signer = app.signer;
    if (!signer) return;
    getQueue(signer).then(
      (q) => {
        setRequests(q.requests);
        setError('');
      },
      (e: unknown) => setError(describeError(e)),
    );
  };
  useEffect(() => {
    load();
    const t = setInterval(() => {
      load();
      setTick((n) => n + 1);
    }, 4000);
    const onVisible = () => document.visibilityState === 'visible' && load();
    document.addEventListener('visibilitychange', onVisible);
    navigator.serviceWorker?.addEventListener('message', load);
    return () => {
      clearInterval(t);
      document.removeEventListener('visibilitychange', onVisible);
      navigator.serviceWorker?.removeEventListener('message', load);
    };
  }, []);

  const accept = async (r: QueuedRequest) => {
    const signer = app.signer;
    const m = app.messenger;
    if (!signer || !m) return;
    setBusy(true);
    setInfo('');
    setError('');
    try {
      const claimed = await claimRequest(signer, r.id);
      const group = await m.acceptRequest(claimed.id, claimed.mailbox);
      navigate(`/c/${group}`);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'already_claimed') {
        setInfo('Another supporter has taken this request.');
        setRequests((list) => list?.filter((x) => x.id !== r.id));
      } else setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main>
      <h1>Support requests</h1>
      <p class="muted">People waiting to talk. You will see only the name they chose once you accept.</p>
      {error && <p role="alert" class="error">{error}</p>}
      {info && <p role="alert">{info}</p>}
      {!requests && !error && <p class="muted">Loading…</p>}
      {requests && requests.length === 0 && <p>No one is waiting right now.</p>}
      {requests && requests.length > 0 && (
        <ul class="people">
          {requests.map((r) => (
            <li key={r.id} class="card">
              <p>
                <strong>{urgencyLabel(r.urgency)}</strong> · waiting {ageText(r.created_at)}
                {r.level > 0 && <span class="muted"> · escalated</span>}
              </p>
              <button type="button" disabled={busy} onClick={() => accept(r)}>
                Accept
              </button>
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}
