use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn role(name: &str) -> TeamRole {
    TeamRole::parse(name).unwrap()
}

fn member(role_name: &str, tier: u8) -> Candidate {
    Candidate {
        account: AccountId::random(),
        role: role(role_name),
        tier,
        on_call: true,
        inside_until: None,
        paged_or_answered: false,
    }
}

#[test]
fn the_default_policy_needs_three_with_a_peer_and_a_clinician() {
    let policy = QuorumPolicy::default();
    assert_eq!(policy.check(), Ok(()));
    let none = policy.shortfall([]);
    assert_eq!(none.total, 3);
    assert_eq!(none.roles, BTreeMap::from([(role("peer"), 1), (role("clinician"), 1)]));
    let (peer, clinician, chaplain) = (role("peer"), role("clinician"), role("chaplain"));
    assert!(policy.shortfall([&peer, &clinician, &chaplain]).met());
    // Three responding is not enough without a clinician: a responder fills their own role only.
    let three_without = policy.shortfall([&peer, &peer, &chaplain]);
    assert_eq!((three_without.total, three_without.roles.clone()), (1, BTreeMap::from([(clinician.clone(), 1)])));
    assert!(!three_without.met());
    // More than the quorum is still met.
    assert!(policy.shortfall([&peer, &clinician, &chaplain, &peer]).met());
}

#[test]
fn two_peers_responding_page_only_one_clinician_of_tier_two_then_the_whole_tier() {
    let policy = QuorumPolicy::default();
    let peer = role("peer");
    let short = policy.shortfall([&peer, &peer]);
    assert_eq!((short.total, short.roles.clone()), (1, BTreeMap::from([(role("clinician"), 1)])));
    let team = [member("peer", 2), member("chaplain", 2), member("clinician", 2), member("clinician", 2), member("peer", 1)];
    let gap = to_page(Step::Gap { tier: 2 }, &short, &team, 0);
    assert_eq!(gap.now, vec![team[2].account], "one clinician: the first in the team's order");
    assert!(gap.when_out.is_empty());
    let everyone = to_page(Step::Everyone { tier: 2 }, &short, &team, 0);
    assert_eq!(everyone.now, team[..4].iter().map(|c| c.account).collect::<Vec<_>>(), "all of tier 2, no one of tier 1");
    assert_eq!(to_page(Step::Gap { tier: 2 }, &policy.shortfall([&peer, &peer, &role("clinician")]), &team, 0), Paging::default());
}

#[test]
fn a_gap_is_filled_by_role_first_and_then_by_roles_that_are_not_short() {
    let policy = QuorumPolicy::default();
    let short = policy.shortfall([]);
    let team = [member("clinician", 2), member("clinician", 2), member("lead", 2), member("peer", 2), member("peer", 2)];
    let paged = to_page(Step::Gap { tier: 2 }, &short, &team, 0).now;
    assert_eq!(paged, vec![team[0].account, team[3].account, team[2].account], "a clinician, a peer, then the lead");
    // No one of the other roles: the total is filled from the short roles.
    let only_peers = [member("peer", 3), member("peer", 3), member("peer", 3), member("peer", 3)];
    let paged = to_page(Step::Gap { tier: 3 }, &short, &only_peers, 0).now;
    assert_eq!(paged, only_peers[..3].iter().map(|c| c.account).collect::<Vec<_>>());
}

#[test]
fn only_on_call_members_not_yet_paged_are_paged() {
    let short = QuorumPolicy::default().shortfall([]);
    let mut team = [member("peer", 1), member("clinician", 1), member("lead", 1), member("peer", 1)];
    team[0].on_call = false;
    team[1].paged_or_answered = true;
    let paged = to_page(Step::FIRST, &short, &team, 0).now;
    assert_eq!(paged, vec![team[2].account, team[3].account]);
}

#[test]
fn members_inside_the_perimeter_are_passed_over_and_paged_when_they_come_out_if_still_short() {
    let policy = QuorumPolicy::default();
    let now = 1_000_000;
    let out_at = now + 30 * MINUTE_MS;
    let mut team = [member("peer", 1), member("clinician", 1), member("lead", 1)];
    team[1].inside_until = Some(out_at);
    let first = to_page(Step::FIRST, &policy.shortfall([]), &team, now);
    assert_eq!(first.now, vec![team[0].account, team[2].account]);
    assert_eq!(first.when_out, vec![(team[1].account, out_at)]);
    team[0].paged_or_answered = true;
    team[2].paged_or_answered = true;
    let passed: Vec<AccountId> = first.when_out.iter().map(|(a, _)| *a).collect();
    let (peer, lead) = (role("peer"), role("lead"));
    let short = policy.shortfall([&peer, &lead]);
    assert!(came_out(&short, &team, &passed, out_at - 1).is_empty(), "still inside");
    assert_eq!(came_out(&short, &team, &passed, out_at), vec![team[1].account], "out, and still short of a clinician");
    let met = policy.shortfall([&peer, &lead, &role("clinician")]);
    assert!(came_out(&met, &team, &passed, out_at).is_empty(), "no page once the quorum is met");
    // A time in the past counts as out.
    team[1].inside_until = Some(now - 1);
    assert_eq!(to_page(Step::FIRST, &policy.shortfall([]), &team[1..2], now).now, vec![team[1].account]);
}

