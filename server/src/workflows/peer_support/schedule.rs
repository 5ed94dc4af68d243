//! The on-call schedule (protocol/README.md §13.1): coordinators keep rotations and overrides;
//! supporters propose and answer swaps and read their next shifts; the team sees who is on call
//! now. Every rule comes from `domain::roster_rules`; this module reads, checks and stores.

use super::bodies::{self, Names};
use super::team::{require_team, rule_error};
use crate::clock::Clock;
use crate::domain::roster_rules::{self, RuleError};
use crate::domain::schedule;
use crate::store::{Conflict, DeviceRecord, Store, StoreError};
use crate::workflows::{Outcome, WorkflowError, require};
use sallyport_protocol::MessageId;
use sallyport_protocol::rest::Role;
use sallyport_protocol::roster::{
    DeletedBody, OnCallBody, OverrideBody, OverrideRequest, PersonBody, RotationBody, RotationRequest, RotationsBody, ShiftBody,
    ShiftsBody, SwapBody, SwapRequest, SwapsBody,
};

/// Rotation, override and swap ids: 16 random bytes, unpadded base64url.
fn new_id() -> String {
    MessageId::random().to_text()
}

/// What the store says when a record it needs is gone or an account left the roster meanwhile.
fn stored(result: Result<(), StoreError>, missing: &str, who: &str) -> Outcome<()> {
    match result {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound) => Err(WorkflowError::not_found(missing)),
        Err(StoreError::Conflict(Conflict::NotOnRoster)) => Err(WorkflowError::not_on_roster(who)),
        Err(e) => Err(e.into()),
    }
}

/// `GET /v1/support/rotations` (the team): rotations, and overrides that have not ended.
pub async fn rotations(store: &dyn Store, clock: &Clock, caller: &DeviceRecord) -> Outcome<RotationsBody> {
    let roster = store.roster().await?;
    require_team(&roster, caller)?;
    let (names, now) = (Names::load(store).await?, clock.now());
    Ok(RotationsBody {
        rotations: roster.schedule.rotations.iter().map(|r| bodies::rotation(&roster.schedule, r, &names, now)).collect(),
        overrides: roster.schedule.overrides.iter().filter(|o| o.end > now).map(|o| bodies::override_(o, &names)).collect(),
    })
}

/// `POST /v1/support/rotations` (coordinators). Members must be trained.
pub async fn create_rotation(store: &dyn Store, clock: &Clock, caller: &DeviceRecord, request: RotationRequest) -> Outcome<RotationBody> {
    require(caller, Role::Coordinator)?;
    let (roster, names, now) = (store.roster().await?, Names::load(store).await?, clock.now());
    let rotation = roster_rules::room_for_rotation(&roster)
        .and_then(|()| roster_rules::rotation(request, &roster, &[], new_id(), now, now))
        .map_err(|e| rule_error(e, &names))?;
    stored(store.put_rotation(&rotation).await, "rotation", "a member")?;
    tracing::info!("a coordinator created a rotation");
    Ok(bodies::rotation(&store.roster().await?.schedule, &rotation, &names, now))
}

/// `PUT /v1/support/rotations/{id}` (coordinators): replaces name, members and timing; members
/// already on it may stay whatever their training.
pub async fn replace_rotation(
    store: &dyn Store,
    clock: &Clock,
    caller: &DeviceRecord,
    id: &str,
    request: RotationRequest,
) -> Outcome<RotationBody> {
    require(caller, Role::Coordinator)?;
    let (roster, names, now) = (store.roster().await?, Names::load(store).await?, clock.now());
    let rotation = roster_rules::record_id(id, "rotation")
        .and_then(|id| roster.rotation(&id).ok_or(RuleError::NotFound("rotation")))
        .and_then(|existing| {
            roster_rules::rotation(request, &roster, &existing.members, existing.id.clone(), existing.created_at, now)
        })
        .map_err(|e| rule_error(e, &names))?;
    stored(store.put_rotation(&rotation).await, "rotation", "a member")?;
    Ok(bodies::rotation(&store.roster().await?.schedule, &rotation, &names, now))
}

/// `DELETE /v1/support/rotations/{id}` (coordinators), with its overrides and swaps.
pub async fn delete_rotation(store: &dyn Store, caller: &DeviceRecord, id: &str) -> Outcome<DeletedBody> {
    require(caller, Role::Coordinator)?;
    let id = roster_rules::record_id(id, "rotation").map_err(|e| rule_error(e, &Names::default()))?;
    Ok(DeletedBody { deleted: store.delete_rotation(&id).await? })
}

