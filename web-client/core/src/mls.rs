//! MLS (RFC 9420) conversations behind a small, synchronous, I/O-free API: bytes in, events out.
//!
//! [`MlsClient`] wraps an mls-rs client (ciphersuite `MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519`)
//! for one identity: an Ed25519 signing key (the device's own key, or a fresh one for a
//! pseudonymous, unlinked mailbox: see [`MlsIdentity`]) plus a [`MemberInfo`] (the mailbox only)
//! carried in the MLS BasicCredential, so that every member can compute the mailboxes a group's
//! messages go to. A credential holds no name: KeyPackages are stored by the server, so names
//! travel elsewhere (the directory for devices, an encrypted application message for a
//! pseudonymous requester).
//!
//! Everything it produces is an [`Outgoing`]: a [`GroupEnvelope`] (one MLS message, plus the
//! Welcome for an add) and the mailboxes to `group_send` it to. Everything delivered goes through
//! [`MlsClient::process`], which returns [`MlsEvent`]s; deliveries that are harmless to drop
//! (duplicates, our own echo, stale commits) come back as [`MlsEvent::Ignored`] rather than as
//! errors, so the caller acks them and moves on.
//!
//! Handshake messages (proposals, commits) are encrypted (`PrivateMessage`) like application
//! messages, so the server sees only the group id, the epoch and the content type, never who is
//! added or removed. Application messages are padded (Padmé) to hide their exact length.
//!
//! ## Commits and the server
//!
//! The server accepts the first commit for an epoch and refuses the others. After sending an
//! `Outgoing` with `commit: true`, call [`MlsClient::commit_accepted`] when the server accepts it
//! (the commit takes effect locally) or [`MlsClient::commit_rejected`] when it refuses it; then
//! process the winning commit (it arrives as a delivery) and retry the operation (member indexes
//! may have changed). While a commit is in flight, new commits on that group fail with
//! [`MlsClientError::PendingCommit`]; application messages can still be sent and received.
//!
//! ## Leaving
//!
//! A member cannot commit its own removal. [`MlsClient::leave`] sends a Remove proposal for the
//! caller's own leaf; the other members see [`MlsEvent::LeaveRequested`] and one of them commits it
//! with [`MlsClient::commit_pending`] (policy for the app: the lowest-index remaining member at
//! once, anyone else before sending its next message, since pending proposals block
//! [`MlsClient::encrypt`] with [`MlsClientError::CommitRequired`]). The leaver is removed when that
//! commit arrives ([`MlsEvent::Removed`]). A proposal is valid only in its epoch: if another commit
//! wins first, the leaver sees [`MlsEvent::MembershipChanged`] without its removal and calls
//! `leave` again.
//!
//! ## Persistence
//!
//! The state lives in a [`KvState`]; see [`crate::storage`]. With a [`StateStore`] attached
//! ([`MlsClient::open`]), the client flushes to it synchronously: after encrypting or committing
//! and before returning the `Outgoing` (so a message is never sent from a state that was not
//! saved: reusing a ratchet generation after a crash would make it undecryptable), and after
//! processing a delivery before returning its events (so the caller may ack after handling them).
//! Without a store ([`MlsClient::new`]), the host calls [`MlsClient::take_changes`] after each call
//! and persists the changes itself under the same rule: before sending, before acking. An error
//! from the store leaves the in-memory state ahead of the stored one: drop the client and reload.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use mls_rs::client_builder::{
    BaseConfig, PaddingMode, WithCryptoProvider, WithGroupStateStorage, WithIdentityProvider, WithKeyPackageRepo,
    WithMlsRules, WithPskStore,
};
use mls_rs::crypto::{SignaturePublicKey, SignatureSecretKey};
use mls_rs::error::{IntoAnyError, MlsError};
use mls_rs::group::proposal::Proposal;
use mls_rs::group::{CommitBuilder, CommitEffect, CommitMessageDescription, ProposalSender, ReceivedMessage};
use mls_rs::identity::basic::BasicCredential;
use mls_rs::identity::{CredentialType, SigningIdentity};
use mls_rs::mls_rules::{CommitOptions, DefaultMlsRules, EncryptionOptions};
use mls_rs::time::MlsTime;
use mls_rs::{CipherSuite, Client, ExtensionList, Group, IdentityProvider, MlsMessage};
use mls_rs_core::identity::MemberValidationContext;
use sallyport_protocol::MailboxId;
use sallyport_protocol::group::GroupEnvelope;

use crate::identity::DeviceKeys;
use crate::storage::{self, Change, KvState, StateStore, StoreError};
use crate::suite::SuiteProvider;

/// The one ciphersuite: X25519, ChaCha20-Poly1305, SHA-256, Ed25519.
pub const CIPHER_SUITE: CipherSuite = CipherSuite::CURVE25519_CHACHA;

/// The start of today (UTC), as a KeyPackage's `not_before`: a KeyPackage's lifetime is public to
/// the server, and a lifetime starting at the second it was made would date a reach-out to the
/// second (the request's KeyPackage). Both ends of the lifetime fall on midnight UTC.
fn start_of_day() -> MlsTime {
    let now = MlsTime::now().seconds_since_epoch();
    MlsTime::from(now - now % 86_400)
}

