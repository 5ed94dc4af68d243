//! What a push is for and why one was not sent: the kinds the push sender queues apart (most
//! urgent first) and the reasons `sallyport_push_dropped_total` counts.

/// What a push is for, most urgent first. Each kind has its own intake queue and its own place in
/// the sender's per-host queues, and goes before every less urgent kind: a flood of wake-ups
/// cannot delay or crowd out a support request, nor a support request a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushKind {
    /// A critical-incident page to a responder.
    Crisis,
    /// A support request offered to a supporter.
    Support,
    /// "A message, in this conversation" to an offline device.
    WakeUp,
}

impl PushKind {
    /// Every kind, in priority order.
    pub const ALL: [PushKind; 3] = [PushKind::Crisis, PushKind::Support, PushKind::WakeUp];

    /// The `kind` label in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            PushKind::Crisis => "crisis",
            PushKind::Support => "support",
            PushKind::WakeUp => "wake_up",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Urgent pushes keep slots wake-ups may not take, and are tried more often.
    pub fn is_urgent(self) -> bool {
        self != PushKind::WakeUp
    }
}

/// Why a push was not sent at all (the `reason` label of `sallyport_push_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Its kind's intake queue, or all hosts' queue for its kind, was full.
    QueueFull,
    /// Its push service's queue for its kind was full (that host is slow or backed off).
    HostQueueFull,
    /// The subscription's host is not (or no longer) one this server pushes to.
    HostNotAllowed,
}

impl DropReason {
    pub const ALL: [DropReason; 3] = [DropReason::QueueFull, DropReason::HostQueueFull, DropReason::HostNotAllowed];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::HostQueueFull => "host_queue_full",
            DropReason::HostNotAllowed => "host_not_allowed",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// How one push to one device ended, for whoever asked to hear (a page's board): the best
/// answer among the device's subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PushOutcome {
    /// Not sent: a queue was full, or the push service is not allowed.
    Dropped,
    /// The device has no push subscription.
    NoSubscription,
    /// No answer worth having after every retry (5xx, 429, timeouts).
    Failed,
    /// Refused (4xx other than 404/410, a redirect, unusable keys).
    Refused,
    /// 404 or 410: the subscription is gone (and deleted).
    Gone,
    /// Accepted by the push service.
    Sent,
}

impl PushOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            PushOutcome::Dropped => "dropped",
            PushOutcome::NoSubscription => "no_subscription",
            PushOutcome::Failed => "failed",
            PushOutcome::Refused => "refused",
            PushOutcome::Gone => "gone",
            PushOutcome::Sent => "sent",
        }
    }
}