/// `POST /v1/support/overrides` (coordinators): `account` covers `[start, end)` of a rotation.
pub async fn create_override(store: &dyn Store, clock: &Clock, caller: &DeviceRecord, request: OverrideRequest) -> Outcome<OverrideBody> {
    require(caller, Role::Coordinator)?;
    let (roster, names, now) = (store.roster().await?, Names::load(store).await?, clock.now());
    let o = roster_rules::override_of(request, &roster, new_id(), now).map_err(|e| rule_error(e, &names))?;
    stored(store.add_override(&o).await, "rotation", "the account")?;
    tracing::info!("a coordinator added an on-call override");
    Ok(bodies::override_(&o, &names))
}

/// `DELETE /v1/support/overrides/{id}` (coordinators).
pub async fn delete_override(store: &dyn Store, caller: &DeviceRecord, id: &str) -> Outcome<DeletedBody> {
    require(caller, Role::Coordinator)?;
    let id = roster_rules::record_id(id, "override").map_err(|e| rule_error(e, &Names::default()))?;
    Ok(DeletedBody { deleted: store.delete_override(&id).await? })
}

/// `POST /v1/support/swaps` (a supporter): proposes a swap of two shifts to another supporter.
pub async fn propose_swap(store: &dyn Store, clock: &Clock, caller: &DeviceRecord, request: SwapRequest) -> Outcome<SwapBody> {
    let (roster, names, now) = (store.roster().await?, Names::load(store).await?, clock.now());
    let swap = roster_rules::proposed_swap(request, &roster, &caller.account, new_id(), now).map_err(|e| rule_error(e, &names))?;
    stored(store.add_swap(&swap).await, "rotation", "the other supporter")?;
    Ok(bodies::swap(&swap, &names))
}

/// `GET /v1/support/swaps`: a supporter's own swaps (either side); a coordinator's, all.
pub async fn swaps(store: &dyn Store, caller: &DeviceRecord) -> Outcome<SwapsBody> {
    let roster = store.roster().await?;
    require_team(&roster, caller)?;
    let names = Names::load(store).await?;
    let all = caller.roles.contains(&Role::Coordinator);
    let me = caller.account;
    let swaps =
        roster.schedule.swaps.iter().filter(|s| all || s.proposer == me || s.counterpart == me).map(|s| bodies::swap(s, &names)).collect();
    Ok(SwapsBody { swaps })
}

/// `POST /v1/support/swaps/{id}/accept|decline` (the counterpart) and `…/cancel` (the proposer).
pub async fn answer_swap(store: &dyn Store, clock: &Clock, caller: &DeviceRecord, id: &str, answer: &str) -> Outcome<SwapBody> {
    let no_names = Names::default();
    let to = roster_rules::swap_answer(answer).map_err(|e| rule_error(e, &no_names))?;
    let id = roster_rules::record_id(id, "swap").map_err(|e| rule_error(e, &no_names))?;
    let (roster, names, now) = (store.roster().await?, Names::load(store).await?, clock.now());
    let answered = roster_rules::answered_swap(&roster, &id, &caller.account, to, now).map_err(|e| rule_error(e, &names))?;
    match store.answer_swap(&id, to, now).await {
        Ok(true) => Ok(bodies::swap(&answered, &names)),
        Ok(false) => Err(WorkflowError::SwapNotPending),
        Err(StoreError::NotFound) => Err(WorkflowError::not_found("swap")),
        Err(e) => Err(e.into()),
    }
}

/// `GET /v1/support/oncall` (the team): who is on call now (names only: not why anyone else is
/// not).
pub async fn on_call(store: &dyn Store, clock: &Clock, caller: &DeviceRecord) -> Outcome<OnCallBody> {
    let roster = store.roster().await?;
    require_team(&roster, caller)?;
    let names = Names::load(store).await?;
    let mut on_call: Vec<PersonBody> = schedule::on_call_at(&roster, clock.now()).into_iter().map(|a| names.person(a)).collect();
    on_call.sort_by_key(|p| p.display_name.to_lowercase());
    Ok(OnCallBody { on_call })
}

/// `GET /v1/support/shifts/me?limit=N` (a supporter): their next shifts (default 10, at most 50),
/// the current one first if it has not ended.
pub async fn my_shifts(store: &dyn Store, clock: &Clock, caller: &DeviceRecord, limit: Option<usize>) -> Outcome<ShiftsBody> {
    let limit = roster_rules::shift_limit(limit).map_err(|e| rule_error(e, &Names::default()))?;
    let roster = store.roster().await?;
    let me = roster_rules::on_roster(&roster, &caller.account).map_err(|e| rule_error(e, &Names::default()))?;
    let shifts = schedule::next_shifts(&roster.schedule, &me, clock.now(), limit)
        .into_iter()
        .map(|s| ShiftBody {
            rotation_name: roster.rotation(&s.rotation).map(|r| r.name.clone()).unwrap_or_default(),
            rotation: s.rotation,
            start: s.start,
            end: s.end,
            source: s.source,
        })
        .collect();
    Ok(ShiftsBody { shifts })
}
