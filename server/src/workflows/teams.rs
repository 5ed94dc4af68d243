//! Crisis-response teams (protocol/README.md §15): coordinators create teams, put people on them
//! in tiers with a team role, set the quorum policy and keep the team's rotations and overrides
//! (the same schedule rules as the Peer Support Team's, `domain::roster_rules`); members read
//! their team; anyone on a team sets their own switch and "inside the perimeter until".

use crate::clock::Clock;
use crate::domain::names::check_name;
use crate::domain::paging::{QuorumPolicy, TeamRole};
use crate::domain::roster_rules::{self, OnCallTeam, RuleError};
use crate::domain::teams::{CrisisTeam, MAX_INSIDE_MS, MAX_TEAM_MEMBERS, MAX_TEAMS, MAX_TIER, Member};
use crate::store::{Conflict, DeviceRecord, Store, StoreError};
use crate::workflows::peer_support::bodies::{self, Names};
use crate::workflows::peer_support::team::rule_error;
use crate::workflows::{Outcome, WorkflowError, require};
use sallyport_protocol::rest::Role;
use sallyport_protocol::roster::{DeletedBody, OverrideBody, OverrideRequest, RemovedBody, RotationBody, RotationRequest};
use sallyport_protocol::teams::{
    AvailabilityBody, AvailabilityRequest, MemberBody, MemberRequest, PersonTeamBody, TeamBody, TeamRequest, TeamSummaryBody,
    TeamsBody,
};
use sallyport_protocol::{AccountId, MessageId};
use std::collections::BTreeMap;

/// A broken schedule rule as a crisis team's caller sees it: "on the roster" is "on the team".
fn team_rule_error(err: RuleError, names: &Names) -> WorkflowError {
    match err {
        RuleError::NotOnRoster(who) => WorkflowError::not_on_team(&who),
        RuleError::CallerNotOnRoster => WorkflowError::caller_not_on_team(),
        other => rule_error(other, names),
    }
}

fn team_id(text: &str) -> Outcome<String> {
    roster_rules::record_id(text, "team").map_err(|_| WorkflowError::not_found("team"))
}

/// The team with this id, for a coordinator or one of its members.
async fn visible_team(store: &dyn Store, caller: &DeviceRecord, id: &str) -> Outcome<CrisisTeam> {
    let id = team_id(id)?;
    let team = store.crisis_teams().await?.teams.into_iter().find(|t| t.id == id).ok_or_else(|| WorkflowError::not_found("team"))?;
    if caller.roles.contains(&Role::Coordinator) || team.has_member(&caller.account) {
        Ok(team)
    } else {
        Err(WorkflowError::not_found("team"))
    }
}

/// The team with this id, for a coordinator.
async fn coordinated_team(store: &dyn Store, caller: &DeviceRecord, id: &str) -> Outcome<CrisisTeam> {
    require(caller, Role::Coordinator)?;
    visible_team(store, caller, id).await
}

fn team_body(team: &CrisisTeam, roles: &[TeamRole], names: &Names, now: i64) -> TeamBody {
    let on_call = team.on_call_at(now);
    TeamBody {
        id: team.id.clone(),
        name: team.name.clone(),
        policy: team.policy.to_body(),
        members: team
            .members
            .iter()
            .map(|m| {
                let a = team.availability_of(&m.account);
                MemberBody {
                    account: m.account,
                    display_name: names.of(&m.account),
                    tier: m.tier,
                    role: m.role.as_str().to_owned(),
                    added_at: m.added_at,
                    switch: a.switch,
                    inside_until: a.inside_at(now),
                    on_call: on_call.contains(&m.account),
                }
            })
            .collect(),
        rotations: team.schedule.rotations.iter().map(|r| bodies::rotation(&team.schedule, r, names, now)).collect(),
        overrides: team.schedule.overrides.iter().filter(|o| o.end > now).map(|o| bodies::override_(o, names)).collect(),
        roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
        created_at: team.created_at,
    }
}

