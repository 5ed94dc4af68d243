//! Every JSON body a REST route reads, through the deserialisation its handler uses (`Signed::json`
//! for signed routes, axum's `Json` for the unsigned ones) and then the pure checks the workflow
//! runs on it before touching the store; for roster changes, also what the answer and later reads
//! compute from the accepted record (the rotation's upcoming stretches, who is on call, my shifts);
//! for crisis teams, the policy check and its read-back.
//!
//! Input: one byte choosing the body type (`BODIES[b % BODIES.len()]`; for a training record,
//! `b / BODIES.len()` also picks the kind in the path), then the JSON body.

#![no_main]

use axum::Json;
use chrono::{NaiveDate, NaiveTime};
use libfuzzer_sys::fuzz_target;
use sallyport_protocol::rest::{
    ApproveDeviceRequest, CrisisLine, EnrolRequest, InvitationRequest, PushSubscriptionBody, RevokeDeviceRequest, UnsubscribeBody,
};
use sallyport_protocol::roster::{OverrideRequest, RotationRequest, SwapRequest, SwitchRequest, TrainingRequest};
use sallyport_protocol::support::{CreateSupportRequest, HandOffRequest, MailboxPushSubscription, RequestRef, RequestStatusQuery};
use sallyport_protocol::debriefs::{MAX_NOTICES, MAX_SEALED_BYTES, MAX_SEALS_PER_PUT, ProgrammeBody, PutDebriefRequest, debrief_aad};
use sallyport_protocol::{AccountId, DebriefId, MessageId};
use sallyport_protocol::incidents::{AnswerRequest, DeclareRequest, LocationsBody, TokenAnswerRequest, page_aad};
use sallyport_protocol::teams::{AvailabilityRequest, ConfirmCheckRequest, MemberRequest, TeamRequest};
use sallyport_server::domain::debriefs;
use sallyport_server::domain::names::check_name;
use sallyport_server::domain::paging::{DEFAULT_TEAM_ROLES, QuorumPolicy, TeamRole};
use sallyport_server::domain::roster::{PEER_SUPPORT_TEAM, Roster, Supporter, Switch, Training, TrainingKind};
use sallyport_server::domain::roster_rules::{self, MAX_OVERRIDE_MS};
use sallyport_server::domain::schedule::{self, Override, Rotation, Schedule, Swap, SwapStatus};
use sallyport_server::domain::signatures;
use sallyport_server::http::auth::json_body;
use sallyport_server::push::AllowList;
use sallyport_server::push::subscriptions;
use sallyport_server::workflows::app_config::checked_eap_line;
use sallyport_server::workflows::enrolment::{self, INVITATION_TTL_HOURS, Invitation};
use sallyport_server::workflows::peer_support::bodies::{self, Names};
use sallyport_server::workflows::peer_support::requests::checked_key_package;
use serde::de::DeserializeOwned;

/// The clock: Monday 2026-01-05T08:00:00Z.
const NOW: i64 = 1_767_600_000_000;
/// Supporters on the fixture roster (A and B on its rotation, C on none).
const A: AccountId = AccountId([0xa1; 16]);
const B: AccountId = AccountId([0xb2; 16]);
const C: AccountId = AccountId([0xc3; 16]);
/// The fixture rotation's id (what seeds name in overrides and swaps).
const ROTATION: MessageId = MessageId([0x11; 16]);

