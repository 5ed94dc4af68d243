//! Inside a support conversation, one function per user action: hand off (add them to the group,
//! then tell the server they hold the request), leave (supporter), close (either side) and
//! "Reveal my name" (requester, end to end).

import { ApiError, closeRequestAsRequester, closeRequestAsSupporter, describeError, getDirectory, handOffRequest, type Person } from '../api';
import { app } from '../app';
import type { Conversation } from '../engine/model';
import { trustedDevices } from './conversations';

/** Who a supporter may hand `conv` off to: other supporters, EAP clinicians and coordinators. */
export async function handOffCandidates(conv: Conversation): Promise<Person[]> {
  const m = app.messenger!;
  const d = await getDirectory(app.signer!);
  void m.learnNames(d.people);
  const here = new Set(conv.members.map((x) => x.mailbox));
  return d.people.filter(
    (p) =>
      p.account !== m.creds.account &&
      p.mailboxes.length > 0 &&
      !p.mailboxes.every((mb) => here.has(mb)) &&
      (p.roles.includes('peer_supporter') || p.roles.includes('clinician') || p.roles.includes('coordinator')),
  );
}

/**
 * "Hand off to …": adds the person's devices to the conversation (unless `alreadyAdded`: a retry
 * only repeats the server call), then tells the server they hold the request now, so they may
 * close it and we may not.
 */
export async function handOff(conv: Conversation, person: Person, { alreadyAdded, onAdded }: { alreadyAdded: boolean; onAdded: () => void }): Promise<void> {
  if (!alreadyAdded) {
    // Only their devices this device trusts (engine/trust.ts): never a device an administrator
    // enrolled on their account without their approval.
    const { mailboxes, keys } = await trustedDevices(person);
    if (mailboxes.length === 0) throw new Error(`${person.display_name} has no device you can verify right now. Choose someone else, or try again later.`);
    await app.messenger!.addPeople(conv.id, mailboxes, keys);
    onAdded();
  }
  try {
    await handOffRequest(app.signer!, conv.support!.request, person.account);
  } catch (e) {
    throw new Error(`${person.display_name} was added, but the server did not record the hand-off: ${describeError(e)} Stay in the conversation and try again.`);
  }
}

/** "Leave conversation" (supporter, after a hand-off). */
export function leave(conv: Conversation): Promise<void> {
  return app.messenger!.leaveConversation(conv.id);
}

/** "Close conversation": the request is closed on the server (either side), then here. */
export async function close(conv: Conversation): Promise<void> {
  const m = app.messenger!;
  const support = conv.support!;
  try {
    if (support.role === 'requester') {
      const id = m.supportIdentity(conv.identity ?? '');
      if (id) await closeRequestAsRequester(support.request, id.secret);
    } else {
      const signer = app.signer;
      if (signer) await closeRequestAsSupporter(signer, support.request);
    }
  } catch (e) {
    if (!(e instanceof ApiError && e.code === 'not_found')) throw e;
  }
  await m.markClosed(conv.id);
}

/** "Reveal my name" (requester): an ordinary end-to-end message inside the conversation. */
export function revealName(conv: Conversation): Promise<void> {
  const m = app.messenger!;
  return m.sendText(conv.id, `My name is ${m.creds.display_name}.`);
}
