//! MLS conversations for the browser: [`MlsIdentity`] and [`MlsClient`] over the core's `mls`
//! module. The JS host persists the state itself: after every call it takes the changes
//! (`takeChanges()`) and writes them to IndexedDB before it sends anything or acks a delivery.
//! Group ids cross as lowercase hex strings (usable as Map and IndexedDB keys).

use crate::convert::{number, object, parse};
use crate::keys::DeviceKeys;
use js_sys::{Array, Reflect, Uint8Array};
use sallyport_core::mls::{self, IgnoreReason, Member, MemberInfo, MlsClientError, MlsEvent, Outgoing};
use sallyport_core::protocol::MailboxId;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
export interface MlsMember { index: number; mailbox: string; signingKey: Uint8Array }
export interface MlsOutgoing { group: string; envelope: Uint8Array; to: string[]; commit: boolean; members: string[] }
export type MlsIgnoreReason =
    | "duplicate" | "own_message" | "stale_epoch" | "future_epoch" | "unknown_group" | "not_for_us" | "unknown_sender";
export type MlsEvent =
    | { type: "joined"; group: string; epoch: number; members: MlsMember[] }
    | { type: "message"; group: string; sender: MlsMember; plaintext: Uint8Array }
    | { type: "membership_changed"; group: string; epoch: number; committer?: MlsMember; added: MlsMember[]; removed: MlsMember[] }
    | { type: "removed"; group: string }
    | { type: "leave_requested"; group: string; member: MlsMember }
    | { type: "proposal_received"; group: string; sender?: MlsMember }
    | { type: "ignored"; group?: string; reason: MlsIgnoreReason };
/** A state change to persist: a value to put, or null to delete the key. */
export type MlsChange = [key: string, value: Uint8Array | null];
"#;

/// The MLS signing identity: the device's own key, or a fresh unlinked one for a pseudonymous
/// mailbox (keep its `secret()` next to the mailbox secret).
#[wasm_bindgen]
pub struct MlsIdentity {
    inner: mls::MlsIdentity,
}

#[wasm_bindgen]
impl MlsIdentity {
    /// The device's own signing key.
    #[wasm_bindgen(js_name = forDevice)]
    pub fn for_device(keys: &DeviceKeys) -> MlsIdentity {
        MlsIdentity { inner: mls::MlsIdentity::device(&keys.inner) }
    }

    /// A fresh key, for a pseudonymous mailbox.
    pub fn generate() -> MlsIdentity {
        MlsIdentity { inner: mls::MlsIdentity::generate() }
    }

    /// Restores a key saved with `secret()`.
    #[wasm_bindgen(js_name = fromSecret)]
    pub fn from_secret(secret: &[u8]) -> Result<MlsIdentity, JsError> {
        let seed = <[u8; 32]>::try_from(secret).map_err(|_| JsError::new("an MLS identity secret is 32 bytes"))?;
        Ok(MlsIdentity { inner: mls::MlsIdentity::from_secret_bytes(seed) })
    }

    /// The 32-byte Ed25519 seed (secret).
    pub fn secret(&self) -> Vec<u8> {
        self.inner.secret_bytes().to_vec()
    }

    /// The 32-byte Ed25519 public key (the credential key, for safety codes).
    #[wasm_bindgen(getter, js_name = publicKey)]
    pub fn public_key(&self) -> Vec<u8> {
        self.inner.public_key().to_vec()
    }
}

/// One MLS identity's groups and KeyPackages. Every method that changes state leaves changes for
/// `takeChanges()`; errors are JS `Error`s with a `code` (see `MlsClientError` in the core):
/// `pending_commit`, `commit_required`, `unknown_group`, `unknown_member`, `bad_key_package`,
/// `identity_mismatch`, `malformed`, `storage` or `mls`.
#[wasm_bindgen]
pub struct MlsClient {
    inner: mls::MlsClient,
}

#[wasm_bindgen]
impl MlsClient {
    /// A client for `identity` with mailbox `mailbox` (its credential holds only that mailbox, no
    /// name), from its saved state: a `Map<string, Uint8Array>` or any iterable of `[key, value]`
    /// pairs (empty for a new one).
    #[wasm_bindgen(constructor)]
    pub fn new(
        identity: &MlsIdentity,
        mailbox: &str,
        #[wasm_bindgen(unchecked_param_type = "Map<string, Uint8Array> | Iterable<[string, Uint8Array]>")]
        state: JsValue,
    ) -> Result<MlsClient, JsValue> {
        let member = MemberInfo::new(parse("mailbox", mailbox, MailboxId::parse)?);
        let inner = mls::MlsClient::new(identity.inner.clone(), member, state_entries(&state)?).map_err(mls_error)?;
        Ok(MlsClient { inner })
    }

