//! Debriefings, defusings and follow-up check-ins (protocol/README.md §18): a coordinator's client
//! schedules the pushes of one (a reminder or a check-in, each sealed to one recipient device),
//! changes or cancels it; the scheduler pass sends each push when it is due, once across nodes.
//! The programme's follow-up days live in `settings`.

use super::incidents::Paging;
use crate::domain::debriefs;
use crate::push::{PushOutcome, Report};
use crate::store::debriefs::{DebriefRecord, DuePush, NewDebriefPush, PutDebrief, PutOutcome};
use crate::store::{DeviceRecord, Store, StoreResult};
use crate::workflows::{Outcome, WorkflowError, require};
use base64::Engine as _;
use sallyport_protocol::debriefs::{DebriefBody, ProgrammeBody, PutDebriefRequest};
use sallyport_protocol::rest::Role;
use sallyport_protocol::{DebriefId, DeviceId};
use std::collections::HashMap;
use std::sync::Arc;

/// Pushes claimed per transaction, and how long a claim holds before another node may send it
/// (a node that died mid-send).
const CLAIM_BATCH: u32 = 200;
const CLAIM_LEASE_MS: i64 = 60_000;
/// What every debrief push says before (or without) the service worker: nothing about it.
pub const PUSH_TITLE: &str = "Sallyport";
pub const PUSH_BODY: &str = "You have a reminder. Open Sallyport to see it.";

/// Settings key of the programme's follow-up days (JSON `ProgrammeBody`).
pub const PROGRAMME_SETTING: &str = "programme";

fn body(record: DebriefRecord) -> DebriefBody {
    DebriefBody {
        id: record.id,
        kind: record.kind,
        at: record.at,
        revision: record.revision,
        cancelled_at: record.cancelled_at,
        pending: record.pending,
    }
}

/// A debrief id from the path: `400` if it is not 16 bytes of base64url.
fn debrief_id(text: &str) -> Outcome<DebriefId> {
    DebriefId::parse(text).ok_or_else(|| WorkflowError::Invalid("the debrief id is not 16 bytes of base64url".into()))
}

/// The debrief push for one device: a Declarative Web Push message with generic text (shown as
/// is if the service worker fails) and, for the service worker, the preview sealed to the device.
pub fn push_payload(debrief: &DebriefId, sealed: &[u8], public_url: &str) -> Vec<u8> {
    let id = debrief.to_text();
    serde_json::json!({
        "web_push": 8030,
        "notification": {
            "title": PUSH_TITLE,
            "body": PUSH_BODY,
            "navigate": format!("{public_url}/debriefs/{id}"),
            "tag": format!("debrief-{id}"),
        },
        "v": 1,
        "kind": "debrief",
        "debrief": id,
        "sealed": base64::engine::general_purpose::STANDARD.encode(sealed),
    })
    .to_string()
    .into_bytes()
}

/// The `Topic` tag of a debrief's pushes (keyed per device by the sender): a later notice
/// replaces an undelivered earlier one of the same debrief on the same device.
fn topic_tag(debrief: &DebriefId) -> Vec<u8> {
    let mut tag = b"debrief:".to_vec();
    tag.extend_from_slice(debrief.as_bytes());
    tag
}

impl Paging {
    /// `PUT /v1/debriefs/{id}` (coordinators).
    pub async fn put_debrief(self: &Arc<Self>, caller: &DeviceRecord, id: &str, request: PutDebriefRequest) -> Outcome<DebriefBody> {
        require(caller, Role::Coordinator)?;
        let id = debrief_id(id)?;
        let now = self.clock.now();
        debriefs::validate(&request, now).map_err(WorkflowError::Invalid)?;
        let devices: HashMap<DeviceId, DeviceRecord> = if request.notices.iter().any(|n| !n.sealed.is_empty()) {
            self.store.list_devices().await?.into_iter().map(|d| (d.device, d)).collect()
        } else {
            HashMap::new()
        };
        let mut pushes = Vec::new();
        for (i, notice) in request.notices.iter().enumerate() {
            for seal in &notice.sealed {
                match devices.get(&seal.device) {
                    Some(d) if d.revoked_at.is_none() && !d.is_pending() => {}
                    _ => {
                        return Err(WorkflowError::Invalid(format!(
                            "notices[{i}] names a device that is unknown, revoked or waiting for approval: {}",
                            seal.device
                        )));
                    }
                }
                pushes.push(NewDebriefPush {
                    notice: u32::try_from(i).unwrap_or(u32::MAX),
                    device: seal.device,
                    due_at: notice.at,
                    sealed: seal.sealed.0.to_vec(),
                });
            }
        }
        let put = PutDebrief { id, kind: request.kind, at: request.at, revision: request.revision, pushes: &pushes, now };
        match self.store.put_debrief(put).await? {
            PutOutcome::Saved(record) => {
                if pushes.iter().any(|p| p.due_at <= now) {
                    self.send_debrief_pushes_now();
                }
                Ok(body(record))
            }
            PutOutcome::Stale(current) => Err(WorkflowError::StaleRevision(current.revision)),
            PutOutcome::Unknown => Err(WorkflowError::not_found("debrief")),
            PutOutcome::Cancelled(_) => Err(WorkflowError::Refused("the debrief is cancelled: schedule a new one".into())),
        }
    }

