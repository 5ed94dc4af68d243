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
