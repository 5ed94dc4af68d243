//! Delivery end to end: exactly-once, in-order application delivery across forced reconnects,
//! and no acknowledged message lost when the server is stopped or killed mid-stream; each on
//! both encodings of the hot frames (JSON text and binary) and both databases.

use sallyport_core::protocol::MessageId;
use sallyport_core::Event;
use sallyport_e2e::*;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const N: usize = 1000;

on_both_encodings_and_databases!(
    two_devices_exchange_1000_messages_across_forced_reconnects_exactly_once_in_order,
    graceful_stop_mid_stream_loses_no_accepted_message,
    sigkill_mid_stream_loses_no_accepted_message,
    messages_wait_for_an_offline_recipient_and_resending_is_idempotent,
);
// It holds SQLite's write lock to keep the ack from committing.
on_both_encodings!(a_device_that_acks_and_reconnects_at_once_never_gets_the_acked_message_again);

async fn two_devices_exchange_1000_messages_across_forced_reconnects_exactly_once_in_order(encoding: Encoding, database: Database) {
    let Some(options) = database.options().await else { return };
    let server = TestServer::start_with(options).await;
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let to_bob = bob.mailbox;

    let receiver = tokio::spawn(async move {
        let mut client = connect(&bob, encoding).await.expect("bob connects");
        let mut seen = Vec::new();
        while seen.len() < N {
            match next_event(&mut client).await.expect("bob's connection") {
                Event::Message { mailbox, seq, payload, .. } => {
                    seen.push(payload_number("m", &payload).expect("a numbered payload"));
                    client.ack(mailbox, seq).await.expect("ack");
                    // Drop the socket every 150 messages, acks possibly still unsent.
                    if seen.len() % 150 == 0 {
                        client.reconnect().await.expect("bob reconnects");
                    }
                }
                Event::Closed => client.reconnect().await.expect("bob reconnects"),
                _ => {}
            }
        }
        seen
    });

    let mut client = connect(&alice, encoding).await.expect("alice connects");
    let mut ids: HashMap<MessageId, usize> = HashMap::new();
    for chunk in 0..10 {
        for i in chunk * 100..(chunk + 1) * 100 {
            let id = client.send(vec![to_bob], marked_payload("m", i)).await.expect("send");
            ids.insert(id, i);
        }
        // Drop the socket with sends in flight: the client re-sends what was not accepted.
        client.reconnect().await.expect("alice reconnects");
    }
    let mut accepted = HashSet::new();
    while accepted.len() < N {
        match next_event(&mut client).await.expect("alice's connection") {
            Event::Accepted { id, .. } => {
                assert!(ids.contains_key(&id), "accepted an id that was never sent");
                accepted.insert(id);
            }
            Event::Closed => client.reconnect().await.expect("alice reconnects"),
            Event::Error { code, .. } => panic!("unexpected error {code}"),
            _ => {}
        }
    }

    let seen = tokio::time::timeout(WAIT * 2, receiver).await.expect("bob got everything in time").unwrap();
    assert_eq!(seen, (0..N).collect::<Vec<_>>(), "each message exactly once, in order");
}

