//! The rules of a debrief's schedule (protocol/README.md §18): what a `PUT` may ask the server to
//! push and when, and the programme's follow-up days. Which devices exist and are not revoked is
//! the workflow's to check against the store.

use sallyport_protocol::DeviceId;
use sallyport_protocol::debriefs::{
    MAX_AHEAD_MS, MAX_DEVICES_PER_NOTICE, MAX_FOLLOWUP_DAY, MAX_FOLLOWUP_DAYS, MAX_NOTICES, MAX_PAST_MS, MAX_SEALED_BYTES,
    MAX_SEALS_PER_PUT, PutDebriefRequest,
};
use std::collections::HashSet;

/// Why a schedule is refused (`400 bad_request`, this text as the message).
pub type Invalid = String;

/// Checks a `PUT`'s schedule at `now`: times within the window, the counts, each preview's size,
/// and no device twice in a notice.
pub fn validate(request: &PutDebriefRequest, now: i64) -> Result<(), Invalid> {
    let in_window = |at: i64| at >= now.saturating_sub(MAX_PAST_MS) && at <= now.saturating_add(MAX_AHEAD_MS);
    if !in_window(request.at) {
        return Err("at must lie between 90 days ago and 400 days ahead".into());
    }
    if request.notices.len() > MAX_NOTICES {
        return Err(format!("at most {MAX_NOTICES} notices"));
    }
    let mut total = 0usize;
    for (i, notice) in request.notices.iter().enumerate() {
        if !in_window(notice.at) {
            return Err(format!("notices[{i}].at must lie between 90 days ago and 400 days ahead"));
        }
        if notice.sealed.len() > MAX_DEVICES_PER_NOTICE {
            return Err(format!("at most {MAX_DEVICES_PER_NOTICE} devices per notice"));
        }
        total += notice.sealed.len();
        if total > MAX_SEALS_PER_PUT {
            return Err(format!("at most {MAX_SEALS_PER_PUT} sealed previews in all notices together"));
        }
        let mut seen: HashSet<DeviceId> = HashSet::with_capacity(notice.sealed.len());
        for seal in &notice.sealed {
            if seal.sealed.0.is_empty() || seal.sealed.0.len() > MAX_SEALED_BYTES {
                return Err(format!("a sealed preview is 1 to {MAX_SEALED_BYTES} bytes"));
            }
            if !seen.insert(seal.device) {
                return Err(format!("notices[{i}] names a device twice"));
            }
        }
    }
    Ok(())
}

/// Checks the programme's follow-up days: 1 to 8 distinct whole days from 1 to 365, ascending.
pub fn validate_followup_days(days: &[u16]) -> Result<(), Invalid> {
    if days.is_empty() || days.len() > MAX_FOLLOWUP_DAYS {
        return Err(format!("1 to {MAX_FOLLOWUP_DAYS} follow-up days"));
    }
    if days.iter().any(|d| *d == 0 || *d > MAX_FOLLOWUP_DAY) {
        return Err(format!("a follow-up day is from 1 to {MAX_FOLLOWUP_DAY}"));
    }
    if days.windows(2).any(|w| w[0] >= w[1]) {
        return Err("follow-up days are distinct and ascending".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DAY_MS;
    use sallyport_protocol::Payload;
    use sallyport_protocol::debriefs::{DEFAULT_FOLLOWUP_DAYS, DebriefKind, Notice};
    use sallyport_protocol::incidents::SealedForDevice;

    const NOW: i64 = 1_800_000_000_000;

    fn seal(device: DeviceId, len: usize) -> SealedForDevice {
        SealedForDevice { device, sealed: Payload(vec![7u8; len].into()) }
    }

    fn request(at: i64, notices: Vec<Notice>) -> PutDebriefRequest {
        PutDebriefRequest { kind: DebriefKind::Debriefing, at, revision: 0, notices }
    }

    #[test]
    fn times_lie_from_90_days_back_to_400_ahead() {
        for at in [NOW - 90 * DAY_MS, NOW, NOW + 400 * DAY_MS] {
            assert_eq!(validate(&request(at, vec![Notice { at, sealed: vec![] }]), NOW), Ok(()));
        }
        for at in [NOW - 90 * DAY_MS - 1, NOW + 400 * DAY_MS + 1, i64::MIN, i64::MAX] {
            assert!(validate(&request(at, vec![]), NOW).is_err());
            assert!(validate(&request(NOW, vec![Notice { at, sealed: vec![] }]), NOW).is_err());
        }
    }

    #[test]
    fn counts_sizes_and_repeats_are_bounded() {
        let notice = |n: usize| Notice { at: NOW, sealed: (0..n).map(|_| seal(DeviceId::random(), 10)).collect() };
        assert!(validate(&request(NOW, (0..8).map(|_| notice(1)).collect()), NOW).is_ok());
        assert!(validate(&request(NOW, (0..9).map(|_| notice(1)).collect()), NOW).is_err());
        assert!(validate(&request(NOW, vec![notice(512)]), NOW).is_ok());
        assert!(validate(&request(NOW, vec![notice(513)]), NOW).is_err());
        assert!(validate(&request(NOW, vec![notice(300), notice(212)]), NOW).is_ok());
        assert!(validate(&request(NOW, vec![notice(300), notice(213)]), NOW).is_err(), "512 in all");
        let d = DeviceId::random();
        for (len, ok) in [(1, true), (2048, true), (0, false), (2049, false)] {
            assert_eq!(validate(&request(NOW, vec![Notice { at: NOW, sealed: vec![seal(d, len)] }]), NOW).is_ok(), ok, "{len}");
        }
        assert!(validate(&request(NOW, vec![Notice { at: NOW, sealed: vec![seal(d, 5), seal(d, 5)] }]), NOW).is_err());
        let again = vec![Notice { at: NOW, sealed: vec![seal(d, 5)] }, Notice { at: NOW + 1, sealed: vec![seal(d, 5)] }];
        assert!(validate(&request(NOW, again), NOW).is_ok(), "a device may be in several notices");
    }

    #[test]
    fn followup_days_are_1_to_8_distinct_ascending_in_1_to_365() {
        assert!(validate_followup_days(&DEFAULT_FOLLOWUP_DAYS).is_ok());
        assert!(validate_followup_days(&[1]).is_ok());
        assert!(validate_followup_days(&[365]).is_ok());
        assert!(validate_followup_days(&[1, 2, 3, 4, 5, 6, 7, 8]).is_ok());
        for bad in [&[][..], &[0], &[366], &[1, 2, 3, 4, 5, 6, 7, 8, 9], &[7, 1], &[1, 1]] {
            assert!(validate_followup_days(bad).is_err(), "{bad:?}");
        }
    }
}
