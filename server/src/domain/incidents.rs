//! A critical incident's paging as a pure function of its state, its team and an instant:
//! [`plan`] says whom to page now (first pages, repeats, those who came out from inside the
//! perimeter), which escalation step to take, whether the quorum is met, and when to look again.
//! The workflow runs it when an incident is declared, when its timer fires and when someone
//! answers, inside the transaction that stores what it decided.

use super::paging::{self, Paging, QuorumPolicy, Shortfall, Step, TeamRole};
use super::teams::CrisisTeam;
use sallyport_protocol::incidents::PageAnswer;
use sallyport_protocol::{AccountId, IncidentId};
use std::collections::HashSet;

/// Most escalation steps one plan takes at once (steps that page no one are passed at once).
const MAX_STEPS_PER_PLAN: usize = 32;

/// One person's part in an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub account: AccountId,
    /// Paged as a coordinator (after every tier), not as a team member.
    pub coordinator: bool,
    /// When first paged; `None` while passed over (inside) or answering unpaged.
    pub paged_at: Option<i64>,
    pub last_paged_at: Option<i64>,
    /// Times paged: the first page and its repeats.
    pub pages: u32,
    /// Passed over while inside the perimeter until then: paged when out, if still needed.
    pub waiting_until: Option<i64>,
    pub answer: Option<PageAnswer>,
    pub answered_at: Option<i64>,
    pub eta_at: Option<i64>,
}

impl Page {
    fn new(account: AccountId, coordinator: bool) -> Page {
        Page {
            account,
            coordinator,
            paged_at: None,
            last_paged_at: None,
            pages: 0,
            waiting_until: None,
            answer: None,
            answered_at: None,
            eta_at: None,
        }
    }

    fn paged(&mut self, now: i64) {
        self.paged_at.get_or_insert(now);
        self.last_paged_at = Some(now);
        self.pages += 1;
        self.waiting_until = None;
    }
}

/// An open (or resolved) incident as the paging rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: IncidentId,
    pub team: String,
    pub severity: u8,
    pub test: bool,
    pub declared_by: Option<AccountId>,
    pub declared_at: i64,
    /// The last escalation step taken, and when.
    pub step: Step,
    pub step_at: i64,
    pub first_response_at: Option<i64>,
    pub quorum_at: Option<i64>,
    pub resolved_at: Option<i64>,
    /// A test page for one person: only they are paged, and nothing escalates.
    pub only: Option<AccountId>,
    pub pages: Vec<Page>,
}

impl Incident {
    pub fn page_of(&self, account: &AccountId) -> Option<&Page> {
        self.pages.iter().find(|p| p.account == *account)
    }

    fn page_mut(&mut self, account: AccountId, coordinator: bool) -> &mut Page {
        match self.pages.iter().position(|p| p.account == account) {
            Some(i) => &mut self.pages[i],
            None => {
                self.pages.push(Page::new(account, coordinator));
                self.pages.last_mut().expect("just pushed")
            }
        }
    }

    /// How far the responders are from the team's quorum. A responder counts with their role
    /// on the team; a coordinator (or anyone no longer on it) counts towards the total only.
    pub fn shortfall(&self, team: &CrisisTeam) -> Shortfall {
        let none = TeamRole::parse("coordinator").expect("a valid role name");
        let roles: Vec<TeamRole> = self
            .pages
            .iter()
            .filter(|p| p.answer == Some(PageAnswer::Responding))
            .map(|p| team.member(&p.account).map_or_else(|| none.clone(), |m| m.role.clone()))
            .collect();
        team.policy.shortfall(roles.iter())
    }
}

/// The words the board shows for a step.
pub fn step_name(step: Step) -> String {
    match step {
        Step::Gap { tier } => format!("tier {tier} (gap)"),
        Step::Everyone { tier } => format!("tier {tier}"),
        Step::Coordinators => "coordinators".to_owned(),
    }
}

pub fn parse_step(text: &str) -> Option<Step> {
    if text == "coordinators" {
        return Some(Step::Coordinators);
    }
    let rest = text.strip_prefix("tier ")?;
    match rest.strip_suffix(" (gap)") {
        Some(tier) => tier.parse().ok().map(|tier| Step::Gap { tier }),
        None => rest.parse().ok().map(|tier| Step::Everyone { tier }),
    }
}

/// What a plan decided: the incident as it is after it (pages, step, quorum), whom to push now,
/// the steps it took, and when to look again (`None`: nothing left to do until an answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub incident: Incident,
    pub push: Vec<AccountId>,
    pub steps: Vec<(i64, Step)>,
    pub next_due: Option<i64>,
}

/// The people a step pages: team members by the paging rules, or every coordinator not yet
/// paged (and not on the team as someone already paged).
fn take_step(step: Step, incident: &mut Incident, team: &CrisisTeam, coordinators: &[AccountId], now: i64) -> Vec<AccountId> {
    let shortfall = incident.shortfall(team);
    if step == Step::Coordinators {
        let mut paged = Vec::new();
        for account in coordinators {
            if incident.page_of(account).is_none_or(|p| p.paged_at.is_none() && p.answer.is_none()) {
                incident.page_mut(*account, true).paged(now);
                paged.push(*account);
            }
        }
        return paged;
    }
    let done: HashSet<AccountId> = incident.pages.iter().filter(|p| p.paged_at.is_some() || p.answer.is_some()).map(|p| p.account).collect();
    let Paging { now: to_page, when_out } = paging::to_page(step, &shortfall, &team.candidates(now, &done), now);
    for (account, until) in when_out {
        let page = incident.page_mut(account, false);
        if page.paged_at.is_none() && page.answer.is_none() {
            page.waiting_until = Some(until);
        }
    }
    for account in &to_page {
        incident.page_mut(*account, false).paged(now);
    }
    to_page
}

