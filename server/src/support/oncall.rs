//! Who is on call now: the one question the rest of the server asks of the schedule (support
//! requests are offered to exactly these accounts).

use super::schedule;
use crate::store::{Store, StoreResult};
use sallyport_protocol::AccountId;

/// Peer supporters on call at `now_ms`: their rotation shift or an override covers `now_ms`
/// (accepted swaps applied), their training is current, and their own switch is `available`.
/// Sorted, without repeats.
pub async fn on_call_now(store: &dyn Store, now_ms: i64) -> StoreResult<Vec<AccountId>> {
    let roster = store.roster().roster().await?;
    Ok(schedule::on_call_at(&roster, now_ms))
}
