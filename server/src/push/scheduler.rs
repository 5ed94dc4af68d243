//! Which push is sent next. Each push service (host) has a queue per kind; kinds go in strict
//! priority (crisis, support, wake-up), hosts take turns within a kind, and a cap on pushes in
//! flight per host and overall keeps room for urgent ones. A host that answered 429 is backed off:
//! its queued pushes wait, holding no slot, while other hosts go on. Pure (time is passed in), so
//! the rules are unit-tested; `sender` does the I/O.

use super::allow_list::HostKey;
use super::{DropReason, PushKind};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use tokio::time::Instant;

const KINDS: usize = PushKind::ALL.len();

/// The bounds the scheduler works within.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Pushes in flight at once, all hosts and kinds together.
    pub max_in_flight: usize,
    /// Of those, slots wake-ups may not take: an urgent push finds one free however many
    /// wake-ups are slow to answer.
    pub urgent_reserve: usize,
    /// Pushes in flight at once to one host (a share of `max_in_flight`, so a slow host holds at
    /// most that share).
    pub host_max_in_flight: usize,
    /// Of those, slots wake-ups to the host may not take.
    pub host_urgent_reserve: usize,
    /// Pushes of one kind queued (or waiting for a retry) for one host; beyond it new ones are
    /// dropped and counted.
    pub max_queued_per_host: usize,
    /// Pushes of one kind queued for all hosts together.
    pub max_queued: usize,
}

/// A push taken off its queue to be sent now. Report its end with [`Scheduler::done`].
#[derive(Debug)]
pub struct Started<T> {
    pub host: HostKey,
    pub kind: PushKind,
    pub item: T,
}

struct Host<T> {
    queues: [VecDeque<T>; KINDS],
    /// Pushes of each kind waiting out a retry delay (in `Scheduler::waiting`).
    waiting: [usize; KINDS],
    in_flight: usize,
    wake_ups_in_flight: usize,
    /// Set after a 429: nothing is sent to this host before then.
    backed_off_until: Option<Instant>,
}

impl<T> Host<T> {
    fn new() -> Self {
        Host { queues: Default::default(), waiting: [0; KINDS], in_flight: 0, wake_ups_in_flight: 0, backed_off_until: None }
    }

    fn backed_off(&self, now: Instant) -> bool {
        self.backed_off_until.is_some_and(|until| until > now)
    }

    fn idle(&self, now: Instant) -> bool {
        self.in_flight == 0
            && self.queues.iter().all(VecDeque::is_empty)
            && self.waiting.iter().all(|n| *n == 0)
            && !self.backed_off(now)
    }
}

pub struct Scheduler<T> {
    limits: Limits,
    hosts: HashMap<HostKey, Host<T>>,
    /// Per kind, the hosts with pushes of that kind queued, in turn order.
    ready: [VecDeque<HostKey>; KINDS],
    /// Retries by due time; the pushes themselves are in `waiting`.
    due: BinaryHeap<Reverse<(Instant, u64)>>,
    waiting: HashMap<u64, Started<T>>,
    next_id: u64,
    in_flight: usize,
    wake_ups_in_flight: usize,
    /// Per kind, pushes queued or waiting for a retry.
    queued: [usize; KINDS],
}

impl<T> Scheduler<T> {
    pub fn new(limits: Limits) -> Self {
        assert!(limits.urgent_reserve < limits.max_in_flight && limits.host_urgent_reserve < limits.host_max_in_flight);
        Scheduler {
            limits,
            hosts: HashMap::new(),
            ready: Default::default(),
            due: BinaryHeap::new(),
            waiting: HashMap::new(),
            next_id: 0,
            in_flight: 0,
            wake_ups_in_flight: 0,
            queued: [0; KINDS],
        }
    }

    /// Queues a new push for `host`, or says why it is dropped (its host's queue, or all hosts'
    /// queue for the kind, is full).
    pub fn enqueue(&mut self, host: HostKey, kind: PushKind, item: T) -> Result<(), DropReason> {
        let k = kind.index();
        if self.queued[k] >= self.limits.max_queued {
            return Err(DropReason::QueueFull);
        }
        let max_per_host = self.limits.max_queued_per_host;
        let state = self.hosts.entry(host.clone()).or_insert_with(Host::new);
        if state.queues[k].len() + state.waiting[k] >= max_per_host {
            return Err(DropReason::HostQueueFull);
        }
        if state.queues[k].is_empty() {
            self.ready[k].push_back(host);
        }
        state.queues[k].push_back(item);
        self.queued[k] += 1;
        Ok(())
    }

