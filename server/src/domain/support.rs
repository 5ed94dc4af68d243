//! The rules of a support request, as pure functions: its states and escalation levels, the
//! coarse times kept about it (minutes, never finer), and who may take, hand off or close it.
//! Nothing here names the requester.

use super::MINUTE_MS;
use super::roster::Roster;
use sallyport_protocol::AccountId;
use sallyport_protocol::rest::Role;

/// The last escalation level: coordinators (level 1 is every trained peer supporter).
pub const MAX_LEVEL: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestState {
    Waiting,
    Accepted { by: AccountId },
}

/// Why a caller may not act on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The caller lacks the role or is not the request's holder.
    Forbidden,
    /// A peer supporter who is not on the roster.
    NotOnRoster,
    /// A peer supporter whose training is not current.
    TrainingNotCurrent,
    /// The request is still waiting: nobody holds it to hand it off.
    NotClaimed,
}

/// Unix ms rounded down to the minute: a request's creation time is kept no finer.
pub fn round_down_to_minute(ms: i64) -> i64 {
    ms - ms.rem_euclid(MINUTE_MS)
}

/// Unix ms rounded up to the minute: escalation timers are kept no finer.
pub fn round_up_to_minute(ms: i64) -> i64 {
    let rem = ms.rem_euclid(MINUTE_MS);
    if rem == 0 { ms } else { ms.saturating_add(MINUTE_MS - rem) }
}

/// When a request made at `now` with escalation delay `delay_ms` first escalates, and how long
/// after that the next level is due: `(first_due_at, step_ms)`, both in whole minutes.
pub fn escalation_times(now: i64, delay_ms: i64) -> (i64, i64) {
    (round_up_to_minute(now.saturating_add(delay_ms)), round_up_to_minute(delay_ms).max(MINUTE_MS))
}

/// Whether a KeyPackage holds the device's own signature key: it would then name the device to
/// whoever claims it, so a request must come from a fresh pseudonymous identity.
pub fn names_the_device(key_package: &[u8], device_key: &[u8]) -> bool {
    !device_key.is_empty() && key_package.windows(device_key.len()).any(|w| w == device_key)
}

/// May someone with `roles` see the queue of waiting requests? Coordinators and peer supporters.
pub fn may_see_queue(roles: &[Role]) -> Result<(), Refusal> {
    if roles.contains(&Role::Coordinator) || roles.contains(&Role::PeerSupporter) { Ok(()) } else { Err(Refusal::Forbidden) }
}

/// May `account` (with `roles`) take a request at `now`? Coordinators always; peer supporters on
/// the roster with current training.
pub fn may_take(roles: &[Role], account: &AccountId, roster: &Roster, now: i64) -> Result<(), Refusal> {
    if roles.contains(&Role::Coordinator) {
        return Ok(());
    }
    if !roles.contains(&Role::PeerSupporter) {
        return Err(Refusal::Forbidden);
    }
    match roster.supporter(account) {
        Some(s) if s.training_current(now) => Ok(()),
        Some(_) => Err(Refusal::TrainingNotCurrent),
        None => Err(Refusal::NotOnRoster),
    }
}

/// May someone whose active devices carry `roles` be handed a request at `now`? EAP clinicians
/// and coordinators always; peer supporters on the roster with current training.
pub fn may_receive(roles: &[Role], account: &AccountId, roster: &Roster, now: i64) -> Result<(), Refusal> {
    if roles.contains(&Role::Clinician) || roles.contains(&Role::Coordinator) {
        return Ok(());
    }
    match roster.supporter(account) {
        Some(s) if roles.contains(&Role::PeerSupporter) && s.training_current(now) => Ok(()),
        Some(_) if roles.contains(&Role::PeerSupporter) => Err(Refusal::TrainingNotCurrent),
        _ => Err(Refusal::NotOnRoster),
    }
}

/// Who a hand-off by `caller` moves the request from: its holder, if the caller holds it or is a
/// coordinator.
pub fn hand_off_from(state: RequestState, caller: &AccountId, coordinator: bool) -> Result<AccountId, Refusal> {
    match state {
        RequestState::Accepted { by } if by == *caller || coordinator => Ok(by),
        RequestState::Waiting if coordinator => Err(Refusal::NotClaimed),
        _ => Err(Refusal::Forbidden),
    }
}

