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
}
