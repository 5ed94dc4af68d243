//! "Enrol this device": the invitation link or code (from the link's fragment or pasted) and the
//! PIN that locks the app. The name is the one the administrator gave: no one can enrol as someone else.

import { useState } from 'preact/hooks';
import { describeError } from '../api';
import { codeFrom } from '../invitation';
import { PIN_RULE, validPin } from '../lock';
import { navigate } from '../router';
import { enrol } from '../workflows/device';
import { InstallGuide } from './InstallGuide';

export function EnrolScreen() {
  const [code, setCode] = useState(() => codeFrom(location.hash));
  const [link, setLink] = useState('');
  const [pin, setPin] = useState('');
  const [pin2, setPin2] = useState('');
  const [passphrase, setPassphrase] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  if (!code) {
    return (
      <main>
        <h1>Enrol this device</h1>
        <p>Open the invitation link you were given, or paste it here.</p>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const c = codeFrom(link);
            if (!c) setError('Paste the invitation link or code.');
            else {
              setError('');
              history.replaceState(null, '', '/enrol#' + c);
              setCode(c);
            }
          }}
        >
          <label for="invite">Invitation link or code</label>
          <input id="invite" type="text" autocomplete="off" value={link} onInput={(e) => setLink(e.currentTarget.value)} />
          {error && <p role="alert" class="error">{error}</p>}
          <button type="submit">Continue</button>
        </form>
        <InstallGuide />
      </main>
    );
  }

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!validPin(pin) || (!passphrase && !/^[0-9]+$/.test(pin))) return setError(passphrase ? PIN_RULE : 'The PIN must be at least 6 digits.');
    if (pin !== pin2) return setError('The PINs do not match.');
    setError('');
    setBusy(true);
    try {
      await enrol(code, pin);
      navigate('/', true);
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };

  return (
    <main>
      <h1>Enrol this device</h1>
      <p>Choose a PIN to lock Sallyport on this device. You will need it each time you open the app.</p>
      <form onSubmit={submit}>
        <label for="pin">Choose a PIN</label>
        <input id="pin" type="password" inputMode={passphrase ? 'text' : 'numeric'} autocomplete="new-password" maxLength={128} value={pin} onInput={(e) => setPin(e.currentTarget.value)} />
        <label for="pin2">Repeat the PIN</label>
        <input id="pin2" type="password" inputMode={passphrase ? 'text' : 'numeric'} autocomplete="new-password" maxLength={128} value={pin2} onInput={(e) => setPin2(e.currentTarget.value)} />
        <label class="check">
          <input type="checkbox" checked={passphrase} onChange={(e) => setPassphrase(e.currentTarget.checked)} /> Use a passphrase (letters too)
        </label>
        <p class="muted">{passphrase ? 'At least 6 characters; longer is stronger.' : 'At least 6 digits.'}</p>
        {error && <p role="alert" class="error">{error}</p>}
        <button type="submit" disabled={busy}>
          {busy ? 'Enrolling…' : 'Enrol'}
        </button>
      </form>
    </main>
  );
}
