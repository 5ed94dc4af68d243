//! Per-device budgets (issue 11 item 3), in memory only: what one enrolled device may spend of
//! the shared service, so that a flood from one device slows that device alone. A stored count
//! would say which device did what and when, so nothing here is written anywhere; a restart
//! forgets it, which costs an attacker nothing they could not get by waiting.
//!
//! Each budget counts in fixed windows of time. The maps hold only devices that spent something
//! in the current window (older entries are swept), and a device's own map of recipients is
//! capped, so no device can grow them beyond its share.

use sallyport_protocol::{DeviceId, MailboxId};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// Devices remembered by one budget before the expired entries are swept.
const SWEEP_AT: usize = 10_000;
/// Distinct recipients one device's share counts track per day; a device that writes to more
/// than this many mailboxes in a day is refused new ones until the next day.
const MAX_RECIPIENTS_TRACKED: usize = 4_096;
/// The window of the bytes budget.
const BYTES_WINDOW_MS: i64 = 10_000;
/// Queue counts one device's sends may cost the database per second once it has spent its share
/// of a recipient (each asks whether that queue is being read). A device that is still over its
/// share after these is refused without a query until the next second: a flood past its share
/// cost the server a `COUNT` per frame before (about a core on the abuse bench).
const QUEUE_CHECKS_PER_SECOND: u64 = 10;

/// The limits, from `sallyport serve`'s options.
#[derive(Debug, Clone, Copy)]
pub struct BudgetSettings {
    /// Signed REST requests per device per minute.
    pub signed_requests_per_minute: u32,
    /// Unlinked mailboxes one device may create per day.
    pub mailboxes_per_day: u32,
    /// Messages one device may put into any one mailbox per day.
    pub sender_share_per_day: u32,
    /// Recipients × payload bytes one device may send per 10 s.
    pub send_bytes_per_10s: u64,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        BudgetSettings {
            signed_requests_per_minute: 600,
            mailboxes_per_day: 50,
            sender_share_per_day: 500,
            // Twice the largest single send (256 recipients × 64 KiB).
            send_bytes_per_10s: 32 * 1024 * 1024,
        }
    }
}

/// Every device's budgets on this node.
pub struct Budgets {
    settings: BudgetSettings,
    signed: Window<DeviceId>,
    mailboxes: Window<DeviceId>,
    bytes: Window<DeviceId>,
    queue_checks: Window<DeviceId>,
    shares: Mutex<HashMap<DeviceId, Shares>>,
    /// Keys the recipients' hashes: the share map holds no mailbox id, only a per-process keyed
    /// hash of it, so a dump of this process's memory cannot list whom a device wrote to.
    recipient_key: RandomState,
}


/// What [`Budgets::send`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendBudget {
    Allowed,
    /// The device sent as many bytes as it may in this window.
    BytesSpent,
    /// The device sent its day's share to these recipients: allowed only if their queues are
    /// less than half full (then [`Budgets::forgive_shares`] and ask again).
    ShareSpent(Vec<MailboxId>),
}

/// One device's messages per recipient in the current day.
struct Shares {
    day: i64,
    counts: HashMap<u64, u32>,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets::new(BudgetSettings::default())
    }
}

impl Budgets {
    pub fn new(settings: BudgetSettings) -> Budgets {
        Budgets {
            settings,
            signed: Window::new(MINUTE_MS),
            mailboxes: Window::new(DAY_MS),
            bytes: Window::new(BYTES_WINDOW_MS),
            queue_checks: Window::new(1_000),
            shares: Mutex::default(),
            recipient_key: RandomState::new(),
        }
    }

    /// One signed REST request by `device`.
    pub fn signed_request(&self, device: &DeviceId, now: i64) -> bool {
        self.signed.spend(*device, 1, u64::from(self.settings.signed_requests_per_minute), now)
    }

    /// One unlinked mailbox created by `device`.
    pub fn create_mailbox(&self, device: &DeviceId, now: i64) -> bool {
        self.mailboxes.spend(*device, 1, u64::from(self.settings.mailboxes_per_day), now)
    }

