//! Authentication of a new connection: a fresh nonce, the device's signature over it and the
//! server's origin, then the device's linked mailbox is subscribed (protocol §5).

use super::{AUTH_TIMEOUT, Flow, SUPERSEDE_WAIT, Session, SessionEnd, error_frame};
use axum::extract::ws::WebSocket;
use futures::StreamExt;
use sallyport_protocol::{
    ClientFrame, DeviceId, ErrorCode, MAX_CLOCK_SKEW_MS, Nonce, PROTOCOL_VERSION, ServerFrame, auth::auth_message,
    decode_client_frame,
};
use crate::domain::signatures;
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
            let text = match self.frame_text(msg).await {
                Ok(Some(text)) => text,
                Ok(None) => continue,
                Err(Flow::Stop(end)) => return Err(end),
                Err(Flow::Continue) => continue,
            };
            match decode_client_frame(text.as_bytes()) {
                Ok(ClientFrame::Auth { device, nonce: signed_nonce, timestamp, signature }) => {
                    return self.verify_auth(nonce, device, signed_nonce, timestamp, signature).await;
                }
                Ok(_) => self.send_error(ServerFrame::error(ErrorCode::NotAuthenticated)).await,
                Err((code, id)) => self.send_error(error_frame(code, id)).await,
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
        if (timestamp - self.relay.clock.wall()).abs() > MAX_CLOCK_SKEW_MS {
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
        // Register the kill switch before checking revocation, so a revocation that lands in
        // between is still seen by the watcher.
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
