//! Support requests (protocol/README.md §13.2): a staff member reaches out from a fresh unlinked
//! mailbox; on-call supporters are pushed; the first to claim gets the mailbox; either side
//! closes. The server never records who asked: the create call is signed (only enrolled staff may
//! reach out) but nothing about the signer is stored or logged, and the rate limit lives in
//! memory. The requester later proves only the unlinked mailbox's secret.

use super::{PeerSupport, escalation};
use crate::domain::mls;
use crate::domain::secrets::{secret_matches, sha256};
use crate::domain::support::{self as rules, RequestState};
use crate::push::subscriptions;
use crate::store::support::{ClaimOutcome, HandOffOutcome, NewSupportRequest, SupportRequestRecord};
use crate::store::{Conflict, DeviceRecord, MailboxAccess, StoreError};
use crate::workflows::{Outcome, WorkflowError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sallyport_protocol::rest::{PushSubscriptionBody, Role};
use sallyport_protocol::support::{
    ClaimedSupportRequest, CreateSupportRequest, CreatedSupportRequest, HandedOff, QueuedSupportRequest, SupportQueue, SupportRequestStatus, SupportStatus,
};
use sallyport_protocol::{AccountId, MAX_KEY_PACKAGE_BYTES, MailboxId, MailboxSecret, RequestId};

fn not_found() -> WorkflowError {
    WorkflowError::NotFound(None)
}

/// Why `caller` may not take, hand off or close a request, as a workflow error.
fn refused(refusal: rules::Refusal) -> WorkflowError {
    match refusal {
        rules::Refusal::Forbidden => WorkflowError::Forbidden(None),
        rules::Refusal::NotOnRoster => WorkflowError::NotOnRoster { caller: true, message: None },
        rules::Refusal::TrainingNotCurrent => WorkflowError::TrainingNotCurrent { caller: true, message: None },
        rules::Refusal::NotClaimed => WorkflowError::NotClaimed,
    }
}

/// The KeyPackage of a support request from its text (base64url, padding tolerated): an MLS
/// KeyPackage of at most `MAX_KEY_PACKAGE_BYTES` that does not hold `device_key`, the requesting
/// device's own signing key.
pub fn checked_key_package(text: &str, device_key: &[u8]) -> Outcome<Vec<u8>> {
    let key_package = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| WorkflowError::Invalid("key_package is not base64url".into()))?;
    if key_package.len() > MAX_KEY_PACKAGE_BYTES || !mls::is_key_package(&key_package) {
        return Err(WorkflowError::Invalid(format!(
            "key_package must be an MLS KeyPackage of at most {MAX_KEY_PACKAGE_BYTES} bytes"
        )));
    }
    if rules::names_the_device(&key_package, device_key) {
        return Err(WorkflowError::Invalid(
            "key_package must come from a fresh pseudonymous identity, not the device's key".into(),
        ));
    }
    Ok(key_package)
}

impl PeerSupport {
    /// `POST /v1/support/requests` (signed by any enrolled device): creates the unlinked mailbox
    /// with the pseudonymous KeyPackage and the request, and pushes the supporters on call.
    pub async fn reach_out(&self, caller: &DeviceRecord, body: CreateSupportRequest) -> Outcome<CreatedSupportRequest> {
        let key_package = checked_key_package(&body.key_package, caller.signing_key.as_bytes())?;
        let now = self.clock.now();
        if !self.limiter.admit(&caller.device, now) {
            return Err(WorkflowError::RateLimited(
                "too many support requests from this device in the last hour; the crisis lines are always open".into(),
            ));
        }
        let id = RequestId::random();
        let (first_due_at, step_ms) = rules::escalation_times(now, self.settings.delay_ms(body.urgency));
        let request = NewSupportRequest {
            id,
            urgency: body.urgency,
            mailbox: body.mailbox,
            secret_hash: sha256(body.mailbox_secret.as_bytes()),
            key_package: key_package.into(),
            created_at: rules::round_down_to_minute(now),
            first_due_at,
            step_ms,
        };
        match self.store.create_support_request(request).await {
            Ok(()) => {}
            Err(StoreError::Conflict(Conflict::MailboxExists)) => return Err(WorkflowError::MailboxExists),
            Err(err) => return Err(err.into()),
        }
        tracing::info!(urgency = body.urgency.as_str(), "a support request was created");
        escalation::offer_to_on_call(self, id, body.urgency, now).await;
        Ok(CreatedSupportRequest { id })
    }

