//! "Sallyport is locked": the PIN unwraps the data key and starts the engine (workflows/device.ts
//! unlock); a wrong PIN says so.

import { useState } from 'preact/hooks';
import { app } from '../app';
import { unlock } from '../workflows/device';

export function LockScreen() {
  const [pin, setPin] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      if (!(await unlock(pin))) {
        setError('Wrong PIN');
        setPin('');
      }
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
    setBusy(false);
  };
  return (
    <main>
      <h1>Sallyport is locked</h1>
      <form onSubmit={submit}>
        <label for="unlock-pin">PIN</label>
        <input id="unlock-pin" autoFocus type="password" inputMode={app.passphrase ? 'text' : 'numeric'} autocomplete="current-password" value={pin} onInput={(e) => setPin(e.currentTarget.value)} />
        {error && <p role="alert" class="error">{error}</p>}
        <button type="submit" disabled={busy}>
          {busy ? 'Unlocking…' : 'Unlock'}
        </button>
      </form>
    </main>
  );
}
