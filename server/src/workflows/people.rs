//! Who is who, for someone signed in: their own account (`/v1/me`, whose roles decide the screens
//! the app shows) and the directory of people with an active device.

use super::Outcome;
use crate::store::{DeviceRecord, Store};
use sallyport_protocol::AccountId;
use sallyport_protocol::rest::{DirectoryBody, MeBody, Person};
use std::collections::BTreeMap;

/// `GET /v1/me`: the calling device and its account.
pub fn me(caller: DeviceRecord) -> MeBody {
    MeBody {
        account: caller.account,
        device: caller.device,
        mailbox: caller.mailbox,
        display_name: caller.display_name,
        roles: caller.roles,
    }
}

/// `GET /v1/directory`: accounts with at least one active device, by name, with those devices'
/// linked mailboxes.
pub async fn directory(store: &dyn Store) -> Outcome<DirectoryBody> {
    let mut people: BTreeMap<AccountId, Person> = BTreeMap::new();
    for d in store.list_devices().await? {
        if d.revoked_at.is_some() {
            continue;
        }
        people
            .entry(d.account)
            .or_insert_with(|| Person { account: d.account, display_name: d.display_name, roles: d.roles, mailboxes: vec![] })
            .mailboxes
            .push(d.mailbox);
    }
    let mut people: Vec<Person> = people.into_values().collect();
    people.sort_by_key(|p| p.display_name.to_lowercase());
    Ok(DirectoryBody { people })
}
