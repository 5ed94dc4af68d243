//! Reachability before it matters: each crisis-team member's phone is pushed a readiness check
//! on a schedule (at the start of each of their shifts, or daily without one) and they tap to
//! confirm. A member is *reachable* when a device of theirs has a push subscription, the last
//! check's push was accepted, and they confirmed it (or it is still within its window). Pure
//! functions of what the store read and an instant.

use super::schedule::{self, Schedule};
use super::DAY_MS;
use sallyport_protocol::AccountId;

/// How long a check waits for its tap before the member is flagged.
pub const WINDOW_MS: i64 = 60 * super::MINUTE_MS;
/// Without a shift ahead, a member is checked this often.
pub const EVERY_MS: i64 = DAY_MS;

/// What the server knows of one member's checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// When the next check is due.
    pub due_at: i64,
    /// The last check pushed, and how their push service answered it (the best of their devices).
    pub sent_at: Option<i64>,
    pub outcome: Option<String>,
    /// When they last confirmed a check.
    pub confirmed_at: Option<i64>,
}

/// A member's readiness, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// No device of theirs can be pushed: notifications are off or the subscription is gone.
    NoSubscription,
    /// The last check's push was not accepted (gone, refused, failed).
    PushFailing,
    /// The last check was not confirmed within its window.
    Unconfirmed,
    /// Never checked yet.
    NotChecked,
    /// A check was pushed and waits for its tap (within its window).
    Pending,
    /// The last check was confirmed.
    Ready,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NoSubscription => "no_subscription",
            Status::PushFailing => "push_failing",
            Status::Unconfirmed => "unconfirmed",
            Status::NotChecked => "not_checked",
            Status::Pending => "pending",
            Status::Ready => "ready",
        }
    }

    /// Whether a page would reach them now, as far as the server can tell.
    pub fn reachable(self) -> bool {
        matches!(self, Status::Ready | Status::Pending)
    }

    /// What the member can do about it, in the app's words.
    pub fn fix(self) -> Option<&'static str> {
        match self {
            Status::NoSubscription => Some(
                "Turn on notifications for Sallyport (Settings in the app). On an iPhone, open Sallyport from its Home Screen icon, \
                 then turn notifications on.",
            ),
            Status::PushFailing => Some(
                "Your phone stopped accepting Sallyport's notifications. Open Sallyport and turn notifications off and on again \
                 in its Settings; on an iPhone, open it from the Home Screen icon.",
            ),
            Status::Unconfirmed => Some("A readiness check was not confirmed. Open Sallyport and tap \"I can get pages\"."),
            Status::NotChecked | Status::Pending | Status::Ready => None,
        }
    }
}

/// A member's status at `now`, given whether any device of theirs has a push subscription.
pub fn status(record: Option<&Record>, subscribed: bool, now: i64) -> Status {
    if !subscribed {
        return Status::NoSubscription;
    }
    let Some(r) = record else { return Status::NotChecked };
    let Some(sent) = r.sent_at else { return Status::NotChecked };
    if r.confirmed_at.is_some_and(|c| c >= sent) {
        return Status::Ready;
    }
    match r.outcome.as_deref() {
        Some("sent") | None => {}
        Some(_) => return Status::PushFailing,
    }
    if now < sent.saturating_add(WINDOW_MS) { Status::Pending } else { Status::Unconfirmed }
}

/// When `account`'s next check is due after one at `now`: the start of their next shift in any
/// of `schedules` (within a week), else a day on.
pub fn next_check(schedules: &[&Schedule], account: &AccountId, now: i64) -> i64 {
    let soonest = schedules
        .iter()
        .flat_map(|s| schedule::next_shifts(s, account, now, 2))
        .map(|segment| segment.start)
        .filter(|&start| start > now && start <= now + 7 * DAY_MS)
        .min();
    soonest.unwrap_or(now + EVERY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::schedule::Rotation;
    use chrono::{NaiveDate, NaiveTime};

    #[test]
    fn status_follows_subscription_push_and_tap() {
        let now = 10 * DAY_MS;
        assert_eq!(status(None, false, now), Status::NoSubscription);
        assert_eq!(status(None, true, now), Status::NotChecked);
        let sent = Record { due_at: now + DAY_MS, sent_at: Some(now - 10), outcome: Some("sent".into()), confirmed_at: None };
        assert_eq!(status(Some(&sent), true, now), Status::Pending);
        assert!(Status::Pending.reachable());
        assert_eq!(status(Some(&sent), true, now + WINDOW_MS), Status::Unconfirmed);
        let confirmed = Record { confirmed_at: Some(now), ..sent.clone() };
        assert_eq!(status(Some(&confirmed), true, now + 5 * WINDOW_MS), Status::Ready);
        let gone = Record { outcome: Some("gone".into()), ..sent.clone() };
        assert_eq!(status(Some(&gone), true, now), Status::PushFailing);
        assert!(!Status::PushFailing.reachable() && Status::PushFailing.fix().is_some());
        assert_eq!(status(Some(&confirmed), false, now), Status::NoSubscription, "a confirmed phone that lost its subscription");
        let older = Record { confirmed_at: Some(now - 100), ..sent };
        assert_eq!(status(Some(&older), true, now), Status::Pending, "a confirmation before the last check does not count");
    }

    #[test]
    fn the_next_check_is_the_next_shift_start_or_a_day_on() {
        let a = AccountId::random();
        let mut s = Schedule::default();
        assert_eq!(next_check(&[&s], &a, 1_000), 1_000 + EVERY_MS);
        s.rotations.push(Rotation {
            id: "r".into(),
            team: "t".into(),
            name: "Days".into(),
            members: vec![a, AccountId::random()],
            handoff: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
            time_zone: chrono_tz::UTC,
            period_days: 1,
            start_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            created_at: 0,
        });
        let r = s.rotations[0].clone();
        // During a's shift (period 0): the next start of theirs is period 2.
        assert_eq!(next_check(&[&s], &a, r.boundary(0) + 1), r.boundary(2));
    }
}