/// Lifetime of one-time KeyPackages: a KeyPackage older than this can no longer be used to add
/// its owner. Publish fresh ones when the server says they run low.
pub const KEY_PACKAGE_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// Lifetime of the last-resort KeyPackage, handed out by the server when the one-time ones are
/// gone. Replace it (call [`MlsClient::last_resort_key_package`] and publish it) well before
/// this, e.g. weekly.
pub const LAST_RESORT_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);

/// An MLS group id (32 random bytes for groups created here).
pub type GroupId = Vec<u8>;

type Config = WithCryptoProvider<
    SuiteProvider,
    WithMlsRules<
        DefaultMlsRules,
        WithIdentityProvider<
            SallyportIdentityProvider,
            WithGroupStateStorage<KvState, WithPskStore<KvState, WithKeyPackageRepo<KvState, BaseConfig>>>,
        >,
    >,
>;

/// Who a member is, as carried in its MLS BasicCredential: the mailbox its messages are delivered
/// to, and nothing a person typed (the server stores KeyPackages, credentials included).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberInfo {
    pub mailbox: MailboxId,
}

impl MemberInfo {
    /// Version 1 also carried a handle (a display name or pseudonym) and is refused.
    const VERSION: u8 = 2;
    const LEN: usize = 17;

    pub fn new(mailbox: MailboxId) -> Self {
        MemberInfo { mailbox }
    }

    /// The credential identity bytes: `0x02` · mailbox (16 bytes), exactly 17 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::LEN);
        out.push(Self::VERSION);
        out.extend_from_slice(self.mailbox.as_bytes());
        out
    }

    /// Decodes credential identity bytes: version 2 and exactly a mailbox; anything else (a
    /// version-1 credential with its handle, trailing bytes) is refused.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::LEN || bytes[0] != Self::VERSION {
            return None;
        }
        Some(MemberInfo { mailbox: MailboxId::from_slice(&bytes[1..])? })
    }
}

/// A group member as the application sees it. `index` is the member's leaf index in the group
/// (stable while it is a member; reused after it leaves).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Member {
    pub index: u32,
    pub mailbox: MailboxId,
    /// The member's Ed25519 credential key (for safety codes, see [`crate::safety`]).
    pub signing_key: [u8; 32],
}

impl Member {
    fn from_mls(index: u32, identity: &SigningIdentity) -> Option<Member> {
        let info = MemberInfo::decode(&identity.credential.as_basic()?.identifier)?;
        Some(Member { index, mailbox: info.mailbox, signing_key: identity.signature_key.as_bytes().try_into().ok()? })
    }
}

/// The MLS signing identity: an Ed25519 key. The device's key links the member to the enrolled
/// device; a fresh key ([`MlsIdentity::generate`]) is unlinked, for a pseudonymous mailbox (a
/// KeyPackage for an unlinked mailbox must not carry the device's key). The host must keep a
/// pseudonymous key ([`MlsIdentity::secret_bytes`]) next to the mailbox secret.
#[derive(Clone)]
pub struct MlsIdentity {
    signing: SigningKey,
}

impl MlsIdentity {
    /// The device's own signing key.
    pub fn device(keys: &DeviceKeys) -> Self {
        MlsIdentity { signing: keys.signing_key().clone() }
    }

    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the operating system's random source is unavailable");
        Self::from_secret_bytes(seed)
    }

    /// A key from its 32-byte Ed25519 seed.
    pub fn from_secret_bytes(seed: [u8; 32]) -> Self {
        MlsIdentity { signing: SigningKey::from_bytes(&seed) }
    }

    /// The 32-byte seed, to persist a generated identity (a secret).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }
}

impl std::fmt::Debug for MlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlsIdentity").field("public_key", &hex::encode(self.public_key())).finish_non_exhaustive()
    }
}

/// A check of a member's (mailbox, key) against what the server's directory publishes.
/// Called for every member in every group state the client accepts (joins and commits). Not
/// wired to a directory yet: without one, any well-formed credential is accepted.
pub trait MemberDirectory: Send + Sync {
    fn check(&self, member: &MemberInfo, signing_key: &[u8]) -> Result<(), String>;
}

/// mls-rs identity provider: BasicCredentials whose identity decodes as a [`MemberInfo`], with an
/// Ed25519 key, optionally checked against a [`MemberDirectory`].
#[derive(Clone, Default)]
pub struct SallyportIdentityProvider {
    directory: Option<Arc<dyn MemberDirectory>>,
}

/// Why a credential was refused.
#[derive(Debug, thiserror::Error)]
#[error("credential refused: {0}")]
pub struct CredentialError(String);

impl IntoAnyError for CredentialError {
    fn into_dyn_error(self) -> Result<Box<dyn std::error::Error + Send + Sync>, Self> {
        Ok(Box::new(self))
    }
}

impl SallyportIdentityProvider {
    fn member_info(identity: &SigningIdentity) -> Result<MemberInfo, CredentialError> {
        let basic = identity.credential.as_basic().ok_or_else(|| CredentialError("not a basic credential".into()))?;
        MemberInfo::decode(&basic.identifier)
            .ok_or_else(|| CredentialError("identity is not a Sallyport member".into()))
    }

