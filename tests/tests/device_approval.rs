//! A new device of an existing account (issue 10 item 2): an administrator can enrol one on anyone's
//! account, but it waits until a device of that account approves it (signs its keys). Until then
//! it publishes no KeyPackages (no one can add it), takes no support requests and gets no push;
//! the directory lists it as waiting, without the approved devices' mailboxes. The approval is a
//! signature the server checks and relays; other members' clients verify it (web-client
//! engine/trust.ts). A person who lost every device comes back as a new identity: approved at
//! enrolment, without a signature, which other clients show as a changed safety code.

use sallyport_core::identity::verify_device_approval;
use sallyport_core::{Client, ClientError, Credentials, MemberInfo, MemoryStateStore, MlsClient, api_request, enrol};
use sallyport_e2e::{ServerOptions, TestServer, postgres_database};
use sallyport_protocol::{ErrorCode, Payload, PublicKey, Signature};
use serde_json::{Value, json};

async fn start(postgres: bool) -> Option<TestServer> {
    let database_url = if postgres { Some(postgres_database().await?) } else { None };
    Some(TestServer::start_with(ServerOptions { database_url, ..ServerOptions::default() }).await)
}

/// A second device for `of`'s account, enrolled from an invitation an administrator made.
async fn second_device(server: &TestServer, of: &Credentials) -> Credentials {
    let link = server.admin(&["invite", "--account", &of.account.to_text(), "--name", "ignored", "--role", "staff"]).trim().to_owned();
    enrol(&server.url, &link).await.expect("second device enrols")
}

fn person<'a>(directory: &'a Value, account: &str) -> &'a Value {
    directory["people"].as_array().unwrap().iter().find(|p| p["account"] == account).unwrap_or_else(|| panic!("{account} in {directory}"))
}

fn device<'a>(person: &'a Value, device: &str) -> &'a Value {
    person["devices"].as_array().unwrap().iter().find(|d| d["device"] == device).unwrap_or_else(|| panic!("{device} in {person}"))
}

/// `by`'s approval of `new` (unpadded base64url), as the web app's "Approve" signs it.
fn approval(by: &Credentials, new: &Credentials) -> String {
    by.keys
        .sign_device_approval(&new.account, &new.device, &new.mailbox, &new.keys.signing_public(), &new.keys.notification_public())
        .to_text()
}

async fn approve(by: &Credentials, new: &Credentials, signature: &str) -> (u16, Value) {
    api_request(by, "POST", "/v1/devices/approve", Some(&json!({"device": new.device.to_text(), "signature": signature}))).await.unwrap()
}

async fn publish(creds: &Credentials) -> Result<u32, ClientError> {
    let mut client = Client::connect(creds).await.expect("connects");
    let mut mls = MlsClient::for_device(&creds.keys, MemberInfo::new(creds.mailbox), Box::new(MemoryStateStore::default())).expect("MLS client");
    let kps: Vec<Payload> = mls.key_packages(2).expect("KeyPackages").into_iter().map(|k| Payload(k.into())).collect();
    let out = client.publish_key_packages(creds.mailbox, kps, None).await;
    client.close().await.ok();
    out
}