async fn answer(store: &dyn Store, clock: &Clock, roles: &[TeamRole], id: &str) -> Outcome<TeamBody> {
    let teams = store.crisis_teams().await?;
    let team = teams.team(id).ok_or_else(|| WorkflowError::not_found("team"))?;
    Ok(team_body(team, roles, &Names::load(store).await?, clock.now()))
}

fn policy_of(request: &TeamRequest, roles: &[TeamRole], current: Option<&QuorumPolicy>) -> Outcome<QuorumPolicy> {
    match (&request.policy, current) {
        (Some(body), _) => QuorumPolicy::from_body(body, roles).map_err(WorkflowError::Invalid),
        (None, Some(current)) => Ok(current.clone()),
        (None, None) => Ok(QuorumPolicy::default()),
    }
}

/// `GET /v1/teams`: a coordinator's or a supervisor's, every crisis team (a supervisor declares
/// incidents for any of them, so must be able to name one); anyone else's, the teams they are on.
/// The summary has names and counts only: a supervisor still cannot read a team's members.
pub async fn list(store: &dyn Store, clock: &Clock, caller: &DeviceRecord) -> Outcome<TeamsBody> {
    let (teams, now) = (store.crisis_teams().await?, clock.now());
    let all = caller.roles.contains(&Role::Coordinator) || caller.roles.contains(&Role::Supervisor);
    let teams = teams
        .teams
        .iter()
        .filter(|t| all || t.has_member(&caller.account))
        .map(|t| TeamSummaryBody {
            id: t.id.clone(),
            name: t.name.clone(),
            members: t.members.len() as u32,
            on_call_now: t.on_call_at(now).len() as u32,
        })
        .collect();
    Ok(TeamsBody { teams })
}

/// `POST /v1/teams` (coordinators).
pub async fn create(store: &dyn Store, clock: &Clock, roles: &[TeamRole], caller: &DeviceRecord, request: TeamRequest) -> Outcome<TeamBody> {
    require(caller, Role::Coordinator)?;
    let name = check_name(&request.name, "name").map_err(WorkflowError::Invalid)?;
    let policy = policy_of(&request, roles, None)?;
    if store.crisis_teams().await?.teams.len() >= MAX_TEAMS {
        return Err(WorkflowError::Invalid(format!("at most {MAX_TEAMS} crisis teams")));
    }
    let now = clock.now();
    let team = CrisisTeam {
        id: MessageId::random().to_text(),
        name,
        policy,
        members: Vec::new(),
        schedule: Default::default(),
        availability: BTreeMap::new(),
        created_at: now,
    };
    store.create_team(&team).await?;
    tracing::info!("a coordinator created a crisis team");
    Ok(team_body(&team, roles, &Names::default(), now))
}

/// `GET /v1/teams/{id}` (coordinators and the team's members).
pub async fn get(store: &dyn Store, clock: &Clock, roles: &[TeamRole], caller: &DeviceRecord, id: &str) -> Outcome<TeamBody> {
    let team = visible_team(store, caller, id).await?;
    Ok(team_body(&team, roles, &Names::load(store).await?, clock.now()))
}

/// `PUT /v1/teams/{id}` (coordinators): name and, if given, policy.
pub async fn update(
    store: &dyn Store,
    clock: &Clock,
    roles: &[TeamRole],
    caller: &DeviceRecord,
    id: &str,
    request: TeamRequest,
) -> Outcome<TeamBody> {
    let mut team = coordinated_team(store, caller, id).await?;
    team.name = check_name(&request.name, "name").map_err(WorkflowError::Invalid)?;
    team.policy = policy_of(&request, roles, Some(&team.policy))?;
    match store.update_team(&team).await {
        Err(StoreError::NotFound) => return Err(WorkflowError::not_found("team")),
        other => other?,
    }
    answer(store, clock, roles, &team.id).await
}

/// `DELETE /v1/teams/{id}` (coordinators), with its members' places and its schedule.
pub async fn delete(store: &dyn Store, caller: &DeviceRecord, id: &str) -> Outcome<DeletedBody> {
    require(caller, Role::Coordinator)?;
    let id = team_id(id)?;
    let deleted = store.delete_team(&id).await?;
    if deleted {
        tracing::info!("a coordinator deleted a crisis team");
    }
    Ok(DeletedBody { deleted })
}

