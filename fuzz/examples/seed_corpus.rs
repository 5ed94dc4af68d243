//! Writes the seed corpus (fuzz/corpus/<target>/seed-*) from real encodings: MLS KeyPackages,
//! commits with their Welcome, application messages and proposals made by the client core; frames
//! and signed headers as the client core writes them; every REST body; plus edge cases.
//!
//!   cd fuzz && cargo run --example seed_corpus
//!
//! MLS output is randomised (fresh keys, HPKE), so a second run writes different bytes for the
//! same seeds; the committed corpus is the one after `cargo fuzz cmin` (fuzz/README.md).

use sallyport_core::protocol::group::GroupEnvelope;
use sallyport_core::protocol::{
    AccountId, ClientFrame, DeviceId, MailboxId, MailboxSecret, MessageId, Nonce, Payload, RequestId, Signature,
};
use sallyport_core::{DeviceKeys, MemberInfo, MlsClient, MlsIdentity};
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};

/// The values the fuzz targets assume (see each target).
const SERVER_URL: &str = "https://sallyport.example";
const NOW: i64 = 1_796_515_200_000;
const ROSTER_NOW: i64 = 1_767_600_000_000;
const DEVICE_SEED: [u8; 32] = [7; 32];
const LINKED: MailboxId = MailboxId([1; 16]);
const A: AccountId = AccountId([0xa1; 16]);
const B: AccountId = AccountId([0xb2; 16]);
const C: AccountId = AccountId([0xc3; 16]);
const ROTATION: MessageId = MessageId([0x11; 16]);
const BODIES: usize = 18;

/// P-256's generator point, uncompressed: a valid subscriber key.
const P256_G: &str = "BGsX0fLhLEJH-Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWT-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU";

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mls = mls_messages()?;
    write_all(&corpus.join("mls_framing"), mls_seeds(&mls)?)?;
    write_all(&corpus.join("client_frame"), frame_seeds(&mls))?;
    write_all(&corpus.join("client_binary"), binary_seeds(&mls))?;
    write_all(&corpus.join("rest_body"), rest_seeds(&mls))?;
    write_all(&corpus.join("signed_headers"), header_seeds())?;
    Ok(())
}

fn write_all(dir: &Path, seeds: Vec<(&str, Vec<u8>)>) -> Result {
    fs::create_dir_all(dir)?;
    for (name, bytes) in seeds {
        let path: PathBuf = dir.join(format!("seed-{name}"));
        fs::write(&path, bytes)?;
    }
    Ok(())
}

/// Real MLS traffic of a two-member group, as the client core makes it.
struct Mls {
    key_package: Vec<u8>,
    last_resort: Vec<u8>,
    /// A KeyPackage of a fresh pseudonymous identity, as a support request carries.
    pseudonymous: Vec<u8>,
    add: Vec<u8>,
    members: Vec<MailboxId>,
    update: Vec<u8>,
    application: Vec<u8>,
    leave: Vec<u8>,
}

fn mls_messages() -> Result<Mls> {
    let keys = DeviceKeys::from_secret_bytes(DEVICE_SEED, [8; 32]);
    let mut alice = MlsClient::new(MlsIdentity::device(&keys), MemberInfo::new(LINKED), Vec::new())?;
    let mut bob = MlsClient::new(MlsIdentity::generate(), MemberInfo::new(MailboxId([2; 16])), Vec::new())?;
    let mut requester = MlsClient::new(MlsIdentity::generate(), MemberInfo::new(MailboxId([3; 16])), Vec::new())?;
    let key_package = bob.key_packages(1)?.remove(0);
    let last_resort = bob.last_resort_key_package()?;
    let pseudonymous = requester.key_packages(1)?.remove(0);

    let group = alice.create_group()?;
    let add = alice.add_members(&group, std::slice::from_ref(&key_package))?;
    alice.commit_accepted(&group)?;
    bob.process(&add.envelope)?;
    let application = alice.encrypt(&group, b"hello from the seed corpus")?.envelope;
    let update = bob.update(&group)?.envelope;
    bob.commit_rejected(&group)?;
    let leave = bob.leave(&group)?.envelope;
    Ok(Mls { key_package, last_resort, pseudonymous, add: add.envelope, members: add.members, update, application, leave })
}

