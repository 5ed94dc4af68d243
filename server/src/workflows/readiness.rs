//! Reachability before it matters (protocol/README.md §17): every crisis-team member's phone is
//! pushed a readiness check when they join and then at the start of each of their shifts (daily
//! without one); a tap confirms it, from the notification (a single-use token) or in the app.
//! Coordinators see who is reachable now and why not; each member sees what to fix.

use super::incidents::Paging;
use crate::domain::readiness::{self, Record, Status};
use crate::domain::secrets::sha256;
use crate::domain::teams::CrisisTeam;
use crate::push::{PushOutcome, Report};
use crate::store::{DeviceRecord, StoreResult};
use crate::workflows::peer_support::bodies::Names;
use crate::workflows::{Outcome, WorkflowError, require};
use sallyport_protocol::rest::Role;
use sallyport_protocol::teams::{ConfirmCheckRequest, MemberReadinessBody, ReadinessBody, TeamReadinessBody};
use sallyport_protocol::{AccountId, AnswerToken};
use std::collections::HashMap;

/// Checks claimed per transaction.
const CLAIM_BATCH: u32 = 100;
pub const CHECK_TITLE: &str = "Readiness check";
pub const CHECK_BODY: &str = "Tap to confirm that Sallyport's pages reach you.";

/// The readiness body for one person.
pub fn body(record: Option<&Record>, subscribed: bool, now: i64) -> ReadinessBody {
    let status = readiness::status(record, subscribed, now);
    ReadinessBody {
        status: status.as_str().to_owned(),
        reachable: status.reachable(),
        fix: status.fix().map(str::to_owned),
        checked_at: record.and_then(|r| r.sent_at),
        outcome: record.and_then(|r| r.outcome.clone()),
        confirmed_at: record.and_then(|r| r.confirmed_at),
        next_check_at: record.map(|r| r.due_at),
    }
}

/// A readiness check's push: a Declarative Web Push message (shown as is if the service worker
/// fails) with the token the service worker sends back on a tap.
fn check_payload(token: &AnswerToken, public_url: &str) -> Vec<u8> {
    serde_json::json!({
        "web_push": 8030,
        "notification": {"title": CHECK_TITLE, "body": CHECK_BODY, "navigate": format!("{public_url}/ready"), "tag": "readiness"},
        "v": 1,
        "kind": "readiness",
        "token": token.to_text(),
    })
    .to_string()
    .into_bytes()
}

impl Paging {
    /// Pushes every check that is due: claimed (and the next one scheduled: the start of the
    /// member's next shift, or a day on) in one transaction, then sent to each of their devices,
    /// with the push service's answer recorded.
    pub async fn run_checks(&self) -> StoreResult<usize> {
        let now = self.clock.now();
        // Every pass asks; only a due check reads the teams' schedules.
        if !self.store.checks_due(now).await? {
            return Ok(0);
        }
        let teams = self.store.crisis_teams().await?;
        let schedules: Vec<_> = teams.teams.iter().map(|t| &t.schedule).collect();
        let tokens = std::sync::Mutex::new(HashMap::new());
        let next = |account: &AccountId| {
            let token = AnswerToken::random();
            let hash = sha256(token.as_bytes());
            tokens.lock().unwrap_or_else(|e| e.into_inner()).insert(*account, token);
            (readiness::next_check(&schedules, account, now), hash)
        };
        let due = self.store.claim_due_checks(now, CLAIM_BATCH, &next).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let tokens = tokens.into_inner().unwrap_or_else(|e| e.into_inner());
        let devices = self.store.list_devices().await?;
        for account in &due {
            let Some(token) = tokens.get(account) else { continue };
            let mailboxes: Vec<_> =
                devices.iter().filter(|d| d.account == *account && d.revoked_at.is_none() && !d.is_pending()).map(|d| d.mailbox).collect();
            let report = {
                let (store, account) = (self.store.clone(), *account);
                Report::new(move |outcome: PushOutcome| {
                    tokio::spawn(async move {
                        if let Err(err) = store.record_check_outcome(&account, now, outcome.as_str()).await {
                            tracing::warn!(error = %err, "could not record a readiness check's outcome");
                        }
                    });
                })
            };
            if mailboxes.is_empty() {
                report.expect_one_more();
                report.ended_now(PushOutcome::NoSubscription);
            }
            for mailbox in mailboxes {
                self.push.offer_check(mailbox, check_payload(token, &self.public_url), report.clone());
            }
        }
        tracing::info!(checks = due.len(), "readiness checks sent");
        Ok(due.len())
    }

