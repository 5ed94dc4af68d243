//! Crisis paging rules (issue 12) as pure functions: a team's quorum policy, how far an
//! incident is from it, and whom each escalation step pages. No I/O and no clock of their own:
//! the workflow reads the team, the answers and the instant, and asks these rules what to do.
//!
//! Escalation, as the policy describes it: tier 1's reachable on-call members are paged at
//! once; while the quorum is short, every `escalate_after_ms` the next step is taken — the next
//! tier, first only as many people as the gap needs (by role where a role is short), then that
//! whole tier — and after the last tier, the coordinators. Members inside the perimeter (who
//! cannot see a phone) are passed over, with the time they said they come out, and paged then
//! if the incident is still short.

use super::MINUTE_MS;
use sallyport_protocol::AccountId;
use sallyport_protocol::teams::PolicyBody;
use std::collections::BTreeMap;

/// The roles a team member may have unless the administrator configures others.
pub const DEFAULT_TEAM_ROLES: [&str; 4] = ["peer", "clinician", "chaplain", "lead"];
/// Longest team role name, in bytes.
pub const MAX_ROLE_LEN: usize = 32;
/// Most responders a policy may ask for.
pub const MAX_RESPONDERS: u32 = 100;

/// A team role, such as `peer` or `clinician`: 1–32 bytes of lowercase ASCII letters, digits,
/// `-` and `_`, starting with a letter, so it can be a key in a policy, a label on a screen and
/// an argument to the admin command without escaping.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TeamRole(String);

impl TeamRole {
    pub fn parse(name: &str) -> Option<TeamRole> {
        let ok = name.len() <= MAX_ROLE_LEN
            && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        ok.then(|| TeamRole(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many must respond, and of which roles, before paging stops; and its timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumPolicy {
    /// Responders needed in all.
    pub responders: u32,
    /// At least this many responders of each role (counted within `responders`).
    pub at_least: BTreeMap<TeamRole, u32>,
    /// A page is repeated this often to those paged who have not answered.
    pub repeat_every_ms: i64,
    /// While short, the next escalation step is taken this long after the previous one.
    pub escalate_after_ms: i64,
}

impl Default for QuorumPolicy {
    /// 3 responding, at least one `peer` and one `clinician`; repeat every 3 minutes; escalate
    /// after 10.
    fn default() -> Self {
        let role = |name: &str| TeamRole(name.to_owned());
        QuorumPolicy {
            responders: 3,
            at_least: BTreeMap::from([(role("peer"), 1), (role("clinician"), 1)]),
            repeat_every_ms: 3 * MINUTE_MS,
            escalate_after_ms: 10 * MINUTE_MS,
        }
    }
}

impl QuorumPolicy {
    /// The policy a request describes, checked; `Err` names what is wrong. Roles must be among
    /// `roles` (the server's team roles).
    pub fn from_body(body: &PolicyBody, roles: &[TeamRole]) -> Result<QuorumPolicy, String> {
        let mut at_least = BTreeMap::new();
        for (name, &n) in &body.at_least {
            let role = TeamRole::parse(name).filter(|r| roles.contains(r)).ok_or_else(|| {
                format!("at_least names an unknown team role; the roles are {}", roles.iter().map(TeamRole::as_str).collect::<Vec<_>>().join(", "))
            })?;
            if n > 0 {
                at_least.insert(role, n);
            }
        }
        let policy = QuorumPolicy {
            responders: body.responders,
            at_least,
            repeat_every_ms: i64::from(body.repeat_every_minutes) * MINUTE_MS,
            escalate_after_ms: i64::from(body.escalate_after_minutes) * MINUTE_MS,
        };
        policy.check().map_err(|e| match e {
            PolicyError::Responders => format!("responders must be 1 to {MAX_RESPONDERS}"),
            PolicyError::QuotasExceedResponders => "the role quotas in at_least add up to more than responders".to_owned(),
            PolicyError::Interval => "repeat_every_minutes and escalate_after_minutes must be 1 to 1440".to_owned(),
        })?;
        Ok(policy)
    }

    pub fn to_body(&self) -> PolicyBody {
        PolicyBody {
            responders: self.responders,
            at_least: self.at_least.iter().map(|(r, &n)| (r.as_str().to_owned(), n)).collect(),
            repeat_every_minutes: u32::try_from(self.repeat_every_ms / MINUTE_MS).unwrap_or(u32::MAX),
            escalate_after_minutes: u32::try_from(self.escalate_after_ms / MINUTE_MS).unwrap_or(u32::MAX),
        }
    }
}

/// Why a policy cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// `responders` is 0 or over [`MAX_RESPONDERS`].
    Responders,
    /// The role quotas add up to more than `responders`.
    QuotasExceedResponders,
    /// A repeat or escalation interval under a minute or over a day.
    Interval,
}

impl QuorumPolicy {
    pub fn check(&self) -> Result<(), PolicyError> {
        if self.responders == 0 || self.responders > MAX_RESPONDERS {
            return Err(PolicyError::Responders);
        }
        let quotas: u64 = self.at_least.values().map(|&n| u64::from(n)).sum();
        if quotas > u64::from(self.responders) {
            return Err(PolicyError::QuotasExceedResponders);
        }
        let sensible = |ms: i64| (MINUTE_MS..=super::DAY_MS).contains(&ms);
        if !sensible(self.repeat_every_ms) || !sensible(self.escalate_after_ms) {
            return Err(PolicyError::Interval);
        }
        Ok(())
    }

    /// How far `responding` (the role of each person who answered `responding`) is from the
    /// quorum. A responder counts towards at most one role quota: the one of their own role.
    pub fn shortfall<'a>(&self, responding: impl IntoIterator<Item = &'a TeamRole>) -> Shortfall {
        let mut count = 0u32;
        let mut by_role: BTreeMap<&TeamRole, u32> = BTreeMap::new();
        for role in responding {
            count += 1;
            *by_role.entry(role).or_default() += 1;
        }
        let roles: BTreeMap<TeamRole, u32> = self
            .at_least
            .iter()
            .filter_map(|(role, &need)| {
                let gap = need.saturating_sub(by_role.get(role).copied().unwrap_or(0));
                (gap > 0).then(|| (role.clone(), gap))
            })
            .collect();
        let role_gaps: u32 = roles.values().sum();
        Shortfall { total: self.responders.saturating_sub(count).max(role_gaps), roles }
    }
}

/// How many more responders an incident needs: `total` in all, of whom at least `roles[r]` of
/// role `r`. The quorum is met when `total` is 0.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shortfall {
    pub total: u32,
    pub roles: BTreeMap<TeamRole, u32>,
}

impl Shortfall {
    pub fn met(&self) -> bool {
        self.total == 0
    }
}

/// One member of a team, as the paging rules see them at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub account: AccountId,
    pub role: TeamRole,
    /// 1 pages first.
    pub tier: u8,
    /// On call now (rotation, override or swap) with the switch on `available`.
    pub on_call: bool,
    /// Inside the perimeter until this instant (Unix ms), if they said so and it has not passed.
    pub inside_until: Option<i64>,
    /// Already paged for this incident, or already answered it: not paged again by a step
    /// (repeats are the workflow's, to those paged who have not answered).
    pub paged_or_answered: bool,
}

