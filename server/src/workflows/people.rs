//! Who is who, for someone signed in: their own account (`/v1/me`, whose roles decide the screens
//! the app shows), the directory of people with an active device, and a device approving a new
//! device of its own account (protocol/README.md §14).

use super::error::WorkflowError;
use super::Outcome;
use crate::clock::Clock;
use crate::domain::signatures;
use crate::store::{Approval, DeviceRecord, Store};
use sallyport_protocol::AccountId;
use sallyport_protocol::auth::device_approval_message;
use sallyport_protocol::rest::{ApproveDeviceRequest, DirectoryBody, DirectoryDevice, MeBody, Person};
use std::collections::BTreeMap;

/// `GET /v1/me`: the calling device and its account.
pub fn me(caller: DeviceRecord) -> MeBody {
    MeBody {
        account: caller.account,
        device: caller.device,
        mailbox: caller.mailbox,
        approved: !caller.is_pending(),
        display_name: caller.display_name,
        roles: caller.roles,
    }
}

/// `GET /v1/directory`: accounts with at least one active device, by name, with those devices and
/// the linked mailboxes of the approved ones.
pub async fn directory(store: &dyn Store) -> Outcome<DirectoryBody> {
    let mut people: BTreeMap<AccountId, Person> = BTreeMap::new();
    for d in store.list_devices().await? {
        if d.revoked_at.is_some() {
            continue;
        }
        let person = people.entry(d.account).or_insert_with(|| Person {
            account: d.account,
            display_name: d.display_name.clone(),
            roles: d.roles.clone(),
            mailboxes: vec![],
            devices: vec![],
        });
        if !d.is_pending() {
            person.mailboxes.push(d.mailbox);
        }
        let (approved_by, approval) = match d.approval {
            Approval::Signed { by, signature } => (Some(by), Some(signature)),
            _ => (None, None),
        };
        person.devices.push(DirectoryDevice {
            device: d.device,
            mailbox: d.mailbox,
            signing_key: d.signing_key,
            notification_key: d.notification_key,
            approved: approval.is_some() || d.approval == Approval::First,
            approved_by,
            approval,
        });
    }
    let mut people: Vec<Person> = people.into_values().collect();
    people.sort_by_key(|p| p.display_name.to_lowercase());
    Ok(DirectoryBody { people })
}

/// `POST /v1/devices/approve`: the caller, an approved device, signs a pending device of its own
/// account. The signature must verify with the caller's key over the pending device's ids and keys,
/// so the server (or an administrator) cannot approve a device itself.
pub async fn approve_device(store: &dyn Store, clock: &Clock, caller: &DeviceRecord, request: ApproveDeviceRequest) -> Outcome<()> {
    if caller.is_pending() {
        return Err(WorkflowError::Forbidden(Some("this device waits for approval itself".into())));
    }
    let target = store.device(&request.device).await?.ok_or_else(|| WorkflowError::not_found("device"))?;
    if target.account != caller.account || target.revoked_at.is_some() {
        return Err(WorkflowError::not_found("device"));
    }
    if !target.is_pending() {
        return Err(WorkflowError::Refused("this device is approved already".into()));
    }
    let message = device_approval_message(&target.account, &target.device, &target.mailbox, &target.signing_key, &target.notification_key);
    if !signatures::verifies(caller.signing_key.as_bytes(), &message, request.signature.as_bytes()) {
        return Err(WorkflowError::Invalid("signature does not verify with this device's key over the new device's keys".into()));
    }
    if !store.approve_device(&target.device, &caller.device, &request.signature, clock.now()).await? {
        return Err(WorkflowError::Refused("the device was revoked or approved meanwhile".into()));
    }
    Ok(())
}
