//! Storage of readiness checks (`Store::…readiness…`): per crisis-team member, when the next
//! check is due, the last one pushed and its outcome, its tap token's hash, and the last
//! confirmation. Rows exist only for members of some crisis team: `TeamStore` adds one when a
//! person joins their first (due at once) and deletes it when they leave their last.

use super::StoreResult;
use crate::domain::readiness::Record;
use crate::domain::secrets::Hash32;
use async_trait::async_trait;
use sallyport_protocol::AccountId;
use std::collections::HashMap;

/// For a member whose check is being sent: when the next is due, and the hash of this one's token.
pub type NextCheck<'a> = dyn Fn(&AccountId) -> (i64, Hash32) + Send + Sync + 'a;

#[async_trait]
pub trait ReadinessStore: Send + Sync {
    /// Every member's record, and whether each account has a device push subscription.
    async fn readiness(&self) -> StoreResult<(HashMap<AccountId, Record>, HashMap<AccountId, bool>)>;

    /// Whether any member's check is due at `now` (a read: the scheduler asks every pass).
    async fn checks_due(&self, now: i64) -> StoreResult<bool>;

    /// Members whose check is due at `now`, each claimed: the check is recorded as sent at `now`
    /// with its token hash, and the next is due at what `next` says for the member — in the
    /// transaction that claims it, so each check fires once across nodes.
    async fn claim_due_checks(
        &self,
        now: i64,
        limit: u32,
        next: &NextCheck<'_>,
    ) -> StoreResult<Vec<AccountId>>;

    /// How the push service answered the check sent at `sent_at`.
    async fn record_check_outcome(&self, account: &AccountId, sent_at: i64, outcome: &str) -> StoreResult<()>;

    /// Confirms the check whose token hashes to `hash` (once); whose it was.
    async fn confirm_check(&self, hash: &Hash32, now: i64) -> StoreResult<Option<AccountId>>;

    /// Confirms `account`'s readiness from the app (signed); `false` if they are on no crisis team.
    async fn confirm_ready(&self, account: &AccountId, now: i64) -> StoreResult<bool>;

    /// Makes `account`'s next check due at `due_at` (a coordinator's "check now").
    async fn check_now(&self, account: &AccountId, due_at: i64) -> StoreResult<bool>;
}
