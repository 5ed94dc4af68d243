//! The Peer Support Team (protocol/README.md §13.1): coordinators keep the roster and each
//! supporter's training; supporters read their own record and set their available / busy / off
//! switch. Every rule comes from `domain::roster_rules`; this module reads, checks and stores.

use super::bodies::{self, Names};
use crate::clock::Clock;
use crate::domain::roster::Roster;
use crate::domain::roster_rules::{self, RuleError};
use crate::store::{DeviceRecord, Store, StoreError};
use crate::workflows::{Outcome, WorkflowError, require};
use sallyport_protocol::AccountId;
use sallyport_protocol::rest::Role;
use sallyport_protocol::roster::{RemovedBody, SupporterBody, SupportersBody, SwitchRequest, TrainingRequest};

/// A broken rule as the caller sees it (names resolved).
pub(crate) fn rule_error(err: RuleError, names: &Names) -> WorkflowError {
    match err {
        RuleError::Invalid(message) => WorkflowError::Invalid(message),
        RuleError::NotFound(what) => WorkflowError::not_found(what),
        RuleError::CallerNotOnRoster => WorkflowError::caller_not_on_roster(),
        RuleError::NotOnRoster(who) => WorkflowError::not_on_roster(&who),
        RuleError::TrainingNotCurrent { account, gaps } => WorkflowError::training_not_current(&names.of(&account), &gaps),
        RuleError::Forbidden(message) => WorkflowError::Forbidden(Some(message.into())),
        RuleError::NotAShift => WorkflowError::NotAShift,
        RuleError::SwapNotPending => WorkflowError::SwapNotPending,
    }
}

/// An account id from a path: anything malformed is simply not found.
fn account_path(text: &str) -> Outcome<AccountId> {
    AccountId::parse(text).ok_or_else(|| WorkflowError::not_found("account"))
}

/// Coordinators and peer supporters (on the roster, or holding the role while a coordinator has
/// yet to add them) may see the schedule.
pub(super) fn require_team(roster: &Roster, caller: &DeviceRecord) -> Outcome<()> {
    let roles = &caller.roles;
    if roles.contains(&Role::Coordinator) || roles.contains(&Role::PeerSupporter) || roster.supporter(&caller.account).is_some() {
        Ok(())
    } else {
        Err(WorkflowError::Forbidden(None))
    }
}

async fn record_of(store: &dyn Store, clock: &Clock, account: &AccountId, missing: WorkflowError) -> Outcome<SupporterBody> {
    let roster = store.roster().await?;
    let s = roster.supporter(account).ok_or(missing)?;
    Ok(bodies::supporter(s, &Names::load(store).await?, clock.now()))
}

/// `GET /v1/support/roster` (coordinators): every supporter with training and switch, by name.
pub async fn roster(store: &dyn Store, clock: &Clock, caller: &DeviceRecord) -> Outcome<SupportersBody> {
    require(caller, Role::Coordinator)?;
    let (roster, names, now) = (store.roster().await?, Names::load(store).await?, clock.now());
    let mut supporters: Vec<SupporterBody> = roster.supporters.iter().map(|s| bodies::supporter(s, &names, now)).collect();
    supporters.sort_by_key(|s| s.display_name.to_lowercase());
    Ok(SupportersBody { supporters })
}

/// `GET /v1/support/roster/me` (a supporter): their own record.
pub async fn my_record(store: &dyn Store, clock: &Clock, caller: &DeviceRecord) -> Outcome<SupporterBody> {
    record_of(store, clock, &caller.account, WorkflowError::caller_not_on_roster()).await
}

/// `PUT /v1/support/roster/{account}` (coordinators): `(true, record)` when added, `false` if the
/// account was on the roster already.
pub async fn add(store: &dyn Store, clock: &Clock, caller: &DeviceRecord, account: &str) -> Outcome<(bool, SupporterBody)> {
    require(caller, Role::Coordinator)?;
    let account = account_path(account)?;
    let added = match store.add_peer_supporter(&account, clock.now()).await {
        Ok(added) => added,
        Err(StoreError::NotFound) => return Err(WorkflowError::not_found("account")),
        Err(e) => return Err(e.into()),
    };
    if added {
        tracing::info!("a coordinator added a peer supporter");
    }
    Ok((added, record_of(store, clock, &account, WorkflowError::not_on_roster("the account")).await?))
}

/// `DELETE /v1/support/roster/{account}` (coordinators): off the roster and every rotation.
pub async fn remove(store: &dyn Store, caller: &DeviceRecord, account: &str) -> Outcome<RemovedBody> {
    require(caller, Role::Coordinator)?;
    let account = account_path(account)?;
    let removed = store.remove_peer_supporter(&account).await?;
    if removed {
        tracing::info!("a coordinator removed a peer supporter");
    }
    Ok(RemovedBody { removed })
}

/// `PUT /v1/support/roster/{account}/training/{kind}` (coordinators).
pub async fn set_training(
    store: &dyn Store,
    clock: &Clock,
    caller: &DeviceRecord,
    account: &str,
    kind: &str,
    request: &TrainingRequest,
) -> Outcome<SupporterBody> {
    require(caller, Role::Coordinator)?;
    let account = account_path(account)?;
    let training = roster_rules::training(kind, request).map_err(|e| rule_error(e, &Names::default()))?;
    match store.set_training(&account, &training).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(WorkflowError::not_on_roster("the account")),
        Err(e) => return Err(e.into()),
    }
    record_of(store, clock, &account, WorkflowError::not_on_roster("the account")).await
}

/// `PUT /v1/support/switch` (a supporter): available / busy / off.
pub async fn set_switch(store: &dyn Store, clock: &Clock, caller: &DeviceRecord, request: &SwitchRequest) -> Outcome<SupporterBody> {
    // The switch is the person's across teams; this endpoint is the Peer Support Team's.
    if store.roster().await?.supporter(&caller.account).is_none() {
        return Err(WorkflowError::caller_not_on_roster());
    }
    match store.set_switch(&caller.account, request.switch, clock.now()).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(WorkflowError::caller_not_on_roster()),
        Err(e) => return Err(e.into()),
    }
    record_of(store, clock, &caller.account, WorkflowError::not_on_roster("the account")).await
}
