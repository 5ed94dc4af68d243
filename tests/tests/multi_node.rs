//! Several `sallyport serve` nodes on one PostgreSQL: prompt relay between clients attached to
//! different nodes (LISTEN/NOTIFY), catch-up when a notification is lost, and revocation
//! reaching every node.

use sallyport_core::protocol::ErrorCode;
use sallyport_core::{Client, Event};
use sallyport_e2e::*;
use std::time::Duration;

on_both_encodings!(two_nodes_on_one_postgres_relay_between_their_clients, a_lost_notification_loses_no_message);

/// `sallyport serve` on `db` with `extra`, expected to refuse to start: its error output.
async fn refused_start(db: &str, extra: &[&str]) -> String {
    let data = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(sallyport_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--node-lock-wait-ms", "300", "--database-url", db])
        .arg("--data-dir")
        .arg(data.path())
        .args(extra)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run).await.expect("sallyport neither started nor refused").unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "it started: {stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("sallyport listening on"), "it served: {stderr}");
    stderr
}

/// A node started with `--single-node` delivers early, so it must be the only one: PostgreSQL's
/// node lock keeps any other from starting beside it (and it from starting beside others), with
/// an error that says what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_serves_its_database_alone() {
    let Some(db) = postgres_database().await else { return };
    let mut single = node(&db, &["--single-node"]).await;
    let err = refused_start(&db, &[]).await;
    assert!(err.contains("a node started with --single-node serves this database"), "{err}");
    let err = refused_start(&db, &["--single-node"]).await;
    assert!(err.contains("another node serves this database"), "{err}");

    // Stopped, it lets others start; they keep a single node out.
    single.stop().await;
    let shared = node(&db, &[]).await;
    let second = node(&db, &[]).await;
    let err = refused_start(&db, &["--single-node"]).await;
    assert!(err.contains("another node serves this database"), "{err}");
    drop((shared, second));
}

/// A single node whose lock is lost (here its connection is ended from the database side, as a
/// database restart or a network failure would) cannot know who started meanwhile: it stops,
/// with an error exit and a log line that says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_that_loses_its_lock_stops() {
    let Some(db) = postgres_database().await else { return };
    let mut single = node(&db, &["--single-node"]).await;
    let alice = single.enrol("Alice").await;
    let mut a = connect(&alice, Encoding::Binary).await.unwrap();
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(ended, vec![true], "one connection holds the node lock");
    let status = single.exited().await;
    assert!(!status.success(), "exited with {status}");
    let log = single.logs();
    assert!(log.contains("lost its place among the nodes serving the database"), "{log}");
    // Its clients were told to go elsewhere, not left hanging.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Event::Closed = a.next_event().await.unwrap() {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the client's connection was not closed");
}

async fn node(db: &str, extra: &[&str]) -> TestServer {
    TestServer::start_with(ServerOptions {
        database_url: Some(db.to_owned()),
        extra_args: extra.iter().map(|s| s.to_string()).collect(),
    })
    .await
}

async fn receive_numbers(client: &mut Client, marker: &str, n: usize) -> Vec<usize> {
    let mut got = Vec::new();
    while got.len() < n {
        let (mailbox, seq, number) = expect_event(client, |e| match e {
            Event::Message { mailbox, seq, payload, .. } => Some((*mailbox, *seq, payload_number(marker, payload))),
            _ => None,
        })
        .await;
        got.push(number.expect("numbered payload"));
        client.ack(mailbox, seq).await.unwrap();
    }
    got
}

async fn two_nodes_on_one_postgres_relay_between_their_clients(encoding: Encoding) {
    let Some(db) = postgres_database().await else { return };
    let node1 = node(&db, &[]).await;
    let node2 = node(&db, &[]).await;
    // The first node to start on the empty database prints the administrator link, once: the
    // second node prints none although nobody has enrolled yet.
    assert!(node1.admin_link.is_some(), "the first node to start prints the administrator link");
    assert_eq!(node2.admin_link, None, "the link is printed once, not by every node");

    let alice = node1.enrol("Alice").await;
    let bob = sallyport_core::enrol(&node2.url, &node2.invite("Bob", &["peer_supporter"])).await.unwrap();
    let mut a = connect(&alice, encoding).await.unwrap();
    let mut b = connect(&bob, encoding).await.unwrap();

    for i in 0..200 {
        a.send(vec![bob.mailbox], marked_payload("x", i)).await.unwrap();
    }
    assert_eq!(receive_numbers(&mut b, "x", 200).await, (0..200).collect::<Vec<_>>());
    b.send(vec![alice.mailbox], marked_payload("reply", 1)).await.unwrap();
    assert_eq!(receive_numbers(&mut a, "reply", 1).await, vec![1]);

    // Revoked through one node's database, Alice's socket on node 1 closes within a second: the
    // node sends an `error` frame with `device_revoked`, then closes.
    node2.admin(&["revoke-device", &alice.device.to_text()]);
    let event = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match a.next_event().await {
                Ok(Event::Error { code, .. }) => return Some(code),
                Ok(Event::Closed) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("revocation reaches the other node within a second");
    assert_eq!(event, Some(ErrorCode::DeviceRevoked), "the revocation code comes before the close");
    assert_eq!(next_event(&mut a).await.map_err(|e| e.to_string()), Ok(Event::Closed), "then the socket closes");
}

async fn a_lost_notification_loses_no_message(encoding: Encoding) {
    let Some(db) = postgres_database().await else { return };
    let node1 = node(&db, &[]).await;
    // Node 2 drops every notification, as if LISTEN/NOTIFY had failed: only its catch-up poll
    // can find the messages.
    let node2 = node(&db, &["--ignore-notifications"]).await;
    let alice = node1.enrol("Alice").await;
    let bob = sallyport_core::enrol(&node2.url, &node2.invite("Bob", &["staff"])).await.unwrap();
    let mut a = connect(&alice, encoding).await.unwrap();
    let mut b = connect(&bob, encoding).await.unwrap();
    for i in 0..20 {
        a.send(vec![bob.mailbox], marked_payload("lost", i)).await.unwrap();
    }
    assert_eq!(receive_numbers(&mut b, "lost", 20).await, (0..20).collect::<Vec<_>>());
}