fn mls_seeds(mls: &Mls) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let (commit, welcome) = GroupEnvelope::parse(&mls.add)?;
    let welcome = welcome.ok_or("an add carries a Welcome")?.to_vec();
    let (app_message, _) = GroupEnvelope::parse(&mls.application)?;
    let app_with_welcome = GroupEnvelope { message: app_message.to_vec(), welcome: Some(welcome.clone()) }.encode();
    let commit_with_kp = GroupEnvelope { message: commit.to_vec(), welcome: Some(mls.key_package.clone()) }.encode();
    let mut truncated = mls.update.clone();
    truncated.truncate(truncated.len() / 2);
    let mut long_length = mls.application.clone();
    long_length[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    Ok(vec![
        ("key_package", mls.key_package.clone()),
        ("last_resort_key_package", mls.last_resort.clone()),
        ("pseudonymous_key_package", mls.pseudonymous.clone()),
        ("commit_add_with_welcome", mls.add.clone()),
        ("commit_update", mls.update.clone()),
        ("application", mls.application.clone()),
        ("proposal_leave", mls.leave.clone()),
        ("bare_commit", commit.to_vec()),
        ("bare_welcome", welcome),
        ("application_with_welcome", app_with_welcome),
        ("commit_with_key_package_as_welcome", commit_with_kp),
        ("truncated_commit", truncated),
        ("length_past_end", long_length),
        ("empty_envelope", GroupEnvelope { message: Vec::new(), welcome: None }.encode()),
    ])
}

/// The client frames as the client core writes them.
fn frames(mls: &Mls) -> Vec<(&'static str, ClientFrame)> {
    let keys = DeviceKeys::from_secret_bytes(DEVICE_SEED, [8; 32]);
    let device = DeviceId([4; 16]);
    let nonce = Nonce([5; 32]);
    let auth = |timestamp| ClientFrame::Auth { device, nonce, timestamp, signature: keys.sign_auth(&device, &nonce, SERVER_URL, timestamp) };
    let bob = MailboxId([2; 16]);
    let payload = |bytes: &[u8]| Payload(bytes.to_vec().into());
    let frames = vec![
        ("auth", auth(NOW)),
        ("auth_stale", auth(NOW - 5 * 60 * 1000 - 1)),
        ("auth_time_min", auth(i64::MIN)),
        ("auth_time_max", auth(i64::MAX)),
        ("create_mailbox", ClientFrame::CreateMailbox { mailbox: MailboxId([9; 16]), secret: MailboxSecret([6; 32]) }),
        ("subscribe", ClientFrame::Subscribe { mailbox: MailboxId([9; 16]), secret: MailboxSecret([6; 32]) }),
        ("send", ClientFrame::Send { id: MessageId([7; 16]), to: vec![bob, LINKED, bob], payload: payload(b"\x00ciphertext") }),
        ("ack", ClientFrame::Ack { mailbox: LINKED, seq: u64::MAX }),
        (
            "publish_key_packages",
            ClientFrame::PublishKeyPackages {
                mailbox: LINKED,
                key_packages: vec![payload(&mls.key_package), payload(b"not a key package")],
                last_resort: Some(payload(&mls.last_resort)),
            },
        ),
        ("claim_key_package", ClientFrame::ClaimKeyPackage { mailbox: bob }),
        (
            "group_send_commit",
            ClientFrame::GroupSend { id: MessageId([8; 16]), to: vec![bob], payload: payload(&mls.add), members: mls.members.clone() },
        ),
        (
            "group_send_commit_without_committer",
            ClientFrame::GroupSend { id: MessageId([8; 16]), to: vec![bob], payload: payload(&mls.update), members: vec![bob] },
        ),
        (
            "group_send_application",
            ClientFrame::GroupSend { id: MessageId([8; 16]), to: vec![bob], payload: payload(&mls.application), members: Vec::new() },
        ),
        (
            "group_send_application_with_members",
            ClientFrame::GroupSend { id: MessageId([8; 16]), to: vec![bob], payload: payload(&mls.leave), members: vec![LINKED] },
        ),
    ];
    frames
}

/// The hot frames' binary forms (`sallyport.bin.v1`), and broken ones.
fn binary_seeds(mls: &Mls) -> Vec<(&'static str, Vec<u8>)> {
    let mut seeds: Vec<(&str, Vec<u8>)> =
        frames(mls).into_iter().filter_map(|(name, frame)| Some((name, frame.to_binary()?))).collect();
    let send = |payload: Vec<u8>| {
        ClientFrame::Send { id: MessageId([7; 16]), to: vec![LINKED], payload: Payload(payload.into()) }.to_binary().unwrap()
    };
    let good = send(b"hello".to_vec());
    seeds.extend([
        ("unknown_tag", vec![0x7f, 1, 2, 3]),
        ("empty", Vec::new()),
        ("truncated", good[..good.len() - 2].to_vec()),
        ("trailing", [&good[..], &[0]].concat()),
        ("payload_too_large", send(vec![0; sallyport_core::protocol::MAX_PAYLOAD_BYTES + 1])),
        ("endless_varint", [&[1u8][..], &[1; 16], &[0xff; 11]].concat()),
    ]);
    seeds
}

