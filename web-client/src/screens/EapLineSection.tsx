//! Administration → "Agency EAP line": its name and phone number, which join the crisis lines on
//! every phone (and offline, through the service worker's copy of the config).

import { useState } from 'preact/hooks';
import { describeError } from '../api';
import { app } from '../app';
import { saveEapLine } from '../workflows/admin';

export function EapLineSection() {
  const eap = app.config.crisis_lines.find((l) => /EAP/i.test(l.name));
  const [name, setName] = useState(eap?.name ?? '');
  const [phone, setPhone] = useState(eap?.call ?? '');
  const [status, setStatus] = useState('');
  const [error, setError] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    setStatus('');
    setError('');
    if (!name.trim() || !phone.trim()) return setError('Enter the line’s name and phone number.');
    try {
      await saveEapLine(name.trim(), phone.trim());
      setStatus('EAP line saved.');
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <section aria-labelledby="eap-title" class="card">
      <h2 id="eap-title">Agency EAP line</h2>
      <form onSubmit={submit}>
        <label for="eap-name">EAP line name</label>
        <input id="eap-name" type="text" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <label for="eap-phone">EAP phone number</label>
        <input id="eap-phone" type="tel" value={phone} onInput={(e) => setPhone(e.currentTarget.value)} />
        {error && <p role="alert" class="error">{error}</p>}
        <button type="submit">Save EAP line</button>
        <p role="status">{status}</p>
      </form>
    </section>
  );
}