    /// The next push to send now, if one may go: the most urgent kind first, and within a kind
    /// the next host in turn that is neither backed off nor at its cap. Never waits.
    pub fn next(&mut self, now: Instant) -> Option<Started<T>> {
        self.release_due(now);
        for kind in PushKind::ALL {
            let k = kind.index();
            let urgent = kind.is_urgent();
            if self.in_flight >= self.limits.max_in_flight
                || (!urgent && self.wake_ups_in_flight >= self.limits.max_in_flight - self.limits.urgent_reserve)
            {
                continue;
            }
            for _ in 0..self.ready[k].len() {
                let host = self.ready[k].pop_front().expect("counted");
                let state = self.hosts.get_mut(&host).expect("a ready host is known");
                let capped = state.in_flight >= self.limits.host_max_in_flight
                    || (!urgent
                        && state.wake_ups_in_flight >= self.limits.host_max_in_flight - self.limits.host_urgent_reserve);
                if capped || state.backed_off(now) {
                    self.ready[k].push_back(host);
                    continue;
                }
                let item = state.queues[k].pop_front().expect("a ready host has a push queued");
                state.in_flight += 1;
                if !urgent {
                    state.wake_ups_in_flight += 1;
                    self.wake_ups_in_flight += 1;
                }
                if !state.queues[k].is_empty() {
                    self.ready[k].push_back(host.clone());
                }
                self.in_flight += 1;
                self.queued[k] -= 1;
                return Some(Started { host, kind, item });
            }
        }
        None
    }

    /// A push handed out by `next` has been answered (or failed): its slot is free.
    pub fn done(&mut self, host: &HostKey, kind: PushKind, now: Instant) {
        self.in_flight -= 1;
        if !kind.is_urgent() {
            self.wake_ups_in_flight -= 1;
        }
        if let Some(state) = self.hosts.get_mut(host) {
            state.in_flight -= 1;
            if !kind.is_urgent() {
                state.wake_ups_in_flight -= 1;
            }
            if state.idle(now) {
                self.hosts.remove(host);
            }
        }
    }

    /// Sends `item` again at `at` (first among its host's queued pushes of its kind), holding no
    /// slot meanwhile. Call after `done`.
    pub fn retry(&mut self, host: HostKey, kind: PushKind, item: T, at: Instant) {
        let state = self.hosts.entry(host.clone()).or_insert_with(Host::new);
        state.waiting[kind.index()] += 1;
        self.queued[kind.index()] += 1;
        let id = self.next_id;
        self.next_id += 1;
        self.waiting.insert(id, Started { host, kind, item });
        self.due.push(Reverse((at, id)));
    }

    /// Nothing more goes to `host` before `until` (a 429): its queued pushes wait, other hosts
    /// are not affected. A later back-off never shortens an earlier one.
    pub fn back_off(&mut self, host: &HostKey, until: Instant) {
        let state = self.hosts.entry(host.clone()).or_insert_with(Host::new);
        state.backed_off_until = Some(state.backed_off_until.map_or(until, |u| u.max(until)));
    }

    /// When `next` may next have something that it has not now (a retry falls due, a back-off
    /// ends); `None` when only a push answered (`done`) or a new one can change that. Forgets
    /// hosts with nothing left.
    pub fn next_due(&mut self, now: Instant) -> Option<Instant> {
        self.hosts.retain(|_, state| !state.idle(now));
        let retry = self.due.peek().map(|Reverse((at, _))| *at);
        let back_off = self
            .hosts
            .values()
            .filter(|state| state.queues.iter().any(|q| !q.is_empty()))
            .filter_map(|state| state.backed_off_until.filter(|until| *until > now))
            .min();
        retry.into_iter().chain(back_off).min()
    }

