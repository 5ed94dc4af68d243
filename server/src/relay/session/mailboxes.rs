//! Mailboxes a connection reads beyond its device's own (unlinked ones, by their secret), and
//! their MLS KeyPackages: publishing, claiming, and telling readers when stock runs low.

use super::{Session, store_error_code};
use crate::domain::mls;
use crate::domain::secrets::{secret_matches, sha256};
use crate::store::mailboxes::read_before_today;
use crate::store::{MailboxAccess, StoreError};
use sallyport_protocol::{
    ErrorCode, KEY_PACKAGES_LOW_WATER, MAX_KEY_PACKAGE_BYTES, MAX_MAILBOXES_PER_CONNECTION, MAX_KEY_PACKAGES_PER_MAILBOX, MAX_KEY_PACKAGES_PER_PUBLISH,
    MailboxId, MailboxSecret, Payload, ServerFrame,
};

impl Session {
    pub(super) async fn on_subscribe(&mut self, mailbox: MailboxId, secret: MailboxSecret) {
        if self.mailboxes.contains_key(&mailbox) {
            self.send_frame(&ServerFrame::Subscribed { mailbox }).await;
            return;
        }
        if self.mailboxes.len() >= MAX_MAILBOXES_PER_CONNECTION {
            return self.send_error(ServerFrame::error_for_mailbox(ErrorCode::MailboxLimit, mailbox)).await;
        }
        let code = match self.relay.store.mailbox_access(&mailbox).await {
            Ok(Some(MailboxAccess::Unlinked { secret_hash, read_day })) => {
                if secret_matches(secret.as_bytes(), &secret_hash) {
                    self.mark_read(mailbox, read_day).await;
                    None
                } else {
                    Some(ErrorCode::WrongMailboxSecret)
                }
            }
            // Another device's linked mailbox has no secret that could open it.
            Ok(Some(MailboxAccess::Linked)) => Some(ErrorCode::WrongMailboxSecret),
            Ok(None) => Some(ErrorCode::UnknownMailbox),
            Err(err) => {
                tracing::error!(error = %err, "mailbox lookup failed");
                Some(ErrorCode::Internal)
            }
        };
        match code {
            Some(code) => self.send_error(ServerFrame::error_for_mailbox(code, mailbox)).await,
            None => {
                self.add_subscription(mailbox);
                self.send_frame(&ServerFrame::Subscribed { mailbox }).await;
                self.check_key_package_stock(mailbox).await;
            }
        }
    }

    /// Keeps an unlinked mailbox from expiring as unread (`--unlinked-mailbox-idle-days`): one
    /// write per mailbox per day at most. A failure only logs: reading goes on.
    async fn mark_read(&self, mailbox: MailboxId, read_day: i64) {
        let now = self.relay.clock.now();
        if !read_before_today(read_day, now) {
            return;
        }
        if let Err(err) = self.relay.store.mark_mailbox_read(&mailbox, now).await {
            tracing::warn!(error = %err, "recording a mailbox read failed");
        }
    }

    pub(super) async fn on_create_mailbox(&mut self, mailbox: MailboxId, secret: MailboxSecret) {
        if self.mailboxes.len() >= MAX_MAILBOXES_PER_CONNECTION {
            return self.send_error(ServerFrame::error_for_mailbox(ErrorCode::MailboxLimit, mailbox)).await;
        }
        // A mailbox costs its creator's daily budget: they never expire while used, and each one
        // is a place anyone may be asked to write to.
        if let Some(device) = &self.device
            && !self.relay.budgets.create_mailbox(device, self.relay.clock.wall())
        {
            return self.send_error(ServerFrame::error_for_mailbox(ErrorCode::RateLimited, mailbox)).await;
        }
        // The store keeps only the day: a finer time could be matched against connection times.
        match self.relay.store.create_mailbox(&mailbox, &sha256(secret.as_bytes()), self.relay.clock.now()).await {
            Ok(()) => {
                self.add_subscription(mailbox);
                self.send_frame(&ServerFrame::MailboxCreated { mailbox }).await;
            }
            Err(StoreError::Conflict(_)) => {
                self.send_error(ServerFrame::error_for_mailbox(ErrorCode::MailboxExists, mailbox)).await
            }
            Err(err) => {
                tracing::error!(error = %err, "mailbox creation failed");
                self.send_error(ServerFrame::error_for_mailbox(ErrorCode::Internal, mailbox)).await
            }
        }
    }

