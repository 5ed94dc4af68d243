//! The unverified devices of the people in a conversation (engine/trust.ts): "new, unverified
//! device" with its code, or "safety code changed" when none of a person's devices is one this
//! device knew. Not added to the conversation unless the user says so.

import { app, useApp } from '../app';
import { confirmDevice, deviceWarnings } from '../workflows/conversations';
import { useAction } from './useAction';

export function DeviceWarnings({ group }: { group: string }) {
  useApp();
  const { busy, run, messages } = useAction();
  const list = deviceWarnings(group);
  if (list.length === 0 || !app.messenger) return messages;
  return (
    <>
      {list.map((w) =>
        w.devices.map(({ device, code, inConversation }) => (
          <section key={device.device} class="card notice" role="alert" aria-label={`${w.name}: unverified device`}>
            <p>
              <strong>{w.identityChanged ? `${w.name}'s safety code changed.` : `${w.name} has a new, unverified device.`}</strong>{' '}
              {w.identityChanged
                ? `None of ${w.name}'s devices is one you knew: they may have a new phone, or someone may be posing as them.`
                : `None of ${w.name}'s devices you know has approved it.`}{' '}
              {inConversation ? 'It is in this conversation.' : 'It was not added to this conversation.'}
            </p>
            <p>
              Its code: <span class="digits">{code}</span>
            </p>
            <p class="muted">Ask {w.name} in person or by phone whether their new device shows this code before you add it.</p>
            {!inConversation && (
              <button type="button" class="secondary" disabled={busy} onClick={() => run(() => confirmDevice(group, w.account, device), 'Added.')}>
                Add this device
              </button>
            )}
          </section>
        )),
      )}
      {messages}
    </>
  );
}
