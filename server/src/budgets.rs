//! Per-device budgets (issue 11 item 3), in memory only: what one enrolled device may spend of
//! the shared service, so that a flood from one device slows that device alone. A stored count
//! would say which device did what and when, so nothing here is written anywhere; a restart
//! forgets it, which costs an attacker nothing they could not get by waiting.
//!
//! Each budget counts in fixed windows of time. The maps hold only devices that spent something
//! in the current window (older entries are swept); the shares of recipients' queues are a
//! sketch of fixed size, so no pattern of traffic grows them.

use sallyport_protocol::{DeviceId, MailboxId};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// Devices remembered by one budget before the expired entries are swept.
const SWEEP_AT: usize = 10_000;
/// The shares sketch: rows × cells counters of 2 bytes (2 MiB), whatever the traffic. A map per
/// (sender, recipient) pair grew with every pair that exchanged a message in the day: 5 MB in
/// 3 minutes of the soak bench's random pairs, and up to 4,096 entries per device.
const SHARE_ROWS: usize = 2;
const SHARE_CELLS: usize = 1 << 19;
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
    shares: Mutex<Shares>,
    /// Keys the pairs' hashes: the sketch holds no id, only counters at places chosen by a
    /// per-process keyed hash, so a dump of this process's memory cannot list who wrote to whom.
    pair_key: RandomState,
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

/// Every sender's messages per recipient in the current day, as a count-min sketch: a pair is
/// counted in one cell of each row, chosen by its keyed hash, and its count is the least of its
/// cells. Collisions can only overcount, and an overcount costs the sender a look at the
/// recipient's queue (`ShareSpent`), after which the pair is forgiven if that queue is being read.
/// With 2 × 2^19 cells a pair is overcounted to the default share of 500 only when the node
/// relays hundreds of millions of messages a day (the soak bench's 1,000 a second put ~160 in a
/// cell by the end of a day).
struct Shares {
    day: i64,
    cells: Vec<u16>,
}

impl Shares {
    fn new() -> Shares {
        Shares { day: i64::MIN, cells: vec![0; SHARE_ROWS * SHARE_CELLS] }
    }

    /// Starts a new day's counts when `now` is in another day than the counts.
    fn roll(&mut self, now: i64) {
        let day = now.div_euclid(DAY_MS);
        if self.day != day {
            self.cells.fill(0);
            self.day = day;
        }
    }

    /// The cells of the pair with keyed hash `hash`, one per row.
    fn places(hash: u64) -> [usize; SHARE_ROWS] {
        let mask = SHARE_CELLS as u64 - 1;
        [(hash & mask) as usize, SHARE_CELLS + ((hash >> 32) & mask) as usize]
    }

    fn count(&self, hash: u64) -> u16 {
        Self::places(hash).iter().map(|&i| self.cells[i]).min().unwrap_or(0)
    }

    /// Adds one to the pair's count, raising only the cells at its current count (the
    /// "conservative update", which overcounts least).
    fn add(&mut self, hash: u64) {
        let count = self.count(hash);
        for i in Self::places(hash) {
            if self.cells[i] == count {
                self.cells[i] = count.saturating_add(1);
            }
        }
    }

    /// Sets the pair's count to zero by zeroing its least cell. Another pair sharing that cell
    /// may then be undercounted for the rest of the day, which errs towards letting it send.
    fn clear(&mut self, hash: u64) {
        if let Some(&i) = Self::places(hash).iter().min_by_key(|&&i| self.cells[i]) {
            self.cells[i] = 0;
        }
    }
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
            shares: Mutex::new(Shares::new()),
            pair_key: RandomState::new(),
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

    /// A send of `payload_bytes` to `to` by `device`: its bytes budget (spent when allowed), then
    /// its share of each recipient's queue. The share is charged only once the message is taken
    /// as new ([`Budgets::charge_share`]): a client that re-sends what it had no answer for
    /// after a reconnect (with early delivery, everything not yet acked by its recipients) is
    /// not charged again for each re-send.
    pub fn send(&self, device: &DeviceId, to: &[MailboxId], payload_bytes: usize, now: i64) -> SendBudget {
        let cost = (to.len() as u64).saturating_mul(payload_bytes.max(1) as u64);
        let over_share = self.over_share(device, to, now);
        if !over_share.is_empty() {
            return SendBudget::ShareSpent(over_share);
        }
        if self.bytes.spend(*device, cost, self.settings.send_bytes_per_10s, now) {
            SendBudget::Allowed
        } else {
            SendBudget::BytesSpent
        }
    }

    /// Charges a message `device` sent to `to` and that was taken as new (stored or delivered,
    /// not a duplicate) to its shares of those recipients.
    pub fn charge_share(&self, device: &DeviceId, to: &[MailboxId], now: i64) {
        self.shares_count(device, to, now);
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
        for mailbox in mailboxes {
            shares.clear(self.pair_hash(device, mailbox));
        }
    }

