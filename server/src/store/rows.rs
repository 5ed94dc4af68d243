//! How both backends encode values into columns and decode rows back into records. A malformed
//! stored value is `StoreError::Other` naming the column, never its content.

use super::devices::{Approval, DeviceRecord};
use super::mailboxes::MailboxAccess;
use super::queue::QueuedMessage;
use super::support::{RequestState, SupportRequestRecord};
use super::{Conflict, Hash32, StoreError, StoreResult};
use crate::domain::DAY_MS;
use crate::domain::roles;
use crate::domain::roster::{Roster, Supporter, Switch, Training, TrainingKind};
use crate::domain::incidents::{Incident, Page, parse_step};
use crate::domain::paging::{QuorumPolicy, TeamRole};
use sallyport_protocol::IncidentId;
use sallyport_protocol::incidents::PageAnswer;
use crate::domain::schedule::{Override, Rotation, Schedule, Swap, SwapStatus};
use crate::domain::teams::{Availability, CrisisTeam, Member, Teams};
use sallyport_protocol::teams::PolicyBody;
use std::collections::BTreeMap;
use chrono::{NaiveDate, NaiveTime};
use sallyport_protocol::rest::Role;
use sallyport_protocol::support::Urgency;
use sallyport_protocol::{AccountId, DeviceId, MailboxId, MessageId, PublicKey, RequestId, Signature};
use std::collections::HashMap;

fn corrupt(what: &str) -> StoreError {
    StoreError::Other(format!("malformed {what} in the database"))
}

/// Unix ms rounded down to the start of its UTC day: the only time kept for a mailbox.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS) * DAY_MS
}

/// A fixed-size id read back from a BLOB/bytea column.
pub fn id_from<T>(bytes: &[u8], from: fn(&[u8]) -> Option<T>) -> StoreResult<T> {
    from(bytes).ok_or_else(|| corrupt("id"))
}

/// A SHA-256 read back from a BLOB/bytea column (for `id_from`).
pub fn hash32(bytes: &[u8]) -> Option<Hash32> {
    bytes.try_into().ok()
}

pub fn encode_roles(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}

pub fn decode_roles(text: &str) -> StoreResult<Vec<Role>> {
    text.split(',').filter(|s| !s.is_empty()).map(|s| Role::parse(s).ok_or_else(|| corrupt("role"))).collect()
}

/// A stored role list with `role` added or removed.
pub fn roles_with(text: &str, role: Role, on: bool) -> StoreResult<String> {
    Ok(encode_roles(&roles::with_role(decode_roles(text)?, role, on)))
}

/// A mailbox's access from its `secret_hash` and its day last read (`read_day`, else `created_day`).
pub fn mailbox_access(secret_hash: Option<Vec<u8>>, read_day: i64) -> StoreResult<MailboxAccess> {
    Ok(match secret_hash {
        None => MailboxAccess::Linked,
        Some(hash) => MailboxAccess::Unlinked { secret_hash: id_from(&hash, hash32)?, read_day },
    })
}

/// The columns of a [`DeviceRow`], joined with the device's account.
pub const DEVICE_SELECT: &str = "SELECT d.id, d.account_id, a.display_name, a.roles, d.signing_key, \
     d.notification_key, d.mailbox_id, d.created_at, d.revoked_at, d.approved_at, d.approved_by, d.approval \
     FROM devices d JOIN accounts a ON a.id = d.account_id";

/// (id, account, display_name, roles, signing_key, notification_key, mailbox, created_at, revoked_at,
/// approved_at, approved_by, approval)
pub type DeviceRow =
    (Vec<u8>, Vec<u8>, String, String, Vec<u8>, Vec<u8>, Vec<u8>, i64, Option<i64>, Option<i64>, Option<Vec<u8>>, Option<Vec<u8>>);

pub fn device_record(row: DeviceRow) -> StoreResult<DeviceRecord> {
    let (device, account, display_name, roles, signing_key, notification_key, mailbox, created_at, revoked_at, approved_at, by, approval) =
        row;
    let approval = match (approved_at, by, approval) {
        (None, _, _) => Approval::Pending,
        (Some(_), Some(by), Some(sig)) => {
            Approval::Signed { by: id_from(&by, PublicKey::from_slice)?, signature: id_from(&sig, Signature::from_slice)? }
        }
        (Some(_), _, _) => Approval::First,
    };
    Ok(DeviceRecord {
        device: id_from(&device, DeviceId::from_slice)?,
        account: id_from(&account, AccountId::from_slice)?,
        display_name,
        roles: decode_roles(&roles)?,
        signing_key: id_from(&signing_key, PublicKey::from_slice)?,
        notification_key: id_from(&notification_key, PublicKey::from_slice)?,
        mailbox: id_from(&mailbox, MailboxId::from_slice)?,
        created_at,
        revoked_at,
        approval,
    })
}