fn frame_seeds(mls: &Mls) -> Vec<(&'static str, Vec<u8>)> {
    let mut seeds: Vec<(&str, Vec<u8>)> = frames(mls).into_iter().map(|(name, frame)| (name, frame.to_json().into_bytes())).collect();
    let big = "A".repeat(sallyport_core::protocol::MAX_PAYLOAD_BYTES / 3 * 4 + 8);
    seeds.extend([
        ("unknown_type", br#"{"type":"teleport","to":"mars"}"#.to_vec()),
        ("missing_field", br#"{"type":"ack","mailbox":"AQEBAQEBAQEBAQEBAQEBAQ"}"#.to_vec()),
        ("unknown_field", br#"{"type":"claim_key_package","mailbox":"AQEBAQEBAQEBAQEBAQEBAQ","x":1}"#.to_vec()),
        ("short_id", br#"{"type":"send","id":"short","to":[],"payload":""}"#.to_vec()),
        ("escaped_payload", br#"{"type":"send","id":"BwcHBwcHBwcHBwcHBwcHBw","to":["AQEBAQEBAQEBAQEBAQEBAQ"],"payload":"\u0041QID"}"#.to_vec()),
        ("not_json", b"{not json".to_vec()),
        (
            "payload_too_large",
            format!(r#"{{"type":"send","id":"BwcHBwcHBwcHBwcHBwcHBw","to":["AQEBAQEBAQEBAQEBAQEBAQ"],"payload":"{big}"}}"#).into_bytes(),
        ),
    ]);
    seeds
}

fn rest_seeds(mls: &Mls) -> Vec<(&'static str, Vec<u8>)> {
    let text = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let keys = DeviceKeys::from_secret_bytes(DEVICE_SEED, [8; 32]);
    let (signing, notification) = (keys.signing_public().to_text(), keys.notification_public().to_text());
    let (request, mailbox, secret) = (RequestId([0x77; 16]).to_text(), MailboxId([9; 16]).to_text(), MailboxSecret([6; 32]).to_text());
    let auth = text(&[9; 16]);
    // The fixture rotation's first two hand-overs: Mondays 2026-01-05 and -12, 09:00 CST (15:00Z).
    let (week0, week1) = (1_767_625_200_000_i64, 1_768_230_000_000_i64);
    let bodies: Vec<(&str, usize, serde_json::Value)> = vec![
        ("enrol", 0, json!({"code": text(&[1; 16]), "signing_key": signing, "notification_key": notification})),
        ("enrol_link", 0, json!({"code": format!("{SERVER_URL}/enrol#{}", text(&[1; 16])), "signing_key": "AQ", "notification_key": notification})),
        ("approve_device", 1, json!({"device": DeviceId([4; 16]).to_text(), "signature": Signature([3; 64]).to_text()})),
        ("invitation", 2, json!({"display_name": "  Dana Reyes ", "roles": ["peer_supporter", "staff", "staff"], "account": A.to_text()})),
        ("invitation_no_roles", 2, json!({"display_name": "Lee\u{7}", "roles": []})),
        ("revoke_device", 3, json!({"device": DeviceId([4; 16]).to_text()})),
        ("eap_line", 4, json!({"name": " Agency EAP ", "description": "Counselling", "call": "1-555-010-2000", "text": " "})),
        ("eap_line_bad_call", 4, json!({"name": "EAP", "call": "call me"})),
        ("push_subscribe", 5, json!({"endpoint": "https://fcm.googleapis.com/fcm/send/abc", "p256dh": P256_G, "auth": auth})),
        ("push_subscribe_loopback", 5, json!({"endpoint": "http://[::1]:4000/push/t", "p256dh": format!("{P256_G}="), "auth": auth})),
        ("push_subscribe_subdomain", 5, json!({"endpoint": "https://web.push.apple.com:443/x", "p256dh": P256_G, "auth": auth})),
        ("push_unsubscribe", 6, json!({"endpoint": "https://fcm.googleapis.com/fcm/send/abc", "auth": auth})),
        (
            "support_request",
            7,
            json!({"urgency": "now", "mailbox": mailbox, "mailbox_secret": secret, "key_package": text(&mls.pseudonymous)}),
        ),
        (
            "support_request_device_key",
            7,
            json!({"urgency": "week", "mailbox": mailbox, "mailbox_secret": secret, "key_package": text(&mls.key_package)}),
        ),
        ("support_status", 8, json!({"id": request, "mailbox_secret": secret})),
        ("support_request_ref", 9, json!({"id": request})),
        ("support_handoff", 10, json!({"id": request, "to": C.to_text()})),
        (
            "support_mailbox_push",
            11,
            json!({"mailbox": mailbox, "endpoint": "https://updates.push.services.mozilla.com/wpush/v2/x", "p256dh": P256_G, "auth": auth}),
        ),
        ("training", 12, json!({"completed_at": "2025-06-01", "expires_at": "2027-06-01"})),
        ("training_kind_2", 12 + 2 * BODIES, json!({"completed_at": "1970-01-01", "expires_at": "2200-12-31"})),
        ("training_bad_kind", 12 + 5 * BODIES, json!({"completed_at": "2025-06-01", "expires_at": "2025-06-01"})),
        ("switch", 13, json!({"switch": "busy"})),
        (
            "rotation_create",
            14,
            json!({"name": "Nights", "members": [A.to_text(), B.to_text(), C.to_text()], "handoff": "19:00", "time_zone": "America/New_York", "period_days": 1, "start_date": "2026-01-01"}),
        ),
        (
            "rotation_create_dst",
            14,
            json!({"name": "Weekend", "members": [C.to_text()], "handoff": "02:30", "time_zone": "Europe/London", "start_date": "2026-03-29"}),
        ),
        (
            "rotation_replace",
            15,
            json!({"name": "Weekly", "members": [B.to_text(), A.to_text()], "handoff": "09:00", "time_zone": "America/Chicago", "period_days": 366, "start_date": "2100-12-31"}),
        ),
        ("override", 16, json!({"rotation": ROTATION.to_text(), "account": C.to_text(), "start": ROSTER_NOW, "end": ROSTER_NOW + 3_600_000})),
        ("override_extremes", 16, json!({"rotation": ROTATION.to_text(), "account": C.to_text(), "start": i64::MIN, "end": i64::MAX})),
        (
            "swap",
            17,
            json!({"rotation": ROTATION.to_text(), "counterpart": B.to_text(), "my_shift_start": week0, "their_shift_start": week1}),
        ),
        // Selectors past the first 18 bodies: the target's BODIES order (rest_body.rs).
        (
            "debrief",
            26,
            json!({"kind": "debriefing", "at": ROSTER_NOW + 86_400_000, "revision": 0, "notices": [
                {"at": ROSTER_NOW, "sealed": [{"device": "AAAAAAAAAAAAAAAAAAAAAA", "sealed": "AQID"}]}]}),
        ),
        ("programme", 27, json!({"followup_days": [1, 7, 14, 28]})),
    ];
    bodies
        .into_iter()
        .map(|(name, selector, body)| {
            let mut bytes = vec![u8::try_from(selector).expect("a selector is a byte")];
            bytes.extend_from_slice(body.to_string().as_bytes());
            (name, bytes)
        })
        .collect()
}

fn header_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let keys = DeviceKeys::from_secret_bytes(DEVICE_SEED, [8; 32]);
    let device = DeviceId([4; 16]);
    let signed = |method: &str, target: &str, time: i64, body: &[u8]| {
        let signature = keys.sign_request(&device, SERVER_URL, method, target, time, body).to_text();
        let mut bytes = format!("{NOW}\n{method}\n{target}\n{}\n{time}\n{signature}\n", device.to_text()).into_bytes();
        bytes.extend_from_slice(body);
        bytes
    };
    let fields = |now: &str, method: &str, target: &str, device: &str, time: &str, signature: &str| {
        format!("{now}\n{method}\n{target}\n{device}\n{time}\n{signature}\n").into_bytes()
    };
    let d = device.to_text();
    vec![
        ("get_me", signed("GET", "/v1/me", NOW, b"")),
        ("get_with_query", signed("GET", "/v1/support/shifts/me?limit=3", NOW - 299_999, b"")),
        ("post_json", signed("POST", "/v1/support/requests/claim", NOW + 300_000, br#"{"id":"d3d3d3d3d3d3d3d3d3d3dw"}"#)),
        ("put_absolute_uri", signed("PUT", "http://sallyport.example/v1/support/switch", NOW, b"{\"switch\":\"off\"}\n")),
        ("sign_me", fields(&NOW.to_string(), "DELETE", "/v1/admin/eap-line", &d, &NOW.to_string(), "!sign")),
        ("time_min", fields(&NOW.to_string(), "GET", "/v1/me", &d, &i64::MIN.to_string(), "!sign")),
        ("time_max", fields("0", "GET", "/v1/me", &d, &i64::MAX.to_string(), "!sign")),
        ("time_plus_sign", fields(&NOW.to_string(), "GET", "/v1/me", &d, &format!("+{NOW}"), "!sign")),
        ("time_not_a_number", fields(&NOW.to_string(), "GET", "/v1/me", &d, "1.5e12", "!sign")),
        ("bad_device", fields(&NOW.to_string(), "GET", "/v1/me", "not-a-device", &NOW.to_string(), "!sign")),
        ("short_signature", fields(&NOW.to_string(), "GET", "/v1/me", &d, &NOW.to_string(), &Signature([1; 64]).to_text()[..80])),
        ("missing_signature", format!("{NOW}\nGET\n/v1/me\n{d}\n{NOW}").into_bytes()),
        ("missing_all", format!("{NOW}\nGET\n/v1/me").into_bytes()),
    ]
}
