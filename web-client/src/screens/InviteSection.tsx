//! Administration → "Invite someone": name and roles make a single-use invitation link, shown
//! with its QR code and a Copy link button.

import { useState } from 'preact/hooks';
import { describeError } from '../api';
import { invite } from '../workflows/admin';
import { QrCode } from './QrCode';
import { ROLES } from './roles';

export function InviteSection() {
  const [name, setName] = useState('');
  const [roles, setRoles] = useState<string[]>(['staff']);
  const [link, setLink] = useState('');
  const [expires, setExpires] = useState(0);
  const [error, setError] = useState('');
  const [copied, setCopied] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    setCopied('');
    if (!name.trim()) return setError('Enter the person’s name.');
    if (roles.length === 0) return setError('Choose at least one role.');
    try {
      const r = await invite(name.trim(), roles);
      setLink(r.link);
      setExpires(r.expires_at);
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <section aria-labelledby="invite-title" class="card">
      <h2 id="invite-title">Invite someone</h2>
      <form onSubmit={submit}>
        <label for="invite-name">Name</label>
        <input id="invite-name" type="text" maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <fieldset>
          <legend>Roles</legend>
          {ROLES.map((r) => (
            <label key={r.id} class="check">
              <input
                type="checkbox"
                checked={roles.includes(r.id)}
                onChange={(e) => setRoles(e.currentTarget.checked ? [...roles, r.id] : roles.filter((x) => x !== r.id))}
              />
              {r.label}
            </label>
          ))}
        </fieldset>
        {error && <p role="alert" class="error">{error}</p>}
        <button type="submit">Create invitation</button>
      </form>
      {link && (
        <div class="invitation">
          <label for="invite-link">Invitation link</label>
          <input id="invite-link" type="text" readOnly value={link} onFocus={(e) => e.currentTarget.select()} />
          <QrCode text={link} label="QR code of the invitation link" />
          <p class="muted">Single use; expires {new Date(expires).toLocaleString()}.</p>
          <button
            type="button"
            class="secondary"
            onClick={() =>
              navigator.clipboard.writeText(link).then(
                () => setCopied('Link copied.'),
                () => setCopied('Copying failed: select the link and copy it.'),
              )
            }
          >
            Copy link
          </button>
          <p role="status">{copied}</p>
        </div>
      )}
    </section>
  );
}
