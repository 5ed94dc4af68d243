//! `sallyport admin …`: invitations, device listing and revocation, run against the database
//! directly, so they work while the server is running (a running node sees a revocation within
//! a second through the revocation feed).

use crate::clock::Clock;
use crate::config::AdminCommand;
use crate::store;
use crate::workflows::enrolment::{self, Invitation, PUBLIC_URL_SETTING};
use anyhow::{Context as _, bail};
use sallyport_protocol::{AccountId, DeviceId};

const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

pub async fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Invite { name, roles, account, expires_hours, public_url, database } => {
            let account = match account {
                Some(a) => Some(AccountId::parse(&a).context("--account is not an account id")?),
                None => None,
            };
            let invitation = Invitation::new(&name, roles, account, expires_hours).map_err(|e| anyhow::anyhow!("--name or --role: {e}"))?;
            let store = store::connect(&database.url()?).await.context("opening the database")?;
            let public_url = match public_url {
                Some(url) => url,
                None => match store.setting(PUBLIC_URL_SETTING).await? {
                    Some(bytes) => String::from_utf8(bytes).unwrap_or_else(|_| DEFAULT_PUBLIC_URL.into()),
                    None => DEFAULT_PUBLIC_URL.into(),
                },
            };
            let link = enrolment::create_invitation(&*store, &public_url, &invitation, Clock::system().now()).await?;
            store.close().await;
            eprintln!("One-time enrolment link for {} (valid {expires_hours} h):", invitation.display_name);
            println!("{link}");
        }
        AdminCommand::RevokeDevice { device, database } => {
            let device = DeviceId::parse(&device).context("not a device id (see `sallyport admin devices`)")?;
            let store = store::connect(&database.url()?).await.context("opening the database")?;
            let result = store.revoke_device(&device, Clock::system().now()).await;
            store.close().await;
            match result {
                Ok(true) => println!("revoked device {device}; its connections close within a second"),
                Ok(false) => println!("device {device} was already revoked"),
                Err(store::StoreError::NotFound) => bail!("no device {device}"),
                Err(err) => return Err(err.into()),
            }
        }
        AdminCommand::Devices { database } => {
            let store = store::connect(&database.url()?).await.context("opening the database")?;
            let devices = store.list_devices().await?;
            store.close().await;
            println!("{:<24} {:<24} {:<28} ROLES / STATE", "DEVICE", "ACCOUNT", "NAME");
            for d in devices {
                let roles: Vec<&str> = d.roles.iter().map(|r| r.as_str()).collect();
                let state = if d.revoked_at.is_some() {
                    " (revoked)"
                } else if d.is_pending() {
                    " (waiting for approval by a device of the account)"
                } else {
                    ""
                };
                println!("{:<24} {:<24} {:<28} {}{}", d.device, d.account, d.display_name, roles.join(","), state);
            }
        }
    }
    Ok(())
}
