use super::*;
use crate::domain::MINUTE_MS;
use crate::domain::paging::QuorumPolicy;
use crate::domain::teams::{Availability, Member};
use crate::domain::roster::Switch;
use std::collections::BTreeMap;

const T0: i64 = 1_800_000_000_000;

fn team(members: &[(u8, &str)]) -> (CrisisTeam, Vec<AccountId>) {
    let accounts: Vec<AccountId> = members.iter().map(|_| AccountId::random()).collect();
    let mut t = CrisisTeam {
        id: "t".into(),
        name: "CRT".into(),
        policy: QuorumPolicy::default(),
        members: members
            .iter()
            .zip(&accounts)
            .enumerate()
            .map(|(i, ((tier, role), account))| Member { account: *account, tier: *tier, role: TeamRole::parse(role).unwrap(), added_at: i as i64 })
            .collect(),
        schedule: Default::default(),
        availability: BTreeMap::new(),
        created_at: 0,
    };
    t.sort_members();
    (t, accounts)
}

fn declared(team: &CrisisTeam) -> Incident {
    Incident {
        id: IncidentId::random(),
        team: team.id.clone(),
        severity: 1,
        test: false,
        declared_by: None,
        declared_at: T0,
        step: Step::FIRST,
        step_at: T0,
        first_response_at: None,
        quorum_at: None,
        resolved_at: None,
        only: None,
        pages: vec![],
    }
}

fn sorted(mut v: Vec<AccountId>) -> Vec<AccountId> {
    v.sort();
    v
}

#[test]
fn declaring_pages_tier_one_then_repeats_every_three_minutes_until_each_answers() {
    let (t, a) = team(&[(1, "peer"), (1, "clinician"), (1, "lead"), (2, "clinician")]);
    let first = plan(&declared(&t), &t, &[], T0);
    assert_eq!(first.push, sorted(a[..3].to_vec()), "tier 1, all of it");
    assert_eq!(first.steps, vec![(T0, Step::FIRST)]);
    assert_eq!(first.next_due, Some(T0 + 3 * MINUTE_MS), "the first repeat");
    let early = plan(&first.incident, &t, &[], T0 + 3 * MINUTE_MS - 1);
    assert!(early.push.is_empty() && early.steps.is_empty(), "nothing before its time");
    let answered_once = answered(&first.incident, a[0], false, PageAnswer::Unavailable, None, T0 + MINUTE_MS);
    let repeat = plan(&answered_once, &t, &[], T0 + 3 * MINUTE_MS);
    assert_eq!(repeat.push, sorted(vec![a[1], a[2]]), "repeats stop for whoever answered");
    assert_eq!(repeat.incident.page_of(&a[1]).unwrap().pages, 2);
    assert_eq!(repeat.incident.page_of(&a[1]).unwrap().paged_at, Some(T0), "first paged stays");
}

#[test]
fn two_peers_responding_page_only_a_clinician_of_tier_two_after_ten_minutes() {
    let (t, a) = team(&[(1, "peer"), (1, "peer"), (2, "peer"), (2, "clinician"), (2, "clinician"), (3, "clinician")]);
    let first = plan(&declared(&t), &t, &[], T0);
    assert_eq!(first.push, sorted(a[..2].to_vec()));
    let mut i = answered(&first.incident, a[0], false, PageAnswer::Responding, Some(T0 + 20 * MINUTE_MS), T0 + MINUTE_MS);
    i = answered(&i, a[1], false, PageAnswer::Responding, None, T0 + 2 * MINUTE_MS);
    assert_eq!(i.first_response_at, Some(T0 + MINUTE_MS));
    let before = plan(&i, &t, &[], T0 + 10 * MINUTE_MS - 1);
    assert!(before.push.is_empty());
    assert_eq!(before.next_due, Some(T0 + 10 * MINUTE_MS), "no repeats left: the escalation is next");
    let gap = plan(&i, &t, &[], T0 + 10 * MINUTE_MS);
    assert_eq!(gap.push, vec![a[3]], "one clinician of tier 2, not the peer");
    assert_eq!(gap.steps, vec![(T0 + 10 * MINUTE_MS, Step::Gap { tier: 2 })]);
    // Still short at 20 minutes: the rest of tier 2 (its peer and the other clinician).
    let whole = plan(&gap.incident, &t, &[], T0 + 20 * MINUTE_MS);
    assert!(whole.push.contains(&a[2]) && whole.push.contains(&a[4]) && whole.push.contains(&a[3]), "tier 2, plus a repeat to the first clinician");
    assert_eq!(whole.steps, vec![(T0 + 20 * MINUTE_MS, Step::Everyone { tier: 2 })]);
    // The clinician answers: the quorum is met and paging stops for everyone.
    let met = answered(&whole.incident, a[4], false, PageAnswer::Responding, None, T0 + 21 * MINUTE_MS);
    let done = plan(&met, &t, &[], T0 + 30 * MINUTE_MS);
    assert!(done.push.is_empty() && done.steps.is_empty() && done.next_due.is_none());
    assert_eq!(done.incident.quorum_at, Some(T0 + 30 * MINUTE_MS));
}