/// May `caller` close a request? Its holder and coordinators (the requester closes with the
/// mailbox secret instead).
pub fn may_close(state: RequestState, caller: &AccountId, coordinator: bool) -> Result<(), Refusal> {
    let holder = matches!(state, RequestState::Accepted { by } if by == *caller);
    if holder || coordinator { Ok(()) } else { Err(Refusal::Forbidden) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::roster::{Supporter, Switch, Training, TrainingKind};
    use chrono::NaiveDate;

    fn roster_with(account: AccountId, trained: bool) -> Roster {
        let d = |y, m| NaiveDate::from_ymd_opt(y, m, 1).unwrap();
        let training = if trained {
            TrainingKind::ALL.into_iter().map(|kind| Training { kind, completed_on: d(2025, 1), expires_on: d(2027, 1) }).collect()
        } else {
            vec![]
        };
        Roster {
            supporters: vec![Supporter { account, added_at: 0, switch: Switch::Off, switch_at: 0, training }],
            ..Roster::default()
        }
    }

    const NOW: i64 = 1_767_600_000_000;

    #[test]
    fn times_are_kept_in_whole_minutes() {
        assert_eq!(round_up_to_minute(120_000), 120_000);
        assert_eq!(round_up_to_minute(120_001), 180_000);
        assert_eq!(round_down_to_minute(179_999), 120_000);
        assert_eq!(round_down_to_minute(-1), -60_000);
        assert_eq!(escalation_times(60_001, 300_000), (420_000, 300_000));
        assert_eq!(escalation_times(0, 1), (60_000, 60_000), "a step is at least a minute");
    }

    #[test]
    fn a_key_package_with_the_device_key_is_refused() {
        let key = [7u8; 32];
        let mut kp = vec![0u8; 100];
        assert!(!names_the_device(&kp, &key));
        kp[40..72].copy_from_slice(&key);
        assert!(names_the_device(&kp, &key));
    }

    #[test]
    fn trained_supporters_and_coordinators_take_requests() {
        let (me, other) = (AccountId::random(), AccountId::random());
        let supporter = [Role::Staff, Role::PeerSupporter];
        assert_eq!(may_take(&supporter, &me, &roster_with(me, true), NOW), Ok(()));
        assert_eq!(may_take(&supporter, &me, &roster_with(me, false), NOW), Err(Refusal::TrainingNotCurrent));
        assert_eq!(may_take(&supporter, &me, &roster_with(other, true), NOW), Err(Refusal::NotOnRoster));
        assert_eq!(may_take(&[Role::Staff], &me, &roster_with(me, true), NOW), Err(Refusal::Forbidden));
        assert_eq!(may_take(&[Role::Coordinator], &me, &Roster::default(), NOW), Ok(()));
        assert_eq!(may_see_queue(&[Role::Staff]), Err(Refusal::Forbidden));
        assert_eq!(may_see_queue(&[Role::PeerSupporter]), Ok(()));
    }

    #[test]
    fn hand_offs_go_to_clinicians_coordinators_or_trained_supporters() {
        let to = AccountId::random();
        assert_eq!(may_receive(&[Role::Clinician], &to, &Roster::default(), NOW), Ok(()));
        assert_eq!(may_receive(&[Role::Coordinator], &to, &Roster::default(), NOW), Ok(()));
        assert_eq!(may_receive(&[Role::PeerSupporter], &to, &roster_with(to, true), NOW), Ok(()));
        assert_eq!(may_receive(&[Role::PeerSupporter], &to, &roster_with(to, false), NOW), Err(Refusal::TrainingNotCurrent));
        assert_eq!(may_receive(&[Role::Staff], &to, &roster_with(to, true), NOW), Err(Refusal::NotOnRoster));
    }

    #[test]
    fn only_the_holder_or_a_coordinator_hands_off_or_closes() {
        let (holder, other) = (AccountId::random(), AccountId::random());
        let accepted = RequestState::Accepted { by: holder };
        assert_eq!(hand_off_from(accepted, &holder, false), Ok(holder));
        assert_eq!(hand_off_from(accepted, &other, true), Ok(holder));
        assert_eq!(hand_off_from(accepted, &other, false), Err(Refusal::Forbidden));
        assert_eq!(hand_off_from(RequestState::Waiting, &other, true), Err(Refusal::NotClaimed));
        assert_eq!(hand_off_from(RequestState::Waiting, &other, false), Err(Refusal::Forbidden));
        assert_eq!(may_close(accepted, &holder, false), Ok(()));
        assert_eq!(may_close(accepted, &other, true), Ok(()));
        assert_eq!(may_close(RequestState::Waiting, &holder, false), Err(Refusal::Forbidden));
    }
}
