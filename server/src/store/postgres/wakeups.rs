//! Multi-node wake-ups on PostgreSQL: LISTEN/NOTIFY on one channel. Payloads: `revoked`,
//! `NODE SP MAILBOX,MAILBOX,…` with mailboxes in their base64url text form, or
//! `incident:INCIDENT SP NODE SP MAILBOX,…` (an incident changed, for those mailboxes' readers).

use super::super::sql_errors::store_error;
use super::super::wakeups::{Wakeup, WakeupStore};
use super::super::{StoreError, StoreResult};
use super::PostgresStore;
use async_trait::async_trait;
use sallyport_protocol::{IncidentId, MailboxId};
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio::sync::mpsc;

/// The one notification channel.
pub(super) const CHANNEL: &str = "sallyport_wakeup";
pub(super) const REVOKED: &str = "revoked";
const INCIDENT_PREFIX: &str = "incident:";
/// PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more.
const MAX_NOTIFY_PAYLOAD: usize = 7_900;
/// How many undelivered wake-ups a listener buffers before dropping new ones (callers also poll).
const WAKEUP_BUFFER: usize = 1_024;

#[async_trait]
impl WakeupStore for PostgresStore {
    async fn notify_mailboxes(&self, node: &str, mailboxes: &[MailboxId]) -> StoreResult<()> {
        if mailboxes.is_empty() {
            return Ok(());
        }
        let payloads = wakeup_payloads(node, mailboxes)?;
        sqlx::query("SELECT pg_notify($1, p) FROM UNNEST($2::text[]) AS p")
            .bind(CHANNEL)
            .bind(payloads)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn notify_incident(&self, node: &str, incident: &IncidentId, mailboxes: &[MailboxId]) -> StoreResult<()> {
        if mailboxes.is_empty() {
            return Ok(());
        }
        let prefix = format!("{INCIDENT_PREFIX}{} {node}", incident.to_text());
        let payloads = wakeup_payloads(&prefix, mailboxes)?;
        sqlx::query("SELECT pg_notify($1, p) FROM UNNEST($2::text[]) AS p")
            .bind(CHANNEL)
            .bind(payloads)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn listen(&self) -> StoreResult<Option<mpsc::Receiver<Wakeup>>> {
        // LISTEN is in place before this returns: every notification committed afterwards arrives
        // unless the connection drops.
        let mut listener = PgListener::connect_with(&self.listen_pool)
            .await
            .map_err(store_error)?;
        listener.listen(CHANNEL).await.map_err(store_error)?;
        let (tx, rx) = mpsc::channel(WAKEUP_BUFFER);
        let task = tokio::spawn(run_listener(listener, tx));
        let mut listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        listeners.retain(|t| !t.is_finished());
        listeners.push(task);
        Ok(Some(rx))
    }
}

/// Forwards notifications until the receiver is dropped or the store closes. A lost connection
/// is re-established (notifications sent meanwhile are lost: callers poll as well).
async fn run_listener(mut listener: PgListener, tx: mpsc::Sender<Wakeup>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let received = tokio::select! {
            _ = tx.closed() => return,
            received = listener.try_recv() => received,
        };
        match received {
            Ok(Some(notification)) => {
                backoff = Duration::from_millis(100);
                let Some(wakeup) = parse_wakeup(notification.payload()) else {
                    tracing::warn!("ignoring a malformed wake-up notification");
                    continue;
                };
                match tx.try_send(wakeup) {
                    Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
            Ok(None) => tracing::warn!("wake-up listener lost its connection; reconnected"),
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::warn!(error = %store_error(e), retry_in_ms = backoff.as_millis() as u64, "wake-up listener failed");
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// `NODE SP MAILBOX,MAILBOX,…`, split into payloads under PostgreSQL's limit.
fn wakeup_payloads(node: &str, mailboxes: &[MailboxId]) -> StoreResult<Vec<String>> {
    const MAILBOX_TEXT: usize = 22; // 16 bytes in unpadded base64url
    // The node id may follow an incident prefix (`incident:ID NODE`): no other whitespace.
    let bare = node.strip_prefix(INCIDENT_PREFIX).and_then(|rest| rest.split_once(' ')).map_or(node, |(_, n)| n);
    if bare.is_empty()
        || node.len() + 1 + MAILBOX_TEXT > MAX_NOTIFY_PAYLOAD
        || bare.chars().any(char::is_whitespace)
    {
        return Err(StoreError::Other(
            "a node id must be non-empty, short, and without spaces".into(),
        ));
    }
    let mut payloads = Vec::new();
    let mut current = String::new();
    for mailbox in mailboxes {
        if !current.is_empty() && current.len() + 1 + MAILBOX_TEXT > MAX_NOTIFY_PAYLOAD {
            payloads.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current.push_str(node);
            current.push(' ');
        } else {
            current.push(',');
        }
        current.push_str(&mailbox.to_text());
    }
    payloads.push(current);
    Ok(payloads)
}

fn parse_wakeup(payload: &str) -> Option<Wakeup> {
    if payload == REVOKED {
        return Some(Wakeup::Revoked);
    }
    if let Some(rest) = payload.strip_prefix(INCIDENT_PREFIX) {
        let (incident, rest) = rest.split_once(' ')?;
        let (node, list) = rest.split_once(' ')?;
        let mailboxes = list.split(',').map(MailboxId::parse).collect::<Option<Vec<_>>>()?;
        return Some(Wakeup::IncidentChanged { node: node.to_owned(), incident: IncidentId::parse(incident)?, mailboxes });
    }
    let (node, list) = payload.split_once(' ')?;
    let mailboxes = list
        .split(',')
        .map(MailboxId::parse)
        .collect::<Option<Vec<_>>>()?;
    Some(Wakeup::Mailboxes {
        node: node.to_owned(),
        mailboxes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakeup_payloads_are_chunked_under_the_limit_and_round_trip() {
        let mailboxes: Vec<MailboxId> = (0..1_000).map(|_| MailboxId::random()).collect();
        let payloads = wakeup_payloads("node-a", &mailboxes).unwrap();
        assert!(payloads.len() > 1);
        let mut back = Vec::new();
        for p in &payloads {
            assert!(p.len() < MAX_NOTIFY_PAYLOAD);
            match parse_wakeup(p).unwrap() {
                Wakeup::Mailboxes { node, mailboxes } => {
                    assert_eq!(node, "node-a");
                    back.extend(mailboxes);
                }
                other => panic!("not a mailbox wake-up: {other:?}"),
            }
        }
        assert_eq!(back, mailboxes);
        assert_eq!(parse_wakeup(REVOKED), Some(Wakeup::Revoked));
        assert!(wakeup_payloads("has space", &mailboxes).is_err());
    }

    #[test]
    fn incident_notifications_are_chunked_and_round_trip_whatever_the_ids() {
        let mailboxes: Vec<MailboxId> = (0..1_000).map(|_| MailboxId::random()).collect();
        // Ids in base64url may begin with '-' or '_'.
        let incident = IncidentId([0xfb; 16]);
        assert!(incident.to_text().starts_with('-') || incident.to_text().starts_with('_'));
        let prefix = format!("{INCIDENT_PREFIX}{} -node", incident.to_text());
        let payloads = wakeup_payloads(&prefix, &mailboxes).unwrap();
        assert!(payloads.len() > 1);
        let mut back = Vec::new();
        for p in &payloads {
            assert!(p.len() < MAX_NOTIFY_PAYLOAD);
            match parse_wakeup(p).unwrap() {
                Wakeup::IncidentChanged { node, incident: got, mailboxes } => {
                    assert_eq!((node.as_str(), got), ("-node", incident));
                    back.extend(mailboxes);
                }
                other => panic!("not an incident: {other:?}"),
            }
        }
        assert_eq!(back, mailboxes);
        assert!(wakeup_payloads(&format!("{INCIDENT_PREFIX}x has space"), &mailboxes).is_err());
    }
}