/// `PUT /v1/teams/{id}/members/{account}` (coordinators): `(true, team)` when added.
pub async fn put_member(
    store: &dyn Store,
    clock: &Clock,
    roles: &[TeamRole],
    caller: &DeviceRecord,
    id: &str,
    account: &str,
    request: MemberRequest,
) -> Outcome<(bool, TeamBody)> {
    let team = coordinated_team(store, caller, id).await?;
    let account = AccountId::parse(account).ok_or_else(|| WorkflowError::not_found("account"))?;
    if !(1..=MAX_TIER).contains(&request.tier) {
        return Err(WorkflowError::Invalid(format!("tier must be 1 to {MAX_TIER}")));
    }
    let role = TeamRole::parse(&request.role).filter(|r| roles.contains(r)).ok_or_else(|| {
        WorkflowError::Invalid(format!("role must be one of {}", roles.iter().map(TeamRole::as_str).collect::<Vec<_>>().join(", ")))
    })?;
    if !team.has_member(&account) && team.members.len() >= MAX_TEAM_MEMBERS {
        return Err(WorkflowError::Invalid(format!("a team has at most {MAX_TEAM_MEMBERS} members")));
    }
    let member = Member { account, tier: request.tier, role, added_at: clock.now() };
    let added = match store.put_member(&team.id, &member).await {
        Err(StoreError::NotFound) => return Err(WorkflowError::not_found("account")),
        other => other?,
    };
    if added {
        tracing::info!("a coordinator added a crisis team member");
    }
    Ok((added, answer(store, clock, roles, &team.id).await?))
}

/// `DELETE /v1/teams/{id}/members/{account}` (coordinators): off the team and its rotations.
pub async fn remove_member(store: &dyn Store, caller: &DeviceRecord, id: &str, account: &str) -> Outcome<RemovedBody> {
    let team = coordinated_team(store, caller, id).await?;
    let account = AccountId::parse(account).ok_or_else(|| WorkflowError::not_found("account"))?;
    Ok(RemovedBody { removed: store.remove_member(&team.id, &account).await? })
}

/// What the store says when a record it needs is gone or a person left the team meanwhile.
fn stored(result: Result<(), StoreError>, missing: &str, who: &str) -> Outcome<()> {
    match result {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound) => Err(WorkflowError::not_found(missing)),
        Err(StoreError::Conflict(Conflict::NotOnRoster)) => Err(WorkflowError::not_on_team(who)),
        Err(e) => Err(e.into()),
    }
}

/// `POST /v1/teams/{id}/rotations` and `PUT /v1/teams/{id}/rotations/{rotation}` (coordinators):
/// members must be on the team.
pub async fn put_rotation(
    store: &dyn Store,
    clock: &Clock,
    caller: &DeviceRecord,
    id: &str,
    rotation_id: Option<&str>,
    request: RotationRequest,
) -> Outcome<RotationBody> {
    let team = coordinated_team(store, caller, id).await?;
    let (names, now) = (Names::load(store).await?, clock.now());
    let rotation = match rotation_id {
        None => roster_rules::room_for_rotation(&team)
            .and_then(|()| roster_rules::rotation(request, &team, &[], MessageId::random().to_text(), now, now)),
        Some(rid) => roster_rules::record_id(rid, "rotation")
            .and_then(|rid| team.schedule.rotation(&rid).ok_or(RuleError::NotFound("rotation")))
            .and_then(|existing| roster_rules::rotation(request, &team, &existing.members, existing.id.clone(), existing.created_at, now)),
    }
    .map_err(|e| team_rule_error(e, &names))?;
    stored(store.put_rotation(&rotation).await, "rotation", "a member")?;
    let teams = store.crisis_teams().await?;
    let schedule = teams.team(&team.id).map(|t| t.schedule.clone()).unwrap_or_default();
    Ok(bodies::rotation(&schedule, &rotation, &names, now))
}

