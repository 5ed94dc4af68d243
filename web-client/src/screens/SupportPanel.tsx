//! The support actions inside a support conversation: hand off (add them to the group, then tell
//! the server they hold the request now) and leave (supporter), close (both sides), reveal my name
//! (requester; sent end to end inside the conversation).

import { useState } from 'preact/hooks';
import { describeError, type Person } from '../api';
import type { Conversation } from '../engine/model';
import { close as closeConversation, handOff, handOffCandidates, leave, revealName } from '../workflows/supportConversation';

export function SupportPanel({ conv }: { conv: Conversation }) {
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

  const close = () => act(() => closeConversation(conv));

  const showHandOff = () =>
    act(async () => {
      setPeople(await handOffCandidates(conv));
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
                          await handOff(conv, p, { alreadyAdded: added.includes(p.account), onAdded: () => setAdded((a) => [...a, p.account]) });
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
          <button type="button" class="secondary" disabled={busy} onClick={() => act(() => leave(conv))}>
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
              await revealName(conv);
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