/// Streams messages from Alice to an offline Bob, stops the server mid-stream (gracefully or with
/// SIGKILL), restarts it, and checks Bob receives every message Alice saw accepted.
async fn acked_messages_survive(kill: bool, encoding: Encoding, database: Database) {
    let Some(options) = database.options().await else { return };
    let mut server = TestServer::start_with(options).await;
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let to_bob = bob.mailbox;

    let client = connect(&alice, encoding).await.expect("alice connects");
    let (sender, mut events) = client.into_split().expect("split");
    let ids = std::sync::Arc::new(std::sync::Mutex::new(HashMap::<MessageId, usize>::new()));
    let sending = {
        let ids = ids.clone();
        tokio::spawn(async move {
            for i in 0..20_000 {
                match sender.send(vec![to_bob], marked_payload("d", i)).await {
                    Ok(id) => {
                        ids.lock().unwrap().insert(id, i);
                    }
                    Err(_) => return,
                }
                if i % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let mut accepted = HashSet::new();
    let mut stopped = false;
    loop {
        let event = tokio::time::timeout(WAIT, events.next_event()).await.expect("an event in time");
        match event {
            Ok(Event::Accepted { id, .. }) => {
                let n = *ids.lock().unwrap().get(&id).expect("accepted an id that was sent");
                accepted.insert(n);
                if accepted.len() >= 300 && !stopped {
                    stopped = true;
                    if kill {
                        server.kill();
                    } else {
                        let server = &mut server;
                        // SIGTERM while sends are still arriving.
                        server.stop().await;
                    }
                }
            }
            Ok(Event::Error { code, .. }) => {
                assert!(stopped, "error {code} before the server was stopped");
                assert!(
                    matches!(code, sallyport_core::protocol::ErrorCode::ShuttingDown),
                    "only shutting_down may be reported, got {code}"
                );
            }
            Ok(Event::Closed) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(stopped, "the connection ended before the server was stopped");
    sending.abort();
    assert!(accepted.len() >= 300);

    server.restart().await;
    let mut bob_client = connect(&bob, encoding).await.expect("bob connects");
    let mut received = HashSet::new();
    while !accepted.is_subset(&received) {
        let event = tokio::time::timeout(WAIT, bob_client.next_event()).await;
        match event {
            Ok(Ok(Event::Message { mailbox, seq, payload, .. })) => {
                received.insert(payload_number("d", &payload).expect("numbered"));
                bob_client.ack(mailbox, seq).await.unwrap();
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("bob's connection failed: {e}"),
            Err(_) => {
                let lost: Vec<_> = accepted.difference(&received).take(10).collect();
                panic!("{} accepted messages never arrived, e.g. {lost:?}", accepted.difference(&received).count());
            }
        }
    }
    server.stop().await;
}

async fn graceful_stop_mid_stream_loses_no_accepted_message(encoding: Encoding, database: Database) {
    acked_messages_survive(false, encoding, database).await;
}

async fn sigkill_mid_stream_loses_no_accepted_message(encoding: Encoding, database: Database) {
    acked_messages_survive(true, encoding, database).await;
}

async fn messages_wait_for_an_offline_recipient_and_resending_is_idempotent(encoding: Encoding, database: Database) {
    let Some(options) = database.options().await else { return };
    let server = TestServer::start_with(options).await;
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let mut a = connect(&alice, encoding).await.unwrap();
    let id = MessageId::random();
    for _ in 0..3 {
        a.send_with_id(id, vec![bob.mailbox], marked_payload("idem", 1)).await.unwrap();
    }
    let mut seqs = Vec::new();
    while seqs.len() < 3 {
        if let Event::Accepted { id: got, seq } = next_event(&mut a).await.unwrap() {
            assert_eq!(got, id);
            seqs.push(seq);
        }
    }
    assert!(seqs.iter().all(|s| *s == seqs[0]), "the same id is stored once: {seqs:?}");

    let mut b = connect(&bob, encoding).await.unwrap();
    let (seq, payload) = expect_event(&mut b, |e| match e {
        Event::Message { seq, payload, .. } => Some((*seq, payload.clone())),
        _ => None,
    })
    .await;
    assert_eq!(seq, seqs[0]);
    assert_eq!(payload_number("idem", &payload), Some(1));
    b.ack(bob.mailbox, seq).await.unwrap();
    // Nothing else is queued: a second connection gets no delivery. Closed politely, so the server
    // has read the ack: a dropped socket with unread frames in it resets the connection, and the
    // server may then never read an ack still in its receive buffer (at least once: it would be
    // delivered again, which this test does not expect; it was flaky so under load).
    b.close().await.unwrap();
    let mut b = connect(&bob, encoding).await.unwrap();
    a.send(vec![bob.mailbox], marked_payload("idem", 2)).await.unwrap();
    let n = expect_event(&mut b, |e| match e {
        Event::Message { payload, .. } => payload_number("idem", payload),
        _ => None,
    })
    .await;
    assert_eq!(n, 2, "the acked message was deleted and is not delivered again");
}

/// A device acks and reconnects at once while the ack's group commit cannot finish yet (another
/// process holds the SQLite write lock): its new connection is not handed the acknowledged
/// message again — the server commits the old connection's acks before it reads the queue. (It
/// used to be, whenever the reconnect beat the next group commit.)
async fn a_device_that_acks_and_reconnects_at_once_never_gets_the_acked_message_again(encoding: Encoding) {
    use sqlx::Connection as _;
    let server = TestServer::start().await;
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let mut a = connect(&alice, encoding).await.unwrap();
    for i in 0..2 {
        a.send(vec![bob.mailbox], marked_payload("ack", i)).await.unwrap();
    }
    let mut b = connect(&bob, encoding).await.unwrap();
    let seq = expect_event(&mut b, |e| match e {
        Event::Message { seq, payload, .. } if payload_number("ack", payload) == Some(0) => Some(*seq),
        _ => None,
    })
    .await;

    // Hold the write lock: the ack below is received but cannot be committed until it is released.
    let db = format!("sqlite://{}", server.data_dir().join("data/sallyport.db").display());
    let mut lock = sqlx::SqliteConnection::connect(&db).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut lock).await.unwrap();
    b.ack(bob.mailbox, seq).await.unwrap();
    // A new client (as after a reload: no memory of what it acked). The server reads the old
    // connection's frames until it stops, so the ack has reached the server; `ready` comes once
    // that ack is committed, and so not while the lock is held. (Without the wait the new
    // connection read the queue at once and was handed the acked message again.)
    drop(b);
    let connecting = tokio::spawn({
        let bob = bob.clone();
        async move { connect(&bob, encoding).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!connecting.is_finished(), "ready while the previous connection's ack is uncommitted");
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    let mut b = connecting.await.unwrap().expect("bob connects once the ack is committed");

    let n = expect_event(&mut b, |e| match e {
        Event::Message { payload, .. } => payload_number("ack", payload),
        _ => None,
    })
    .await;
    assert_eq!(n, 1, "the acked message is not delivered again on the next connection");
}
