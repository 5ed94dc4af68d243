//! A device registers or removes a browser's Web Push subscription for itself (protocol §12).
//! Unlinked mailboxes register theirs with their support request (`peer_support::requests`).

use super::{Outcome, WorkflowError};
use crate::clock::Clock;
use crate::push::AllowList;
use crate::push::subscriptions::{self, MAX_ENDPOINT_LEN};
use crate::store::{Conflict, DeviceRecord, Store, StoreError};
use sallyport_protocol::rest::{PushSubscriptionBody, UnsubscribeBody};

/// Most subscriptions one device may register.
pub const MAX_SUBSCRIPTIONS_PER_DEVICE: u32 = 10;

/// Registers (or refreshes) a subscription for the calling device.
pub async fn subscribe(
    store: &dyn Store,
    clock: &Clock,
    allow_list: &AllowList,
    caller: &DeviceRecord,
    body: &PushSubscriptionBody,
) -> Outcome<()> {
    WorkflowError::unless_approved(caller)?;
    let subscription = subscriptions::check(body, allow_list)?;
    match store.add_push_subscription(&caller.device, &subscription, MAX_SUBSCRIPTIONS_PER_DEVICE, clock.now()).await {
        Ok(()) => Ok(()),
        // Revoked between the signature check and now.
        Err(StoreError::NotFound) => Err(WorkflowError::DeviceRevoked),
        Err(StoreError::Conflict(Conflict::EndpointInUse)) => Err(WorkflowError::Refused(
            "this endpoint is an unlinked mailbox's push subscription; subscribe the device from its own service-worker registration"
                .into(),
        )),
        Err(StoreError::Conflict(_)) => Err(WorkflowError::Refused(format!(
            "a device may have at most {MAX_SUBSCRIPTIONS_PER_DEVICE} push subscriptions; remove one first"
        ))),
        Err(err) => Err(err.into()),
    }
}

/// Removes the calling device's subscription with this endpoint (also if there was none).
pub async fn unsubscribe(store: &dyn Store, caller: &DeviceRecord, body: &UnsubscribeBody) -> Outcome<()> {
    if body.endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(WorkflowError::Invalid("endpoint is too long".into()));
    }
    store.remove_push_subscription(&caller.device, &body.endpoint).await?;
    Ok(())
}