/// The bodies, in selector order.
const BODIES: [&str; 28] = [
    "enrol",
    "approve_device",
    "invitation",
    "revoke_device",
    "eap_line",
    "push_subscribe",
    "push_unsubscribe",
    "support_request",
    "support_status",
    "support_request_ref",
    "support_handoff",
    "support_mailbox_push",
    "training",
    "switch",
    "rotation_create",
    "rotation_replace",
    "override",
    "swap",
    "team",
    "team_member",
    "availability",
    "declare",
    "page_answer",
    "page_token_answer",
    "locations",
    "readiness_confirm",
    "debrief",
    "programme",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let which = usize::from(selector) % BODIES.len();
    match BODIES[which] {
        "enrol" => {
            // Unsigned: axum's Json, then the code and the signing key (workflows/enrolment.rs).
            let Some(request) = unsigned::<EnrolRequest>(body) else { return };
            let _ = enrolment::parse_code(&request.code);
            let _ = signatures::usable_signing_key(&request.signing_key.0);
        }
        "approve_device" => {
            let Some(request) = signed::<ApproveDeviceRequest>(body) else { return };
            let _ = signatures::verifies(&[0x2a; 32], request.device.as_bytes(), &request.signature.0);
        }
        "invitation" => {
            let Some(request) = signed::<InvitationRequest>(body) else { return };
            if let Ok(invitation) = Invitation::new(&request.display_name, request.roles, request.account, INVITATION_TTL_HOURS) {
                assert!(!invitation.roles.is_empty() && invitation.roles.windows(2).all(|w| w[0] < w[1]));
                let again = Invitation::new(&invitation.display_name, invitation.roles.clone(), None, INVITATION_TTL_HOURS);
                assert!(again.is_ok_and(|i| i.display_name == invitation.display_name), "a checked name is checked again");
            }
        }
        "revoke_device" => {
            let _ = signed::<RevokeDeviceRequest>(body);
        }
        "eap_line" => {
            let Some(line) = signed::<CrisisLine>(body) else { return };
            if let Ok(checked) = checked_eap_line(line) {
                assert_eq!(checked_eap_line(checked.clone()).ok(), Some(checked), "checking an EAP line twice changes it");
            }
        }
        "push_subscribe" => {
            let Some(subscription) = signed::<PushSubscriptionBody>(body) else { return };
            check_subscription(&subscription);
        }
        "push_unsubscribe" => {
            let _ = signed::<UnsubscribeBody>(body);
        }
        "support_request" => {
            let Some(request) = signed::<CreateSupportRequest>(body) else { return };
            let device_key = [0x2a; 32];
            if let Ok(key_package) = checked_key_package(&request.key_package, &device_key) {
                assert!(key_package.len() <= sallyport_protocol::MAX_KEY_PACKAGE_BYTES);
            }
        }
        "support_status" => {
            let _ = unsigned::<RequestStatusQuery>(body);
        }
        "support_request_ref" => {
            // Signed (claim, close by the holder) and unsigned (close by the requester).
            let _ = signed::<RequestRef>(body);
            let _ = unsigned::<RequestRef>(body);
        }
        "support_handoff" => {
            let _ = signed::<HandOffRequest>(body);
        }
        "support_mailbox_push" => {
            let Some(request) = unsigned::<MailboxPushSubscription>(body) else { return };
            check_subscription(&request.subscription());
        }
        "training" => {
            let Some(request) = signed::<TrainingRequest>(body) else { return };
            let kinds = ["active_listening", "crisis_intervention", "confidentiality_ethics", "trauma_informed_care", "de_escalation"];
            let kind = kinds.get(usize::from(selector) / BODIES.len() % 6).copied().unwrap_or("yoga");
            if let Ok(training) = roster_rules::training(kind, &request) {
                assert!(training.completed_on < training.expires_on);
            }
        }
        "switch" => {
            let _ = signed::<SwitchRequest>(body);
        }
        "rotation_create" => {
            let Some(request) = signed::<RotationRequest>(body) else { return };
            let mut roster = roster();
            let id = MessageId([0x22; 16]).to_text();
            let Ok(rotation) =
                roster_rules::room_for_rotation(&roster).and_then(|()| roster_rules::rotation(request, &roster, &[], id, NOW, NOW))
            else {
                return;
            };
            roster.schedule.rotations.push(rotation);
            after_change(&roster);
        }
        "rotation_replace" => {
            let Some(request) = signed::<RotationRequest>(body) else { return };
            let mut roster = roster();
            let existing = roster.schedule.rotations[0].clone();
            let Ok(rotation) = roster_rules::rotation(request, &roster, &existing.members, existing.id, existing.created_at, NOW) else {
                return;
            };
            roster.schedule.rotations[0] = rotation;
            after_change(&roster);
        }
        "override" => {
            let Some(request) = signed::<OverrideRequest>(body) else { return };
            let mut roster = roster();
            let Ok(o) = roster_rules::override_of(request, &roster, MessageId([0x33; 16]).to_text(), NOW) else { return };
            assert!(o.start < o.end && o.end > NOW, "{o:?}");
            assert!(o.end - o.start <= MAX_OVERRIDE_MS, "an override longer than allowed: {o:?}");
            let _ = bodies::override_(&o, &Names::default());
            roster.schedule.overrides.push(o);
            after_change(&roster);
        }
        "swap" => {
            let Some(request) = signed::<SwapRequest>(body) else { return };
            let mut roster = roster();
            let Ok(swap) = roster_rules::proposed_swap(request, &roster, &A, MessageId([0x44; 16]).to_text(), NOW) else { return };
            let _ = bodies::swap(&swap, &Names::default());
            let id = swap.id.clone();
            roster.schedule.swaps.push(swap);
            // The counterpart accepts it: it must still hold, and then applies.
            let counterpart = roster.schedule.swaps.last().map(|s| s.counterpart).unwrap();
            if let Ok(accepted) = roster_rules::answered_swap(&roster, &id, &counterpart, SwapStatus::Accepted, NOW) {
                *roster.schedule.swaps.last_mut().unwrap() = accepted;
            }
            after_change(&roster);
        }
        "team" => {
            let Some(request) = signed::<TeamRequest>(body) else { return };
            let _ = check_name(&request.name, "name");
            let roles: Vec<TeamRole> = DEFAULT_TEAM_ROLES.iter().filter_map(|r| TeamRole::parse(r)).collect();
            if let Some(Ok(policy)) = request.policy.as_ref().map(|p| QuorumPolicy::from_body(p, &roles)) {
                assert_eq!(policy.check(), Ok(()));
                assert_eq!(QuorumPolicy::from_body(&policy.to_body(), &roles).as_ref(), Ok(&policy), "a checked policy reads back as itself");
            }
        }
        "team_member" => {
            let Some(request) = signed::<MemberRequest>(body) else { return };
            let _ = TeamRole::parse(&request.role);
        }
        "availability" => {
            let _ = signed::<AvailabilityRequest>(body);
        }
        "declare" => {
            let Some(request) = signed::<DeclareRequest>(body) else { return };
            for s in &request.sealed {
                let _ = page_aad(&request.id, &s.device);
            }
        }
        "page_answer" => {
            let _ = signed::<AnswerRequest>(body);
        }
        "page_token_answer" => {
            let _ = unsigned::<TokenAnswerRequest>(body);
        }
        "locations" => {
            let _ = signed::<LocationsBody>(body);
        }
        "readiness_confirm" => {
            let _ = unsigned::<ConfirmCheckRequest>(body);
        }
        "debrief" => {
            let Some(request) = signed::<PutDebriefRequest>(body) else { return };
            if debriefs::validate(&request, NOW).is_ok() {
                let seals: usize = request.notices.iter().map(|n| n.sealed.len()).sum();
                assert!(request.notices.len() <= MAX_NOTICES && seals <= MAX_SEALS_PER_PUT);
                let id = DebriefId([0x5d; 16]);
                for notice in &request.notices {
                    for s in &notice.sealed {
                        assert!(!s.sealed.0.is_empty() && s.sealed.0.len() <= MAX_SEALED_BYTES);
                        let _ = debrief_aad(&id, &s.device);
                    }
                }
            }
        }
        "programme" => {
            let Some(body) = signed::<ProgrammeBody>(body) else { return };
            if debriefs::validate_followup_days(&body.followup_days).is_ok() {
                assert!(body.followup_days.windows(2).all(|w| w[0] < w[1]));
            }
        }
        other => unreachable!("no body {other}"),
    }
});

