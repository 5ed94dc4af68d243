//! Authentication of a new connection: a fresh nonce, the device's signature over it and the
//! server's origin, then the device's linked mailbox is subscribed (protocol §5).

use super::{AUTH_TIMEOUT, Flow, SUPERSEDE_WAIT, Session, SessionEnd};
use axum::extract::ws::WebSocket;
use futures::StreamExt;
use sallyport_protocol::{
    ClientFrame, DeviceId, ErrorCode, MAX_CLOCK_SKEW_MS, Nonce, PROTOCOL_VERSION, ServerFrame, auth::auth_message,
};
use crate::domain::signatures;
use crate::store::DeviceRecord;
use std::sync::atomic::Ordering::Relaxed;

impl Session {
    pub(super) async fn authenticate(&mut self, stream: &mut futures::stream::SplitStream<WebSocket>) -> Result<(), SessionEnd> {
        let nonce = Nonce::random();
        let challenge = ServerFrame::Challenge { protocol: PROTOCOL_VERSION, nonce, server_time: self.relay.clock.wall() };
        if !self.send_frame(&challenge).await {
            return Err(SessionEnd::Transport);
        }
        let deadline = tokio::time::sleep(AUTH_TIMEOUT);
        tokio::pin!(deadline);
        loop {
            let msg = tokio::select! {
                msg = stream.next() => msg,
                _ = &mut deadline => return Err(self.refuse(ErrorCode::AuthTimeout).await),
            };
            match self.read_frame(msg).await {
                Ok(Some(ClientFrame::Auth { device, nonce: signed_nonce, timestamp, signature })) => {
                    return self.verify_auth(nonce, device, signed_nonce, timestamp, signature).await;
                }
                Ok(Some(_)) => self.send_error(ServerFrame::error(ErrorCode::NotAuthenticated)).await,
                Ok(None) => continue,
                Err(Flow::Stop(end)) => return Err(end),
                Err(Flow::Continue) => continue,
            }
        }
    }

    pub(super) async fn verify_auth(
        &mut self,
        issued: Nonce,
        device: DeviceId,
        nonce: Nonce,
        timestamp: i64,
        signature: sallyport_protocol::Signature,
    ) -> Result<(), SessionEnd> {
        // A nonce is only ever valid on the connection it was issued to, once: replaying an auth
        // frame captured from another connection fails here.
        if nonce != issued {
            return Err(self.refuse(ErrorCode::InvalidNonce).await);
        }
        // Against the real time: the device signed with its own clock, which no test offset moves.
        if !signatures::signed_within(timestamp, self.relay.clock.wall(), MAX_CLOCK_SKEW_MS.unsigned_abs()) {
            return Err(self.refuse(ErrorCode::ClockSkew).await);
        }
        let record = match self.relay.store.device(&device).await {
            Ok(Some(record)) => record,
            Ok(None) => return Err(self.refuse(ErrorCode::UnknownDevice).await),
            Err(err) => {
                tracing::error!(error = %err, "device lookup failed");
                return Err(self.refuse(ErrorCode::Internal).await);
            }
        };
        let message = auth_message(&device, &nonce, &self.relay.settings.origin, timestamp);
        if !signatures::verifies(record.signing_key.as_bytes(), &message, signature.as_bytes()) {
            return Err(self.refuse(ErrorCode::BadSignature).await);
        }
        self.admit(device, record).await
    }

