//! Administration → "Devices": every enrolled device with its person, roles and state, and revoking
//! one after a confirmation dialog.

import { useEffect, useRef, useState } from 'preact/hooks';
import { describeError, type DeviceRow } from '../api';
import { app } from '../app';
import { devices as listDevices, revoke as revokeDevice } from '../workflows/admin';
import { roleLabel } from './roles';

export function DevicesSection() {
  const [devices, setDevices] = useState<DeviceRow[] | undefined>();
  const [error, setError] = useState('');
  const [confirm, setConfirm] = useState<DeviceRow | undefined>();
  const dialog = useRef<HTMLDialogElement>(null);
  const load = () =>
    listDevices().then(
      (list) => setDevices(list),
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
      await revokeDevice(row.device);
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