    /// The changes since the last call, in order: `[key, value]` to put, `[key, null]` to delete.
    /// Write them all atomically (one IndexedDB transaction) before sending or acking.
    #[wasm_bindgen(js_name = takeChanges, unchecked_return_type = "MlsChange[]")]
    pub fn take_changes(&mut self) -> Array {
        self.inner
            .take_changes()
            .into_iter()
            .map(|(key, value)| {
                let value = value.map_or(JsValue::NULL, |v| Uint8Array::from(&v[..]).into());
                JsValue::from(Array::of2(&JsValue::from_str(&key), &value))
            })
            .collect()
    }

    #[wasm_bindgen(getter)]
    pub fn mailbox(&self) -> String {
        self.inner.member_info().mailbox.to_text()
    }

    /// The groups this client is a member of.
    pub fn groups(&self) -> Vec<String> {
        self.inner.groups().iter().map(hex::encode).collect()
    }

    /// `count` one-time KeyPackages to publish.
    #[wasm_bindgen(js_name = keyPackages)]
    pub fn key_packages(&mut self, count: usize) -> Result<Vec<Uint8Array>, JsValue> {
        let kps = self.inner.key_packages(count).map_err(mls_error)?;
        Ok(kps.iter().map(|kp| Uint8Array::from(&kp[..])).collect())
    }

    /// A new last-resort KeyPackage (replace it regularly, e.g. weekly).
    #[wasm_bindgen(js_name = lastResortKeyPackage)]
    pub fn last_resort_key_package(&mut self) -> Result<Vec<u8>, JsValue> {
        self.inner.last_resort_key_package().map_err(mls_error)
    }

    /// Creates a group with this client as its only member; returns its id.
    #[wasm_bindgen(js_name = createGroup)]
    pub fn create_group(&mut self) -> Result<String, JsValue> {
        self.inner.create_group().map(hex::encode).map_err(mls_error)
    }

    /// A commit adding the owners of `keyPackages`, each claimed from the server for the mailbox
    /// at the same position in `mailboxes` (a KeyPackage of another mailbox is refused), with
    /// their Welcome. Send it with `Session.groupSend`, then `commitAccepted` or `commitRejected`.
    #[wasm_bindgen(js_name = addMembers, unchecked_return_type = "MlsOutgoing")]
    pub fn add_members(
        &mut self,
        group: &str,
        mailboxes: Vec<String>,
        #[wasm_bindgen(js_name = keyPackages)] key_packages: Vec<Uint8Array>,
    ) -> Result<JsValue, JsValue> {
        let group = group_id(group)?;
        if mailboxes.len() != key_packages.len() {
            return Err(JsValue::from_str("addMembers needs one mailbox per KeyPackage"));
        }
        let claimed = mailboxes
            .iter()
            .zip(&key_packages)
            .map(|(m, kp)| Ok((parse("mailbox", m, MailboxId::parse)?, kp.to_vec())))
            .collect::<Result<Vec<_>, JsValue>>()?;
        outgoing(self.inner.add_claimed_members(&group, &claimed))
    }

    /// The 32-byte Ed25519 credential key of a KeyPackage (to check a claimed one is the device
    /// meant).
    #[wasm_bindgen(js_name = keyPackageSigningKey)]
    pub fn key_package_signing_key(#[wasm_bindgen(js_name = keyPackage)] key_package: &[u8]) -> Result<Vec<u8>, JsValue> {
        sallyport_core::mls::MlsClient::key_package_signing_key(key_package)
            .map(|k| k.to_vec())
            .map_err(|e| JsValue::from_str(&e.to_string()))
    }

    /// A commit removing every member whose mailbox is in `mailboxes`.
    #[wasm_bindgen(js_name = removeMembers, unchecked_return_type = "MlsOutgoing")]
    pub fn remove_members(&mut self, group: &str, mailboxes: Vec<String>) -> Result<JsValue, JsValue> {
        let group = group_id(group)?;
        let mailboxes =
            mailboxes.iter().map(|m| parse("mailbox", m, MailboxId::parse)).collect::<Result<Vec<_>, _>>()?;
        outgoing(self.inner.remove_members(&group, &mailboxes))
    }

    /// A commit removing the members at these leaf indexes (not our own: use `leave`).
    #[wasm_bindgen(js_name = removeIndexes, unchecked_return_type = "MlsOutgoing")]
    pub fn remove_indexes(&mut self, group: &str, indexes: Vec<u32>) -> Result<JsValue, JsValue> {
        outgoing(self.inner.remove_indexes(&group_id(group)?, &indexes))
    }

