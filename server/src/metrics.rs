//! Prometheus metrics: counts and latencies only. No label ever carries an id, a key, an address
//! or content, so `/metrics` cannot link anyone to anything.

use crate::domain::push::{DropReason, PushKind};
use sallyport_protocol::ErrorCode;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.counts[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.counts[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micros.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

#[derive(Default)]
pub struct Metrics {
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    /// TCP connections closed unread because the cap on open connections was reached.
    pub connections_refused_total: AtomicU64,
    /// TCP connections closed unread because their client address had its cap open.
    pub connections_refused_per_address: AtomicU64,
    pub auth_ok: AtomicU64,
    pub messages_accepted: AtomicU64,
    pub messages_duplicate: AtomicU64,
    /// Messages accepted because every recipient acked them before they were due to be written:
    /// never written to the database.
    pub messages_unwritten: AtomicU64,
    /// Messages delivered before their commit and written because an ack was still missing.
    pub messages_written_late: AtomicU64,
    pub deliveries: AtomicU64,
    pub acks: AtomicU64,
    pub commits: AtomicU64,
    pub committed_ops: AtomicU64,
    pub enrolments: AtomicU64,
    pub expired: AtomicU64,
    pub unread_mailboxes_expired: AtomicU64,
    pub push_sent: AtomicU64,
    pub push_failed: AtomicU64,
    pub push_gone: AtomicU64,
    /// By `PushKind::index`, then `DropReason::index`.
    push_dropped: [[AtomicU64; DropReason::ALL.len()]; PushKind::ALL.len()],
    pub support_scheduler_runs: AtomicU64,
    pub paging_scheduler_runs: AtomicU64,
    errors: [AtomicU64; ERROR_CODES.len()],
    /// From a `send` arriving to its `accepted` going out (includes the group commit).
    pub accept_latency: Histogram,
    /// One group-commit transaction.
    pub commit_latency: Histogram,
}

const ERROR_CODES: [ErrorCode; 29] = [
    ErrorCode::MalformedFrame,
    ErrorCode::UnknownFrameType,
    ErrorCode::FrameTooLarge,
    ErrorCode::PayloadTooLarge,
    ErrorCode::BadRecipients,
    ErrorCode::NotAuthenticated,
    ErrorCode::AlreadyAuthenticated,
    ErrorCode::InvalidNonce,
    ErrorCode::ClockSkew,
    ErrorCode::BadSignature,
    ErrorCode::UnknownDevice,
    ErrorCode::DeviceRevoked,
    ErrorCode::UnknownMailbox,
    ErrorCode::WrongMailboxSecret,
    ErrorCode::MailboxExists,
    ErrorCode::QuotaExceeded,
    ErrorCode::RateLimited,
    ErrorCode::AuthTimeout,
    ErrorCode::InvalidInvitation,
    ErrorCode::BadRequest,
    ErrorCode::ShuttingDown,
    ErrorCode::Superseded,
    ErrorCode::StaleEpoch,
    ErrorCode::InvalidMlsMessage,
    ErrorCode::NoKeyPackage,
    ErrorCode::KeyPackageLimit,
    ErrorCode::NotAMember,
    ErrorCode::MailboxLimit,
    ErrorCode::Internal,
];

impl Metrics {
    pub fn error(&self, code: ErrorCode) {
        if let Some(i) = ERROR_CODES.iter().position(|c| *c == code) {
            self.errors[i].fetch_add(1, Relaxed);
        }
    }

    /// A push of `kind` was not sent at all, for `reason`.
    pub fn push_dropped(&self, kind: PushKind, reason: DropReason) {
        self.push_dropped_many(kind, reason, 1);
    }

    pub fn push_dropped_many(&self, kind: PushKind, reason: DropReason, n: u64) {
        self.push_dropped[kind.index()][reason.index()].fetch_add(n, Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let mut counter = |name: &str, help: &str, kind: &str, v: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}", v.load(Relaxed));
        };
        counter("sallyport_connections_open", "WebSocket connections open now.", "gauge", &self.connections_open);
        counter("sallyport_connections_total", "WebSocket connections accepted.", "counter", &self.connections_total);
        counter("sallyport_auth_ok_total", "Successful authentications.", "counter", &self.auth_ok);
        counter("sallyport_messages_accepted_total", "Messages accepted (committed, or acknowledged by every recipient) and answered to the sender.", "counter", &self.messages_accepted);
        counter("sallyport_messages_duplicate_total", "Re-sent messages answered from the idempotency record.", "counter", &self.messages_duplicate);
        counter("sallyport_messages_unwritten_total", "Messages every recipient acknowledged before they were due to be written: accepted without touching the database.", "counter", &self.messages_unwritten);
        counter("sallyport_messages_written_late_total", "Messages delivered before their commit and then written because an acknowledgement was still missing.", "counter", &self.messages_written_late);
        counter("sallyport_deliveries_total", "Messages written to a recipient connection.", "counter", &self.deliveries);
        counter("sallyport_acks_total", "Deliveries acknowledged by recipients.", "counter", &self.acks);
        counter("sallyport_commits_total", "Group-commit transactions.", "counter", &self.commits);
        counter("sallyport_committed_ops_total", "Appends and acks written by group commits.", "counter", &self.committed_ops);
        counter("sallyport_enrolments_total", "Devices enrolled.", "counter", &self.enrolments);
        counter("sallyport_expired_total", "Undelivered copies deleted at expiry.", "counter", &self.expired);
        counter(
            "sallyport_unread_mailboxes_expired_total",
            "Unlinked mailboxes deleted after going unread for --unlinked-mailbox-idle-days.",
            "counter",
            &self.unread_mailboxes_expired,
        );
        counter("sallyport_push_sent_total", "Web Push wake-ups accepted by a push service.", "counter", &self.push_sent);
        counter("sallyport_push_failed_total", "Web Push wake-ups given up (refused, or retries exhausted).", "counter", &self.push_failed);
        counter("sallyport_push_gone_total", "Push subscriptions deleted because the push service answered 404 or 410.", "counter", &self.push_gone);
        counter("sallyport_support_scheduler_runs_total", "Escalation scheduler passes completed.", "counter", &self.support_scheduler_runs);
        counter("sallyport_paging_scheduler_runs_total", "Crisis paging scheduler passes completed.", "counter", &self.paging_scheduler_runs);
        let _ = writeln!(
            out,
            "# HELP sallyport_connections_refused_total TCP connections closed unread, by the cap reached.\n# TYPE sallyport_connections_refused_total counter\n\
             sallyport_connections_refused_total{{cap=\"total\"}} {}\nsallyport_connections_refused_total{{cap=\"per_address\"}} {}",
            self.connections_refused_total.load(Relaxed),
            self.connections_refused_per_address.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP sallyport_push_dropped_total Web Push messages never sent, by kind (crisis, support, wake_up) and reason (queue_full, host_queue_full, host_not_allowed).\n# TYPE sallyport_push_dropped_total counter"
        );
        for kind in PushKind::ALL {
            for reason in DropReason::ALL {
                let n = self.push_dropped[kind.index()][reason.index()].load(Relaxed);
                let _ = writeln!(out, "sallyport_push_dropped_total{{kind=\"{}\",reason=\"{}\"}} {n}", kind.as_str(), reason.as_str());
            }
        }
        let _ = writeln!(out, "# HELP sallyport_errors_total Errors sent to clients, by stable code.\n# TYPE sallyport_errors_total counter");
        for (i, code) in ERROR_CODES.iter().enumerate() {
            let _ = writeln!(out, "sallyport_errors_total{{code=\"{code}\"}} {}", self.errors[i].load(Relaxed));
        }
        self.accept_latency.render(&mut out, "sallyport_accept_latency_seconds", "From send received to accepted sent.");
        self.commit_latency.render(&mut out, "sallyport_commit_latency_seconds", "Duration of one group-commit transaction.");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.error(ErrorCode::BadSignature);
        m.accept_latency.observe(Duration::from_millis(3));
        m.push_dropped(PushKind::Support, DropReason::QueueFull);
        let text = m.render();
        assert!(text.contains("sallyport_push_dropped_total{kind=\"support\",reason=\"queue_full\"} 1"));
        assert!(text.contains("sallyport_push_dropped_total{kind=\"wake_up\",reason=\"host_not_allowed\"} 0"));
        assert!(text.contains("sallyport_errors_total{code=\"bad_signature\"} 1"));
        assert!(text.contains("sallyport_accept_latency_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("sallyport_accept_latency_seconds_count 1"));
    }
}
