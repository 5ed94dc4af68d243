//! Peer support, one function per user action: reaching out (an unlinked mailbox and pseudonymous
//! identity, then the request, then its push), waiting and cancelling, the supporters' queue and
//! accepting, and inside the conversation hand-off, leave, close and "Reveal my name".

import {
  ApiError,
  claimRequest,
  closeRequestAsRequester,
  closeRequestAsSupporter,
  createSupportRequest,
  getDirectory,
  getQueue,
  getRequestStatus,
  handOffRequest,
  describeError,
  type Person,
  type QueuedRequest,
  type Urgency,
} from '../api';
import { app } from '../app';
import type { Conversation, SupportIdentity } from '../engine/model';
import { enableSupportPush } from '../push';
import { randomPseudonym } from '../support';

export type RequestStatus = 'waiting' | 'accepted' | 'gone';

/** Whether "Reach out" shows the confidentiality notice first (until it is acknowledged once). */
export async function needsNotice(): Promise<boolean> {
  return !(await app.messenger!.supportNoticeAcknowledged());
}

/**
 * Reaches out under `name` (a random pseudonym if empty): a fresh unlinked mailbox and pseudonymous
 * identity, kept sealed before its KeyPackage leaves in the request; then the device reads the
 * mailbox, and push for it is tried quietly. `acknowledgeNotice`: "I understand" was tapped.
 */
export async function reachOut(urgency: Urgency, name: string, { acknowledgeNotice = false } = {}): Promise<SupportIdentity | undefined> {
  const m = app.messenger!;
  if (acknowledgeNotice) await m.acknowledgeSupportNotice();
  const signer = app.signer;
  if (!signer) return undefined;
  const { identity, keyPackage } = await m.newSupportIdentity(urgency, name.trim() || randomPseudonym());
  let request: string;
  try {
    const r = await createSupportRequest(signer, { urgency, mailbox: identity.mailbox, mailbox_secret: identity.secret, key_package: keyPackage });
    request = r.id;
  } catch (e) {
    await m.forgetSupport(identity.mailbox);
    throw e;
  }
  await m.supportRequestMade(identity, request);
  void enableSupportPush(identity.mailbox, identity.secret, app.config.vapid_public_key);
  return identity;
}

/** The waiting request as the server sees it (undefined: it cannot say right now). */
export async function requestStatus(req: SupportIdentity): Promise<RequestStatus | undefined> {
  try {
    return (await getRequestStatus(req.request, req.secret)).status;
  } catch (e) {
    return e instanceof ApiError && e.code === 'not_found' ? 'gone' : undefined;
  }
}

/** "Cancel request" / "Start again": closes it on the server (if still there) and forgets it here. */
export async function cancelRequest(req: SupportIdentity): Promise<void> {
  await closeRequestAsRequester(req.request, req.secret).catch((e: unknown) => {
    if (!(e instanceof ApiError && e.code === 'not_found')) throw e;
  });
  await app.messenger!.forgetSupport(req.mailbox);
}

/** The supporters' queue: waiting requests, urgency and age only. */
export async function waitingRequests(): Promise<QueuedRequest[] | undefined> {
  const signer = app.signer;
  if (!signer) return undefined;
  return (await getQueue(signer)).requests;
}

/**
 * "Accept": claims the request on the server (409 `already_claimed` if another supporter was
 * quicker), then opens the conversation with the requester's unlinked mailbox. The group id.
 */
export async function accept(request: QueuedRequest): Promise<string | undefined> {
  const signer = app.signer;
  const m = app.messenger;
  if (!signer || !m) return undefined;
  const claimed = await claimRequest(signer, request.id);
  return m.createConversation('Requester', [claimed.mailbox], { support: { role: 'supporter', request: claimed.id } });
}

/** Who a supporter may hand `conv` off to: other supporters, EAP clinicians and coordinators. */
export async function handOffCandidates(conv: Conversation): Promise<Person[]> {
  const m = app.messenger!;
  const d = await getDirectory(app.signer!);
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
    await app.messenger!.addPeople(conv.id, person.mailboxes);
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
