//! Several `sallyport serve` nodes on one PostgreSQL: prompt relay between clients attached to
//! different nodes (LISTEN/NOTIFY), catch-up when a notification is lost, and revocation
//! reaching every node.

use sallyport_core::protocol::ErrorCode;
use sallyport_core::{Client, Event};
use sallyport_e2e::*;
use std::time::Duration;

on_both_encodings!(two_nodes_on_one_postgres_relay_between_their_clients, a_lost_notification_loses_no_message);

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