/// What to do for `incident` at `now`. On declaration (no pages yet) the first step pages tier 1;
/// afterwards: nothing once the quorum is met or the incident resolved; else repeats to those
/// paged who have not answered (every `repeat_every_ms`), pages to those who came out (as many
/// as the gap needs), and the next escalation step once `escalate_after_ms` has passed since the
/// last (steps that would page no one are passed straight away).
pub fn plan(incident: &Incident, team: &CrisisTeam, coordinators: &[AccountId], now: i64) -> Plan {
    let mut next = incident.clone();
    let mut push: Vec<AccountId> = Vec::new();
    let mut steps = Vec::new();
    let policy: &QuorumPolicy = &team.policy;
    if next.resolved_at.is_some() {
        return Plan { incident: next, push, steps, next_due: None };
    }
    if next.shortfall(team).met() {
        next.quorum_at.get_or_insert(now);
        return Plan { incident: next, push, steps, next_due: None };
    }
    // A declaration: nothing paged or passed over yet, still at the step it was declared with.
    let declaring = next.pages.is_empty() && next.step == Step::FIRST && next.step_at == next.declared_at;
    if declaring {
        match next.only {
            Some(only) => {
                next.page_mut(only, team.member(&only).is_none()).paged(now);
                push.push(only);
            }
            None => push.extend(take_step(Step::FIRST, &mut next, team, coordinators, now)),
        }
        steps.push((now, Step::FIRST));
    }
    // Repeats to those paged who have not answered.
    for page in next.pages.iter_mut() {
        let due = page.last_paged_at.is_some_and(|last| last.saturating_add(policy.repeat_every_ms) <= now);
        if page.answer.is_none() && due {
            page.paged(now);
            push.push(page.account);
        }
    }
    if next.only.is_some() {
        let next_due = next_due(&next, team, now);
        return Plan { incident: next, push, steps, next_due };
    }
    // Those passed over who are out now, as many as the gap needs.
    let waiting: Vec<AccountId> =
        next.pages.iter().filter(|p| p.answer.is_none() && p.paged_at.is_none() && p.waiting_until.is_some_and(|t| t <= now)).map(|p| p.account).collect();
    if !waiting.is_empty() {
        let done: HashSet<AccountId> = next.pages.iter().filter(|p| p.paged_at.is_some() || p.answer.is_some()).map(|p| p.account).collect();
        let out = paging::came_out(&next.shortfall(team), &team.candidates(now, &done), &waiting, now);
        for account in out {
            next.page_mut(account, false).paged(now);
            push.push(account);
        }
    }
    // Escalation: the next step once its time has come; steps that page no one are passed
    // (a declaration that reaches no one of tier 1 goes on at once).
    let last_tier = team.last_tier().max(1);
    let mut go_on = declaring && push.is_empty();
    for _ in 0..MAX_STEPS_PER_PLAN {
        if !go_on && next.step_at.saturating_add(policy.escalate_after_ms) > now {
            break;
        }
        go_on = true;
        let Some(step) = next.step.next(last_tier) else { break };
        let paged = take_step(step, &mut next, team, coordinators, now);
        next.step = step;
        steps.push((now, step));
        if !paged.is_empty() || step == Step::Coordinators {
            next.step_at = now;
            push.extend(paged);
            break;
        }
    }
    push.sort();
    push.dedup();
    let next_due = next_due(&next, team, now);
    Plan { incident: next, push, steps, next_due }
}

/// The earliest instant something is due: a repeat, an escalation, someone coming out.
fn next_due(incident: &Incident, team: &CrisisTeam, now: i64) -> Option<i64> {
    let policy = &team.policy;
    let repeats = incident
        .pages
        .iter()
        .filter(|p| p.answer.is_none())
        .filter_map(|p| p.last_paged_at.map(|last| last.saturating_add(policy.repeat_every_ms)));
    let outs = incident.pages.iter().filter(|p| p.answer.is_none() && p.paged_at.is_none()).filter_map(|p| p.waiting_until);
    let escalation = incident
        .step
        .next(team.last_tier().max(1))
        .filter(|_| incident.only.is_none())
        .map(|_| incident.step_at.saturating_add(policy.escalate_after_ms));
    repeats.chain(outs).chain(escalation).map(|t| t.max(now)).min()
}

/// Records `account`'s answer at `now` (a change of answer too). `eta_minutes` only with
/// `responding`. Returns the incident as it is after.
pub fn answered(incident: &Incident, account: AccountId, coordinator: bool, answer: PageAnswer, eta_at: Option<i64>, now: i64) -> Incident {
    let mut next = incident.clone();
    let page = next.page_mut(account, coordinator);
    page.answer = Some(answer);
    page.answered_at = Some(now);
    page.eta_at = if answer == PageAnswer::Responding { eta_at } else { None };
    page.waiting_until = None;
    if answer == PageAnswer::Responding {
        next.first_response_at.get_or_insert(now);
    }
    next
}

#[cfg(test)]
mod tests;