    /// `GET /v1/debriefs/{id}` (coordinators).
    pub async fn get_debrief(&self, caller: &DeviceRecord, id: &str) -> Outcome<DebriefBody> {
        require(caller, Role::Coordinator)?;
        let id = debrief_id(id)?;
        let record = self.store.debrief(&id).await?.ok_or_else(|| WorkflowError::not_found("debrief"))?;
        Ok(body(record))
    }

    /// `DELETE /v1/debriefs/{id}` (coordinators): its unsent pushes go; cancelling again changes
    /// nothing.
    pub async fn cancel_debrief(&self, caller: &DeviceRecord, id: &str) -> Outcome<DebriefBody> {
        require(caller, Role::Coordinator)?;
        let id = debrief_id(id)?;
        let record = self.store.cancel_debrief(&id, self.clock.now()).await?.ok_or_else(|| WorkflowError::not_found("debrief"))?;
        Ok(body(record))
    }

    /// Sends the pushes due now without waiting for the next scheduler pass.
    fn send_debrief_pushes_now(self: &Arc<Self>) {
        let paging = self.clone();
        tokio::spawn(async move {
            if let Err(err) = paging.run_debrief_pushes().await {
                tracing::warn!(error = %err, "could not send debrief pushes; the scheduler will");
            }
        });
    }

    /// One pass: claims the debrief pushes due now and offers each to its device's
    /// subscriptions; a row goes once the push service has answered (or the device is revoked or
    /// has no subscription), and stays for another try after the lease if the push failed.
    pub async fn run_debrief_pushes(&self) -> StoreResult<usize> {
        let now = self.clock.now();
        let due = self.store.claim_debrief_pushes(now, CLAIM_LEASE_MS, CLAIM_BATCH).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let devices: HashMap<DeviceId, DeviceRecord> = self.store.list_devices().await?.into_iter().map(|d| (d.device, d)).collect();
        let mut offered = 0usize;
        for push in due {
            let mailbox = match devices.get(&push.device) {
                Some(d) if d.revoked_at.is_none() => d.mailbox,
                _ => {
                    finish(&*self.store, &push, false, now).await;
                    continue;
                }
            };
            let payload = push_payload(&push.debrief, &push.sealed, &self.public_url);
            let tag = topic_tag(&push.debrief);
            let report = {
                let (store, clock) = (self.store.clone(), self.clock.clone());
                Report::new(move |outcome: PushOutcome| {
                    tokio::spawn(async move {
                        match outcome {
                            PushOutcome::Sent => finish(&*store, &push, true, clock.now()).await,
                            PushOutcome::NoSubscription | PushOutcome::Gone | PushOutcome::Refused => {
                                finish(&*store, &push, false, clock.now()).await
                            }
                            // Tried again after the lease.
                            PushOutcome::Dropped | PushOutcome::Failed => {}
                        }
                    });
                })
            };
            self.push.offer_debrief(mailbox, &tag, payload, report);
            offered += 1;
        }
        tracing::info!(count = offered, "debrief pushes sent");
        Ok(offered)
    }
}

async fn finish(store: &dyn Store, push: &DuePush, sent: bool, now: i64) {
    if let Err(err) = store.finish_debrief_push(push, sent, now).await {
        tracing::warn!(error = %err, "could not record a debrief push as sent; it is sent again after its lease");
    }
}

/// `GET /v1/programme` (anyone enrolled): the follow-up days a coordinator set, or the default.
pub async fn programme(store: &dyn Store) -> Outcome<ProgrammeBody> {
    Ok(match store.setting(PROGRAMME_SETTING).await? {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            tracing::warn!("the stored programme settings are unreadable; using the default");
            ProgrammeBody::default()
        }),
        None => ProgrammeBody::default(),
    })
}

/// `PUT /v1/programme` (coordinators).
pub async fn set_programme(store: &dyn Store, caller: &DeviceRecord, body: ProgrammeBody) -> Outcome<ProgrammeBody> {
    require(caller, Role::Coordinator)?;
    debriefs::validate_followup_days(&body.followup_days).map_err(WorkflowError::Invalid)?;
    let bytes = serde_json::to_vec(&body).map_err(|e| WorkflowError::Invalid(e.to_string()))?;
    store.set_setting(PROGRAMME_SETTING, &bytes).await?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_push_says_nothing_but_carries_the_sealed_preview() {
        let id = DebriefId::random();
        let payload: serde_json::Value = serde_json::from_slice(&push_payload(&id, b"\x01\x02", "https://s.example")).unwrap();
        assert_eq!(payload["notification"]["title"], PUSH_TITLE);
        assert_eq!(payload["notification"]["body"], PUSH_BODY);
        assert_eq!(payload["kind"], "debrief");
        assert_eq!(payload["v"], 1);
        assert_eq!(payload["debrief"], id.to_text());
        assert_eq!(payload["sealed"], "AQI=");
    }
}