    pub(super) async fn on_publish_key_packages(&mut self, mailbox: MailboxId, key_packages: Vec<Payload>, last_resort: Option<Payload>) {
        if !self.mailboxes.contains_key(&mailbox) {
            // Only a reader of the mailbox may publish its KeyPackages.
            return self.send_error(ServerFrame::error_for_mailbox(ErrorCode::UnknownMailbox, mailbox)).await;
        }
        if self.pending_mailbox == Some(mailbox) {
            return self.send_error(ServerFrame::error_for_mailbox(ErrorCode::DevicePending, mailbox)).await;
        }
        let all = key_packages.iter().chain(last_resort.as_ref());
        let sizes_ok = all.clone().all(|kp| kp.0.len() <= MAX_KEY_PACKAGE_BYTES);
        if key_packages.len() > MAX_KEY_PACKAGES_PER_PUBLISH || !sizes_ok {
            return self.send_error(ServerFrame::error_for_mailbox(ErrorCode::KeyPackageLimit, mailbox)).await;
        }
        if !all.clone().all(|kp| mls::is_key_package(&kp.0)) {
            return self.send_error(ServerFrame::error_for_mailbox(ErrorCode::InvalidMlsMessage, mailbox)).await;
        }
        let packages: Vec<bytes::Bytes> = key_packages.into_iter().map(|p| p.0).collect();
        let last_resort = last_resort.map(|p| p.0);
        let result = self
            .relay
            .store
            .publish_key_packages(&mailbox, &packages, last_resort.as_ref(), MAX_KEY_PACKAGES_PER_MAILBOX)
            .await;
        match result {
            Ok(available) => {
                self.send_frame(&ServerFrame::KeyPackagesPublished { mailbox, available }).await;
            }
            Err(err) => self.send_error(ServerFrame::error_for_mailbox(store_error_code(err, ErrorCode::KeyPackageLimit), mailbox)).await,
        };
    }

    pub(super) async fn on_claim_key_package(&mut self, mailbox: MailboxId) {
        // A device that waits for approval adds no one: it could otherwise start conversations
        // that look like its account's person's before any device of theirs vouched for it.
        if self.pending_mailbox.is_some() {
            return self.send_error(ServerFrame::error_for_mailbox(ErrorCode::DevicePending, mailbox)).await;
        }
        // Claims drain someone else's stock, so they have a budget of their own.
        if !self.claims.take() {
            return self.send_error(ServerFrame::error_for_mailbox(ErrorCode::RateLimited, mailbox)).await;
        }
        match self.relay.store.claim_key_package(&mailbox).await {
            Ok(Some(claimed)) => {
                if claimed.available < KEY_PACKAGES_LOW_WATER {
                    self.relay.hub.key_packages_low(mailbox, claimed.available);
                }
                let frame = ServerFrame::KeyPackage {
                    mailbox,
                    key_package: Payload(claimed.key_package),
                    last_resort: claimed.last_resort,
                };
                self.send_frame(&frame).await;
            }
            Ok(None) => self.send_error(ServerFrame::error_for_mailbox(ErrorCode::NoKeyPackage, mailbox)).await,
            Err(err) => self.send_error(ServerFrame::error_for_mailbox(store_error_code(err, ErrorCode::Internal), mailbox)).await,
        }
    }

    /// Tells this connection when a mailbox it starts reading needs more KeyPackages.
    pub(super) async fn check_key_package_stock(&self, mailbox: MailboxId) {
        match self.relay.store.key_package_count(&mailbox).await {
            Ok(available) if available < KEY_PACKAGES_LOW_WATER => {
                self.send_frame(&ServerFrame::KeyPackagesLow { mailbox, available }).await;
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "counting KeyPackages failed"),
        }
    }
}
