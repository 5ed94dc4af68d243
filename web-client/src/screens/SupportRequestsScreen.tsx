//! "Support requests" for peer supporters and coordinators: who is waiting (urgency and age only,
//! refreshed every 4 s, when the page comes back and on a push), and Accept.

import { useEffect, useState } from 'preact/hooks';
import { ApiError, describeError, type QueuedRequest } from '../api';
import { useApp } from '../app';
import { navigate } from '../router';
import { ageText, urgencyLabel } from '../support';
import { accept as acceptRequest, waitingRequests } from '../workflows/support';

export function SupportRequestsScreen() {
  useApp();
  const [requests, setRequests] = useState<QueuedRequest[] | undefined>();
  const [error, setError] = useState('');
  const [info, setInfo] = useState('');
  const [busy, setBusy] = useState(false);
  const [, setTick] = useState(0);
  const load = () => {
    waitingRequests().then(
      (list) => {
        if (!list) return;
        setRequests(list);
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
    setBusy(true);
    setInfo('');
    setError('');
    try {
      const group = await acceptRequest(r);
      if (group) navigate(`/c/${group}`);
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