    /// The request, if `secret` opens its mailbox.
    async fn as_requester(&self, id: &RequestId, secret: &MailboxSecret) -> Outcome<SupportRequestRecord> {
        let record = self.store.support_request(id).await?.ok_or_else(not_found)?;
        if !secret_matches(secret.as_bytes(), &record.secret_hash) {
            return Err(WorkflowError::WrongMailboxSecret);
        }
        Ok(record)
    }

    /// The requester's status (`POST /v1/support/requests/status` with the mailbox secret). A closed
    /// request is forgotten: `NotFound`.
    pub async fn status(&self, id: &RequestId, secret: &MailboxSecret) -> Outcome<SupportRequestStatus> {
        let record = self.as_requester(id, secret).await?;
        let status = match record.state {
            RequestState::Waiting => SupportStatus::Waiting,
            RequestState::Accepted { .. } => SupportStatus::Accepted,
        };
        Ok(SupportRequestStatus { status, urgency: record.urgency, created_at: record.created_at })
    }

    /// `GET /v1/support/queue` (peer supporters and coordinators): waiting requests, oldest first,
    /// with urgency and age only.
    pub async fn queue(&self, caller: &DeviceRecord) -> Outcome<SupportQueue> {
        WorkflowError::unless_approved(caller)?;
        rules::may_see_queue(&caller.roles).map_err(refused)?;
        let requests = self
            .store
            .waiting_support_requests()
            .await?
            .into_iter()
            .map(|r| QueuedSupportRequest { id: r.id, urgency: r.urgency, created_at: r.created_at, level: r.level })
            .collect();
        Ok(SupportQueue { requests })
    }

    /// `POST …/claim` (a trained peer supporter, or a coordinator): the first caller wins the
    /// requester's mailbox; everyone after gets `AlreadyClaimed`.
    pub async fn claim(&self, id: &RequestId, caller: &DeviceRecord) -> Outcome<ClaimedSupportRequest> {
        WorkflowError::unless_approved(caller)?;
        let now = self.clock.now();
        let roster = self.store.roster().await?;
        rules::may_take(&caller.roles, &caller.account, &roster, now).map_err(refused)?;
        match self.store.claim_support_request(id, &caller.account, now).await? {
            ClaimOutcome::Won { mailbox, urgency } => {
                tracing::info!("a support request was accepted");
                Ok(ClaimedSupportRequest { id: *id, mailbox, urgency })
            }
            ClaimOutcome::AlreadyClaimed => Err(WorkflowError::AlreadyClaimed),
            ClaimOutcome::NotFound => Err(not_found()),
        }
    }

    /// Closes a request for its requester (who proves the mailbox secret).
    pub async fn close_as_requester(&self, id: &RequestId, secret: &MailboxSecret) -> Outcome<()> {
        self.as_requester(id, secret).await?;
        self.close(id, None).await
    }

    /// Closes a request for the supporter who holds it, or a coordinator.
    pub async fn close_as_holder(&self, id: &RequestId, caller: &DeviceRecord) -> Outcome<()> {
        let record = self.store.support_request(id).await?.ok_or_else(not_found)?;
        let coordinator = caller.roles.contains(&Role::Coordinator);
        rules::may_close(record.state, &caller.account, coordinator).map_err(refused)?;
        // A holder's close deletes only while they still hold it: a hand-off after the check wins.
        self.close(id, (!coordinator).then_some(&caller.account)).await
    }

