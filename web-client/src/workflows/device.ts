//! This device's life: enrolling from an invitation, unlocking with the PIN (the engine starts,
//! notifications are set up, roles and name are taken from the server), locking, notifications, the
//! inactivity setting, and taking the connection back from another tab.

import { approveDevice as approveRequest, enrol as enrolRequest, getDirectory, getMe, type DirectoryDevice } from '../api';
import { app } from '../app';
import { refreshConfig } from '../config';
import { loadCore } from '../core';
import { getLockRecord } from '../db';
import { Messenger } from '../engine/messenger';
import type { Credentials } from '../engine/model';
import { createLock, unlock as unlockKey, validPin, type DataKey } from '../lock';
import { dropLegacySupportPush, dropSupportPush, enablePush, enableSupportPush } from '../push';

/** Redeems the invitation, sets the PIN, stores the sealed credentials and starts. */
export async function enrol(code: string, pin: string): Promise<void> {
  const core = await loadCore();
  const db = app.db!;
  const keys = core.DeviceKeys.generate();
  try {
    const r = await enrolRequest({ code, signing_key: keys.signingPublic, notification_key: keys.notificationPublic });
    const creds: Credentials = {
      server_url: location.origin,
      account: r.account,
      device: r.device,
      mailbox: r.mailbox,
      display_name: r.display_name,
      roles: r.roles,
      keys: JSON.parse(keys.toJson()),
      approved: r.approved,
    };
    const { record, key } = await createLock(pin);
    await Messenger.saveCredentials(db, key, creds);
    await db.put('meta', record, 'lock');
    await start(key);
  } finally {
    keys.free();
  }
}

/**
 * False for a wrong PIN; `'weak'` for the right PIN when it is shorter than today's rule (a lock
 * made before 6 digits were required): nothing starts until `unlockWithNewPin` replaces it.
 */
export async function unlock(pin: string): Promise<boolean | 'weak'> {
  const record = await getLockRecord(app.db!);
  if (!record) return false;
  const opened = await unlockKey(record, pin);
  if (!opened) return false;
  if (!validPin(pin)) return 'weak';
  // A lock made at fewer PBKDF2 iterations than today's is wrapped again at the full count.
  if (opened.rewrapped) await app.db!.put('meta', opened.rewrapped, 'lock');
  await start(opened.key);
  return true;
}

/** The old (short) PIN unwraps the data key, which is wrapped under `newPin` and stored; then starts. */
export async function unlockWithNewPin(pin: string, newPin: string): Promise<boolean> {
  const record = await getLockRecord(app.db!);
  if (!record) return false;
  const opened = await unlockKey(record, pin, undefined, newPin);
  if (!opened?.rewrapped) return false;
  await app.db!.put('meta', opened.rewrapped, 'lock');
  app.passphrase = !!opened.rewrapped.passphrase;
  await start(opened.key);
  return true;
}

async function start(key: DataKey): Promise<void> {
  const core = await loadCore();
  // A closed support request's unlinked mailbox: its own push registration goes too.
  let m: Messenger | undefined;
  const dropPush = (mailbox: string) => {
    const scope = m?.supportIdentity(mailbox)?.pushScope;
    if (scope) void dropSupportPush(scope);
  };
  m = await Messenger.open(core, app.db!, key, { onMailboxClosed: dropPush });
  app.started(m);
  void keepNotificationKey(m);
  // A device that waits for approval is not woken by push (the server refuses it) until approved.
  if (app.push === 'unknown' && m.creds.approved !== false) void enableNotifications();
  void refreshIdentity(m, key);
  void moveLegacySupportPush(m);
}

/**
 * The notification secret where the service worker reads it with the app locked (notifyKey.ts),
 * written at every unlock (so devices enrolled before pages get it too) and deleted once the
 * server says this device is revoked. Loaded on its own: not part of the first load.
 */