/// (mailbox, seq, message id, payload)
pub type QueueRow = (Vec<u8>, i64, Vec<u8>, Vec<u8>);

pub fn queued_message(row: QueueRow) -> StoreResult<QueuedMessage> {
    let (mailbox, seq, id, payload) = row;
    Ok(QueuedMessage {
        mailbox: id_from(&mailbox, MailboxId::from_slice)?,
        seq: u64::try_from(seq).map_err(|_| corrupt("seq"))?,
        id: id_from(&id, MessageId::from_slice)?,
        payload: payload.into(),
    })
}

/// A group's recorded epoch as read from the database (`None`: not known).
pub fn epoch_from(epoch: Option<i64>) -> StoreResult<Option<u64>> {
    epoch.map(|e| u64::try_from(e).map_err(|_| corrupt("group epoch"))).transpose()
}

/// A group's bound members as read from the database: the mailbox ids, 16 bytes each, end to
/// end (`None`: not bound).
pub fn members_from(members: Option<Vec<u8>>) -> StoreResult<Option<Vec<MailboxId>>> {
    let Some(bytes) = members else { return Ok(None) };
    if bytes.len() % 16 != 0 {
        return Err(corrupt("group members"));
    }
    bytes.chunks(16).map(|id| id_from(id, MailboxId::from_slice)).collect::<StoreResult<Vec<_>>>().map(Some)
}

/// How a group's members are stored: the mailbox ids end to end, in the order given (sorted).
pub fn members_bytes(members: &[MailboxId]) -> Vec<u8> {
    members.iter().flat_map(|m| m.as_bytes().iter().copied()).collect()
}

/// How many one-time KeyPackages a mailbox holding `held` holds after publishing `adding`;
/// `Conflict(KeyPackageLimit)` above `max`. Publishing none (only replacing the last-resort one)
/// is allowed even when a lowered limit is already exceeded.
pub fn key_packages_after(held: u64, adding: usize, max: u32) -> StoreResult<u32> {
    let total = held + adding as u64;
    if adding > 0 && total > u64::from(max) {
        return Err(StoreError::Conflict(Conflict::KeyPackageLimit));
    }
    Ok(u32::try_from(total).unwrap_or(u32::MAX))
}

/// (mailbox, endpoint, p256dh, auth)
pub type SubscriptionRow = (Vec<u8>, String, Vec<u8>, Vec<u8>);

pub fn subscription(row: SubscriptionRow) -> StoreResult<(MailboxId, super::PushSubscription)> {
    let (mailbox, endpoint, p256dh, auth) = row;
    Ok((id_from(&mailbox, MailboxId::from_slice)?, super::PushSubscription { endpoint, p256dh, auth }))
}

// ---- support requests

pub fn urgency_from(text: &str) -> StoreResult<Urgency> {
    Urgency::parse(text).ok_or_else(|| corrupt("urgency"))
}

/// A request row: id, urgency, status, level, created_at, mailbox, claimed_by, the mailbox's
/// secret hash.
pub type RequestRow = (Vec<u8>, String, String, i32, i64, Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);

/// The columns of a [`RequestRow`], for `FROM support_requests r JOIN mailboxes m`.
pub const REQUEST_COLUMNS: &str = "r.id, r.urgency, r.status, r.level, r.created_at, r.mailbox_id, r.claimed_by, m.secret_hash";

pub fn request_record(row: RequestRow) -> StoreResult<SupportRequestRecord> {
    let (id, urgency, status, level, created_at, mailbox, claimed_by, secret_hash) = row;
    let state = match (status.as_str(), claimed_by) {
        ("waiting", _) => RequestState::Waiting,
        ("accepted", Some(by)) => RequestState::Accepted { by: id_from(&by, AccountId::from_slice)? },
        _ => return Err(corrupt("request status")),
    };
    Ok(SupportRequestRecord {
        id: id_from(&id, RequestId::from_slice)?,
        urgency: urgency_from(&urgency)?,
        state,
        level: u8::try_from(level).map_err(|_| corrupt("request level"))?,
        created_at,
        mailbox: id_from(&mailbox, MailboxId::from_slice)?,
        secret_hash: secret_hash.as_deref().and_then(hash32).ok_or_else(|| corrupt("mailbox secret hash"))?,
    })
}

// ---- the roster

pub type SupporterRow = (Vec<u8>, String, i64, i64);
pub type TrainingRow = (Vec<u8>, String, String, String);
pub type RotationRow = (String, String, String, String, String, i64, String, i64);
pub type MemberRow = (String, Vec<u8>);
pub type OverrideRow = (String, String, Vec<u8>, i64, i64, i64);
pub type SwapRow = (String, String, Vec<u8>, Vec<u8>, i64, i64, String, i64, Option<i64>);

