//! The support actions inside a support conversation: hand off (add them to the group, then tell
//! the server they hold the request now) and leave (supporter), close (both sides), reveal my name
//! (requester; sent end to end inside the conversation).

import { useState } from 'preact/hooks';
import { ApiError, closeRequestAsRequester, closeRequestAsSupporter, describeError, getDirectory, handOffRequest, type Person } from '../api';
import { app } from '../app';
import type { Conversation } from '../messenger';

export function SupportPanel({ conv }: { conv: Conversation }) {
  const m = app.messenger!;
  const support = conv.support!;
  const [people, setPeople] = useState<Person[] | undefined>();
  const [handedOff, setHandedOff] = useState('');
  // Accounts already added to the conversation whose hand-off the server has not confirmed: a
  // retry only repeats the server call.
  const [added, setAdded] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [revealed, setRevealed] = useState(false);

  const act = async (fn: () => Promise<void>) => {
    setBusy(true);
    setError('');
    try {
      await fn();
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  const close = () =>
    act(async () => {
      try {
        if (support.role === 'requester') {
          const id = m.supportIdentity(conv.identity ?? '');
          if (id) await closeRequestAsRequester(support.request, id.secret);
        } else {
          const signer = app.signer;
          if (signer) await closeRequestAsSupporter(signer, support.request);
        }
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 'not_found')) throw e;
      }
      await m.markClosed(conv.id);
    });

  const showHandOff = () =>
    act(async () => {
      const signer = app.signer!;
      const d = await getDirectory(signer);
      const here = new Set(conv.members.map((x) => x.mailbox));
      setPeople(
        d.people.filter(
          (p) =>
            p.account !== m.creds.account &&
            p.mailboxes.length > 0 &&
            !p.mailboxes.every((mb) => here.has(mb)) &&
            (p.roles.includes('peer_supporter') || p.roles.includes('clinician') || p.roles.includes('coordinator')),
        ),
      );
    });

  if (conv.closed) return <p class="muted">This conversation was closed.</p>;
  if (conv.removed) return null;

  return (
    <details class="card support-actions">
      <summary>Support options</summary>
      {error && <p role="alert" class="error">{error}</p>}
      {support.role === 'supporter' && (
        <>
          {!people && (
            <button type="button" class="secondary" disabled={busy} onClick={showHandOff}>
              Hand off
            </button>
          )}
          {people && !handedOff && (
            <section aria-labelledby="handoff-title">
              <h2 id="handoff-title">Hand off to</h2>
              {people.length === 0 && <p class="muted">There is no other supporter or clinician to hand off to.</p>}
              <ul class="people">
                {people.map((p) => (
                  <li key={p.account}>
                    <button
                      type="button"
                      class="person"
                      disabled={busy}
                      onClick={() =>
                        act(async () => {
                          if (!added.includes(p.account)) {
                            await m.addPeople(conv.id, p.mailboxes);
                            setAdded((a) => [...a, p.account]);
                          }
                          // The server lets the new holder (not us) close the request from now on.
                          try {
                            await handOffRequest(app.signer!, support.request, p.account);
                          } catch (e) {
                            throw new Error(
                              `${p.display_name} was added, but the server did not record the hand-off: ${describeError(e)} Stay in the conversation and try again.`,
                            );
                          }
                          setHandedOff(p.display_name);
                        })
                      }
                    >
                      Hand off to {p.display_name}
                    </button>
                  </li>
                ))}
              </ul>
            </section>
          )}
          {handedOff && <p role="status">{handedOff} was added. You can leave the conversation now.</p>}
          <button type="button" class="secondary" disabled={busy} onClick={() => act(() => m.leaveConversation(conv.id))}>
            Leave conversation
          </button>
        </>
      )}
      {support.role === 'requester' && (
        <button
          type="button"
          class="secondary"
          disabled={busy || revealed}
          onClick={() =>
            act(async () => {
              await m.revealName(conv.id);
              setRevealed(true);
            })
          }
        >
          Reveal my name
        </button>
      )}
      <button type="button" class="danger" disabled={busy} onClick={close}>
        Close conversation
      </button>
    </details>
  );
}
