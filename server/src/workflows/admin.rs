//! Administration of devices: the device list, and revoking a lost device (its connections close
//! on every node within a second; other members see it leave their groups).

use super::{Outcome, WorkflowError, require};
use crate::clock::Clock;
use crate::store::{DeviceRecord, Store, StoreError};
use sallyport_protocol::DeviceId;
use sallyport_protocol::rest::{DeviceBody, DevicesBody, RevokedBody, Role};

fn device_body(d: DeviceRecord) -> DeviceBody {
    DeviceBody {
        approved: !d.is_pending(),
        device: d.device,
        account: d.account,
        display_name: d.display_name,
        roles: d.roles,
        created_at: d.created_at,
        revoked_at: d.revoked_at,
    }
}

/// `GET /v1/admin/devices` (administrators): every device, newest first.
pub async fn devices(store: &dyn Store, caller: &DeviceRecord) -> Outcome<DevicesBody> {
    require(caller, Role::Admin)?;
    let mut devices: Vec<DeviceBody> = store.list_devices().await?.into_iter().map(device_body).collect();
    devices.sort_by_key(|d| std::cmp::Reverse(d.created_at));
    Ok(DevicesBody { devices })
}

/// `POST /v1/admin/devices/revoke` (administrators). `revoked: false` if it was revoked already.
pub async fn revoke(store: &dyn Store, clock: &Clock, caller: &DeviceRecord, device: &DeviceId) -> Outcome<RevokedBody> {
    require(caller, Role::Admin)?;
    match store.revoke_device(device, clock.now()).await {
        Ok(revoked) => {
            if revoked {
                tracing::info!("an administrator revoked a device");
            }
            Ok(RevokedBody { revoked })
        }
        Err(StoreError::NotFound) => Err(WorkflowError::NotFound(None)),
        Err(other) => Err(other.into()),
    }
}