/// A signed route's body, as `Signed::json` reads it.
fn signed<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    json_body(body).ok()
}

/// An unsigned route's body, as axum's `Json` extractor reads it (after its content-type check).
fn unsigned<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    match Json::<T>::from_bytes(body) {
        Ok(Json(value)) => Some(value),
        Err(rejection) => {
            let _ = rejection.body_text();
            None
        }
    }
}

/// `push::subscriptions::check` as production (the built-in services) and tests (loopback) run it.
fn check_subscription(subscription: &PushSubscriptionBody) {
    for allow_list in [AllowList::default(), AllowList::new(&["push.example.net", "*.example.org:8443"], true).unwrap()] {
        if let Ok(checked) = subscriptions::check(subscription, &allow_list) {
            assert_eq!(checked.endpoint, subscription.endpoint);
            assert_eq!((checked.p256dh.len(), checked.auth.len()), (65, 16));
        }
    }
}

/// What the answer and later reads compute from the roster once the change is stored.
fn after_change(roster: &Roster) {
    let names = Names::default();
    for rotation in &roster.schedule.rotations {
        let _ = bodies::rotation(&roster.schedule, rotation, &names, NOW);
    }
    let _ = schedule::on_call_at(roster, NOW);
    for account in [A, B, C] {
        for shift in schedule::next_shifts(&roster.schedule, &account, NOW, roster_rules::MAX_SHIFTS) {
            assert!(shift.start < shift.end && shift.end > NOW, "{shift:?}");
        }
    }
}

/// Three trained supporters; A and B share a weekly rotation handing over Mondays 09:00 in
/// Chicago since 2026-01-05, with one override and one accepted swap.
fn roster() -> Roster {
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let trained = |account| Supporter {
        account,
        added_at: NOW - 86_400_000,
        switch: Switch::Available,
        switch_at: NOW - 86_400_000,
        training: TrainingKind::ALL
            .into_iter()
            .map(|kind| Training { kind, completed_on: day(2025, 6, 1), expires_on: day(2027, 6, 1) })
            .collect(),
    };
    let rotation = Rotation {
        id: ROTATION.to_text(),
        team: PEER_SUPPORT_TEAM.into(),
        name: "Weekly".into(),
        members: vec![A, B],
        handoff: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        time_zone: chrono_tz::America::Chicago,
        period_days: 7,
        start_date: day(2026, 1, 5),
        created_at: NOW - 86_400_000,
    };
    let week = |k| rotation.boundary(k);
    let overrides = vec![Override {
        id: MessageId([0x55; 16]).to_text(),
        rotation: rotation.id.clone(),
        account: C,
        start: week(2),
        end: week(2) + 3_600_000,
        created_at: NOW - 3_600_000,
    }];
    let swaps = vec![Swap {
        id: MessageId([0x66; 16]).to_text(),
        rotation: rotation.id.clone(),
        proposer: A,
        counterpart: B,
        proposer_shift: week(4),
        counterpart_shift: week(5),
        status: SwapStatus::Accepted,
        created_at: NOW - 7_200_000,
        answered_at: Some(NOW - 3_600_000),
    }];
    Roster { supporters: vec![trained(A), trained(B), trained(C)], schedule: Schedule { rotations: vec![rotation], overrides, swaps } }
}