    /// `POST /v1/readiness/confirm` (unsigned): the tap on a check's notification.
    pub async fn confirm_check(&self, request: ConfirmCheckRequest) -> Outcome<()> {
        let hash = sha256(request.token.as_bytes());
        match self.store.confirm_check(&hash, self.clock.now()).await? {
            Some(_) => Ok(()),
            None => Err(WorkflowError::InvalidAnswerToken),
        }
    }

    /// `POST /v1/oncall/me/ready` (signed): "I can get pages", from the app.
    pub async fn confirm_ready(&self, caller: &DeviceRecord) -> Outcome<ReadinessBody> {
        if !self.store.confirm_ready(&caller.account, self.clock.now()).await? {
            return Err(WorkflowError::caller_not_on_team());
        }
        Ok(self.mine(&caller.account).await?.unwrap_or_else(|| body(None, false, self.clock.now())))
    }

    /// The caller's readiness, if they are on a crisis team.
    pub async fn mine(&self, account: &AccountId) -> StoreResult<Option<ReadinessBody>> {
        let (records, subscribed) = self.store.readiness().await?;
        Ok(records.get(account).map(|r| body(Some(r), subscribed.contains_key(account), self.clock.now())))
    }

    /// `GET /v1/teams/{id}/readiness` (coordinators).
    pub async fn team_readiness(&self, caller: &DeviceRecord, id: &str) -> Outcome<TeamReadinessBody> {
        require(caller, Role::Coordinator)?;
        let team = self.team(id).await?;
        let (records, subscribed) = self.store.readiness().await?;
        let (names, now) = (Names::load(&*self.store).await?, self.clock.now());
        let on_call = team.on_call_at(now);
        let mut people: Vec<(Status, MemberReadinessBody)> = team
            .members
            .iter()
            .map(|m| {
                let record = records.get(&m.account);
                let subscribed = subscribed.contains_key(&m.account);
                let status = readiness::status(record, subscribed, now);
                let readiness = body(record, subscribed, now);
                let person = names.person(m.account);
                (status, MemberReadinessBody { person, tier: m.tier, role: m.role.as_str().to_owned(), on_call: on_call.contains(&m.account), readiness })
            })
            .collect();
        people.sort_by_key(|(status, p)| (*status, p.person.display_name.to_lowercase()));
        let reachable_now = people.iter().filter(|(s, _)| s.reachable()).count() as u32;
        Ok(TeamReadinessBody { reachable_now, members: people.len() as u32, people: people.into_iter().map(|(_, p)| p).collect() })
    }

    /// `POST /v1/teams/{id}/readiness/{account}/check` (coordinators): check this member now.
    pub async fn check_now(&self, caller: &DeviceRecord, id: &str, account: &str) -> Outcome<TeamReadinessBody> {
        require(caller, Role::Coordinator)?;
        let team = self.team(id).await?;
        let account = AccountId::parse(account).filter(|a| team.member(a).is_some()).ok_or_else(|| WorkflowError::not_found("member"))?;
        self.store.check_now(&account, self.clock.now()).await?;
        self.run_checks().await?;
        self.team_readiness(caller, id).await
    }

    async fn team(&self, id: &str) -> Outcome<CrisisTeam> {
        self.store.crisis_teams().await?.teams.into_iter().find(|t| t.id == id).ok_or_else(|| WorkflowError::not_found("team"))
    }
}
