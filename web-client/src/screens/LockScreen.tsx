//! "Sallyport is locked": the PIN unwraps the data key and starts the engine (workflows/device.ts
//! unlock); a wrong PIN says so. A PIN shorter than today's rule (a lock made before 6 digits were
//! required) opens, but a new one must be chosen before the app starts.

import { useState } from 'preact/hooks';
import { app } from '../app';
import { PIN_RULE, validPin } from '../lock';
import { unlock, unlockWithNewPin } from '../workflows/device';

export function LockScreen() {
  const [pin, setPin] = useState('');
  const [weak, setWeak] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const opened = await unlock(pin);
      if (opened === 'weak') {
        setWeak(pin);
      } else if (!opened) {
        setError('Wrong PIN');
      }
      setPin('');
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
    setBusy(false);
  };
  if (weak) return <NewPin old={weak} />;
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

/** The PIN was right but too short: choose a new one (the same data key, wrapped again). */
function NewPin({ old }: { old: string }) {
  const [pin, setPin] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!validPin(pin)) return setError(PIN_RULE);
    if (pin !== again) return setError('The two PINs differ.');
    setBusy(true);
    setError('');
    try {
      if (!(await unlockWithNewPin(old, pin))) setError('The PIN could not be changed. Lock and unlock again.');
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
    setBusy(false);
  };
  return (
    <main>
      <h1>Choose a longer PIN</h1>
      <p>Your PIN is shorter than Sallyport now requires. Someone holding this phone could guess a short PIN, so choose a new one of at least 6 digits before you go on.</p>
      <form onSubmit={submit}>
        <label for="new-pin">Choose a PIN</label>
        <input id="new-pin" autoFocus type="password" inputMode="numeric" autocomplete="new-password" value={pin} onInput={(e) => setPin(e.currentTarget.value)} />
        <label for="new-pin-again">Repeat the PIN</label>
        <input id="new-pin-again" type="password" inputMode="numeric" autocomplete="new-password" value={again} onInput={(e) => setAgain(e.currentTarget.value)} />
        {error && <p role="alert" class="error">{error}</p>}
        <button type="submit" disabled={busy}>
          {busy ? 'Saving…' : 'Save PIN and unlock'}
        </button>
      </form>
    </main>
  );
}