    /// A send of `payload_bytes` to `to` by `device`: its bytes budget, then its share of each
    /// recipient's queue. Counted only when allowed.
    pub fn send(&self, device: &DeviceId, to: &[MailboxId], payload_bytes: usize, now: i64) -> SendBudget {
        let cost = (to.len() as u64).saturating_mul(payload_bytes.max(1) as u64);
        let over_share = self.over_share(device, to, now);
        if !over_share.is_empty() {
            return SendBudget::ShareSpent(over_share);
        }
        if self.bytes.spend(*device, cost, self.settings.send_bytes_per_10s, now) {
            self.shares_count(device, to, now);
            SendBudget::Allowed
        } else {
            SendBudget::BytesSpent
        }
    }

    /// One look at the queues of recipients `device` spent its share of; `false` when it has
    /// had its [`QUEUE_CHECKS_PER_SECOND`] (then the send is refused without asking the database).
    pub fn queue_check(&self, device: &DeviceId, now: i64) -> bool {
        self.queue_checks.spend(*device, 1, QUEUE_CHECKS_PER_SECOND, now)
    }

    /// Starts `device`'s shares of `mailboxes` again: their queues were found less than half
    /// full, so its messages there are being read.
    pub fn forgive_shares(&self, device: &DeviceId, mailboxes: &[MailboxId]) {
        let mut shares = self.shares.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mine) = shares.get_mut(device) {
            for mailbox in mailboxes {
                mine.counts.remove(&self.recipient_hash(mailbox));
            }
        }
    }

    fn recipient_hash(&self, mailbox: &MailboxId) -> u64 {
        self.recipient_key.hash_one(mailbox.as_bytes())
    }

    /// The recipients of `to` that `device` sent its share to today; when it tracks as many
    /// recipients as it may, every new one counts as spent too.
    fn over_share(&self, device: &DeviceId, to: &[MailboxId], now: i64) -> Vec<MailboxId> {
        let day = now.div_euclid(DAY_MS);
        let shares = self.shares.lock().unwrap_or_else(|e| e.into_inner());
        let Some(mine) = shares.get(device).filter(|s| s.day == day) else { return Vec::new() };
        let limit = self.settings.sender_share_per_day;
        let full = mine.counts.len() + to.len() > MAX_RECIPIENTS_TRACKED;
        to.iter()
            .filter(|m| match mine.counts.get(&self.recipient_hash(m)) {
                Some(n) => *n >= limit,
                None => full,
            })
            .copied()
            .collect()
    }

    fn shares_count(&self, device: &DeviceId, to: &[MailboxId], now: i64) {
        let day = now.div_euclid(DAY_MS);
        let mut shares = self.shares.lock().unwrap_or_else(|e| e.into_inner());
        if shares.len() >= SWEEP_AT {
            shares.retain(|_, s| s.day == day);
        }
        let mine = shares.entry(*device).or_insert_with(|| Shares { day, counts: HashMap::new() });
        if mine.day != day {
            *mine = Shares { day, counts: HashMap::new() };
        }
        for mailbox in to {
            *mine.counts.entry(self.recipient_hash(mailbox)).or_insert(0) += 1;
        }
    }
}

/// A count per key in fixed windows of `window_ms`.
struct Window<K> {
    window_ms: i64,
    counts: Mutex<HashMap<K, (i64, u64)>>,
}

impl<K: std::hash::Hash + Eq> Window<K> {
    fn new(window_ms: i64) -> Self {
        Window { window_ms, counts: Mutex::default() }
    }