impl Candidate {
    fn can_see_a_phone(&self, now: i64) -> bool {
        self.inside_until.is_none_or(|until| until <= now)
    }
}

/// One step of escalation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// Page as many of `tier` as the shortfall needs.
    Gap { tier: u8 },
    /// Page everyone on call in `tier`.
    Everyone { tier: u8 },
    /// Page the coordinators: every tier has been tried.
    Coordinators,
}

impl Step {
    /// The declaration's step: everyone on call in tier 1.
    pub const FIRST: Step = Step::Everyone { tier: 1 };

    /// The step after this one in a team whose highest tier is `last_tier`, or `None` after the
    /// coordinators.
    pub fn next(self, last_tier: u8) -> Option<Step> {
        match self {
            Step::Gap { tier } => Some(Step::Everyone { tier }),
            Step::Everyone { tier } if tier < last_tier => Some(Step::Gap { tier: tier + 1 }),
            Step::Everyone { .. } => Some(Step::Coordinators),
            Step::Coordinators => None,
        }
    }
}

/// What one escalation step does: whom it pages now, and whom it passed over because they are
/// inside the perimeter (with the instant they said they come out), to be offered to
/// [`came_out`] then.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Paging {
    pub now: Vec<AccountId>,
    pub when_out: Vec<(AccountId, i64)>,
}

/// Whom `step` pages among `candidates`, in their given order (the team's order within a tier),
/// given the incident's `shortfall`. Only on-call members not yet paged are chosen, and only
/// those who can see a phone; members of the tier inside the perimeter are passed over
/// (`when_out`). Nothing for [`Step::Coordinators`]: coordinators are not team members, and the
/// workflow pages them itself.
pub fn to_page(step: Step, shortfall: &Shortfall, candidates: &[Candidate], now: i64) -> Paging {
    let tier = match step {
        Step::Gap { tier } | Step::Everyone { tier } => tier,
        Step::Coordinators => return Paging::default(),
    };
    if shortfall.met() {
        return Paging::default();
    }
    let (outside, inside): (Vec<&Candidate>, Vec<&Candidate>) = candidates
        .iter()
        .filter(|c| c.tier == tier && c.on_call && !c.paged_or_answered)
        .partition(|c| c.can_see_a_phone(now));
    let chosen = match step {
        Step::Everyone { .. } => outside,
        _ => gap_of(shortfall, &outside),
    };
    Paging {
        now: chosen.into_iter().map(|c| c.account).collect(),
        when_out: inside.into_iter().filter_map(|c| c.inside_until.map(|until| (c.account, until))).collect(),
    }
}

/// Members passed over while inside who can see a phone by `now`, as many as the incident is
/// still short of (by role first, as a [`Step::Gap`] chooses); none once the quorum is met.
pub fn came_out(shortfall: &Shortfall, candidates: &[Candidate], passed_over: &[AccountId], now: i64) -> Vec<AccountId> {
    if shortfall.met() {
        return Vec::new();
    }
    let out: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| passed_over.contains(&c.account) && c.on_call && !c.paged_or_answered && c.can_see_a_phone(now))
        .collect();
    gap_of(shortfall, &out).into_iter().map(|c| c.account).collect()
}

/// As many of `eligible` (in order) as `shortfall` needs: for each short role, that many of the
/// role; then, for what the total still lacks, members of roles that are not short, and only
/// then more of the short roles.
fn gap_of<'a>(shortfall: &Shortfall, eligible: &[&'a Candidate]) -> Vec<&'a Candidate> {
    let mut chosen: Vec<&Candidate> = Vec::new();
    for (role, &gap) in &shortfall.roles {
        chosen.extend(eligible.iter().filter(|c| c.role == *role).take(gap as usize));
    }
    let want = shortfall.total as usize;
    for prefer_unshort in [true, false] {
        for c in eligible {
            if chosen.len() >= want {
                break;
            }
            let taken = chosen.iter().any(|k| k.account == c.account);
            if !taken && (!prefer_unshort || !shortfall.roles.contains_key(&c.role)) {
                chosen.push(c);
            }
        }
    }
    chosen
}

#[cfg(test)]
mod tests;