    /// Deletes the request, its timer and its unlinked mailbox (with anything still queued); with
    /// `held_by`, only if that account still holds it.
    async fn close(&self, id: &RequestId, held_by: Option<&AccountId>) -> Outcome<()> {
        if !self.store.close_support_request(id, held_by).await? {
            return Err(match self.store.support_request(id).await? {
                Some(_) => WorkflowError::Forbidden(None),
                None => not_found(),
            });
        }
        tracing::info!("a support request was closed");
        Ok(())
    }

    /// May `account` be handed a request now? It needs a device that is not revoked, and to be
    /// an EAP clinician, a coordinator, or a trained peer supporter on the roster.
    async fn may_receive_hand_off(&self, account: &AccountId, now: i64) -> Outcome<()> {
        let devices = self.store.list_devices().await?;
        let mut roles: Vec<Role> = Vec::new();
        let mut active = false;
        for d in devices.iter().filter(|d| d.account == *account && d.revoked_at.is_none()) {
            active = true;
            roles.extend(&d.roles);
        }
        if !active {
            return Err(WorkflowError::NotFound(Some("no account with an active device has this id".into())));
        }
        let roster = self.store.roster().await?;
        rules::may_receive(&roles, account, &roster, now).map_err(|refusal| match refusal {
            rules::Refusal::TrainingNotCurrent => WorkflowError::TrainingNotCurrent {
                caller: false,
                message: Some("that peer supporter's training is not current, so they cannot take this request".into()),
            },
            _ => WorkflowError::NotOnRoster {
                caller: false,
                message: Some("that person is not a trained peer supporter, an EAP clinician or a coordinator".into()),
            },
        })
    }

    /// `POST …/handoff` (the supporter who holds the request, or a coordinator): the request is
    /// now held by `to`, who may close it; the old holder may not.
    pub async fn hand_off(&self, id: &RequestId, caller: &DeviceRecord, to: AccountId) -> Outcome<HandedOff> {
        WorkflowError::unless_approved(caller)?;
        let now = self.clock.now();
        let record = self.store.support_request(id).await?.ok_or_else(not_found)?;
        let from = rules::hand_off_from(record.state, &caller.account, caller.roles.contains(&Role::Coordinator)).map_err(refused)?;
        self.may_receive_hand_off(&to, now).await?;
        match self.store.hand_off_support_request(id, &from, &to).await? {
            HandOffOutcome::HandedOff => {
                tracing::info!("a support request was handed off");
                Ok(HandedOff { claimed_by: to })
            }
            HandOffOutcome::NotClaimed => Err(WorkflowError::NotClaimed),
            // Someone handed it off meanwhile: the caller no longer holds it (a coordinator may retry).
            HandOffOutcome::NotClaimer if caller.account != from => Err(WorkflowError::AlreadyClaimed),
            HandOffOutcome::NotClaimer => Err(WorkflowError::Forbidden(None)),
            HandOffOutcome::NotFound => Err(not_found()),
        }
    }

    /// `POST /v1/support/mailboxes/push` with the mailbox secret: a push subscription for an
    /// unlinked mailbox, stored against the mailbox only.
    pub async fn register_mailbox_push(&self, mailbox: &MailboxId, secret: &MailboxSecret, body: &PushSubscriptionBody) -> Outcome<()> {
        match self.store.mailbox_access(mailbox).await? {
            Some(MailboxAccess::Unlinked { secret_hash, .. }) if secret_matches(secret.as_bytes(), &secret_hash) => {}
            Some(_) => return Err(WorkflowError::WrongMailboxSecret),
            None => return Err(not_found()),
        }
        let subscription =
            subscriptions::check(body, &self.push.allow_list)?;
        match self.store.add_mailbox_push_subscription(mailbox, &subscription).await {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(not_found()),
            Err(StoreError::Conflict(Conflict::EndpointInUse)) => Err(WorkflowError::Refused(
                "this endpoint is a device's push subscription; subscribe from a separate service-worker registration".into(),
            )),
            Err(StoreError::Conflict(_)) => {
                Err(WorkflowError::Refused("this mailbox has the most push subscriptions allowed; remove one first".into()))
            }
            Err(err) => Err(err.into()),
        }
    }
}
