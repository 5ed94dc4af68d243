//! Support requests, one function per user action: reaching out (an unlinked mailbox and a
//! pseudonymous identity, then the request, then its push), waiting and cancelling, and for
//! supporters the queue and accepting. Inside the conversation: supportConversation.ts.

import { ApiError, claimRequest, closeRequestAsRequester, createSupportRequest, getQueue, getRequestStatus, type QueuedRequest, type Urgency } from '../api';
import { app } from '../app';
import { randomId } from '../bytes';
import type { SupportIdentity } from '../engine/model';
import { UNKNOWN_NAME } from '../engine/names';
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
  identity.pushScope = randomId();
  await m.supportRequestMade(identity, request);
  void enableSupportPush(identity.pushScope, identity.mailbox, identity.secret, app.config.vapid_public_key);
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
  // The requester's name arrives inside the conversation, as its first message; until then a placeholder.
  return m.createConversation(UNKNOWN_NAME, [claimed.mailbox], { support: { role: 'supporter', request: claimed.id } });
}
