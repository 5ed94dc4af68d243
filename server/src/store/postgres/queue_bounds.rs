//! Upper bounds of mailboxes' queue lengths, kept by this node between its commit rounds, so
//! that a round need not count every recipient's queue.
//!
//! Counting is what made rounds slower during a run: every copy is inserted and, once acked,
//! deleted, and until autovacuum comes by (once a minute) a count walks every dead index entry
//! and visits its heap page. After 20 s of `relay` a queue table held 420,000 dead rows and
//! counting 100 queues took 280 ms, in every round.
//!
//! A bound is this node's last count plus every copy this node stored since (acks are not
//! subtracted, so it only overstates what this node knows). It is used instead of a count only
//! while it is fresh (counted within the last second) and the round leaves it at most half the
//! quota: near the quota the queue is counted exactly, as before. Across nodes the quota was
//! already approximate (two nodes' rounds could both see room); a bound adds at most one
//! second of the other nodes' copies, and only while the queue is under half full.

use sallyport_protocol::MailboxId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a count stands in for counting again. A bound older than this serves nothing and is
/// forgotten at the next count: the map holds only mailboxes written to within about a second.
const FRESH: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct QueueBounds {
    bounds: Mutex<HashMap<MailboxId, Bound>>,
}

struct Bound {
    at_most: u64,
    counted: Instant,
}

impl QueueBounds {
    /// For a round adding `adding[m]` copies to each recipient `m`: the bounds that may stand
    /// for counts, and the recipients whose queues must be counted.
    pub fn plan(&self, adding: &HashMap<MailboxId, u64>, quota: u64, now: Instant) -> (HashMap<MailboxId, u64>, Vec<MailboxId>) {
        let bounds = self.bounds.lock().unwrap();
        let mut known = HashMap::new();
        let mut to_count = Vec::new();
        for (mailbox, adds) in adding {
            match bounds.get(mailbox) {
                Some(b) if now.saturating_duration_since(b.counted) < FRESH && b.at_most.saturating_add(*adds) <= quota / 2 => {
                    known.insert(*mailbox, b.at_most);
                }
                _ => to_count.push(*mailbox),
            }
        }
        (known, to_count)
    }

    /// Queues just counted (at `at`, taken before the count).
    pub fn counted(&self, counts: &HashMap<MailboxId, u64>, at: Instant) {
        let mut bounds = self.bounds.lock().unwrap();
        bounds.retain(|_, b| at.saturating_duration_since(b.counted) < FRESH);
        for (mailbox, n) in counts {
            bounds.insert(*mailbox, Bound { at_most: *n, counted: at });
        }
    }

    /// Copies this node has just committed.
    pub fn added(&self, copies: impl Iterator<Item = MailboxId>) {
        let mut bounds = self.bounds.lock().unwrap();
        for mailbox in copies {
            if let Some(b) = bounds.get_mut(&mailbox) {
                b.at_most = b.at_most.saturating_add(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_stands_for_a_count_only_while_fresh_and_under_half_the_quota() {
        let bounds = QueueBounds::default();
        let (a, b) = (MailboxId::random(), MailboxId::random());
        let t0 = Instant::now();
        let adding = HashMap::from([(a, 2), (b, 1)]);

        let (known, mut to_count) = bounds.plan(&adding, 100, t0);
        to_count.sort_unstable();
        let mut both = vec![a, b];
        both.sort_unstable();
        assert!(known.is_empty());
        assert_eq!(to_count, both, "never counted: count");

        bounds.counted(&HashMap::from([(a, 40), (b, 50)]), t0);
        bounds.added([a, a].into_iter());
        let (known, to_count) = bounds.plan(&adding, 100, t0 + Duration::from_millis(500));
        assert_eq!(known, HashMap::from([(a, 42)]), "40 counted + 2 stored since, 44 after the round: under 50");
        assert_eq!(to_count, vec![b], "50 + 1 would pass half the quota: count");

        let (known, to_count) = bounds.plan(&HashMap::from([(a, 1)]), 100, t0 + FRESH);
        assert!(known.is_empty());
        assert_eq!(to_count, vec![a], "a second old: count again");
    }

    #[test]
    fn a_stale_bound_is_forgotten_at_the_next_count() {
        let bounds = QueueBounds::default();
        let t0 = Instant::now();
        let (old, new) = (MailboxId::random(), MailboxId::random());
        bounds.counted(&HashMap::from([(old, 1)]), t0);
        bounds.counted(&HashMap::from([(new, 1)]), t0 + FRESH);
        let held: Vec<MailboxId> = bounds.bounds.lock().unwrap().keys().copied().collect();
        assert_eq!(held, vec![new], "the mailbox counted a second ago is no longer held");
    }
}