async function keepNotificationKey(m: Messenger): Promise<void> {
  const secret = (m.creds.keys as { notification_secret?: unknown } | null)?.notification_secret;
  try {
    const keys = await import('../notifyKey');
    if (typeof secret === 'string') await keys.saveNotificationKey({ device: m.creds.device, secret });
    const off = m.subscribe(() => {
      if (m.connection !== 'revoked') return;
      off();
      void keys.deleteNotificationKey();
    });
  } catch {
    // IndexedDB refused: pages show their generic text
  }
}

/** Registrations from before push scopes were random (`/support/<mailbox>/`) go; an open
 *  request's is made again under its random scope. */
async function moveLegacySupportPush(m: Messenger): Promise<void> {
  for (const mailbox of await dropLegacySupportPush()) {
    const id = m.supportIdentity(mailbox);
    if (id?.pushScope && id.request && !m.conversationOfRequest(mailbox)?.closed) {
      await enableSupportPush(id.pushScope, id.mailbox, id.secret, app.config.vapid_public_key);
    }
  }
}

/** Roles and name change after enrolment (a coordinator adds someone to the team): take the
 *  server's current ones, and keep them sealed for offline starts. Offline, the saved ones stay. */
async function refreshIdentity(m: Messenger, key: DataKey): Promise<void> {
  const signer = app.signer;
  if (!signer) return;
  try {
    const me = await getMe(signer);
    const nowApproved = me.approved && m.creds.approved === false;
    const same = me.display_name === m.creds.display_name && me.roles.join() === m.creds.roles.join() && !nowApproved;
    if (app.messenger !== m) return;
    if (!same) {
      m.creds.roles = me.roles;
      m.creds.display_name = me.display_name;
      m.creds.approved = me.approved;
      await Messenger.saveCredentials(app.db!, key, m.creds);
      app.changed();
    }
    if (nowApproved) {
      // Approved: a new connection publishes this device's KeyPackages, so others can add it.
      m.reconnect();
      if (app.push === 'unknown') void enableNotifications();
    } else if (!me.approved) {
      setTimeout(() => void refreshIdentity(m, key), PENDING_POLL_MS);
    }
  } catch {
    // Offline or the server is unreachable: the saved roles serve until the next start.
    if (m.creds.approved === false && app.messenger === m) setTimeout(() => void refreshIdentity(m, key), PENDING_POLL_MS);
  }
}

/** How often a device that waits for approval asks whether it has been approved. */
const PENDING_POLL_MS = 5_000;

/** New devices of this account that wait for this device's approval, with their codes. */
export async function devicesToApprove(): Promise<{ device: DirectoryDevice; code: string }[]> {
  const signer = app.signer;
  const m = app.messenger;
  if (!signer || !m || m.creds.approved === false) return [];
  const d = await getDirectory(signer);
  const me = d.people.find((p) => p.account === m.creds.account);
  return (me?.devices ?? []).filter((x) => !x.approved).map((x) => ({ device: x, code: m.deviceCode(x) }));
}

/** "Approve": this device signs the new device's keys; others add it to conversations from now on. */
export async function approveDevice(device: DirectoryDevice): Promise<void> {
  const m = app.messenger!;
  await approveRequest(app.signer!, device.device, m.signApproval(device));
  await m.confirmDevice(m.creds.account, device);
}

export async function enableNotifications(): Promise<void> {
  const signer = app.signer;
  if (!signer) return;
  const config = await refreshConfig();
  app.config = config;
  app.push = await enablePush(signer, config.vapid_public_key);
  app.changed();
}

/** "Lock now": forgets the keys until the PIN is entered again. */
export function lock(): void {
  app.lock();
}

/** "Lock after": minutes of inactivity before the app locks. */
export function setLockAfter(minutes: number): void {
  app.lockAfterMinutes = minutes;
}

/** "Use here": take the connection back from another tab. */
export function takeConnectionBack(): void {
  app.messenger?.reconnect();
}
