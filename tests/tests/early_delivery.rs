//! Early delivery (protocol §5, "accepted"): on a single node (SQLite, or PostgreSQL with
//! `--single-node`) a message whose recipients are all connected is delivered before any commit
//! and held in memory; acked by every recipient in time,
//! it is accepted without ever touching the disk. Otherwise it is written when its hold ends, under
//! a new number that the connections holding it map back. A crash before either loses nothing
//! anyone was told is safe. Also: a re-read of a queue never re-sends what the connection acked.

use sallyport_core::protocol::MessageId;
use sallyport_core::{Client, Event};
use sallyport_e2e::*;

// Each test on both encodings of the hot frames and both databases, PostgreSQL as a single node.
on_both_encodings_and_single_nodes!(
    messages_between_connected_devices_are_accepted_by_their_acks_and_never_written,
    an_unacked_early_delivery_is_written_when_due_and_its_first_number_still_acks_it,
    a_kill_between_an_ack_and_the_next_commit_loses_nothing,
    re_sending_an_id_that_was_never_written_delivers_it_again_and_the_client_drops_it,
    re_sending_a_stored_id_to_a_connected_recipient_answers_its_first_number_and_delivers_nothing,
    a_backlog_is_sent_once_not_again_on_every_read,
    re_sends_of_a_message_not_yet_acked_are_not_charged_to_the_senders_share,
    a_message_held_for_a_reader_whose_window_was_full_is_not_overtaken,
    a_stored_copy_acked_just_before_a_kill_is_at_worst_delivered_again,
);

/// A single node on `database` with these arguments as well, or `None` to skip (see
/// `Database::options`).
async fn single_node(database: Database, args: &[&str]) -> Option<TestServer> {
    let mut options = database.options().await?;
    options.extra_args.extend(args.iter().map(|a| a.to_string()));
    Some(TestServer::start_with(options).await)
}

/// A single node on `database` whose held messages wait `hold_ms` for their acks.
async fn server_with_hold(hold_ms: u64, database: Database) -> Option<TestServer> {
    single_node(database, &["--early-delivery-hold-ms", &hold_ms.to_string()]).await
}

/// Whether the server's database holds `needle`: in its files (SQLite), or in a queued copy or
/// an idempotency record (PostgreSQL, whose files are the cluster's).
async fn database_holds(server: &TestServer, needle: &[u8]) -> bool {
    match server.database_url() {
        None => !files_containing(server.data_dir(), needle).is_empty(),
        Some(url) => {
            use sqlx::Connection as _;
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connecting to the test database");
            let (queued, sent): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM queue WHERE position($1 in payload) > 0), (SELECT count(*) FROM sent)",
            )
            .bind(needle)
            .fetch_one(&mut conn)
            .await
            .expect("reading the test database");
            queued > 0 || sent > 0
        }
    }
}

/// The next message event marked `marker`: (seq, id, its number).
async fn next_message(client: &mut Client, marker: &str) -> (u64, MessageId, usize) {
    expect_event(client, |e| match e {
        Event::Message { seq, id, payload, .. } => Some((*seq, *id, payload_number(marker, payload)?)),
        _ => None,
    })
    .await
}

async fn next_accepted(client: &mut Client) -> (MessageId, u64) {
    expect_event(client, |e| match e {
        Event::Accepted { id, seq } => Some((*id, *seq)),
        Event::Error { code, .. } => panic!("refused: {code}"),
        _ => None,
    })
    .await
}