/// A schedule's tables (of one team or several), read in one snapshot.
pub struct ScheduleRows {
    pub rotations: Vec<RotationRow>,
    pub members: Vec<MemberRow>,
    pub overrides: Vec<OverrideRow>,
    pub swaps: Vec<SwapRow>,
}

/// The roster's tables, read in one snapshot.
pub struct RosterRows {
    pub supporters: Vec<SupporterRow>,
    pub training: Vec<TrainingRow>,
    pub schedule: ScheduleRows,
}

pub fn date(text: &str) -> StoreResult<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| corrupt("date"))
}

pub fn date_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

pub fn time_text(time: NaiveTime) -> String {
    time.format("%H:%M").to_string()
}

fn account(bytes: &[u8]) -> StoreResult<AccountId> {
    id_from(bytes, AccountId::from_slice)
}

pub fn assemble_schedule(rows: ScheduleRows) -> StoreResult<Schedule> {
    let mut schedule = Schedule::default();
    let mut member_lists: HashMap<String, Vec<AccountId>> = HashMap::new();
    for (rotation, id) in rows.members {
        member_lists.entry(rotation).or_default().push(account(&id)?);
    }
    for (id, team, name, handoff, zone, period_days, start_date, created_at) in rows.rotations {
        schedule.rotations.push(Rotation {
            members: member_lists.remove(&id).unwrap_or_default(),
            id,
            team,
            name,
            handoff: NaiveTime::parse_from_str(&handoff, "%H:%M").map_err(|_| corrupt("hand-off time"))?,
            time_zone: zone.parse().map_err(|_| corrupt("time zone"))?,
            period_days: u32::try_from(period_days).map_err(|_| corrupt("period"))?,
            start_date: date(&start_date)?,
            created_at,
        });
    }
    for (id, rotation, who, start, end, created_at) in rows.overrides {
        schedule.overrides.push(Override { id, rotation, account: account(&who)?, start, end, created_at });
    }
    for (id, rotation, proposer, counterpart, proposer_shift, counterpart_shift, status, created_at, answered_at) in rows.swaps {
        schedule.swaps.push(Swap {
            id,
            rotation,
            proposer: account(&proposer)?,
            counterpart: account(&counterpart)?,
            proposer_shift,
            counterpart_shift,
            status: SwapStatus::parse(&status).ok_or_else(|| corrupt("swap status"))?,
            created_at,
            answered_at,
        });
    }
    Ok(schedule)
}

// ---- incidents

pub type IncidentRow = (Vec<u8>, String, i64, i64, Option<Vec<u8>>, i64, String, i64, Option<i64>, Option<i64>, Option<i64>, Option<Vec<u8>>);
pub type PageRow = (Vec<u8>, i64, Option<i64>, Option<i64>, i64, Option<i64>, Option<String>, Option<i64>, Option<i64>);

pub fn incident(row: IncidentRow, pages: Vec<PageRow>) -> StoreResult<Incident> {
    let (id, team, severity, test, declared_by, declared_at, step, step_at, first_response_at, quorum_at, resolved_at, only) = row;
    let mut out = Vec::with_capacity(pages.len());
    for (who, coordinator, paged_at, last_paged_at, pages, waiting_until, answer, answered_at, eta_at) in pages {
        out.push(Page {
            account: account(&who)?,
            coordinator: coordinator != 0,
            paged_at,
            last_paged_at,
            pages: u32::try_from(pages).map_err(|_| corrupt("page count"))?,
            waiting_until,
            answer: match answer {
                Some(a) => Some(PageAnswer::parse(&a).ok_or_else(|| corrupt("page answer"))?),
                None => None,
            },
            answered_at,
            eta_at,
        });
    }
    Ok(Incident {
        id: id_from(&id, IncidentId::from_slice)?,
        team,
        severity: u8::try_from(severity).map_err(|_| corrupt("severity"))?,
        test: test != 0,
        declared_by: match declared_by {
            Some(by) => Some(account(&by)?),
            None => None,
        },
        declared_at,
        step: parse_step(&step).ok_or_else(|| corrupt("incident step"))?,
        step_at,
        first_response_at,
        quorum_at,
        resolved_at,
        only: match only {
            Some(only) => Some(account(&only)?),
            None => None,
        },
        pages: out,
    })
}

// ---- crisis teams

pub type TeamRow = (String, String, Option<String>, i64);
pub type TeamMemberRow = (String, Vec<u8>, i64, String, i64);
pub type SwitchRow = (Vec<u8>, String, i64, Option<i64>);

pub fn availability((id, switch, switch_at, inside_until): SwitchRow) -> StoreResult<(AccountId, Availability)> {
    let switch = Switch::parse(&switch).ok_or_else(|| corrupt("switch"))?;
    Ok((account(&id)?, Availability { switch, switch_at, inside_until }))
}