fn server_code(err: ClientError) -> ErrorCode {
    match err {
        ClientError::Server { code, .. } => code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

async fn a_new_device_waits_for_its_accounts_approval(postgres: bool) {
    let Some(server) = start(postgres).await else { return };
    let pat = server.enrol("Pat").await;
    let lee = server.enrol("Lee").await;
    let (_, me) = api_request(&pat, "GET", "/v1/me", None).await.unwrap();
    assert_eq!(me["approved"], true, "an account's first device is approved at enrolment: {me}");

    // The administrator enrols a device on Pat's account: it waits.
    let rogue = second_device(&server, &pat).await;
    assert_eq!(rogue.account, pat.account);
    let (_, me) = api_request(&rogue, "GET", "/v1/me", None).await.unwrap();
    assert_eq!(me["approved"], false, "{me}");
    let (_, directory) = api_request(&lee, "GET", "/v1/directory", None).await.unwrap();
    let p = person(&directory, &pat.account.to_text());
    assert_eq!(p["mailboxes"], json!([pat.mailbox.to_text()]), "only approved devices' mailboxes: {p}");
    let listed = device(p, &rogue.device.to_text());
    assert_eq!(listed["approved"], false);
    assert!(listed.get("approval").is_none() && listed.get("approved_by").is_none(), "{listed}");
    assert_eq!(listed["signing_key"], rogue.keys.signing_public().to_text());
    assert!(server.admin(&["devices"]).contains("waiting for approval"));

    // Waiting, it cannot be added (no KeyPackages), add anyone, be woken, or take support requests.
    assert_eq!(server_code(publish(&rogue).await.expect_err("a waiting device publishes no KeyPackages")), ErrorCode::DevicePending);
    let mut client = Client::connect(&rogue).await.expect("a waiting device connects");
    let err = client.claim_key_package(lee.mailbox).await.expect_err("a waiting device claims no one's KeyPackage");
    assert_eq!(server_code(err), ErrorCode::DevicePending);
    client.close().await.ok();
    let (status, body) = api_request(&rogue, "GET", "/v1/support/queue", None).await.unwrap();
    assert_eq!((status, body["code"].as_str()), (403, Some("device_pending")), "{body}");
    let sub = json!({"endpoint": "https://fcm.googleapis.com/fcm/send/x", "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM", "auth": "tBHItJI5svbpez7KI4CCXg"});
    let (status, body) = api_request(&rogue, "POST", "/v1/push/subscriptions", Some(&sub)).await.unwrap();
    assert_eq!((status, body["code"].as_str()), (403, Some("device_pending")), "{body}");
    // Nor can it approve anything, itself included.
    let (status, body) = approve(&rogue, &rogue, &approval(&rogue, &rogue)).await;
    assert_eq!(status, 403, "{body}");

    // Approvals the server must refuse: by another account's device, a signature by another key,
    // a signature over another device's keys, garbage.
    let (status, body) = approve(&lee, &rogue, &approval(&lee, &rogue)).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{body}");
    let (status, body) = approve(&pat, &rogue, &approval(&lee, &rogue)).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_request")), "{body}");
    let (status, _) = approve(&pat, &rogue, &approval(&pat, &lee)).await;
    assert_eq!(status, 400);
    let (status, _) = approve(&pat, &rogue, "not a signature").await;
    assert_eq!(status, 400);
    let (_, me) = api_request(&rogue, "GET", "/v1/me", None).await.unwrap();
    assert_eq!(me["approved"], false, "still waiting after refused approvals: {me}");

    // Pat's first device approves it: the directory carries the signature, which verifies with
    // Pat's first device's key over the new device's keys; it publishes KeyPackages now.
    let signature = approval(&pat, &rogue);
    let (status, body) = approve(&pat, &rogue, &signature).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = approve(&pat, &rogue, &signature).await;
    assert_eq!(status, 409, "approved already: {body}");
    let (_, directory) = api_request(&lee, "GET", "/v1/directory", None).await.unwrap();
    let p = person(&directory, &pat.account.to_text());
    let listed = device(p, &rogue.device.to_text());
    assert_eq!(listed["approved"], true);
    assert_eq!(listed["approved_by"], pat.keys.signing_public().to_text());
    let by = PublicKey::parse(listed["approved_by"].as_str().unwrap()).unwrap();
    let sig = Signature::parse(listed["approval"].as_str().unwrap()).unwrap();
    assert!(verify_device_approval(&by, &rogue.account, &rogue.device, &rogue.mailbox, &rogue.keys.signing_public(), &rogue.keys.notification_public(), &sig));
    assert_eq!(p["mailboxes"].as_array().unwrap().len(), 2, "{p}");
    assert!(publish(&rogue).await.expect("an approved device publishes") > 0);

    // Pat loses every device: the next one enrolled is a new identity (approved, unsigned).
    for d in [&pat, &rogue] {
        server.admin(&["revoke-device", &d.device.to_text()]);
    }
    let fresh = second_device(&server, &pat).await;
    let (_, me) = api_request(&fresh, "GET", "/v1/me", None).await.unwrap();
    assert_eq!(me["approved"], true, "no device is left to approve it: {me}");
    let (_, directory) = api_request(&lee, "GET", "/v1/directory", None).await.unwrap();
    let listed = device(person(&directory, &pat.account.to_text()), &fresh.device.to_text());
    assert!(listed["approved"] == true && listed.get("approval").is_none(), "{listed}");
}

#[tokio::test]
async fn a_new_device_waits_for_its_accounts_approval_sqlite() {
    a_new_device_waits_for_its_accounts_approval(false).await;
}

#[tokio::test]
async fn a_new_device_waits_for_its_accounts_approval_postgres() {
    a_new_device_waits_for_its_accounts_approval(true).await;
}
