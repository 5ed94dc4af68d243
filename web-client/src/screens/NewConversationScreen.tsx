//! "New conversation": everyone in the directory with a device, and "Message …" to open (or
//! find) the conversation with one of them.

import { useEffect, useState } from 'preact/hooks';
import { describeError, type Person } from '../api';
import { navigate } from '../router';
import { peopleToMessage, startConversation } from '../workflows/conversations';

export function NewConversationScreen() {
  const [people, setPeople] = useState<Person[] | undefined>();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState('');
  useEffect(() => {
    peopleToMessage().then(
      (list) => list && setPeople(list),
      (e) => setError(describeError(e)),
    );
  }, []);

  const start = async (p: Person) => {
    setBusy(p.display_name);
    setError('');
    try {
      const group = await startConversation(p);
      navigate(`/c/${group}`);
    } catch (e) {
      setError(describeError(e));
      setBusy('');
    }
  };

  return (
    <main>
      <h1>New conversation</h1>
      {error && <p role="alert" class="error">{error}</p>}
      {busy && <p role="status">Adding {busy}…</p>}
      {!people && !error && <p class="muted">Loading people…</p>}
      {people && people.length === 0 && <p class="muted">There is no one else to message yet.</p>}
      {people && (
        <ul class="people">
          {people.map((p) => (
            <li key={p.account}>
              <button type="button" class="person" disabled={!!busy} onClick={() => start(p)}>
                Message {p.display_name}
              </button>
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}