    fn check(&self, identity: &SigningIdentity) -> Result<MemberInfo, CredentialError> {
        let info = Self::member_info(identity)?;
        if identity.signature_key.as_bytes().len() != 32 {
            return Err(CredentialError("not an Ed25519 key".into()));
        }
        if let Some(directory) = &self.directory {
            directory.check(&info, identity.signature_key.as_bytes()).map_err(CredentialError)?;
        }
        Ok(info)
    }
}

impl IdentityProvider for SallyportIdentityProvider {
    type Error = CredentialError;

    fn validate_member(
        &self,
        signing_identity: &SigningIdentity,
        _timestamp: Option<MlsTime>,
        _context: MemberValidationContext<'_>,
    ) -> Result<(), CredentialError> {
        self.check(signing_identity).map(|_| ())
    }

    fn validate_external_sender(
        &self,
        _signing_identity: &SigningIdentity,
        _timestamp: Option<MlsTime>,
        _extensions: Option<&ExtensionList>,
    ) -> Result<(), CredentialError> {
        Err(CredentialError("external senders are not used".into()))
    }

    fn identity(
        &self,
        signing_identity: &SigningIdentity,
        _extensions: &ExtensionList,
    ) -> Result<Vec<u8>, CredentialError> {
        Ok(Self::member_info(signing_identity)?.encode())
    }

    fn valid_successor(
        &self,
        predecessor: &SigningIdentity,
        successor: &SigningIdentity,
        _extensions: &ExtensionList,
    ) -> Result<bool, CredentialError> {
        Ok(Self::member_info(predecessor)? == Self::member_info(successor)?)
    }

    fn supported_types(&self) -> Vec<CredentialType> {
        vec![CredentialType::BASIC]
    }
}

/// Something to send with `group_send`: `envelope` (a [`GroupEnvelope`], with the Welcome for an
/// add) to every mailbox in `to`. `commit` says the server will order it (call
/// [`MlsClient::commit_accepted`] or [`MlsClient::commit_rejected`] with its answer).
/// `members`, for a commit only (empty otherwise): every member's mailbox once the commit takes
/// effect, our own included and removed members excluded, sorted; it goes in the `group_send`
/// frame, and the server accepts the group's later messages only from readers of these mailboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub group: GroupId,
    pub envelope: Vec<u8>,
    pub to: Vec<MailboxId>,
    pub commit: bool,
    pub members: Vec<MailboxId>,
}

/// Why a delivery was ignored. All of these are safe to ack, except `FutureEpoch`, which may be
/// kept and processed again after the next commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// Already processed (a repeated application message or proposal, or a Welcome for a group
    /// already joined at that epoch or later).
    Duplicate,
    /// Our own message echoed back.
    OwnMessage,
    /// From an epoch that is over (a losing or repeated commit, or a message older than the
    /// retained epochs).
    StaleEpoch,
    /// From an epoch this client has not reached yet (its commit has not been processed).
    FutureEpoch,
    /// For a group this client is not (or no longer) a member of.
    UnknownGroup,
    /// A Welcome this client has no KeyPackage for.
    NotForUs,
    /// The sender of a late message could not be named.
    UnknownSender,
}

/// What processing a delivery (or the server accepting our commit) produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MlsEvent {
    /// We joined `group` from a Welcome.
    Joined { group: GroupId, epoch: u64, members: Vec<Member> },
    /// An application message.
    Message { group: GroupId, sender: Member, plaintext: Vec<u8> },
    /// A commit took effect: the group is now at `epoch`. `committer` is who made it (absent when
    /// unknown). Empty `added` and `removed` mean a key update.
    MembershipChanged {
        group: GroupId,
        epoch: u64,
        committer: Option<Member>,
        added: Vec<Member>,
        removed: Vec<Member>,
    },
    /// We were removed from `group` (or our leave was committed); its state is deleted.
    Removed { group: GroupId },
    /// `member` asked to leave: someone must [`MlsClient::commit_pending`].
    LeaveRequested { group: GroupId, member: Member },
    /// Another proposal was received: someone must [`MlsClient::commit_pending`].
    ProposalReceived { group: GroupId, sender: Option<Member> },
    /// Nothing to show; ack it (see [`IgnoreReason`]).
    Ignored { group: Option<GroupId>, reason: IgnoreReason },
}

