//! The busy flag, the error alert and the done status shared by the team and shifts screens: `run`
//! does one action and says how it went.

import { useState } from 'preact/hooks';
import { describeError } from '../api';

export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [done, setDone] = useState('');
  const run = async (fn: () => Promise<unknown>, ok = '') => {
    setBusy(true);
    setError('');
    setDone('');
    try {
      await fn();
      setDone(ok);
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  const messages = (
    <>
      {error && <p role="alert" class="error">{error}</p>}
      {done && <p role="status">{done}</p>}
    </>
  );
  return { busy, run, messages };
}