    /// Lets an authenticated device in. The kill switch is registered before revocation is read
    /// again: a revocation that landed after the first read (`verify_auth`'s lookup) fired the
    /// watcher before this connection was registered with it, so only this second read sees it.
    pub(super) async fn admit(&mut self, device: DeviceId, record: DeviceRecord) -> Result<(), SessionEnd> {
        let lock = self.relay.hub.register_device(device, self.connection, self.kill.clone());
        self.device = Some(device);
        match tokio::time::timeout(SUPERSEDE_WAIT, lock.lock_owned()).await {
            Ok(guard) => self.device_guard = Some(guard),
            Err(_) => tracing::warn!("an older connection of a device did not stop in time"),
        }
        // Read the device again now that the kill switch is registered: a revocation that landed
        // after the first read fired the watcher before this connection was registered with it.
        let (revoked, pending) = match self.relay.store.device(&device).await {
            Ok(Some(now)) => (now.revoked_at.is_some(), now.is_pending()),
            Ok(None) => (true, false),
            Err(err) => {
                tracing::error!(error = %err, "device lookup failed");
                return Err(self.refuse(ErrorCode::Internal).await);
            }
        };
        if revoked {
            return Err(self.refuse(ErrorCode::DeviceRevoked).await);
        }
        self.relay.metrics.auth_ok.fetch_add(1, Relaxed);
        self.add_subscription(record.mailbox);
        // Acks this device's previous connection sent are committed before its queue is read,
        // so nothing it acknowledged is handed to it again (the device lock taken above means
        // that connection has stopped reading), and what was delivered to it before its commit
        // and not acked is written, so that read includes it. Before `ready`: once a client
        // hears it, messages to it take their normal course.
        self.relay.committer.flush(vec![record.mailbox]).await;
        let ready = ServerFrame::Ready { account: record.account, device, mailbox: record.mailbox };
        if !self.send_frame(&ready).await {
            return Err(SessionEnd::Transport);
        }
        if pending {
            self.pending_mailbox = Some(record.mailbox);
        } else {
            self.check_key_package_stock(record.mailbox).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::metrics::Metrics;
    use crate::relay::committer::{Committer, CommitterConfig};
    use crate::relay::hub::Hub;
    use crate::relay::{Relay, RelaySettings};
    use crate::store::{NewDevice, NewInvitation, SqliteStore, Store, sha256};
    use sallyport_protocol::{AccountId, MailboxId, PublicKey};
    use std::sync::Arc;
    use tokio::sync::watch;

    /// A revocation that lands after the device lookup and before this connection's kill switch is
    /// registered: the watcher's kill finds no connection, so only the read after registering can
    /// refuse the device (issue 10 item 7). Without that read the device would be let in.
    #[tokio::test]
    async fn a_revocation_between_the_lookup_and_the_registration_is_not_missed() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        let store: Arc<dyn Store> = Arc::new(sqlite);
        let now = Clock::system().now();
        let invitation = NewInvitation {
            code_hash: sha256(b"code"),
            display_name: "Pat".into(),
            roles: vec![sallyport_protocol::rest::Role::Staff],
            account: None,
            created_at: now,
            expires_at: now + 60_000,
        };
        store.create_invitation(invitation).await.unwrap();
        let device = DeviceId::random();
        let new = NewDevice {
            device,
            mailbox: MailboxId::random(),
            new_account: AccountId::random(),
            signing_key: PublicKey([9; 32]),
            notification_key: PublicKey([8; 32]),
            now,
        };
        store.redeem_invitation(&sha256(b"code"), new).await.unwrap();

        let hub = Arc::new(Hub::default());
        let metrics = Arc::new(Metrics::default());
        let config = CommitterConfig { node_id: "test".into(), max_batch: 8, queue_quota: 100, push: None, hold: std::time::Duration::ZERO };
        let (committer, _task) = Committer::start(store.clone(), hub.clone(), metrics.clone(), config);
        let (_shutdown_tx, shutdown) = watch::channel(false);
        let settings = RelaySettings { origin: "http://127.0.0.1".into(), message_ttl_ms: 60_000, max_frames_per_second: 100, queue_quota: 1_000 };
        let relay = Relay { store: store.clone(), hub: hub.clone(), committer, metrics, clock: Clock::system(), settings: Arc::new(settings), budgets: Arc::default(), shutdown };
        let (out, mut frames) = crate::relay::queue::channel(16);
        let mut session = Session::new(relay, out, sallyport_protocol::Encoding::Json);

        // The lookup (and signature check) of `verify_auth` happen here…
        let record = store.device(&device).await.unwrap().expect("enrolled");
        assert!(record.revoked_at.is_none());
        // …then the device is revoked and the watcher kills its connections: none is registered yet.
        assert!(store.revoke_device(&device, now + 1).await.unwrap());
        assert_eq!(hub.kill_device(&device), 0);

        match session.admit(device, record).await {
            Err(SessionEnd::Refused(ErrorCode::DeviceRevoked)) => {}
            Err(other) => panic!("refused for another reason: {other:?}"),
            Ok(()) => panic!("a device revoked before its connection registered was let in"),
        }
        let first = frames.recv().await.expect("an error frame");
        assert!(format!("{first:?}").contains("device_revoked"), "{first:?}");
        session.cleanup();
    }
}
