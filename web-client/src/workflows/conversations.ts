//! Conversations, one function per user action: the people one can message, starting a
//! conversation with one of them, sending, the disappearing-message timer, and keeping a
//! conversation's devices in line with the directory once per page life, and the names shown for
//! members (from the directory: MLS credentials carry no name).

import { getDirectory, type DirectoryDevice, type Person } from '../api';
import { app } from '../app';
import type { SyncPerson } from '../engine/membership';
import type { TrustDecision } from '../engine/trust';

/** Everyone else in the directory with a device to message (undefined while locked). */
export async function peopleToMessage(): Promise<Person[] | undefined> {
  const signer = app.signer;
  if (!signer) return undefined;
  const d = await getDirectory(signer);
  void app.messenger?.learnNames(d.people);
  return d.people.filter((p) => p.account !== app.messenger?.creds.account && p.mailboxes.length > 0);
}

/** A person's devices this device trusts (engine/trust.ts): their mailboxes and keys. */
export async function trustedDevices(person: Person): Promise<{ mailboxes: string[]; keys: Record<string, string>; decision: TrustDecision }> {
  const [decision] = await app.messenger!.decideTrust([person]);
  return { mailboxes: decision!.trusted.map((d) => d.mailbox), keys: keysOf(decision!.trusted), decision: decision! };
}

function keysOf(devices: DirectoryDevice[]): Record<string, string> {
  return Object.fromEntries(devices.map((d) => [d.mailbox, d.signing_key]));
}

/** "Message …": the existing conversation with this person, or a new one. The group id. */
export async function startConversation(person: Person): Promise<string> {
  const { mailboxes, keys, decision } = await trustedDevices(person);
  if (mailboxes.length === 0) {
    throw new Error(
      decision.identityChanged
        ? `${person.display_name}'s safety code changed: none of their devices is one you know. Open your conversation with them to review it.`
        : `${person.display_name} has no approved device yet. Try again later.`,
    );
  }
  return app.messenger!.createConversation(person.display_name, mailboxes, undefined, keys);
}

export function send(group: string, body: string): Promise<void> {
  return app.messenger!.sendText(group, body);
}

export function setTimer(group: string, seconds: number): Promise<void> {
  return app.messenger!.setTimer(group, seconds);
}

const synced = new Set<string>();

/** A person's devices a conversation does not take without the user's word (engine/trust.ts). */
export interface DeviceWarning {
  account: string;
  name: string;
  /** None of their devices is one this device knew: their safety code changed. */
  identityChanged: boolean;
  devices: { device: DirectoryDevice; code: string; inConversation: boolean }[];
}

const warnings = new Map<string, DeviceWarning[]>();

/** The unverified devices of the people in a conversation, as of its last sync. */
export function deviceWarnings(group: string): DeviceWarning[] {
  return warnings.get(group) ?? [];
}

/** Once per page life and conversation (when online): add members' new trusted devices, remove
 *  revoked ones, and list the unverified ones (not added) for the conversation to show. */
export function syncMembersOnce(group: string): void {
  const signer = app.signer;
  const m = app.messenger;
  if (!signer || !m || synced.has(group)) return;
  synced.add(group);
  getDirectory(signer)
    .then(async (d) => {
      await m.learnNames(d.people);
      const decisions = new Map((await m.decideTrust(d.people)).map((t) => [t.account, t]));
      const people: SyncPerson[] = d.people.map((p) => {
        const trusted = decisions.get(p.account)?.trusted ?? [];
        return { account: p.account, display_name: p.display_name, mailboxes: trusted.map((x) => x.mailbox), listed: p.devices.map((x) => x.mailbox), keys: keysOf(trusted) };
      });
      await m.syncMembers(group, people);
      const here = new Set((m.conversations.get(group)?.members ?? []).map((x) => x.mailbox));
      const found: DeviceWarning[] = [];
      for (const p of d.people) {
        const t = decisions.get(p.account);
        // Support conversations hold unlinked mailboxes: the directory's people are not synced there.
        if (!t || t.unverified.length === 0 || p.account === m.creds.account || m.conversations.get(group)?.support) continue;
        if (!p.devices.some((x) => here.has(x.mailbox))) continue;
        found.push({
          account: p.account,
          name: p.display_name,
          identityChanged: t.identityChanged,
          devices: t.unverified.map((x) => ({ device: x, code: m.deviceCode(x), inConversation: here.has(x.mailbox) })),
        });
      }
      warnings.set(group, found);
      app.changed();
    })
    .catch((e: unknown) => {
      synced.delete(group);
      console.warn('sallyport: members not synced', e);
    });
}

/** "Add this device": the user trusts a person's unverified device; the conversation adds it. */
export async function confirmDevice(group: string, account: string, device: DirectoryDevice): Promise<void> {
  await app.messenger!.confirmDevice(account, device);
  synced.delete(group);
  syncMembersOnce(group);
}

const NAMES_EVERY_MS = 30_000;
let namesAt = 0;
let namesPending: ReturnType<typeof setTimeout> | undefined;

/**
 * The directory's names for conversation members: when the app comes online, and again (at most
 * every 30 s) while a conversation shows a member it cannot name yet.
 */
export function refreshNames(): void {
  if (namesPending) return;
  const wait = namesAt + NAMES_EVERY_MS - Date.now();
  if (wait > 0) {
    namesPending = setTimeout(() => {
      namesPending = undefined;
      if (app.messenger?.hasUnnamedMembers()) refreshNames();
    }, wait);
    return;
  }
  const signer = app.signer;
  const m = app.messenger;
  if (!signer || !m) return;
  namesAt = Date.now();
  getDirectory(signer)
    .then((d) => m.learnNames(d.people))
    .catch((e: unknown) => console.warn('sallyport: names not refreshed', e));
}
