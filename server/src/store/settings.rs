//! Server settings kept in the database (key material and configuration every node shares):
//! opaque bytes by key.

use super::StoreResult;
use async_trait::async_trait;

#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn setting(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;

    /// Sets `key` only if it has no value yet; returns the value now stored.
    async fn init_setting(&self, key: &str, value: &[u8]) -> StoreResult<Vec<u8>>;

    /// Sets `key` to `value`, replacing any value.
    async fn set_setting(&self, key: &str, value: &[u8]) -> StoreResult<()>;

    /// Records the hash of a signed request's signature as used until `expires_at`; false if it
    /// was recorded before and has not expired at `now` (a replay). Shared by every node and
    /// durable, so neither another node nor a restart accepts it again.
    async fn claim_signature(&self, hash: &[u8; 32], expires_at: i64, now: i64) -> StoreResult<bool>;

    /// Deletes the signatures expired at `now`; how many.
    async fn forget_signatures(&self, now: i64) -> StoreResult<u64>;
}
