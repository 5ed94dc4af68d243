//! Storage of debriefs and their pushes (protocol/README.md §18): the opaque debrief (kind, time,
//! revision, cancellation) and, until each is sent, one row per notice and device with its due
//! time and the preview the coordinator's client sealed. A push being sent is leased (its due
//! time moved ahead) and deleted once the push service has answered.

use super::StoreResult;
use async_trait::async_trait;
use sallyport_protocol::debriefs::DebriefKind;
use sallyport_protocol::{DebriefId, DeviceId};

/// A debrief as stored, with how many of its pushes are not yet sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebriefRecord {
    pub id: DebriefId,
    pub kind: DebriefKind,
    pub at: i64,
    pub revision: u64,
    pub created_at: i64,
    pub cancelled_at: Option<i64>,
    pub pending: u64,
}

/// One push a `PUT` schedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDebriefPush {
    /// The notice's place in the request (0-based).
    pub notice: u32,
    pub device: DeviceId,
    pub due_at: i64,
    pub sealed: Vec<u8>,
}

/// What a `PUT` asks to store.
#[derive(Debug, Clone)]
pub struct PutDebrief<'a> {
    pub id: DebriefId,
    pub kind: DebriefKind,
    pub at: i64,
    /// `0` to create; otherwise the revision the client last saw.
    pub revision: u64,
    pub pushes: &'a [NewDebriefPush],
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored with its new revision.
    Saved(DebriefRecord),
    /// The revision given is not the current one (or `0` for an id that exists): nothing changed.
    Stale(DebriefRecord),
    /// A revision above 0 for an id that does not exist.
    Unknown,
    /// The debrief is cancelled: nothing changed.
    Cancelled(DebriefRecord),
}

/// A push claimed for sending: its row's due time is now `leased_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePush {
    pub debrief: DebriefId,
    pub kind: DebriefKind,
    pub notice: u32,
    pub device: DeviceId,
    pub sealed: Vec<u8>,
    pub leased_until: i64,
}

#[async_trait]
pub trait DebriefStore: Send + Sync {
    /// Creates (revision 0, a new id: revision 1) or updates (the current revision: bumped) the
    /// debrief and replaces every push of it not yet sent, in one transaction.
    async fn put_debrief(&self, put: PutDebrief<'_>) -> StoreResult<PutOutcome>;

    async fn debrief(&self, id: &DebriefId) -> StoreResult<Option<DebriefRecord>>;

    /// Deletes the pushes not yet sent and sets `cancelled_at` (once: a second cancel changes
    /// nothing); `None` for an unknown id.
    async fn cancel_debrief(&self, id: &DebriefId, now: i64) -> StoreResult<Option<DebriefRecord>>;

    /// Claims up to `limit` pushes due at `now`, each leased until `now + lease_ms` (the due time
    /// moved ahead in the claiming transaction, so each is claimed by one node at a time).
    async fn claim_debrief_pushes(&self, now: i64, lease_ms: i64, limit: u32) -> StoreResult<Vec<DuePush>>;

    /// Deletes a claimed push (unless a `PUT` or a cancel replaced it meanwhile). When `sent` and
    /// it is a follow-up's, counts `followup_sent` in `report_events` for the UTC day of `now`,
    /// once per notice and person whatever their devices, in the same transaction.
    async fn finish_debrief_push(&self, push: &DuePush, sent: bool, now: i64) -> StoreResult<()>;
}