/// Why an MLS operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MlsClientError {
    #[error("malformed input: {0}")]
    Malformed(&'static str),
    #[error("not a member of this group")]
    UnknownGroup,
    #[error("no such member in the group")]
    UnknownMember,
    #[error("invalid KeyPackage: {0}")]
    BadKeyPackage(String),
    #[error("the stored state belongs to another identity")]
    IdentityMismatch,
    #[error("a commit of ours is waiting for the server's answer")]
    PendingCommit,
    #[error("pending proposals must be committed first (commit_pending)")]
    CommitRequired,
    #[error("persisting MLS state failed: {0}")]
    Storage(#[from] StoreError),
    #[error("MLS error: {0}")]
    Mls(MlsError),
}

impl From<MlsError> for MlsClientError {
    fn from(e: MlsError) -> Self {
        match e {
            MlsError::ExistingPendingCommit => MlsClientError::PendingCommit,
            MlsError::CommitRequired => MlsClientError::CommitRequired,
            MlsError::GroupNotFound => MlsClientError::UnknownGroup,
            e => MlsClientError::Mls(e),
        }
    }
}

pub type Result<T, E = MlsClientError> = std::result::Result<T, E>;

/// One MLS identity's groups and KeyPackages. See the module documentation.
pub struct MlsClient {
    identity: MlsIdentity,
    member: MemberInfo,
    kv: KvState,
    provider: SallyportIdentityProvider,
    client: Client<Config>,
    groups: HashMap<GroupId, Group<Config>>,
    store: Option<Box<dyn StateStore + Send>>,
}

const SELF_KEY: &str = "self";

impl MlsClient {
    /// A client from state the host loaded itself (empty for a new identity). Nothing is
    /// persisted automatically: call [`MlsClient::take_changes`] after every call and store the
    /// changes before sending or acking.
    pub fn new(identity: MlsIdentity, member: MemberInfo, state: Vec<(String, Vec<u8>)>) -> Result<Self> {
        let kv = KvState::from_entries(state);
        let mut self_record = member.encode();
        self_record.extend_from_slice(&identity.public_key());
        match kv.value(SELF_KEY) {
            Some(stored) if *stored != self_record => return Err(MlsClientError::IdentityMismatch),
            Some(_) => {}
            None => kv.set(SELF_KEY.to_owned(), self_record),
        }
        let provider = SallyportIdentityProvider::default();
        let client = build_client(&identity, &member.encode(), &kv, &provider, KEY_PACKAGE_LIFETIME);
        Ok(MlsClient { identity, member, kv, provider, client, groups: HashMap::new(), store: None })
    }

    /// A client persisted in `store`: loads everything from it and flushes to it synchronously
    /// (see the module documentation).
    pub fn open(identity: MlsIdentity, member: MemberInfo, mut store: Box<dyn StateStore + Send>) -> Result<Self> {
        let state = store.load_all()?;
        let mut client = Self::new(identity, member, state)?;
        client.store = Some(store);
        client.flush()?;
        Ok(client)
    }

    /// A client for the device's linked mailbox, signing with the device's key.
    pub fn for_device(keys: &DeviceKeys, member: MemberInfo, store: Box<dyn StateStore + Send>) -> Result<Self> {
        Self::open(MlsIdentity::device(keys), member, store)
    }

    /// Checks every member's credential against `directory` from now on.
    pub fn set_directory(&mut self, directory: Arc<dyn MemberDirectory>) {
        self.provider = SallyportIdentityProvider { directory: Some(directory) };
        self.client = build_client(&self.identity, &self.member.encode(), &self.kv, &self.provider, KEY_PACKAGE_LIFETIME);
        self.groups.clear();
    }

    /// The changes since the last call, for a host that persists them itself. With a store
    /// attached, they were already flushed and this is empty.
    pub fn take_changes(&mut self) -> Vec<Change> {
        self.kv.take_changes()
    }

    /// Writes pending changes to the attached store (a no-op without one).
    pub fn flush(&mut self) -> Result<()> {
        if let Some(store) = self.store.as_mut() {
            let changes = self.kv.take_changes();
            if !changes.is_empty()
                && let Err(e) = store.apply(changes.clone())
            {
                self.kv.restore_changes(&changes);
                return Err(e.into());
            }
        }
        Ok(())
    }

    pub fn member_info(&self) -> &MemberInfo {
        &self.member
    }

    pub fn identity(&self) -> &MlsIdentity {
        &self.identity
    }

    /// The groups this client is a member of.
    pub fn groups(&self) -> Vec<GroupId> {
        storage::stored_groups(&self.kv)
    }

    /// `n` one-time KeyPackages to publish (their private keys are stored and deleted when used).
    /// Also drops the keys of expired unused KeyPackages.
    pub fn key_packages(&mut self, n: usize) -> Result<Vec<Vec<u8>>> {
        self.purge_expired_key_packages();
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let kp = self.client.generate_key_package_message(
                ExtensionList::default(),
                ExtensionList::default(),
                Some(start_of_day()),
            )?;
            out.push(kp.to_bytes()?);
        }
        self.flush()?;
        Ok(out)
    }

    /// A last-resort KeyPackage, valid for [`LAST_RESORT_LIFETIME`]. The server hands it out when
    /// the one-time KeyPackages are gone, possibly to several adders, so its private keys are kept
    /// after a join (unlike one-time ones): that costs forward secrecy for Welcomes made with it
    /// until it is replaced. Each call makes a new one; the keys of the previous one are kept too
    /// (the server may still hand it out), older ones are deleted.
    pub fn last_resort_key_package(&mut self) -> Result<Vec<u8>> {
        let before: std::collections::HashSet<String> = self.kv.keys_with_prefix("kp.").into_iter().collect();
        let client = build_client(&self.identity, &self.member.encode(), &self.kv, &self.provider, LAST_RESORT_LIFETIME);
        let kp = client.generate_key_package_message(ExtensionList::default(), ExtensionList::default(), Some(start_of_day()))?;
        let mut ours: Vec<(u64, String)> = self
            .kv
            .keys_with_prefix("lr.")
            .into_iter()
            .filter_map(|k| {
                let seq = u64::from_be_bytes(self.kv.value(&k)?.as_slice().try_into().ok()?);
                Some((seq, k))
            })
            .collect();
        ours.sort();
        let next = ours.last().map_or(1, |(seq, _)| seq + 1);
        for key in self.kv.keys_with_prefix("kp.").into_iter().filter(|k| !before.contains(k)) {
            self.kv.set(format!("lr.{}", &key[3..]), next.to_be_bytes().to_vec());
        }
        for (_, key) in ours.iter().rev().skip(1) {
            self.kv.unset(key);
            self.kv.unset(&format!("kp.{}", &key[3..]));
        }
        self.flush()?;
        Ok(kp.to_bytes()?)
    }

    fn purge_expired_key_packages(&mut self) {
        use mls_rs::mls_rs_codec::MlsDecode;
        let now = MlsTime::now().seconds_since_epoch();
        for key in self.kv.keys_with_prefix("kp.") {
            let Some(bytes) = self.kv.value(&key) else { continue };
            let expired = mls_rs_core::key_package::KeyPackageData::mls_decode(&mut bytes.as_slice())
                .map_or(true, |data| data.expiration < now);
            if expired {
                self.kv.unset(&key);
                self.kv.unset(&format!("lr.{}", &key[3..]));
            }
        }
    }

    /// Creates a group with a random 32-byte id, with this client as its only member.
    pub fn create_group(&mut self) -> Result<GroupId> {
        let mut group = self.client.create_group(ExtensionList::default(), ExtensionList::default(), None)?;
        let id = group.group_id().to_vec();
        group.write_to_storage()?;
        self.groups.insert(id.clone(), group);
        self.flush()?;
        Ok(id)
    }

    /// A commit adding the owners of `key_packages`, with the Welcome for them. Sent to the
    /// current members and the new ones. For KeyPackages claimed from the server, prefer
    /// [`add_claimed_members`](Self::add_claimed_members).
    pub fn add_members(&mut self, group: &[u8], key_packages: &[Vec<u8>]) -> Result<Outgoing> {
        self.add(group, key_packages.iter().map(|kp| (None, kp)))
    }

    /// Like [`add_members`](Self::add_members), for KeyPackages claimed from the server, each
    /// with the mailbox it was claimed from: a KeyPackage whose credential names another mailbox
    /// is refused (`BadKeyPackage`), so the server cannot substitute someone else for the person
    /// being added.
    pub fn add_claimed_members(&mut self, group: &[u8], claimed: &[(MailboxId, Vec<u8>)]) -> Result<Outgoing> {
        self.add(group, claimed.iter().map(|(mailbox, kp)| (Some(*mailbox), kp)))
    }

    fn add<'a>(&mut self, group: &[u8], key_packages: impl Iterator<Item = (Option<MailboxId>, &'a Vec<u8>)>) -> Result<Outgoing> {
        let mut messages = Vec::new();
        let mut new_mailboxes = Vec::new();
        for (claimed_from, bytes) in key_packages {
            let message = MlsMessage::from_bytes(bytes).map_err(|e| MlsClientError::BadKeyPackage(e.to_string()))?;
            let kp = message
                .clone()
                .into_key_package()
                .ok_or_else(|| MlsClientError::BadKeyPackage("not a KeyPackage".into()))?;
            let info =
                self.provider.check(kp.signing_identity()).map_err(|e| MlsClientError::BadKeyPackage(e.to_string()))?;
            if claimed_from.is_some_and(|m| m != info.mailbox) {
                return Err(MlsClientError::BadKeyPackage("the KeyPackage belongs to another mailbox".into()));
            }
            new_mailboxes.push(info.mailbox);
            messages.push(message);
        }
        self.commit(group, new_mailboxes, Vec::new(), |mut builder| {
            for message in messages {
                builder = builder.add_member(message)?;
            }
            Ok(builder)
        })
    }

    /// The Ed25519 credential key of a KeyPackage, so a client can check that a claimed KeyPackage
    /// is the device it means to add (the one whose key the directory and its approval name).
    pub fn key_package_signing_key(bytes: &[u8]) -> Result<[u8; 32]> {
        let kp = MlsMessage::from_bytes(bytes)
            .map_err(|e| MlsClientError::BadKeyPackage(e.to_string()))?
            .into_key_package()
            .ok_or_else(|| MlsClientError::BadKeyPackage("not a KeyPackage".into()))?;
        kp.signing_identity()
            .signature_key
            .as_bytes()
            .try_into()
            .map_err(|_| MlsClientError::BadKeyPackage("not an Ed25519 key".into()))
    }

    /// A commit removing every member whose mailbox is in `mailboxes`.
    pub fn remove_members(&mut self, group: &[u8], mailboxes: &[MailboxId]) -> Result<Outgoing> {
        let indexes: Vec<u32> =
            self.members(group)?.into_iter().filter(|m| mailboxes.contains(&m.mailbox)).map(|m| m.index).collect();
        if indexes.is_empty() {
            return Err(MlsClientError::UnknownMember);
        }
        self.remove_indexes(group, &indexes)
    }

    /// A commit removing the members at `indexes` (not our own: use [`MlsClient::leave`]).
    pub fn remove_indexes(&mut self, group: &[u8], indexes: &[u32]) -> Result<Outgoing> {
        let own = self.group(group)?.current_member_index();
        if indexes.is_empty() || indexes.contains(&own) {
            return Err(MlsClientError::UnknownMember);
        }
        let removed = indexes.to_vec();
        let indexes = indexes.to_vec();
        self.commit(group, Vec::new(), removed, move |mut builder| {
            for index in indexes {
                builder = builder.remove_member(index)?;
            }
            Ok(builder)
        })
    }

    /// A commit with a fresh leaf key and nothing else (post-compromise security).
    pub fn update(&mut self, group: &[u8]) -> Result<Outgoing> {
        self.commit(group, Vec::new(), Vec::new(), no_change)
    }

    /// A commit of the proposals received in this epoch (a leave request), or `None` if there are
    /// none.
    pub fn commit_pending(&mut self, group: &[u8]) -> Result<Option<Outgoing>> {
        if !self.group(group)?.commit_required() {
            return Ok(None);
        }
        self.commit(group, Vec::new(), Vec::new(), no_change).map(Some)
    }

    /// Asks the other members to remove us (see the module documentation).
    pub fn leave(&mut self, group: &[u8]) -> Result<Outgoing> {
        let g = self.group(group)?;
        let own = g.current_member_index();
        let message = g.propose_remove(own, Vec::new())?;
        self.send(group, message)
    }

    /// An application message.
    pub fn encrypt(&mut self, group: &[u8], plaintext: &[u8]) -> Result<Outgoing> {
        let message = self.group(group)?.encrypt_application_message(plaintext, Vec::new())?;
        self.send(group, message)
    }

    fn send(&mut self, group: &[u8], message: MlsMessage) -> Result<Outgoing> {
        let envelope = GroupEnvelope { message: message.to_bytes()?, welcome: None }.encode();
        self.persist(group)?;
        Ok(Outgoing { group: group.to_vec(), envelope, to: self.recipients(group)?, commit: false, members: Vec::new() })
    }

    fn commit(
        &mut self,
        group: &[u8],
        extra_recipients: Vec<MailboxId>,
        removed: Vec<u32>,
        build: impl FnOnce(CommitBuilder<'_, Config>) -> Result<CommitBuilder<'_, Config>, MlsError>,
    ) -> Result<Outgoing> {
        let mut to = self.recipients(group)?;
        let roster_before = self.members(group)?;
        let g = self.group(group)?;
        if g.has_pending_commit() {
            return Err(MlsClientError::PendingCommit);
        }
        // Remove proposals received in this epoch (leave requests) are committed too, unless the
        // commit leaves them out.
        let proposed_removals: Vec<u32> = g.get_cached_proposals().iter().filter_map(|p| removal(p.proposal())).collect();
        let output = build(g.commit_builder())?.build()?;
        let unused: Vec<u32> = output.unused_proposals.iter().filter_map(|p| removal(&p.proposal)).collect();
        let gone = |index: u32| removed.contains(&index) || (proposed_removals.contains(&index) && !unused.contains(&index));
        let mut members: Vec<MailboxId> =
            roster_before.iter().filter(|m| !gone(m.index)).map(|m| m.mailbox).chain(extra_recipients.iter().copied()).collect();
        members.sort_unstable();
        members.dedup();
        let welcome = output.welcome_messages.first().map(MlsMessage::to_bytes).transpose()?;
        let envelope = GroupEnvelope { message: output.commit_message.to_bytes()?, welcome }.encode();
        self.persist(group)?;
        for mailbox in extra_recipients {
            if !to.contains(&mailbox) && mailbox != self.member.mailbox {
                to.push(mailbox);
            }
        }
        Ok(Outgoing { group: group.to_vec(), envelope, to, commit: true, members })
    }

    /// The server accepted our commit: it takes effect here. Returns its `MembershipChanged`
    /// (nothing if there was no commit in flight, e.g. its echo was already processed).
    pub fn commit_accepted(&mut self, group: &[u8]) -> Result<Vec<MlsEvent>> {
        let g = self.group(group)?;
        if !g.has_pending_commit() {
            return Ok(Vec::new());
        }
        let (epoch_before, roster_before) = (g.current_epoch(), roster(g));
        let description = g.apply_pending_commit()?;
        self.after_commit(group, epoch_before, roster_before, description)
    }

    /// The server refused our commit (another one won the epoch): it is dropped. Process the
    /// winning commit when it is delivered, then retry.
    pub fn commit_rejected(&mut self, group: &[u8]) -> Result<()> {
        self.group(group)?.clear_pending_commit();
        self.persist(group)
    }

    /// Whether a commit of ours is waiting for the server's answer.
    pub fn has_pending_commit(&mut self, group: &[u8]) -> Result<bool> {
        Ok(self.group(group)?.has_pending_commit())
    }

    /// The group's members, ourselves included.
    pub fn members(&mut self, group: &[u8]) -> Result<Vec<Member>> {
        Ok(roster(self.group(group)?))
    }

    /// Our own leaf index in the group.
    pub fn own_index(&mut self, group: &[u8]) -> Result<u32> {
        Ok(self.group(group)?.current_member_index())
    }

    pub fn epoch(&mut self, group: &[u8]) -> Result<u64> {
        Ok(self.group(group)?.current_epoch())
    }

    /// Every member's mailbox but our own, each once: where the group's messages go.
    pub fn recipients(&mut self, group: &[u8]) -> Result<Vec<MailboxId>> {
        let own = self.member.mailbox;
        let mut out: Vec<MailboxId> = Vec::new();
        for m in self.members(group)? {
            if m.mailbox != own && !out.contains(&m.mailbox) {
                out.push(m.mailbox);
            }
        }
        Ok(out)
    }

    /// Processes one delivered [`GroupEnvelope`]. Errors mean the delivery is malformed or fails
    /// verification; it cannot be processed later either, so the caller may ack and drop it.
    pub fn process(&mut self, envelope: &[u8]) -> Result<Vec<MlsEvent>> {
        let (message, welcome) =
            GroupEnvelope::parse(envelope).map_err(|_| MlsClientError::Malformed("not a group envelope"))?;
        let message = MlsMessage::from_bytes(message).map_err(|_| MlsClientError::Malformed("not an MLS message"))?;
        let group = message.group_id().ok_or(MlsClientError::Malformed("not a group message"))?.to_vec();
        if let Some(welcome) = welcome
            && let Some(events) = self.try_join(&group, welcome)?
        {
            return Ok(events);
        }
        self.process_in_group(group, message)
    }

    /// Joins from `welcome` if it is for us; `None` if it is not.
    fn try_join(&mut self, group: &[u8], welcome: &[u8]) -> Result<Option<Vec<MlsEvent>>> {
        let welcome = MlsMessage::from_bytes(welcome).map_err(|_| MlsClientError::Malformed("not an MLS Welcome"))?;
        let info = match self.client.examine_welcome_message(&welcome) {
            Ok(info) => info,
            Err(MlsError::WelcomeKeyPackageNotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let context = info.group_context();
        if context.group_id() != group {
            return Err(MlsClientError::Malformed("the Welcome is for another group"));
        }
        if self.has_group(group) && self.group(group)?.current_epoch() >= context.epoch() {
            return Ok(Some(vec![MlsEvent::Ignored { group: Some(group.to_vec()), reason: IgnoreReason::Duplicate }]));
        }
        let (mut joined, _) = self.client.join_group(None, &welcome, None)?;
        // A state left from an earlier membership (removal not seen) is stale: replace it.
        self.forget(group);
        joined.write_to_storage()?;
        let (epoch, members) = (joined.current_epoch(), roster(&joined));
        self.groups.insert(group.to_vec(), joined);
        self.flush()?;
        Ok(Some(vec![MlsEvent::Joined { group: group.to_vec(), epoch, members }]))
    }

    fn process_in_group(&mut self, group: GroupId, message: MlsMessage) -> Result<Vec<MlsEvent>> {
        let ignored = |group: &GroupId, reason| Ok(vec![MlsEvent::Ignored { group: Some(group.clone()), reason }]);
        if !self.has_group(&group) {
            return ignored(&group, IgnoreReason::UnknownGroup);
        }
        let g = self.group(&group)?;
        let (epoch_before, roster_before) = (g.current_epoch(), roster(g));
        let message_epoch = message.epoch().unwrap_or(epoch_before);
        if message_epoch > epoch_before {
            return ignored(&group, IgnoreReason::FutureEpoch);
        }
        let received = match g.process_incoming_message(message) {
            Ok(received) => received,
            Err(e) => {
                return match ignore_reason(&e) {
                    Some(reason) => ignored(&group, reason),
                    None => Err(e.into()),
                };
            }
        };
        match received {
            ReceivedMessage::ApplicationMessage(description) => {
                let sender =
                    self.sender_at(&group, message_epoch, epoch_before, &roster_before, description.sender_index);
                self.persist(&group)?;
                match sender {
                    Some(sender) => {
                        Ok(vec![MlsEvent::Message { group, sender, plaintext: description.data().to_vec() }])
                    }
                    None => ignored(&group, IgnoreReason::UnknownSender),
                }
            }
            ReceivedMessage::Commit(description) => self.after_commit(&group, epoch_before, roster_before, description),
            ReceivedMessage::Proposal(description) => {
                self.persist(&group)?;
                let sender = match description.sender {
                    ProposalSender::Member(i) => roster_before.iter().find(|m| m.index == i).cloned(),
                    _ => None,
                };
                let leaving = match (&description.proposal, &sender) {
                    (Proposal::Remove(r), Some(s)) if r.to_remove() == s.index => sender.clone(),
                    _ => None,
                };
                Ok(vec![match leaving {
                    Some(member) => MlsEvent::LeaveRequested { group, member },
                    None => MlsEvent::ProposalReceived { group, sender },
                }])
            }
            _ => ignored(&group, IgnoreReason::NotForUs),
        }
    }

    /// The sender of an application message from `epoch`: from the current roster, or from the
    /// roster saved when that epoch ended (leaf indexes are reused after a removal).
    fn sender_at(&self, group: &[u8], epoch: u64, current: u64, roster_now: &[Member], index: u32) -> Option<Member> {
        if epoch == current {
            return roster_now.iter().find(|m| m.index == index).cloned();
        }
        let stored = self.kv.value(&storage::roster_key(group, epoch))?;
        decode_roster(&stored)?.into_iter().find(|m| m.index == index)
    }

    fn after_commit(
        &mut self,
        group: &[u8],
        epoch_before: u64,
        roster_before: Vec<Member>,
        description: CommitMessageDescription,
    ) -> Result<Vec<MlsEvent>> {
        if matches!(description.effect, CommitEffect::Removed { .. }) {
            self.forget(group);
            self.flush()?;
            return Ok(vec![MlsEvent::Removed { group: group.to_vec() }]);
        }
        let committer = roster_before.iter().find(|m| m.index == description.committer).cloned();
        let g = self.group(group)?;
        let (epoch, roster_after) = (g.current_epoch(), roster(g));
        // Keep the roster of the epoch that ended, to name the senders of its late messages.
        self.kv.set(storage::roster_key(group, epoch_before), encode_roster(&roster_before));
        for key in self.kv.keys_with_prefix(&storage::roster_prefix(group)) {
            let old = key.rsplit('.').next().and_then(|e| u64::from_str_radix(e, 16).ok());
            if old.is_none_or(|e| e + (storage::EPOCH_RETENTION as u64) < epoch) {
                self.kv.unset(&key);
            }
        }
        self.persist(group)?;
        let added = roster_after.iter().filter(|m| !roster_before.contains(m)).cloned().collect();
        let removed = roster_before.iter().filter(|m| !roster_after.contains(m)).cloned().collect();
        Ok(vec![MlsEvent::MembershipChanged { group: group.to_vec(), epoch, committer, added, removed }])
    }

    fn has_group(&self, group: &[u8]) -> bool {
        self.groups.contains_key(group) || self.kv.value(&storage::group_state_key(group)).is_some()
    }

    fn group(&mut self, group: &[u8]) -> Result<&mut Group<Config>> {
        if !self.groups.contains_key(group) {
            if self.kv.value(&storage::group_state_key(group)).is_none() {
                return Err(MlsClientError::UnknownGroup);
            }
            let loaded = self.client.load_group(group)?;
            self.groups.insert(group.to_vec(), loaded);
        }
        Ok(self.groups.get_mut(group).expect("just inserted"))
    }

    /// Writes the group's state into the key-value state and flushes it.
    fn persist(&mut self, group: &[u8]) -> Result<()> {
        self.group(group)?.write_to_storage()?;
        self.flush()
    }

    fn forget(&mut self, group: &[u8]) {
        self.groups.remove(group);
        self.kv.unset_prefix(&storage::group_prefix(group));
    }
}

fn no_change(builder: CommitBuilder<'_, Config>) -> Result<CommitBuilder<'_, Config>, MlsError> {
    Ok(builder)
}

/// `credential_identity` is the BasicCredential's identity: [`MemberInfo::encode`] (tests pass
/// others, to check they are refused).
fn build_client(
    identity: &MlsIdentity,
    credential_identity: &[u8],
    kv: &KvState,
    provider: &SallyportIdentityProvider,
    lifetime: Duration,
) -> Client<Config> {
    let credential = BasicCredential::new(credential_identity.to_vec()).into_credential();
    let public = SignaturePublicKey::new(identity.signing.verifying_key().to_bytes().to_vec());
    // The suite takes the 64-byte keypair form of an Ed25519 key.
    let secret = SignatureSecretKey::new(identity.signing.to_keypair_bytes().to_vec());
    let rules = DefaultMlsRules::new()
        .with_commit_options(CommitOptions::new().with_path_required(true))
        .with_encryption_options(EncryptionOptions::new(true, PaddingMode::Padme));
    Client::builder()
        .key_package_repo(kv.clone())
        .psk_store(kv.clone())
        .group_state_storage(kv.clone())
        .identity_provider(provider.clone())
        .mls_rules(rules)
        .crypto_provider(SuiteProvider)
        .key_package_lifetime(lifetime)
        .signing_identity(SigningIdentity::new(credential, public), secret, CIPHER_SUITE)
        .build()
}

/// The leaf a Remove proposal removes.
fn removal(proposal: &Proposal) -> Option<u32> {
    match proposal {
        Proposal::Remove(remove) => Some(remove.to_remove()),
        _ => None,
    }
}

fn roster(group: &Group<Config>) -> Vec<Member> {
    group.roster().members_iter().filter_map(|m| Member::from_mls(m.index, &m.signing_identity)).collect()
}

fn ignore_reason(e: &MlsError) -> Option<IgnoreReason> {
    match e {
        MlsError::KeyMissing(_) => Some(IgnoreReason::Duplicate),
        MlsError::CantProcessMessageFromSelf => Some(IgnoreReason::OwnMessage),
        MlsError::InvalidEpoch | MlsError::EpochNotFound => Some(IgnoreReason::StaleEpoch),
        _ => None,
    }
}

/// Roster of an ended epoch: per member `u32 index · key (32) · u16 length · credential identity`.
fn encode_roster(members: &[Member]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        let info = MemberInfo { mailbox: m.mailbox }.encode();
        out.extend_from_slice(&m.index.to_be_bytes());
        out.extend_from_slice(&m.signing_key);
        out.extend_from_slice(&(info.len() as u16).to_be_bytes());
        out.extend_from_slice(&info);
    }
    out
}

fn decode_roster(mut bytes: &[u8]) -> Option<Vec<Member>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let index = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
        let signing_key: [u8; 32] = bytes.get(4..36)?.try_into().ok()?;
        let len = u16::from_be_bytes(bytes.get(36..38)?.try_into().ok()?) as usize;
        let info = MemberInfo::decode(bytes.get(38..38 + len)?)?;
        out.push(Member { index, mailbox: info.mailbox, signing_key });
        bytes = &bytes[38 + len..];
    }
    Some(out)
}

#[cfg(test)]
#[path = "mls_tests.rs"]
mod tests;