/// A quorum policy as stored: the JSON of its protocol body.
pub fn policy_text(policy: &QuorumPolicy) -> String {
    serde_json::to_string(&policy.to_body()).unwrap_or_default()
}

fn policy(text: Option<&str>) -> StoreResult<QuorumPolicy> {
    let Some(text) = text else { return Ok(QuorumPolicy::default()) };
    let body: PolicyBody = serde_json::from_str(text).map_err(|_| corrupt("team policy"))?;
    // Stored policies were checked when set; the roles are whatever they named then.
    let roles: Vec<TeamRole> = body.at_least.keys().filter_map(|r| TeamRole::parse(r)).collect();
    QuorumPolicy::from_body(&body, &roles).map_err(|_| corrupt("team policy"))
}

pub fn assemble_teams(
    teams: Vec<TeamRow>,
    members: Vec<TeamMemberRow>,
    switches: Vec<SwitchRow>,
    schedule: Schedule,
) -> StoreResult<Teams> {
    let mut availability = BTreeMap::new();
    for row in switches {
        let (who, a) = self::availability(row)?;
        availability.insert(who, a);
    }
    let mut out = Teams::default();
    for (id, name, policy_json, created_at) in teams {
        let team_schedule = schedule.of_team(&id);
        out.teams.push(CrisisTeam {
            id,
            name,
            policy: policy(policy_json.as_deref())?,
            members: Vec::new(),
            schedule: team_schedule,
            availability: BTreeMap::new(),
            created_at,
        });
    }
    for (team, id, tier, role, added_at) in members {
        let member = Member {
            account: account(&id)?,
            tier: u8::try_from(tier).map_err(|_| corrupt("tier"))?,
            role: TeamRole::parse(&role).ok_or_else(|| corrupt("team role"))?,
            added_at,
        };
        if let Some(t) = out.teams.iter_mut().find(|t| t.id == team) {
            if let Some(a) = availability.get(&member.account) {
                t.availability.insert(member.account, *a);
            }
            t.members.push(member);
        }
    }
    for t in &mut out.teams {
        t.sort_members();
    }
    Ok(out)
}

pub fn assemble_roster(rows: RosterRows) -> StoreResult<Roster> {
    let mut by_account: HashMap<AccountId, Vec<Training>> = HashMap::new();
    for (id, kind, completed, expires) in rows.training {
        let kind = TrainingKind::parse(&kind).ok_or_else(|| corrupt("training kind"))?;
        by_account.entry(account(&id)?).or_default().push(Training {
            kind,
            completed_on: date(&completed)?,
            expires_on: date(&expires)?,
        });
    }
    let mut roster = Roster::default();
    for (id, switch, added_at, switch_at) in rows.supporters {
        let account = account(&id)?;
        let mut training = by_account.remove(&account).unwrap_or_default();
        training.sort_by_key(|t| t.kind);
        roster.supporters.push(Supporter {
            account,
            added_at,
            switch: Switch::parse(&switch).ok_or_else(|| corrupt("switch"))?,
            switch_at,
            training,
        });
    }
    roster.schedule = assemble_schedule(rows.schedule)?;
    Ok(roster)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_down_in_utc() {
        assert_eq!(day_of(DAY_MS + 5), DAY_MS);
        assert_eq!(day_of(-1), -DAY_MS);
    }

    #[test]
    fn roles_round_trip_and_change() {
        assert_eq!(decode_roles("staff,admin").unwrap(), vec![Role::Staff, Role::Admin]);
        assert_eq!(decode_roles("").unwrap(), vec![]);
        assert!(decode_roles("staff,emperor").is_err());
        assert_eq!(roles_with("admin,staff", Role::PeerSupporter, true).unwrap(), "staff,peer_supporter,admin");
        assert_eq!(roles_with("staff,peer_supporter", Role::PeerSupporter, false).unwrap(), "staff");
    }

    #[test]
    fn the_key_package_limit_counts_only_new_ones() {
        assert_eq!(key_packages_after(3, 2, 5), Ok(5));
        assert_eq!(key_packages_after(3, 3, 5), Err(StoreError::Conflict(Conflict::KeyPackageLimit)));
        assert_eq!(key_packages_after(9, 0, 5), Ok(9), "replacing the last-resort one only");
    }

    #[test]
    fn malformed_rows_are_errors_not_panics() {
        assert!(queued_message((vec![1; 3], 1, vec![0; 16], vec![])).is_err());
        assert!(queued_message((vec![0; 16], -1, vec![0; 16], vec![])).is_err());
        assert!(mailbox_access(Some(vec![0; 31]), 0).is_err());
        assert_eq!(mailbox_access(None, 0), Ok(MailboxAccess::Linked));
        assert!(epoch_from(Some(-1)).is_err());
    }
}