#[test]
fn steps_that_page_no_one_are_passed_and_the_coordinators_come_last_once() {
    let (t, a) = team(&[(1, "peer"), (3, "clinician")]);
    let coordinators = [AccountId::random(), a[0]];
    let first = plan(&declared(&t), &t, &coordinators, T0);
    assert_eq!(first.push, vec![a[0]]);
    // Tier 2 is empty: at 10 minutes the plan goes straight on to tier 3's gap.
    let ten = plan(&first.incident, &t, &coordinators, T0 + 10 * MINUTE_MS);
    assert_eq!(ten.steps.iter().map(|(_, s)| *s).collect::<Vec<_>>(), vec![Step::Gap { tier: 2 }, Step::Everyone { tier: 2 }, Step::Gap { tier: 3 }]);
    assert!(ten.push.contains(&a[1]));
    let twenty = plan(&ten.incident, &t, &coordinators, T0 + 20 * MINUTE_MS);
    assert_eq!(twenty.steps.iter().map(|(_, s)| *s).collect::<Vec<_>>(), vec![Step::Everyone { tier: 3 }, Step::Coordinators]);
    assert!(twenty.push.contains(&coordinators[0]), "the coordinator not yet paged");
    assert_eq!(twenty.incident.pages.iter().filter(|p| p.account == a[0]).count(), 1, "a coordinator on the team is not paged twice");
    let later = plan(&twenty.incident, &t, &coordinators, T0 + 60 * MINUTE_MS);
    assert!(later.steps.is_empty(), "nothing after the coordinators");
    assert!(!later.push.is_empty(), "but repeats go on while short");
}

#[test]
fn those_inside_are_paged_when_they_come_out_if_still_short_and_busy_members_are_not_paged() {
    let (mut t, a) = team(&[(1, "peer"), (1, "clinician"), (1, "lead")]);
    t.availability.insert(a[1], Availability { switch: Switch::Available, switch_at: 0, inside_until: Some(T0 + 30 * MINUTE_MS) });
    t.availability.insert(a[2], Availability { switch: Switch::Busy, switch_at: 0, inside_until: None });
    let first = plan(&declared(&t), &t, &[], T0);
    assert_eq!(first.push, vec![a[0]]);
    assert_eq!(first.incident.page_of(&a[1]).unwrap().waiting_until, Some(T0 + 30 * MINUTE_MS));
    assert!(first.incident.page_of(&a[2]).is_none(), "busy: not paged, not waiting");
    let out = plan(&first.incident, &t, &[], T0 + 30 * MINUTE_MS);
    assert!(out.push.contains(&a[1]), "out, and still short of a clinician");
    // Had a clinician answered meanwhile (and the quorum been met), no one is paged.
    let mut met = answered(&first.incident, a[0], false, PageAnswer::Responding, None, T0 + MINUTE_MS);
    let other = AccountId::random();
    met = answered(&met, other, true, PageAnswer::Responding, None, T0 + MINUTE_MS);
    t.policy = QuorumPolicy { responders: 2, at_least: BTreeMap::new(), ..QuorumPolicy::default() };
    assert!(plan(&met, &t, &[], T0 + 30 * MINUTE_MS).push.is_empty());
}

#[test]
fn a_resolved_incident_plans_nothing_and_steps_read_back() {
    let (t, _) = team(&[(1, "peer")]);
    let mut i = plan(&declared(&t), &t, &[], T0).incident;
    i.resolved_at = Some(T0 + 1);
    let p = plan(&i, &t, &[], T0 + 60 * MINUTE_MS);
    assert!(p.push.is_empty() && p.next_due.is_none());
    for step in [Step::FIRST, Step::Gap { tier: 2 }, Step::Everyone { tier: 9 }, Step::Coordinators] {
        assert_eq!(parse_step(&step_name(step)), Some(step));
    }
    assert_eq!(parse_step("tier x"), None);
}

#[test]
fn a_declaration_that_reaches_no_one_in_tier_one_goes_on_to_tier_two_at_once() {
    let (mut t, a) = team(&[(1, "peer"), (2, "peer"), (2, "clinician")]);
    t.availability.insert(a[0], Availability { switch: Switch::Off, switch_at: 0, inside_until: None });
    let first = plan(&declared(&t), &t, &[], T0);
    assert_eq!(first.steps.iter().map(|(_, s)| *s).collect::<Vec<_>>(), vec![Step::FIRST, Step::Gap { tier: 2 }]);
    assert_eq!(first.push, sorted(vec![a[1], a[2]]), "the gap: a peer and a clinician (3 needed, 2 there)");
    assert_eq!(first.incident.step_at, T0);
}

#[test]
fn a_test_page_for_one_person_pages_only_them_and_never_escalates() {
    let (t, a) = team(&[(1, "peer"), (1, "clinician"), (2, "peer")]);
    let mut i = declared(&t);
    i.test = true;
    i.only = Some(a[2]);
    let first = plan(&i, &t, &[AccountId::random()], T0);
    assert_eq!(first.push, vec![a[2]], "only the person tested, whatever their tier");
    assert_eq!(first.next_due, Some(T0 + 3 * MINUTE_MS), "repeated until answered");
    let later = plan(&first.incident, &t, &[AccountId::random()], T0 + 60 * MINUTE_MS);
    assert_eq!(later.push, vec![a[2]]);
    assert!(later.steps.is_empty(), "no escalation");
    let answered = answered(&later.incident, a[2], false, PageAnswer::Responding, None, T0 + 61 * MINUTE_MS);
    assert_eq!(plan(&answered, &t, &[], T0 + 120 * MINUTE_MS).next_due, None);
}
