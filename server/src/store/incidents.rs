//! Storage of critical incidents and their paging (`Store::…incident…`): the incident (team,
//! severity, times), each person's pages and answer, the steps taken, push attempts' outcomes,
//! the previews sealed per device, single-use answer tokens (hashes), the incident's timer and
//! the outbox of pages not yet answered by a push service. What to page is the caller's
//! (`domain::incidents::plan`, run by the store inside the transaction that stores its result).

use super::StoreResult;
use crate::domain::incidents::{Incident, Plan};
use crate::domain::secrets::Hash32;
use async_trait::async_trait;
use sallyport_protocol::{AccountId, DeviceId, IncidentId, MailboxId};

/// What to do with an incident, decided on the incident as stored (locked meanwhile).
pub type Decide = dyn Fn(&Incident) -> Plan + Send + Sync;

/// A new incident, before its first plan.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub incident: Incident,
    /// The preview sealed to each recipient device.
    pub seals: Vec<(DeviceId, Vec<u8>)>,
}

/// An incident with what the board shows besides its pages.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRecord {
    pub incident: Incident,
    /// `(account, at, outcome)` of every push attempt, in order.
    pub attempts: Vec<(AccountId, i64, String)>,
    /// `(at, step)` of every escalation step taken, in order.
    pub steps: Vec<(i64, String)>,
}

/// One page to push to one device.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub incident: IncidentId,
    pub device: DeviceId,
    pub account: AccountId,
    pub mailbox: MailboxId,
    pub severity: u8,
    pub test: bool,
    pub sealed: Option<Vec<u8>>,
}

/// How one page push to one device ended.
#[derive(Debug, Clone, PartialEq)]
pub struct PageResult {
    pub incident: IncidentId,
    pub device: DeviceId,
    pub account: AccountId,
    pub outcome: &'static str,
    pub at: i64,
}

#[async_trait]
pub trait IncidentStore: Send + Sync {
    /// Stores a new incident with its seals and applies `decide` to it, in one transaction.
    /// `NotFound` if its team is gone.
    async fn create_incident(&self, new: &NewIncident, decide: &Decide) -> StoreResult<Incident>;

    /// In one transaction, with the incident locked: reads it, asks `decide` what to do, and
    /// stores the result — pages, step and steps taken, first response and quorum times, the
    /// timer (`next_due`, or none), and an outbox row for each unrevoked, approved device of each
    /// person to push. `NotFound` without the incident.
    async fn update_incident(&self, id: &IncidentId, decide: &Decide) -> StoreResult<Incident>;

    async fn incident(&self, id: &IncidentId) -> StoreResult<Option<IncidentRecord>>;

    /// Incidents not resolved, oldest first.
    async fn open_incidents(&self) -> StoreResult<Vec<IncidentRecord>>;

    /// The preview sealed to `device` for the incident, if any.
    async fn sealed_for(&self, id: &IncidentId, device: &DeviceId) -> StoreResult<Option<Vec<u8>>>;

    /// Incidents whose timer is due at `now`, each claimed for `lease_ms` (its timer moved on so
    /// no other node takes it meanwhile; `update_incident` sets the real next time).
    async fn claim_due_incidents(&self, now: i64, lease_ms: i64, limit: u32) -> StoreResult<Vec<IncidentId>>;

    /// Pages to push: outbox rows not claimed (or whose claim ran out), each claimed for
    /// `lease_ms`.
    async fn claim_outbox(&self, now: i64, lease_ms: i64, limit: u32) -> StoreResult<Vec<OutboxItem>>;

    /// Records how page pushes ended, one per device, and deletes their outbox rows, in one
    /// transaction (an outcome for a resolved incident only deletes its row).
    async fn finish_pages(&self, results: &[PageResult]) -> StoreResult<()>;

    /// Keeps the hashes of answer tokens sent in pages, in one transaction (a token for a
    /// resolved incident is not kept).
    async fn add_answer_tokens(&self, tokens: &[(Hash32, IncidentId, AccountId)]) -> StoreResult<()>;

    /// Whose token this is (and for which incident), deleting every token of theirs for that
    /// incident: a token answers once. `None` for an unknown or used token.
    async fn take_answer_token(&self, hash: &Hash32) -> StoreResult<Option<(IncidentId, AccountId)>>;

    /// Closes an incident: resolved at `now`, its declarer forgotten, and its routing state
    /// deleted (pages, attempts, steps, seals, tokens, timer, outbox). Team, severity and times
    /// stay. Returns whether it was open.
    async fn resolve_incident(&self, id: &IncidentId, now: i64) -> StoreResult<bool>;
}