/// `DELETE /v1/teams/{id}/rotations/{rotation}` (coordinators), with its overrides and swaps.
pub async fn delete_rotation(store: &dyn Store, caller: &DeviceRecord, id: &str, rotation: &str) -> Outcome<DeletedBody> {
    let team = coordinated_team(store, caller, id).await?;
    let rotation = roster_rules::record_id(rotation, "rotation").map_err(|e| team_rule_error(e, &Names::default()))?;
    if team.schedule.rotation(&rotation).is_none() {
        return Ok(DeletedBody { deleted: false });
    }
    Ok(DeletedBody { deleted: store.delete_rotation(&rotation).await? })
}

/// `POST /v1/teams/{id}/overrides` (coordinators): a member covers `[start, end)` of a rotation.
pub async fn create_override(
    store: &dyn Store,
    clock: &Clock,
    caller: &DeviceRecord,
    id: &str,
    request: OverrideRequest,
) -> Outcome<OverrideBody> {
    let team = coordinated_team(store, caller, id).await?;
    let (names, now) = (Names::load(store).await?, clock.now());
    let o = roster_rules::override_of(request, &team, MessageId::random().to_text(), now).map_err(|e| team_rule_error(e, &names))?;
    stored(store.add_override(&o).await, "rotation", "the account")?;
    Ok(bodies::override_(&o, &names))
}

/// `DELETE /v1/teams/{id}/overrides/{override}` (coordinators).
pub async fn delete_override(store: &dyn Store, caller: &DeviceRecord, id: &str, override_id: &str) -> Outcome<DeletedBody> {
    let team = coordinated_team(store, caller, id).await?;
    let override_id = roster_rules::record_id(override_id, "override").map_err(|e| team_rule_error(e, &Names::default()))?;
    if !team.schedule.overrides.iter().any(|o| o.id == override_id) {
        return Ok(DeletedBody { deleted: false });
    }
    Ok(DeletedBody { deleted: store.delete_override(&override_id).await? })
}

async fn my_availability(store: &dyn Store, clock: &Clock, caller: &DeviceRecord) -> Outcome<AvailabilityBody> {
    let (teams, now) = (store.crisis_teams().await?, clock.now());
    let a = store.availability(&caller.account).await?;
    let teams = teams
        .teams
        .iter()
        .filter_map(|t| {
            let m = t.member(&caller.account)?;
            Some(PersonTeamBody {
                id: t.id.clone(),
                name: t.name.clone(),
                tier: m.tier,
                role: m.role.as_str().to_owned(),
                on_call: t.on_call_at(now).contains(&caller.account),
            })
        })
        .collect();
    Ok(AvailabilityBody { switch: a.switch, inside_until: a.inside_at(now), teams, readiness: None })
}

/// `GET /v1/oncall/me`: the caller's switch, "inside until" and crisis teams.
pub async fn availability(store: &dyn Store, clock: &Clock, caller: &DeviceRecord) -> Outcome<AvailabilityBody> {
    my_availability(store, clock, caller).await
}

/// `PUT /v1/oncall/me` (anyone on a team): their switch and "inside the perimeter until" (in the
/// future, at most 16 hours ahead; `null` when they are out).
pub async fn set_availability(
    store: &dyn Store,
    clock: &Clock,
    caller: &DeviceRecord,
    request: AvailabilityRequest,
) -> Outcome<AvailabilityBody> {
    let now = clock.now();
    if let Some(Some(until)) = request.inside_until
        && (until <= now || until.saturating_sub(now) > MAX_INSIDE_MS)
    {
        return Err(WorkflowError::Invalid("inside_until must be in the future, at most 16 hours ahead".into()));
    }
    let not_on_team = |e: StoreError| match e {
        StoreError::NotFound => WorkflowError::caller_not_on_team(),
        e => e.into(),
    };
    if let Some(switch) = request.switch {
        store.set_switch(&caller.account, switch, now).await.map_err(not_on_team)?;
    }
    if let Some(until) = request.inside_until {
        store.set_inside_until(&caller.account, until, now).await.map_err(not_on_team)?;
    }
    my_availability(store, clock, caller).await
}
