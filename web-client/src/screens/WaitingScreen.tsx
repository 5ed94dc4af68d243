//! "Your request" while it waits for a peer supporter: its status (polled every 3 s), cancel or
//! start again, and for "now" the crisis lines. Opens the conversation once it exists.

import { useEffect, useState } from 'preact/hooks';
import { describeError } from '../api';
import { app, useApp } from '../app';
import { navigate } from '../router';
import { urgencyLabel } from '../support';
import { cancelRequest, requestStatus, type RequestStatus } from '../workflows/support';
import { CrisisLineList } from './CrisisLineList';

export function WaitingScreen({ mailbox, onGone }: { mailbox: string; onGone: () => void }) {
  useApp();
  const m = app.messenger!;
  const req = m.supportIdentity(mailbox);
  const [status, setStatus] = useState<RequestStatus | undefined>();
  const [error, setError] = useState('');
  const conv = m.conversationOfRequest(mailbox);
  useEffect(() => {
    if (conv) navigate(`/c/${conv.id}`, true);
  }, [conv?.id]);
  useEffect(() => {
    if (!req) return;
    let stop = false;
    const poll = () =>
      requestStatus(req).then((s) => {
        if (!stop && s) setStatus(s);
      });
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
      await cancelRequest(req);
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