    /// Adds `cost` to `key`'s count in the window holding `now`, unless that would pass `limit`.
    fn spend(&self, key: K, cost: u64, limit: u64, now: i64) -> bool {
        let window = now.div_euclid(self.window_ms);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= SWEEP_AT {
            counts.retain(|_, (w, _)| *w == window);
        }
        let entry = counts.entry(key).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1.saturating_add(cost) > limit {
            return false;
        }
        entry.1 += cost;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budgets(settings: BudgetSettings) -> Budgets {
        Budgets::new(settings)
    }

    #[test]
    fn signed_requests_are_counted_per_device_per_minute() {
        let b = budgets(BudgetSettings { signed_requests_per_minute: 2, ..Default::default() });
        let (a, other) = (DeviceId::random(), DeviceId::random());
        assert!(b.signed_request(&a, 0));
        assert!(b.signed_request(&a, 1));
        assert!(!b.signed_request(&a, 2));
        assert!(b.signed_request(&other, 2), "another device has its own budget");
        assert!(b.signed_request(&a, MINUTE_MS), "a new minute");
    }

    #[test]
    fn mailboxes_are_counted_per_device_per_day() {
        let b = budgets(BudgetSettings { mailboxes_per_day: 1, ..Default::default() });
        let a = DeviceId::random();
        assert!(b.create_mailbox(&a, 5));
        assert!(!b.create_mailbox(&a, DAY_MS - 1));
        assert!(b.create_mailbox(&a, DAY_MS));
    }

    #[test]
    fn one_sender_has_a_share_of_each_recipient_and_others_theirs() {
        let b = budgets(BudgetSettings { sender_share_per_day: 2, ..Default::default() });
        let (flooder, friend) = (DeviceId::random(), DeviceId::random());
        let (victim, elsewhere) = (MailboxId::random(), MailboxId::random());
        assert_eq!(b.send(&flooder, &[victim], 10, 0), SendBudget::Allowed);
        assert_eq!(b.send(&flooder, &[victim], 10, 1), SendBudget::Allowed);
        assert_eq!(b.send(&flooder, &[victim], 10, 2), SendBudget::ShareSpent(vec![victim]));
        assert_eq!(b.send(&flooder, &[elsewhere, victim], 10, 2), SendBudget::ShareSpent(vec![victim]));
        assert_eq!(b.send(&flooder, &[elsewhere], 10, 3), SendBudget::Allowed, "nothing was counted for the refused send");
        assert_eq!(b.send(&friend, &[victim], 10, 3), SendBudget::Allowed, "someone else still reaches the victim");
        b.forgive_shares(&flooder, &[victim]);
        assert_eq!(b.send(&flooder, &[victim], 10, 4), SendBudget::Allowed, "the victim reads: a new share");
        assert_eq!(b.send(&flooder, &[victim], 10, 5), SendBudget::Allowed);
        assert_eq!(b.send(&flooder, &[victim], 10, 6), SendBudget::ShareSpent(vec![victim]));
        assert_eq!(b.send(&flooder, &[victim], 10, DAY_MS), SendBudget::Allowed, "a new day");
    }

    #[test]
    fn queue_checks_are_bounded_per_device_per_second() {
        let b = budgets(BudgetSettings::default());
        let (flooder, other) = (DeviceId::random(), DeviceId::random());
        for i in 0..QUEUE_CHECKS_PER_SECOND {
            assert!(b.queue_check(&flooder, i as i64), "check {i}");
        }
        assert!(!b.queue_check(&flooder, 999), "the flooder's sends past its share are refused unasked");
        assert!(b.queue_check(&other, 999), "another device has its own checks");
        assert!(b.queue_check(&flooder, 1_000), "a new second");
    }

    #[test]
    fn the_bytes_budget_counts_recipients_times_bytes() {
        let b = budgets(BudgetSettings { send_bytes_per_10s: 1_000, ..Default::default() });
        let a = DeviceId::random();
        let to: Vec<MailboxId> = (0..4).map(|_| MailboxId::random()).collect();
        assert_eq!(b.send(&a, &to, 250, 0), SendBudget::Allowed);
        assert_eq!(b.send(&a, &to[..1], 1, 1), SendBudget::BytesSpent);
        assert_eq!(b.send(&a, &to, 250, BYTES_WINDOW_MS), SendBudget::Allowed);
    }

    #[test]
    fn a_device_tracks_a_bounded_number_of_recipients() {
        let b = budgets(BudgetSettings::default());
        let a = DeviceId::random();
        for _ in 0..MAX_RECIPIENTS_TRACKED {
            assert_eq!(b.send(&a, &[MailboxId::random()], 1, 0), SendBudget::Allowed);
        }
        let one_more = MailboxId::random();
        assert_eq!(b.send(&a, &[one_more], 1, 0), SendBudget::ShareSpent(vec![one_more]));
        assert_eq!(b.send(&DeviceId::random(), &[MailboxId::random()], 1, 0), SendBudget::Allowed);
    }
}
