import { useEffect, useRef, useState } from 'preact/hooks';
import { createInvitation, describeError, listDevices, revokeDevice, setEapLine, type DeviceRow } from '../api';
import { app } from '../app';
import { refreshConfig, storeConfig } from '../config';
import { QrCode } from './QrCode';
import { ROLES, roleLabel } from './roles';

function InviteSection() {
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
      const r = await createInvitation(app.signer!, { display_name: name.trim(), roles });
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

function DevicesSection() {
  const [devices, setDevices] = useState<DeviceRow[] | undefined>();
  const [error, setError] = useState('');
  const [confirm, setConfirm] = useState<DeviceRow | undefined>();
  const dialog = useRef<HTMLDialogElement>(null);
  const load = () =>
    listDevices(app.signer!).then(
      (r) => setDevices(r.devices),
      (e) => setError(describeError(e)),
    );
  useEffect(() => void load(), []);
  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (confirm && !d.open) d.showModal();
    if (!confirm && d.open) d.close();
  }, [confirm]);
  const revoke = async () => {
    const row = confirm!;
    setConfirm(undefined);
    try {
      await revokeDevice(app.signer!, row.device);
      setDevices((list) => list?.map((d) => (d.device === row.device ? { ...d, revoked_at: Date.now() } : d)));
      void load();
    } catch (e) {
      setError(describeError(e));
    }
  };
  return (
    <section aria-labelledby="devices-title" class="card">
      <h2 id="devices-title">Devices</h2>
      {error && <p role="alert" class="error">{error}</p>}
      {!devices && !error && <p class="muted">Loading devices…</p>}
      {devices && (
        // A list of cards rather than a table: four columns do not fit a phone's width.
        <ul class="devices">
          {devices.map((d) => (
            <li key={d.device} class="device">
              <p class="device-name">
                {d.display_name}
                {d.device === app.messenger?.creds.device && <span class="muted"> (this device)</span>}
              </p>
              <p class="muted">{d.roles.map(roleLabel).join(', ')}</p>
              <p class="muted">
                Enrolled {new Date(d.created_at).toLocaleDateString()} ·{' '}
                {d.revoked_at ? <strong class="revoked">Revoked</strong> : 'Active'}
              </p>
              {!d.revoked_at && (
                <button type="button" class="danger small" onClick={() => setConfirm(d)}>
                  Revoke {d.display_name}'s device
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      <dialog ref={dialog} class="dialog" aria-labelledby="revoke-title" onCancel={() => setConfirm(undefined)}>
        <h2 id="revoke-title">Revoke this device?</h2>
        <p>{confirm?.display_name}’s device will be signed out at once and removed from its conversations. This cannot be undone.</p>
        <div class="row">
          <button type="button" class="danger" onClick={revoke}>
            Revoke
          </button>
          <button type="button" class="secondary" onClick={() => setConfirm(undefined)}>
            Cancel
          </button>
        </div>
      </dialog>
    </section>
  );
}

function EapSection() {
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
      const config = await setEapLine(app.signer!, { name: name.trim(), call: phone.trim() });
      storeConfig(config);
      app.config = config;
      app.changed();
      void refreshConfig(); // through the service worker, so its offline copy has the line too
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

export function AdminScreen() {
  if (!app.messenger?.isAdmin) {
    return (
      <main>
        <h1>Administration</h1>
        <p>Only administrators can see this page.</p>
      </main>
    );
  }
  return (
    <main>
      <h1>Administration</h1>
      <InviteSection />
      <DevicesSection />
      <EapSection />
    </main>
  );
}