    /// A commit that only refreshes our leaf key (post-compromise security).
    #[wasm_bindgen(unchecked_return_type = "MlsOutgoing")]
    pub fn update(&mut self, group: &str) -> Result<JsValue, JsValue> {
        outgoing(self.inner.update(&group_id(group)?))
    }

    /// A commit of the pending proposals (a leave request), or `undefined` if there are none.
    #[wasm_bindgen(js_name = commitPending, unchecked_return_type = "MlsOutgoing | undefined")]
    pub fn commit_pending(&mut self, group: &str) -> Result<JsValue, JsValue> {
        match self.inner.commit_pending(&group_id(group)?).map_err(mls_error)? {
            Some(out) => Ok(outgoing_object(out)),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// Asks the other members to remove us.
    #[wasm_bindgen(unchecked_return_type = "MlsOutgoing")]
    pub fn leave(&mut self, group: &str) -> Result<JsValue, JsValue> {
        outgoing(self.inner.leave(&group_id(group)?))
    }

    /// Encrypts an application message for the group.
    #[wasm_bindgen(unchecked_return_type = "MlsOutgoing")]
    pub fn encrypt(&mut self, group: &str, plaintext: &[u8]) -> Result<JsValue, JsValue> {
        outgoing(self.inner.encrypt(&group_id(group)?, plaintext))
    }

    /// Processes one delivered group envelope (a `message` event's payload from a group mailbox).
    /// Throws only for deliveries that can never be processed: ack and drop those.
    #[wasm_bindgen(unchecked_return_type = "MlsEvent[]")]
    pub fn process(&mut self, envelope: &[u8]) -> Result<Array, JsValue> {
        events(self.inner.process(envelope))
    }

    /// The server accepted our commit: it takes effect here.
    #[wasm_bindgen(js_name = commitAccepted, unchecked_return_type = "MlsEvent[]")]
    pub fn commit_accepted(&mut self, group: &str) -> Result<Array, JsValue> {
        events(self.inner.commit_accepted(&group_id(group)?))
    }

    /// The server refused our commit: it is dropped; process the winner, then retry.
    #[wasm_bindgen(js_name = commitRejected)]
    pub fn commit_rejected(&mut self, group: &str) -> Result<(), JsValue> {
        self.inner.commit_rejected(&group_id(group)?).map_err(mls_error)
    }

    /// Whether a commit of ours awaits the server's answer.
    #[wasm_bindgen(js_name = hasPendingCommit)]
    pub fn has_pending_commit(&mut self, group: &str) -> Result<bool, JsValue> {
        self.inner.has_pending_commit(&group_id(group)?).map_err(mls_error)
    }

    /// The group's members, ourselves included.
    #[wasm_bindgen(unchecked_return_type = "MlsMember[]")]
    pub fn members(&mut self, group: &str) -> Result<Array, JsValue> {
        Ok(self.inner.members(&group_id(group)?).map_err(mls_error)?.iter().map(member_object).collect())
    }

    /// Our own leaf index in the group.
    #[wasm_bindgen(js_name = ownIndex)]
    pub fn own_index(&mut self, group: &str) -> Result<u32, JsValue> {
        self.inner.own_index(&group_id(group)?).map_err(mls_error)
    }

    pub fn epoch(&mut self, group: &str) -> Result<f64, JsValue> {
        Ok(self.inner.epoch(&group_id(group)?).map_err(mls_error)? as f64)
    }

    /// Every other member's mailbox, each once.
    pub fn recipients(&mut self, group: &str) -> Result<Vec<String>, JsValue> {
        Ok(self.inner.recipients(&group_id(group)?).map_err(mls_error)?.iter().map(|m| m.to_text()).collect())
    }
}

fn state_entries(state: &JsValue) -> Result<Vec<(String, Vec<u8>)>, JsValue> {
    if state.is_undefined() || state.is_null() {
        return Ok(Vec::new());
    }
    let bad = || JsValue::from(JsError::new("state must be a Map or an iterable of [string, Uint8Array] pairs"));
    let iter = js_sys::try_iter(state)?.ok_or_else(bad)?;
    let mut entries = Vec::new();
    for entry in iter {
        let entry = entry?;
        let key = Reflect::get_u32(&entry, 0)?.as_string().ok_or_else(bad)?;
        let value = Reflect::get_u32(&entry, 1)?.dyn_into::<Uint8Array>().map_err(|_| bad())?;
        entries.push((key, value.to_vec()));
    }
    Ok(entries)
}

fn group_id(text: &str) -> Result<Vec<u8>, JsError> {
    hex::decode(text).map_err(|_| JsError::new(&format!("a group id is lowercase hex, not {text:?}")))
}

/// A JS `Error` with the message and a stable `code`.
fn mls_error(error: MlsClientError) -> JsValue {
    let code = match &error {
        MlsClientError::Malformed(_) => "malformed",
        MlsClientError::UnknownGroup => "unknown_group",
        MlsClientError::UnknownMember => "unknown_member",
        MlsClientError::BadKeyPackage(_) => "bad_key_package",
        MlsClientError::IdentityMismatch => "identity_mismatch",
        MlsClientError::PendingCommit => "pending_commit",
        MlsClientError::CommitRequired => "commit_required",
        MlsClientError::Storage(_) => "storage",
        MlsClientError::Mls(_) => "mls",
    };
    let js = js_sys::Error::new(&error.to_string());
    let _ = Reflect::set(&js, &JsValue::from_str("code"), &JsValue::from_str(code));
    js.into()
}

fn outgoing(result: Result<Outgoing, MlsClientError>) -> Result<JsValue, JsValue> {
    result.map(outgoing_object).map_err(mls_error)
}

fn outgoing_object(out: Outgoing) -> JsValue {
    let to: Array = out.to.iter().map(|m| JsValue::from_str(&m.to_text())).collect();
    let members: Array = out.members.iter().map(|m| JsValue::from_str(&m.to_text())).collect();
    object(&[
        ("group", JsValue::from_str(&hex::encode(&out.group))),
        ("envelope", Uint8Array::from(&out.envelope[..]).into()),
        ("to", to.into()),
        ("commit", JsValue::from_bool(out.commit)),
        ("members", members.into()),
    ])
    .into()
}

fn events(result: Result<Vec<MlsEvent>, MlsClientError>) -> Result<Array, JsValue> {
    Ok(result.map_err(mls_error)?.into_iter().map(event_object).collect())
}

fn member_object(member: &Member) -> JsValue {
    object(&[
        ("index", JsValue::from(member.index)),
        ("mailbox", JsValue::from_str(&member.mailbox.to_text())),
        ("signingKey", Uint8Array::from(&member.signing_key[..]).into()),
    ])
    .into()
}

fn members_array(members: &[Member]) -> JsValue {
    members.iter().map(member_object).collect::<Array>().into()
}

fn event_object(event: MlsEvent) -> JsValue {
    let kind = |k: &str| ("type", JsValue::from_str(k));
    let group = |g: &[u8]| ("group", JsValue::from_str(&hex::encode(g)));
    let maybe_member = |m: Option<Member>| m.as_ref().map_or(JsValue::UNDEFINED, member_object);
    let object = match event {
        MlsEvent::Joined { group: g, epoch, members } => {
            object(&[kind("joined"), group(&g), ("epoch", number(epoch)), ("members", members_array(&members))])
        }
        MlsEvent::Message { group: g, sender, plaintext } => object(&[
            kind("message"),
            group(&g),
            ("sender", member_object(&sender)),
            ("plaintext", Uint8Array::from(&plaintext[..]).into()),
        ]),
        MlsEvent::MembershipChanged { group: g, epoch, committer, added, removed } => object(&[
            kind("membership_changed"),
            group(&g),
            ("epoch", number(epoch)),
            ("committer", maybe_member(committer)),
            ("added", members_array(&added)),
            ("removed", members_array(&removed)),
        ]),
        MlsEvent::Removed { group: g } => object(&[kind("removed"), group(&g)]),
        MlsEvent::LeaveRequested { group: g, member } => {
            object(&[kind("leave_requested"), group(&g), ("member", member_object(&member))])
        }
        MlsEvent::ProposalReceived { group: g, sender } => {
            object(&[kind("proposal_received"), group(&g), ("sender", maybe_member(sender))])
        }
        MlsEvent::Ignored { group: g, reason } => object(&[
            kind("ignored"),
            ("group", g.map_or(JsValue::UNDEFINED, |g| JsValue::from_str(&hex::encode(g)))),
            ("reason", JsValue::from_str(ignore_reason(reason))),
        ]),
    };
    object.into()
}

fn ignore_reason(reason: IgnoreReason) -> &'static str {
    match reason {
        IgnoreReason::Duplicate => "duplicate",
        IgnoreReason::OwnMessage => "own_message",
        IgnoreReason::StaleEpoch => "stale_epoch",
        IgnoreReason::FutureEpoch => "future_epoch",
        IgnoreReason::UnknownGroup => "unknown_group",
        IgnoreReason::NotForUs => "not_for_us",
        IgnoreReason::UnknownSender => "unknown_sender",
    }
}
