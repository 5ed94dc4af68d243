//! Conversations, one function per user action: the people one can message, starting a
//! conversation with one of them, sending, the disappearing-message timer, and keeping a
//! conversation's devices in line with the directory once per page life, and the names shown for
//! members (from the directory: MLS credentials carry no name).

import { getDirectory, type Person } from '../api';
import { app } from '../app';

/** Everyone else in the directory with a device to message (undefined while locked). */
export async function peopleToMessage(): Promise<Person[] | undefined> {
  const signer = app.signer;
  if (!signer) return undefined;
  const d = await getDirectory(signer);
  void app.messenger?.learnNames(d.people);
  return d.people.filter((p) => p.account !== app.messenger?.creds.account && p.mailboxes.length > 0);
}

/** "Message …": the existing conversation with this person, or a new one. The group id. */
export function startConversation(person: Person): Promise<string> {
  return app.messenger!.createConversation(person.display_name, person.mailboxes);
}

export function send(group: string, body: string): Promise<void> {
  return app.messenger!.sendText(group, body);
}

export function setTimer(group: string, seconds: number): Promise<void> {
  return app.messenger!.setTimer(group, seconds);
}

const synced = new Set<string>();

/** Once per page life and conversation (when online): add members' new devices, remove revoked ones. */
export function syncMembersOnce(group: string): void {
  const signer = app.signer;
  const m = app.messenger;
  if (!signer || !m || synced.has(group)) return;
  synced.add(group);
  getDirectory(signer)
    .then(async (d) => {
      await m.learnNames(d.people);
      await m.syncMembers(group, d.people);
    })
    .catch((e: unknown) => {
      synced.delete(group);
      console.warn('sallyport: members not synced', e);
    });
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
