//! New devices and approval (protocol/README.md §14), at the top of "Conversations": a device that
//! waits for approval shows its code and what to do; an approved device lists its account's new
//! devices, each with its code, "Approve" and "Not mine".

import { useEffect, useState } from 'preact/hooks';
import type { DirectoryDevice } from '../api';
import { app, useApp } from '../app';
import { approveDevice, devicesToApprove } from '../workflows/device';
import { useAction } from './useAction';

export function DeviceApproval() {
  useApp();
  const m = app.messenger!;
  const online = m.connection === 'online';
  const [waiting, setWaiting] = useState<{ device: DirectoryDevice; code: string }[]>([]);
  const [refused, setRefused] = useState<string[]>([]);
  const { busy, run, messages } = useAction();
  const pending = m.creds.approved === false;
  useEffect(() => {
    if (!online || pending) return;
    devicesToApprove().then(setWaiting, (e: unknown) => console.warn('sallyport: devices to approve not loaded', e));
  }, [online, pending]);

  if (pending) {
    return (
      <section class="card notice" aria-labelledby="pending-title">
        <h2 id="pending-title">This device waits for approval</h2>
        <p>
          Before anyone's conversations take this device, a device where you already use Sallyport must approve it. Open Sallyport there and approve the new
          device if it shows this code:
        </p>
        <p class="digits">{m.myDeviceCode}</p>
        <p class="muted">Until then you can reach out to a peer supporter, but no one can add this device to a conversation.</p>
      </section>
    );
  }
  const shown = waiting.filter((w) => !refused.includes(w.device.device));
  if (shown.length === 0 && refused.length === 0) return messages;
  return (
    <>
      {shown.map(({ device, code }) => (
        <section key={device.device} class="card notice" aria-labelledby={`approve-${device.device}`}>
          <h2 id={`approve-${device.device}`}>A new device was enrolled on your account</h2>
          <p>Approve it only if you set it up yourself just now and it shows this code:</p>
          <p class="digits">{code}</p>
          <div class="row">
            <button
              type="button"
              disabled={busy}
              onClick={() =>
                run(async () => {
                  await approveDevice(device);
                  setWaiting((list) => list.filter((w) => w.device.device !== device.device));
                }, 'Device approved. Your conversations will add it.')
              }
            >
              Approve this device
            </button>
            <button type="button" class="secondary" disabled={busy} onClick={() => setRefused((r) => [...r, device.device])}>
              Not mine
            </button>
          </div>
        </section>
      ))}
      {refused.length > 0 && <p role="status">Not approved. If you did not set up a new device, tell your administrator: someone enrolled one on your account.</p>}
      {messages}
    </>
  );
}