async fn messages_between_connected_devices_are_accepted_by_their_acks_and_never_written(encoding: Encoding, database: Database) {
    // A hold far longer than the test waits for an event: only the acks can accept these.
    let Some(server) = server_with_hold(600_000, database).await else { return };
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let mut a = connect(&alice, encoding).await.unwrap();
    let mut b = connect(&bob, encoding).await.unwrap();
    const M: usize = 200;
    for i in 0..M {
        a.send(vec![bob.mailbox], marked_payload("unwritten", i)).await.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < M {
        let (seq, _, n) = next_message(&mut b, "unwritten").await;
        got.push(n);
        b.ack(bob.mailbox, seq).await.unwrap();
    }
    assert_eq!(got, (0..M).collect::<Vec<_>>(), "each once, in order");
    for _ in 0..M {
        next_accepted(&mut a).await;
    }
    assert_eq!(wait_for_metric(&server, "sallyport_messages_unwritten_total", |n| n >= M as u64).await, M as u64);
    assert_eq!(metric(&server, "sallyport_messages_written_late_total").await, 0);
    assert_eq!(metric(&server, "sallyport_commits_total").await, 0, "no group commit ran for them");
    assert!(!database_holds(&server, b"unwritten-").await, "no payload reached the database");
}

async fn an_unacked_early_delivery_is_written_when_due_and_its_first_number_still_acks_it(encoding: Encoding, database: Database) {
    let Some(server) = server_with_hold(300, database).await else { return };
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let mut a = connect(&alice, encoding).await.unwrap();
    let mut b = connect(&bob, encoding).await.unwrap();

    let sent = a.send(vec![bob.mailbox], marked_payload("late", 1)).await.unwrap();
    let (early, id, n) = next_message(&mut b, "late").await;
    assert_eq!((id, n), (sent, 1));
    // Bob holds it unacked past the hold: it is written, and only then accepted.
    let (accepted, stored) = next_accepted(&mut a).await;
    assert_eq!(accepted, sent);
    assert_ne!(stored, early, "written under a number of its own");
    assert_eq!(wait_for_metric(&server, "sallyport_messages_written_late_total", |n| n >= 1).await, 1);
    assert!(database_holds(&server, b"late-000001").await, "the written copy is in the database");

    // Bob acks the number he got. The connection does not send it again under the new number…
    b.ack(bob.mailbox, early).await.unwrap();
    a.send(vec![bob.mailbox], marked_payload("late", 2)).await.unwrap();
    let (seq, _, n) = next_message(&mut b, "late").await;
    assert_eq!(n, 2);
    assert_eq!(metric(&server, "sallyport_deliveries_total").await, 2, "late-1 went out once");
    b.ack(bob.mailbox, seq).await.unwrap();
    // …and the stored copy is deleted: a new connection is not handed it.
    b.close().await.unwrap();
    let mut b = connect(&bob, encoding).await.unwrap();
    a.send(vec![bob.mailbox], marked_payload("late", 3)).await.unwrap();
    let (seq, _, n) = next_message(&mut b, "late").await;
    assert_eq!(n, 3, "the copy stored after its early delivery was deleted by the ack of its first number");
    b.ack(bob.mailbox, seq).await.unwrap();
}

/// Decision 2's crash test: the server is killed after one recipient acked a held message and
/// before the commit that would have written it for the other. Its sender was never told it
/// was accepted, so its client sends it again; the other recipient gets it, and the one who
/// acked it sees it once.
async fn a_kill_between_an_ack_and_the_next_commit_loses_nothing(encoding: Encoding, database: Database) {
    let Some(mut server) = server_with_hold(600_000, database).await else { return };
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let carol = server.enrol("Carol").await;
    let mut a = connect(&alice, encoding).await.unwrap();
    let mut b = connect(&bob, encoding).await.unwrap();
    let mut c = connect(&carol, encoding).await.unwrap();
    let sent = a.send(vec![bob.mailbox, carol.mailbox], marked_payload("crash", 1)).await.unwrap();
    let (seq, id, _) = next_message(&mut b, "crash").await;
    assert_eq!(id, sent);
    b.ack(bob.mailbox, seq).await.unwrap();
    let (_, id, _) = next_message(&mut c, "crash").await;
    assert_eq!(id, sent, "Carol has it too, and does not ack it");
    // Bob's ack has been read once the server has read his close (frames are read in order).
    b.close().await.unwrap();
    server.kill();
    server.restart().await;

    // Alice's client re-sends what was never accepted; this time it is accepted.
    a.reconnect().await.unwrap();
    let (accepted, _) = next_accepted(&mut a).await;
    assert_eq!(accepted, sent);
    // Carol's phone restarted too: a fresh client gets it.
    drop(c);
    let mut c = connect(&carol, encoding).await.unwrap();
    let (seq, id, n) = next_message(&mut c, "crash").await;
    assert_eq!((id, n), (sent, 1));
    c.ack(carol.mailbox, seq).await.unwrap();
    // Bob gets it again (his app drops it by id): his ack died with the server.
    let mut b = connect(&bob, encoding).await.unwrap();
    let (seq, id, _) = next_message(&mut b, "crash").await;
    assert_eq!(id, sent, "delivered again after the crash");
    b.ack(bob.mailbox, seq).await.unwrap();
    a.send(vec![bob.mailbox], marked_payload("crash", 2)).await.unwrap();
    assert_eq!(next_message(&mut b, "crash").await.2, 2, "nothing else is queued for Bob");
}

async fn a_stored_copy_acked_just_before_a_kill_is_at_worst_delivered_again(encoding: Encoding, database: Database) {
    let Some(mut server) = server_with_hold(600_000, database).await else { return };
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let mut a = connect(&alice, encoding).await.unwrap();
    // Bob is offline: the message is written before it is accepted.
    let sent = a.send(vec![bob.mailbox], marked_payload("stored", 1)).await.unwrap();
    let (_, stored) = next_accepted(&mut a).await;
    let mut b = connect(&bob, encoding).await.unwrap();
    let (seq, id, _) = next_message(&mut b, "stored").await;
    assert_eq!((seq, id), (stored, sent));
    b.ack(bob.mailbox, seq).await.unwrap();
    server.kill();
    server.restart().await;
    // The ack may or may not have been committed; either way the message is not lost, and
    // Bob's client shows it once.
    b.reconnect().await.unwrap();
    a.reconnect().await.unwrap();
    a.send(vec![bob.mailbox], marked_payload("stored", 2)).await.unwrap();
    loop {
        match next_event(&mut b).await.unwrap() {
            Event::Message { seq, payload, .. } => {
                assert_eq!(payload_number("stored", &payload), Some(2), "stored-1 is not shown twice");
                b.ack(bob.mailbox, seq).await.unwrap();
                break;
            }
            Event::Closed => b.reconnect().await.unwrap(),
            _ => {}
        }
    }
}

async fn re_sending_an_id_that_was_never_written_delivers_it_again_and_the_client_drops_it(encoding: Encoding, database: Database) {
    let Some(server) = server_with_hold(600_000, database).await else { return };
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let mut a = connect(&alice, encoding).await.unwrap();
    let mut b = connect(&bob, encoding).await.unwrap();
    let id = MessageId::random();
    a.send_with_id(id, vec![bob.mailbox], marked_payload("again", 1)).await.unwrap();
    let (seq, got, _) = next_message(&mut b, "again").await;
    assert_eq!(got, id);
    b.ack(bob.mailbox, seq).await.unwrap();
    assert_eq!(next_accepted(&mut a).await.0, id);
    wait_for_metric(&server, "sallyport_messages_unwritten_total", |n| n == 1).await;

    // No idempotency record was written for it, so a re-send is a new delivery, which Bob's
    // client acknowledges without showing it again (the next message it shows is the next one).
    a.send_with_id(id, vec![bob.mailbox], marked_payload("again", 1)).await.unwrap();
    let next = a.send(vec![bob.mailbox], marked_payload("again", 2)).await.unwrap();
    let (seq, _, n) = next_message(&mut b, "again").await;
    assert_eq!(n, 2);
    b.ack(bob.mailbox, seq).await.unwrap();
    assert_eq!(next_accepted(&mut a).await.0, id, "accepted again, by Bob's client's re-ack");
    assert_eq!(next_accepted(&mut a).await.0, next);
    assert_eq!(metric(&server, "sallyport_deliveries_total").await, 3, "again-1 was delivered twice");
    assert_eq!(wait_for_metric(&server, "sallyport_messages_unwritten_total", |n| n >= 3).await, 3);
}

async fn re_sending_a_stored_id_to_a_connected_recipient_answers_its_first_number_and_delivers_nothing(encoding: Encoding, database: Database) {
    let Some(server) = server_with_hold(600_000, database).await else { return };
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let mut a = connect(&alice, encoding).await.unwrap();
    let id = MessageId::random();
    a.send_with_id(id, vec![bob.mailbox], marked_payload("first", 1)).await.unwrap();
    let (_, stored) = next_accepted(&mut a).await;

    let mut b = connect(&bob, encoding).await.unwrap();
    let (seq, got, _) = next_message(&mut b, "first").await;
    assert_eq!((seq, got), (stored, id));
    // Bob is connected now, so this would be delivered early — but its id is stored.
    a.send_with_id(id, vec![bob.mailbox], marked_payload("first", 1)).await.unwrap();
    assert_eq!(next_accepted(&mut a).await, (id, stored), "a re-sent stored id answers with its first number");
    assert_eq!(wait_for_metric(&server, "sallyport_messages_duplicate_total", |n| n >= 1).await, 1);
    b.ack(bob.mailbox, seq).await.unwrap();
    a.send(vec![bob.mailbox], marked_payload("first", 2)).await.unwrap();
    assert_eq!(next_message(&mut b, "first").await.2, 2);
    assert_eq!(metric(&server, "sallyport_deliveries_total").await, 2, "the re-send was not delivered");
}

/// A connection re-reads its queue while the deletes of its acks are still to commit. It used to
/// send those copies again on every read — thousands of duplicates and re-acks, until the frame
/// rate refused acks and the window never emptied: the delivery test stalled about one run in
/// three.
async fn a_backlog_is_sent_once_not_again_on_every_read(encoding: Encoding, database: Database) {
    let Some(server) = single_node(database, &[]).await else { return };
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let mut a = connect(&alice, encoding).await.unwrap();
    const BACKLOG: usize = 1500;
    for i in 0..BACKLOG {
        a.send(vec![bob.mailbox], marked_payload("backlog", i)).await.unwrap();
    }
    for _ in 0..BACKLOG {
        next_accepted(&mut a).await;
    }
    let mut b = connect(&bob, encoding).await.unwrap();
    let mut got = std::collections::BTreeSet::new();
    while got.len() < BACKLOG {
        let (seq, _, n) = next_message(&mut b, "backlog").await;
        got.insert(n);
        b.ack(bob.mailbox, seq).await.unwrap();
    }
    let deliveries = metric(&server, "sallyport_deliveries_total").await;
    // At least once allows a few repeats (a delivery racing a read); not one per read.
    assert!(deliveries <= (BACKLOG + 256) as u64, "{deliveries} deliveries for a backlog of {BACKLOG}");
}

/// A client re-sends what it had no answer for after every reconnect; with early delivery that is
/// everything its recipients have not acked yet. Each re-send used to be charged to its share of
/// the recipient's queue, so a phone on a flapping connection ran through its share, its share
/// checks, and got `rate_limited` (the forced-reconnects delivery test did under load).
async fn re_sends_of_a_message_not_yet_acked_are_not_charged_to_the_senders_share(encoding: Encoding, database: Database) {
    let Some(server) =
        single_node(database, &["--early-delivery-hold-ms", "600000", "--sender-share-per-day", "1"]).await
    else {
        return;
    };
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let mut a = connect(&alice, encoding).await.unwrap();
    let mut b = connect(&bob, encoding).await.unwrap();
    let id = MessageId::random();
    // More re-sends than the share checks a device gets in a second (10).
    const SENDS: usize = 16;
    for _ in 0..SENDS {
        a.send_with_id(id, vec![bob.mailbox], marked_payload("held", 1)).await.unwrap();
    }
    let (seq, got, _) = next_message(&mut b, "held").await;
    assert_eq!(got, id);
    b.ack(bob.mailbox, seq).await.unwrap();
    let mut accepted = 0;
    while accepted < SENDS {
        match next_event(&mut a).await.unwrap() {
            Event::Accepted { id: answered, .. } => {
                assert_eq!(answered, id);
                accepted += 1;
            }
            Event::Error { code, .. } => panic!("re-send refused: {code}"),
            _ => {}
        }
    }
    assert_eq!(metric(&server, "sallyport_deliveries_total").await, 1, "delivered once");
}

/// A message delivered before its commit that the reader's connection cannot take (its window of
/// 256 unacked deliveries is full) is in no queue until it is written; the connection's next read
/// of the database would not find it, and later messages overtook it (or, with a long hold, it
/// waited for the hold). Now the connection has what is held for it written before that read.
async fn a_message_held_for_a_reader_whose_window_was_full_is_not_overtaken(encoding: Encoding, database: Database) {
    const WINDOW: usize = 256;
    let Some(server) = server_with_hold(600_000, database).await else { return };
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let mut a = connect(&alice, encoding).await.unwrap();
    let mut b = connect(&bob, encoding).await.unwrap();
    // Bob takes a full window without acking: sent in steps that each arrive before the next,
    // so none is dropped for a full event queue, only for the full window.
    let mut seqs = Vec::new();
    for step in 0..WINDOW / 32 {
        for i in step * 32..(step + 1) * 32 {
            a.send(vec![bob.mailbox], marked_payload("w", i)).await.unwrap();
        }
        for i in step * 32..(step + 1) * 32 {
            let (seq, _, n) = next_message(&mut b, "w").await;
            assert_eq!(n, i, "the first window in order");
            seqs.push(seq);
        }
    }
    // These do not fit his window; then he acks it all.
    for i in WINDOW..WINDOW + 44 {
        a.send(vec![bob.mailbox], marked_payload("w", i)).await.unwrap();
    }
    for seq in seqs {
        b.ack(bob.mailbox, seq).await.unwrap();
    }
    // Then Alice sends more: they come after the ones that did not fit, not before.
    for i in WINDOW + 44..WINDOW + 54 {
        a.send(vec![bob.mailbox], marked_payload("w", i)).await.unwrap();
    }
    for i in WINDOW..WINDOW + 54 {
        let (seq, _, n) = next_message(&mut b, "w").await;
        assert_eq!(n, i, "in the order sent");
        b.ack(bob.mailbox, seq).await.unwrap();
    }
}