    /// Pushes in flight now.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Moves retries that are due to the front of their host's queue.
    fn release_due(&mut self, now: Instant) {
        while let Some(Reverse((at, id))) = self.due.peek().copied() {
            if at > now {
                break;
            }
            self.due.pop();
            let Started { host, kind, item } = self.waiting.remove(&id).expect("every due retry is waiting");
            let k = kind.index();
            let state = self.hosts.entry(host.clone()).or_insert_with(Host::new);
            state.waiting[k] -= 1;
            if state.queues[k].is_empty() {
                self.ready[k].push_back(host);
            }
            state.queues[k].push_front(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const LIMITS: Limits = Limits {
        max_in_flight: 8,
        urgent_reserve: 2,
        host_max_in_flight: 4,
        host_urgent_reserve: 1,
        max_queued_per_host: 10,
        max_queued: 25,
    };

    fn host(name: &str) -> HostKey {
        HostKey::from(name)
    }

    /// Everything `next` hands out now, as (host, item).
    fn drain(s: &mut Scheduler<u32>, now: Instant) -> Vec<(String, u32)> {
        std::iter::from_fn(|| s.next(now)).map(|p| (p.host.to_string(), p.item)).collect()
    }

    #[test]
    fn hosts_take_turns() {
        let mut s = Scheduler::new(Limits { host_max_in_flight: 100, host_urgent_reserve: 1, max_in_flight: 100, ..LIMITS });
        let now = Instant::now();
        for i in 0..3 {
            s.enqueue(host("a:443"), PushKind::WakeUp, i).unwrap();
        }
        s.enqueue(host("b:443"), PushKind::WakeUp, 10).unwrap();
        s.enqueue(host("c:443"), PushKind::WakeUp, 20).unwrap();
        s.enqueue(host("b:443"), PushKind::WakeUp, 11).unwrap();
        let order: Vec<u32> = drain(&mut s, now).into_iter().map(|(_, i)| i).collect();
        assert_eq!(order, [0, 10, 20, 1, 11, 2]);
    }

    #[test]
    fn urgent_kinds_go_first_in_strict_order() {
        let mut s = Scheduler::new(LIMITS);
        let now = Instant::now();
        s.enqueue(host("a:443"), PushKind::WakeUp, 1).unwrap();
        s.enqueue(host("a:443"), PushKind::Support, 2).unwrap();
        s.enqueue(host("b:443"), PushKind::Crisis, 3).unwrap();
        s.enqueue(host("b:443"), PushKind::WakeUp, 4).unwrap();
        let order: Vec<u32> = drain(&mut s, now).into_iter().map(|(_, i)| i).collect();
        assert_eq!(order, [3, 2, 1, 4]);
    }

    #[test]
    fn a_host_at_its_cap_does_not_hold_up_the_others() {
        let mut s = Scheduler::new(LIMITS);
        let now = Instant::now();
        for i in 0..10 {
            s.enqueue(host("slow:443"), PushKind::WakeUp, i).unwrap();
        }
        s.enqueue(host("fast:443"), PushKind::WakeUp, 100).unwrap();
        let started = drain(&mut s, now);
        // Wake-ups may take 3 of the slow host's 4 slots; the fast host still gets its turn.
        assert_eq!(started.iter().filter(|(h, _)| h == "slow:443").count(), 3);
        assert!(started.contains(&("fast:443".into(), 100)));
        // The slow host's reserved slot is there for an urgent push.
        s.enqueue(host("slow:443"), PushKind::Support, 200).unwrap();
        assert_eq!(drain(&mut s, now), [("slow:443".to_string(), 200)]);
        // Now full: nothing more to it until one is done.
        s.enqueue(host("slow:443"), PushKind::Crisis, 300).unwrap();
        assert!(s.next(now).is_none());
        s.done(&host("slow:443"), PushKind::WakeUp, now);
        assert_eq!(s.next(now).map(|p| p.item), Some(300), "the crisis push before the waiting wake-ups");
    }

    #[test]
    fn wake_ups_leave_room_for_urgent_pushes_overall() {
        let mut s = Scheduler::new(LIMITS);
        let now = Instant::now();
        for h in 0..4 {
            for i in 0..3 {
                s.enqueue(host(&format!("h{h}:443")), PushKind::WakeUp, h * 10 + i).unwrap();
            }
        }
        assert_eq!(drain(&mut s, now).len(), 6, "8 slots, 2 kept for urgent pushes");
        assert_eq!(s.in_flight(), 6);
        s.enqueue(host("h0:443"), PushKind::Support, 99).unwrap();
        s.enqueue(host("other:443"), PushKind::Crisis, 98).unwrap();
        let urgent: Vec<u32> = drain(&mut s, now).into_iter().map(|(_, i)| i).collect();
        assert_eq!(urgent, [98, 99]);
        assert_eq!(s.in_flight(), 8);
    }

    #[test]
    fn a_backed_off_host_waits_and_holds_no_slot_while_others_go_on() {
        let mut s = Scheduler::new(LIMITS);
        let now = Instant::now();
        let busy = host("busy:443");
        for i in 0..5 {
            s.enqueue(busy.clone(), PushKind::WakeUp, i).unwrap();
        }
        let first = s.next(now).unwrap();
        // It answered 429 Retry-After: 30.
        s.done(&busy, PushKind::WakeUp, now);
        s.back_off(&busy, now + Duration::from_secs(30));
        s.retry(busy.clone(), first.kind, first.item, now);
        assert!(s.next(now).is_none(), "nothing to the backed-off host");
        assert_eq!(s.in_flight(), 0);
        s.enqueue(host("ok:443"), PushKind::WakeUp, 50).unwrap();
        s.enqueue(busy.clone(), PushKind::Support, 60).unwrap();
        assert_eq!(drain(&mut s, now), [("ok:443".to_string(), 50)], "even an urgent push waits for the back-off");
        assert_eq!(s.next_due(now), Some(now + Duration::from_secs(30)));
        // A shorter back-off later does not shorten it.
        s.back_off(&busy, now + Duration::from_secs(1));
        assert!(s.next(now + Duration::from_secs(2)).is_none());
        let later = now + Duration::from_secs(30);
        let items: Vec<u32> = drain(&mut s, later).into_iter().map(|(_, i)| i).collect();
        assert_eq!(items, [60, 0, 1, 2], "the support push, then the retried one first; 3 wake-up slots");
    }

    #[test]
    fn retries_wait_their_delay_without_a_slot_and_go_first() {
        let mut s = Scheduler::new(LIMITS);
        let now = Instant::now();
        let h = host("a:443");
        s.enqueue(h.clone(), PushKind::WakeUp, 1).unwrap();
        s.enqueue(h.clone(), PushKind::WakeUp, 2).unwrap();
        let first = s.next(now).unwrap();
        s.done(&h, PushKind::WakeUp, now);
        s.retry(h.clone(), first.kind, first.item, now + Duration::from_millis(500));
        assert_eq!(s.in_flight(), 0);
        assert_eq!(drain(&mut s, now), [("a:443".to_string(), 2)]);
        assert_eq!(s.next_due(now), Some(now + Duration::from_millis(500)));
        assert_eq!(s.next(now + Duration::from_millis(499)).map(|p| p.item), None);
        assert_eq!(s.next(now + Duration::from_millis(500)).map(|p| p.item), Some(1));
    }

    #[test]
    fn queues_are_bounded_per_host_and_kind_and_overall() {
        let mut s = Scheduler::new(LIMITS);
        let flood = host("flood:443");
        for i in 0..10 {
            s.enqueue(flood.clone(), PushKind::WakeUp, i).unwrap();
        }
        assert_eq!(s.enqueue(flood.clone(), PushKind::WakeUp, 10), Err(DropReason::HostQueueFull));
        // Urgent pushes to the same host have their own bound.
        s.enqueue(flood.clone(), PushKind::Support, 11).unwrap();
        for h in 0..2 {
            for i in 0..10 {
                let result = s.enqueue(host(&format!("h{h}:443")), PushKind::WakeUp, i);
                assert_eq!(result.is_ok(), h * 10 + i < 15, "{h} {i}");
                if let Err(reason) = result {
                    assert_eq!(reason, DropReason::QueueFull);
                }
            }
        }
        // Retries waiting count towards the bound.
        let now = Instant::now();
        let mut s = Scheduler::new(LIMITS);
        for i in 0..10 {
            s.enqueue(flood.clone(), PushKind::WakeUp, i).unwrap();
        }
        let p = s.next(now).unwrap();
        s.done(&flood, p.kind, now);
        s.enqueue(flood.clone(), PushKind::WakeUp, 10).unwrap();
        s.retry(flood.clone(), p.kind, p.item, now + Duration::from_secs(1));
        assert_eq!(s.enqueue(flood.clone(), PushKind::WakeUp, 11), Err(DropReason::HostQueueFull));
    }

    #[test]
    fn idle_hosts_are_forgotten() {
        let mut s = Scheduler::new(LIMITS);
        let now = Instant::now();
        s.enqueue(host("a:443"), PushKind::WakeUp, 1).unwrap();
        let p = s.next(now).unwrap();
        s.done(&p.host, p.kind, now);
        assert!(s.hosts.is_empty());
        s.back_off(&host("b:443"), now + Duration::from_secs(5));
        assert_eq!(s.next_due(now), None, "a back-off with nothing queued needs no timer");
        assert_eq!(s.hosts.len(), 1, "but is kept while it lasts");
        s.next_due(now + Duration::from_secs(5));
        assert!(s.hosts.is_empty());
    }
}