#[test]
fn escalation_goes_tier_by_tier_gap_first_then_to_the_coordinators_once() {
    let steps: Vec<Step> = std::iter::successors(Some(Step::FIRST), |s| s.next(3)).collect();
    assert_eq!(
        steps,
        vec![
            Step::Everyone { tier: 1 },
            Step::Gap { tier: 2 },
            Step::Everyone { tier: 2 },
            Step::Gap { tier: 3 },
            Step::Everyone { tier: 3 },
            Step::Coordinators,
        ]
    );
    assert_eq!(Step::FIRST.next(1), Some(Step::Coordinators), "one tier: straight to the coordinators");
    assert_eq!(to_page(Step::Coordinators, &QuorumPolicy::default().shortfall([]), &[member("peer", 1)], 0), Paging::default());
}

#[test]
fn policies_and_roles_are_checked() {
    let with = |f: &dyn Fn(&mut QuorumPolicy)| {
        let mut p = QuorumPolicy::default();
        f(&mut p);
        p.check()
    };
    assert_eq!(with(&|p| p.responders = 0), Err(PolicyError::Responders));
    assert_eq!(with(&|p| p.responders = MAX_RESPONDERS + 1), Err(PolicyError::Responders));
    assert_eq!(with(&|p| p.responders = 1), Err(PolicyError::QuotasExceedResponders));
    assert_eq!(with(&|p| { p.at_least.insert(role("lead"), u32::MAX); }), Err(PolicyError::QuotasExceedResponders));
    assert_eq!(with(&|p| p.repeat_every_ms = MINUTE_MS - 1), Err(PolicyError::Interval));
    assert_eq!(with(&|p| p.escalate_after_ms = 2 * super::super::DAY_MS), Err(PolicyError::Interval));
    for ok in DEFAULT_TEAM_ROLES.into_iter().chain(["mental-health_2", "x"]) {
        assert_eq!(TeamRole::parse(ok).map(|r| r.as_str().to_owned()), Some(ok.to_owned()));
    }
    for bad in ["", "Peer", "peer ", "-", "-peer", "2nd", "a/b", "é", &"a".repeat(MAX_ROLE_LEN + 1)] {
        assert_eq!(TeamRole::parse(bad), None, "{bad:?}");
    }
}

/// Over random teams and answers: a step pages no one twice, only eligible members of its tier
/// who can see a phone, at most the gap (a `Gap` step), every short role covered when the tier
/// has enough of it, and nothing once the quorum is met.
#[test]
fn gap_steps_page_eligible_members_within_the_gap_over_random_teams() {
    let roles = ["peer", "clinician", "chaplain", "lead"];
    let mut rng = StdRng::seed_from_u64(0x5a11_9047);
    for case in 0..2_000 {
        let policy = QuorumPolicy {
            responders: rng.gen_range(1..=6),
            at_least: BTreeMap::new(),
            ..QuorumPolicy::default()
        };
        let mut policy = policy;
        for r in roles {
            if rng.gen_bool(0.5) {
                let room = policy.responders - policy.at_least.values().sum::<u32>();
                policy.at_least.insert(role(r), rng.gen_range(0..=room));
            }
        }
        assert_eq!(policy.check(), Ok(()), "case {case}");
        let now = 10_000_000;
        let team: Vec<Candidate> = (0..rng.gen_range(0..12))
            .map(|_| Candidate {
                account: AccountId::random(),
                role: role(roles[rng.gen_range(0..roles.len())]),
                tier: rng.gen_range(1..=3),
                on_call: rng.gen_bool(0.8),
                inside_until: rng.gen_bool(0.2).then(|| now + rng.gen_range(-5..5) * MINUTE_MS),
                paged_or_answered: rng.gen_bool(0.2),
            })
            .collect();
        let responding: Vec<TeamRole> = (0..rng.gen_range(0..5)).map(|_| role(roles[rng.gen_range(0..roles.len())])).collect();
        let short = policy.shortfall(&responding);
        let tier = rng.gen_range(1..=3);
        let paged = to_page(Step::Gap { tier }, &short, &team, now).now;
        if short.met() {
            assert!(paged.is_empty(), "case {case}");
            continue;
        }
        let find = |a: &AccountId| team.iter().find(|c| c.account == *a).unwrap();
        let eligible: Vec<&Candidate> =
            team.iter().filter(|c| c.tier == tier && c.on_call && !c.paged_or_answered && c.can_see_a_phone(now)).collect();
        assert!(paged.len() <= short.total as usize, "case {case}: at most the gap");
        assert_eq!(paged.len(), eligible.len().min(short.total as usize), "case {case}: as many as the gap needs and the tier has");
        let mut unique = paged.clone();
        unique.sort_unstable_by_key(|a| *a.as_bytes());
        unique.dedup();
        assert_eq!(unique.len(), paged.len(), "case {case}: no one twice");
        for a in &paged {
            let c = find(a);
            assert!(c.tier == tier && c.on_call && !c.paged_or_answered && c.can_see_a_phone(now), "case {case}: {c:?}");
        }
        for (r, &gap) in &short.roles {
            let have = eligible.iter().filter(|c| c.role == *r).count();
            let got = paged.iter().filter(|a| find(a).role == *r).count();
            assert!(got >= have.min(gap as usize), "case {case}: role {r:?} short by {gap}, {have} eligible, {got} paged");
        }
    }
}