    fn pair_hash(&self, device: &DeviceId, mailbox: &MailboxId) -> u64 {
        self.pair_key.hash_one((device.as_bytes(), mailbox.as_bytes()))
    }

    /// The recipients of `to` that `device` sent its share to today.
    fn over_share(&self, device: &DeviceId, to: &[MailboxId], now: i64) -> Vec<MailboxId> {
        let mut shares = self.shares.lock().unwrap_or_else(|e| e.into_inner());
        shares.roll(now);
        // Counters stop at u16::MAX, so a larger setting is a share of u16::MAX.
        let limit = u16::try_from(self.settings.sender_share_per_day).unwrap_or(u16::MAX);
        to.iter().filter(|m| shares.count(self.pair_hash(device, m)) >= limit).copied().collect()
    }

    fn shares_count(&self, device: &DeviceId, to: &[MailboxId], now: i64) {
        let mut shares = self.shares.lock().unwrap_or_else(|e| e.into_inner());
        shares.roll(now);
        for mailbox in to {
            shares.add(self.pair_hash(device, mailbox));
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
        b.charge_share(&flooder, &[victim], 0);
        assert_eq!(b.send(&flooder, &[victim], 10, 1), SendBudget::Allowed);
        b.charge_share(&flooder, &[victim], 1);
        assert_eq!(b.send(&flooder, &[victim], 10, 2), SendBudget::ShareSpent(vec![victim]));
        assert_eq!(b.send(&flooder, &[elsewhere, victim], 10, 2), SendBudget::ShareSpent(vec![victim]));
        assert_eq!(b.send(&flooder, &[elsewhere], 10, 3), SendBudget::Allowed, "nothing was counted for the refused send");
        b.charge_share(&flooder, &[elsewhere], 3);
        assert_eq!(b.send(&friend, &[victim], 10, 3), SendBudget::Allowed, "someone else still reaches the victim");
        b.charge_share(&friend, &[victim], 3);
        b.forgive_shares(&flooder, &[victim]);
        assert_eq!(b.send(&flooder, &[victim], 10, 4), SendBudget::Allowed, "the victim reads: a new share");
        b.charge_share(&flooder, &[victim], 4);
        assert_eq!(b.send(&flooder, &[victim], 10, 5), SendBudget::Allowed);
        b.charge_share(&flooder, &[victim], 5);
        assert_eq!(b.send(&flooder, &[victim], 10, 6), SendBudget::ShareSpent(vec![victim]));
        assert_eq!(b.send(&flooder, &[victim], 10, DAY_MS), SendBudget::Allowed, "a new day");
        b.charge_share(&flooder, &[victim], DAY_MS);
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
    fn shares_take_the_same_memory_whatever_the_traffic() {
        let b = budgets(BudgetSettings::default());
        let share = BudgetSettings::default().sender_share_per_day;
        let cells = b.shares.lock().unwrap().cells.len();
        // 200,000 distinct pairs in a day: more than the soak bench makes in three minutes.
        let devices: Vec<DeviceId> = (0..1_000).map(|_| DeviceId::random()).collect();
        for (i, device) in devices.iter().enumerate() {
            let to: Vec<MailboxId> = (0..200).map(|_| MailboxId::random()).collect();
            assert_eq!(b.send(device, &to, 1, i as i64), SendBudget::Allowed, "a new pair starts at 0 (device {i})");
            b.charge_share(device, &to, i as i64);
        }
        assert_eq!(b.shares.lock().unwrap().cells.len(), cells);
        // The shares still hold: a pair's count is never below what it sent. A count-min sketch
        // may count more than a new pair sent (its cells are shared with other pairs): by at
        // most the fullest cell, here a few, so the pair gets exactly its share less that.
        let (sender, victim) = (devices[7], MailboxId::random());
        let already = u32::from(b.shares.lock().unwrap().count(b.pair_hash(&sender, &victim)));
        assert!(already < 20, "a new pair starts near 0 even in a busy sketch (counted {already})");
        for n in already..share {
            assert_eq!(b.send(&sender, &[victim], 1, 2_000), SendBudget::Allowed, "message {n}");
            b.charge_share(&sender, &[victim], 2_000);
        }
        assert_eq!(b.send(&sender, &[victim], 1, 2_001), SendBudget::ShareSpent(vec![victim]));
    }

    #[test]
    fn a_share_larger_than_a_counter_stops_at_the_counter() {
        let b = budgets(BudgetSettings { sender_share_per_day: u32::MAX, ..Default::default() });
        let (sender, to) = (DeviceId::random(), MailboxId::random());
        let mut shares = b.shares.lock().unwrap();
        shares.roll(0);
        let hash = b.pair_hash(&sender, &to);
        for _ in 0..u32::from(u16::MAX) + 5 {
            shares.add(hash);
        }
        assert_eq!(shares.count(hash), u16::MAX);
        drop(shares);
        assert_eq!(b.send(&sender, &[to], 1, 1), SendBudget::ShareSpent(vec![to]));
    }
}
