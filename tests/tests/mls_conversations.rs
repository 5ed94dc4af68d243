//! MLS conversations through a real server: the server as Delivery Service (KeyPackages, Welcome
//! routing, commit ordering by epoch), membership changes, concurrent commits, restarts,
//! duplicated and reordered delivery, and no readable content in the server's files or logs.

use sallyport_core::protocol::group::GroupEnvelope;
use sallyport_core::protocol::{ErrorCode, MessageId};
use sallyport_core::{GroupId, MlsEvent};
use sallyport_e2e::mls_peer::MlsPeer;
use sallyport_e2e::*;

on_both_encodings!(
    three_members_converse_and_a_removed_member_reads_nothing_sent_after,
    concurrent_commits_one_wins_and_every_member_converges,
    a_client_restarted_mid_conversation_loses_no_message,
    duplicated_and_reordered_delivery_shows_each_message_once,
    key_packages_are_claimed_once_then_last_resort_and_owners_are_told_to_top_up,
    the_server_keeps_no_readable_content_in_its_database_or_logs,
    a_commit_resent_under_its_id_after_acceptance_is_accepted_not_stale,
    a_removed_member_cannot_break_the_conversation_on_sqlite,
    a_removed_member_cannot_break_the_conversation_on_postgres,
);

/// Alice creates a group and adds the others by claiming their KeyPackages.
async fn group_of(alice: &mut MlsPeer, others: &mut [&mut MlsPeer]) -> GroupId {
    let group = alice.mls.create_group().unwrap();
    let mut kps = Vec::new();
    for peer in others.iter() {
        kps.push((peer.mailbox(), alice.claim(peer.mailbox()).await));
    }
    let add = alice.mls.add_claimed_members(&group, &kps).unwrap();
    assert!(add.commit);
    alice.send(add).await.expect("the first commit of a new group is accepted");
    for peer in others.iter_mut() {
        let g = group.clone();
        peer.pump_until("joined", move |p| p.has_joined(&g)).await;
    }
    group
}

async fn say(peer: &mut MlsPeer, group: &GroupId, text: &str) {
    let out = peer.mls.encrypt(group, text.as_bytes()).unwrap();
    peer.send(out).await.expect("application message accepted");
}

async fn sees(peer: &mut MlsPeer, text: &str) {
    let t = text.to_owned();
    peer.pump_until(&format!("seeing {text:?}"), move |p| p.texts().contains(&t)).await;
}

fn state_root() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

async fn three_members_converse_and_a_removed_member_reads_nothing_sent_after(encoding: Encoding) {
    let server = TestServer::start().await;
    let root = state_root();
    let mut alice = MlsPeer::join_with(&server, "alice", root.path(), encoding).await;
    let mut bob = MlsPeer::join_with(&server, "bob", root.path(), encoding).await;
    let mut carol = MlsPeer::join_with(&server, "carol", root.path(), encoding).await;
    let group = group_of(&mut alice, &mut [&mut bob, &mut carol]).await;

    // Credentials carry no names: the members are known by their mailboxes.
    let (a, b, c) = (alice.mailbox(), bob.mailbox(), carol.mailbox());
    let sorted = |mut v: Vec<_>| {
        v.sort();
        v
    };
    let mailboxes = |p: &mut MlsPeer| sorted(p.mls.members(&group).unwrap().into_iter().map(|m| m.mailbox).collect());
    assert_eq!(mailboxes(&mut bob), sorted(vec![a, b, c]));

    say(&mut alice, &group, "MARKER-hello from alice").await;
    say(&mut bob, &group, "MARKER-bob here").await;
    say(&mut carol, &group, "MARKER-carol too").await;
    for (peer, expect) in [
        (&mut alice, ["MARKER-bob here", "MARKER-carol too"]),
        (&mut bob, ["MARKER-hello from alice", "MARKER-carol too"]),
        (&mut carol, ["MARKER-hello from alice", "MARKER-bob here"]),
    ] {
        for text in expect {
            sees(peer, text).await;
        }
    }
    let from: Vec<_> = bob.shown.iter().map(|(_, sender, text)| (*sender, text.clone())).collect();
    assert!(from.contains(&(a, "MARKER-hello from alice".into())), "the sender is known: {from:?}");

    // Alice removes Carol; Carol learns she was removed.
    let remove = alice.mls.remove_members(&group, &[carol.mailbox()]).unwrap();
    assert!(remove.to.contains(&carol.mailbox()), "the removed member gets the commit");
    alice.send(remove).await.unwrap();
    let g = group.clone();
    carol.pump_until("removed", move |p| p.events.iter().any(|e| matches!(e, MlsEvent::Removed { group } if *group == g))).await;
    let g = group.clone();
    bob.pump_until("two members", move |p| p.events.iter().any(|e| matches!(e, MlsEvent::MembershipChanged { group, removed, .. } if *group == g && !removed.is_empty()))).await;
    assert_eq!(mailboxes(&mut bob), sorted(vec![a, b]));

    // Sent after the removal — and delivered to Carol's mailbox anyway, as if the server (or
    // anyone) forwarded it: she cannot read it.
    let out = alice.mls.encrypt(&group, b"MARKER-after carol left").unwrap();
    assert!(!out.to.contains(&carol.mailbox()), "the removed member is no longer a recipient");
    let envelope = out.envelope.clone();
    alice.send(out).await.unwrap();
    sees(&mut bob, "MARKER-after carol left").await;
    alice.send_raw(MessageId::random(), vec![carol.mailbox()], vec![], envelope, false).await.unwrap();
    let shown_before = carol.shown.len();
    let events_before = carol.events.len();
    carol.pump_until("the forwarded message was processed", move |p| p.events.len() > events_before).await;
    assert_eq!(carol.shown.len(), shown_before, "carol decrypted nothing: {:?}", &carol.events[events_before..]);
    assert!(!carol.texts().iter().any(|t| t.contains("after carol left")));
}

async fn concurrent_commits_one_wins_and_every_member_converges(encoding: Encoding) {
    let server = TestServer::start().await;
    let root = state_root();
    let mut alice = MlsPeer::join_with(&server, "alice", root.path(), encoding).await;
    let mut bob = MlsPeer::join_with(&server, "bob", root.path(), encoding).await;
    let mut carol = MlsPeer::join_with(&server, "carol", root.path(), encoding).await;
    let mut dave = MlsPeer::join_with(&server, "dave", root.path(), encoding).await;
    let group = group_of(&mut alice, &mut [&mut bob, &mut carol]).await;
    let epoch = alice.mls.epoch(&group).unwrap();

    // Alice adds Dave while Bob removes Carol, both from the same epoch.
    let dave_kp = alice.claim(dave.mailbox()).await;
    let alice_commit = alice.mls.add_claimed_members(&group, &[(dave.mailbox(), dave_kp)]).unwrap();
    let bob_commit = bob.mls.remove_members(&group, &[carol.mailbox()]).unwrap();
    let (a, b) = tokio::join!(alice.send(alice_commit), bob.send(bob_commit));
    let outcomes = [a, b];
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "exactly one commit wins: {outcomes:?}");
    assert!(outcomes.contains(&Err(ErrorCode::StaleEpoch)), "the other is refused as stale: {outcomes:?}");

    // The loser processes the winner's commit and retries its change at the new epoch.
    let bob_won = outcomes[1].is_ok();
    if bob_won {
        let g = group.clone();
        alice.pump_until("bob's commit", move |p| p.mls.epoch(&g).unwrap() > epoch).await;
        let dave_kp = alice.claim(dave.mailbox()).await;
        let retry = alice.mls.add_claimed_members(&group, &[(dave.mailbox(), dave_kp)]).unwrap();
        alice.send(retry).await.expect("the retried commit is accepted");
    } else {
        let g = group.clone();
        bob.pump_until("alice's commit", move |p| p.mls.epoch(&g).unwrap() > epoch).await;
        let retry = bob.mls.remove_members(&group, &[carol.mailbox()]).unwrap();
        bob.send(retry).await.expect("the retried commit is accepted");
    }
    let g = group.clone();
    dave.pump_until("joined", move |p| p.has_joined(&g)).await;

    let final_epoch = epoch + 2;
    for peer in [&mut alice, &mut bob, &mut dave] {
        let g = group.clone();
        peer.pump_until("the final epoch", move |p| p.mls.epoch(&g).unwrap() == final_epoch).await;
    }
    let members = |p: &mut MlsPeer| {
        let mut m: Vec<_> = p.mls.members(&group).unwrap().into_iter().map(|m| (m.mailbox, m.signing_key)).collect();
        m.sort();
        m
    };
    let expected = members(&mut alice);
    let mut want = vec![alice.mailbox(), bob.mailbox(), dave.mailbox()];
    want.sort();
    assert_eq!(expected.iter().map(|(m, _)| *m).collect::<Vec<_>>(), want);
    assert_eq!(members(&mut bob), expected, "no fork");
    assert_eq!(members(&mut dave), expected, "no fork");
    say(&mut dave, &group, "MARKER-dave joined").await;
    sees(&mut alice, "MARKER-dave joined").await;
    sees(&mut bob, "MARKER-dave joined").await;
}

async fn a_client_restarted_mid_conversation_loses_no_message(encoding: Encoding) {
    let server = TestServer::start().await;
    let root = state_root();
    let mut alice = MlsPeer::join_with(&server, "alice", root.path(), encoding).await;
    let mut bob = MlsPeer::join_with(&server, "bob", root.path(), encoding).await;
    let group = group_of(&mut alice, &mut [&mut bob]).await;
    for i in 0..5 {
        say(&mut alice, &group, &format!("MARKER-before {i}")).await;
    }
    sees(&mut bob, "MARKER-before 4").await;
    // More arrive while Bob's app is closed; on restart he reloads keys from disk.
    for i in 0..5 {
        say(&mut alice, &group, &format!("MARKER-while away {i}")).await;
    }
    bob.restart().await;
    for i in 0..5 {
        sees(&mut bob, &format!("MARKER-while away {i}")).await;
    }
    // Bob "crashes" after processing (state on disk) but before acking: the server redelivers
    // and he does not show the message twice.
    say(&mut alice, &group, "MARKER-crash test").await;
    let event = loop {
        let e = next_event(&mut bob.client).await.unwrap();
        if let sallyport_core::Event::Message { payload, .. } = e {
            break payload;
        }
    };
    bob.process(&event.0);
    bob.restart().await;
    say(&mut bob, &group, "MARKER-bob is back").await;
    sees(&mut alice, "MARKER-bob is back").await;
    say(&mut alice, &group, "MARKER-last").await;
    sees(&mut bob, "MARKER-last").await;
    let texts = bob.texts();
    assert_eq!(texts.iter().filter(|t| *t == "MARKER-crash test").count(), 1, "shown once: {texts:?}");
    for i in 0..5 {
        assert_eq!(texts.iter().filter(|t| **t == format!("MARKER-while away {i}")).count(), 1);
    }
}

async fn duplicated_and_reordered_delivery_shows_each_message_once(encoding: Encoding) {
    let server = TestServer::start().await;
    let root = state_root();
    let mut alice = MlsPeer::join_with(&server, "alice", root.path(), encoding).await;
    let mut bob = MlsPeer::join_with(&server, "bob", root.path(), encoding).await;
    let group = group_of(&mut alice, &mut [&mut bob]).await;
    let envelopes: Vec<_> = (0..6)
        .map(|i| alice.mls.encrypt(&group, format!("MARKER-r{i}").as_bytes()).unwrap().envelope)
        .collect();
    // Sent out of order, some twice under different message ids (as a buggy or hostile relay
    // path would): the server stores each send, the client shows each plaintext once.
    for i in [3usize, 0, 5, 1, 3, 4, 2, 0] {
        alice.send_raw(MessageId::random(), vec![bob.mailbox()], vec![], envelopes[i].clone(), true).await.unwrap();
    }
    bob.pump_until("all six", |p| (0..6).all(|i| p.texts().contains(&format!("MARKER-r{i}")))).await;
    say(&mut alice, &group, "MARKER-fence").await;
    sees(&mut bob, "MARKER-fence").await;
    let texts = bob.texts();
    for i in 0..6 {
        assert_eq!(texts.iter().filter(|t| **t == format!("MARKER-r{i}")).count(), 1, "{texts:?}");
    }
}

async fn key_packages_are_claimed_once_then_last_resort_and_owners_are_told_to_top_up(encoding: Encoding) {
    let server = TestServer::start().await;
    let root = state_root();
    let mut alice = MlsPeer::join_with(&server, "alice", root.path(), encoding).await;
    let mut bob = MlsPeer::join_with(&server, "bob", root.path(), encoding).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..5 {
        let (kp, last_resort) = alice.client.claim_key_package(bob.mailbox()).await.unwrap();
        assert!(!last_resort);
        assert!(seen.insert(kp.0.to_vec()), "a one-time KeyPackage is handed out once");
    }
    let (_, last_resort) = alice.client.claim_key_package(bob.mailbox()).await.unwrap();
    assert!(last_resort, "the last-resort KeyPackage once the one-time ones are gone");
    let low = expect_event(&mut bob.client, |e| match e {
        sallyport_core::Event::KeyPackagesLow { available, .. } => Some(*available),
        _ => None,
    })
    .await;
    assert!(low < sallyport_core::protocol::KEY_PACKAGES_LOW_WATER);
    bob.publish_key_packages(20).await;
    let (_, last_resort) = alice.client.claim_key_package(bob.mailbox()).await.unwrap();
    assert!(!last_resort, "after topping up, one-time KeyPackages again");
    // A KeyPackage handed out for one mailbox but belonging to another (a substitution by the
    // server) is refused when adding.
    let group = alice.mls.create_group().unwrap();
    let (bobs, _) = alice.client.claim_key_package(bob.mailbox()).await.unwrap();
    let err = alice.mls.add_claimed_members(&group, &[(alice.mailbox(), bobs.0.to_vec())]).unwrap_err();
    assert!(matches!(err, sallyport_core::MlsClientError::BadKeyPackage(_)), "{err:?}");
    // Garbage is refused as a KeyPackage and as a group message.
    let err = alice
        .client
        .publish_key_packages(alice.mailbox(), vec![sallyport_core::protocol::Payload(b"junk".to_vec().into())], None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidMlsMessage));
    let err = alice.send_raw(MessageId::random(), vec![bob.mailbox()], vec![], b"junk".to_vec(), true).await.unwrap_err();
    assert_eq!(err, ErrorCode::InvalidMlsMessage);
    let empty = sallyport_core::protocol::MailboxId::random();
    alice.client.create_mailbox(empty, sallyport_core::protocol::MailboxSecret::random()).await.unwrap();
    let err = alice.client.claim_key_package(empty).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NoKeyPackage));
}

async fn the_server_keeps_no_readable_content_in_its_database_or_logs(encoding: Encoding) {
    let mut server = TestServer::start().await;
    let root = state_root();
    let mut alice = MlsPeer::join_with(&server, "alice", root.path(), encoding).await;
    let mut bob = MlsPeer::join_with(&server, "bob", root.path(), encoding).await;
    let group = group_of(&mut alice, &mut [&mut bob]).await;
    let markers: Vec<String> = (0..20).map(|i| format!("PLAINTEXT-MARKER-{i:03}-zebra")).collect();
    for m in &markers {
        say(&mut alice, &group, m).await;
    }
    // Half are read and acked, half stay queued on the server.
    let half = markers[9].clone();
    bob.pump_until("half", move |p| p.texts().contains(&half)).await;
    server.stop().await;

    let mut haystacks: Vec<(String, Vec<u8>)> = vec![("log".into(), server.logs().into_bytes())];
    for entry in walk(server.data_dir()) {
        if entry.extension().is_some_and(|e| e == "log") {
            continue;
        }
        haystacks.push((entry.display().to_string(), std::fs::read(&entry).unwrap()));
    }
    assert!(haystacks.iter().any(|(name, _)| name.ends_with("sallyport.db")), "the database was searched");
    for (name, bytes) in &haystacks {
        for needle in markers.iter().map(|m| m.as_bytes().to_vec()).chain([b"zebra".to_vec()]) {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{name} contains {:?}",
                String::from_utf8_lossy(&needle)
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The web app re-sends what its outbox kept after a reload under the original id. A commit the
/// server already took must be answered `accepted` again — even once the group has moved on —
/// not `stale_epoch`, or the client would discard a commit every other member applied.
async fn a_commit_resent_under_its_id_after_acceptance_is_accepted_not_stale(encoding: Encoding) {
    let server = TestServer::start().await;
    let root = state_root();
    let mut alice = MlsPeer::join_with(&server, "alice", root.path(), encoding).await;
    let mut bob = MlsPeer::join_with(&server, "bob", root.path(), encoding).await;
    let mut carol = MlsPeer::join_with(&server, "carol", root.path(), encoding).await;
    let group = group_of(&mut alice, &mut [&mut bob]).await;

    let carol_kp = alice.claim(carol.mailbox()).await;
    let add = alice.mls.add_claimed_members(&group, &[(carol.mailbox(), carol_kp)]).unwrap();
    let id = MessageId::random();
    assert_eq!(alice.send_raw(id, add.to.clone(), add.members.clone(), add.envelope.clone(), true).await, Ok(()));
    alice.mls.commit_accepted(&group).unwrap();
    // The group moves on past that epoch.
    let update = alice.mls.update(&group).unwrap();
    alice.send(update).await.expect("a later commit is accepted");

    assert_eq!(
        alice.send_raw(id, add.to.clone(), add.members.clone(), add.envelope.clone(), true).await,
        Ok(()),
        "the same commit under the same id is a duplicate of an accepted message"
    );
    let g = group.clone();
    carol.pump_until("joined", move |p| p.has_joined(&g)).await;
    say(&mut carol, &group, "MARKER-carol once").await;
    sees(&mut bob, "MARKER-carol once").await;
}

/// A group envelope holding an MLS `PrivateMessage` (RFC 9420 §6.3) with the group's id, the
/// epoch and content type given, and noise where the encrypted sender and content go. The framing
/// is all the server reads of a group message; anyone who knows the group id can write it.
fn forged(group: &[u8], epoch: u64, commit: bool) -> Vec<u8> {
    fn opaque(out: &mut Vec<u8>, bytes: &[u8]) {
        // The length as an MLS variable-length integer (RFC 9420 §2.1.2), 1 or 2 bytes here.
        match bytes.len() {
            n @ 0..=63 => out.push(n as u8),
            n @ 64..=16383 => out.extend_from_slice(&(0x4000 | n as u16).to_be_bytes()),
            n => panic!("{n} bytes is too long for this test"),
        }
        out.extend_from_slice(bytes);
    }
    let mut message = vec![0, 1, 0, 2]; // mls10, mls_private_message
    opaque(&mut message, group);
    message.extend_from_slice(&epoch.to_be_bytes());
    message.push(if commit { 3 } else { 1 }); // commit, or application
    opaque(&mut message, &[]); // authenticated_data
    opaque(&mut message, &[0x5a; 16]); // encrypted_sender_data
    opaque(&mut message, &[0xa5; 64]); // ciphertext
    GroupEnvelope { message, welcome: None }.encode()
}

/// Issue 10 item 4: a removed member still knows the group id and its epoch. Before the server
/// bound groups to their members, its forged commit for the next epoch won that epoch, and every
/// real commit after it was refused as stale: the conversation was broken for everyone.
async fn a_removed_member_cannot_break_the_conversation(server: TestServer, encoding: Encoding) {
    let root = state_root();
    let mut alice = MlsPeer::join_with(&server, "alice", root.path(), encoding).await;
    let mut bob = MlsPeer::join_with(&server, "bob", root.path(), encoding).await;
    let mut carol = MlsPeer::join_with(&server, "carol", root.path(), encoding).await;
    let group = group_of(&mut alice, &mut [&mut bob, &mut carol]).await;
    say(&mut carol, &group, "MARKER-carol while a member").await;
    sees(&mut alice, "MARKER-carol while a member").await;
    sees(&mut bob, "MARKER-carol while a member").await;

    // Alice removes Carol, who gets the commit and learns of it.
    let remove = alice.mls.remove_members(&group, &[carol.mailbox()]).unwrap();
    assert!(remove.to.contains(&carol.mailbox()) && !remove.members.contains(&carol.mailbox()));
    alice.send(remove).await.expect("the removal is accepted");
    let g = group.clone();
    carol.pump_until("removed", move |p| p.events.iter().any(|e| matches!(e, MlsEvent::Removed { group } if *group == g))).await;
    let epoch = alice.mls.epoch(&group).unwrap();

    // Carol forges a commit for the group's current epoch (naming herself as its only member)
    // and an application message: both refused, nothing stored for anyone.
    let (a, b, c) = (alice.mailbox(), bob.mailbox(), carol.mailbox());
    let commit = forged(&group, epoch, true);
    assert_eq!(
        carol.send_raw(MessageId::random(), vec![a, b], vec![c], commit, true).await,
        Err(ErrorCode::NotAMember),
        "a removed member's commit"
    );
    assert_eq!(
        carol.send_raw(MessageId::random(), vec![a, b], vec![], forged(&group, epoch, false), true).await,
        Err(ErrorCode::NotAMember),
        "a removed member's application message"
    );

    // Alice and Bob carry on: messages both ways, and the next real commit wins the epoch Carol
    // tried to take.
    say(&mut bob, &group, "MARKER-bob after the removal").await;
    sees(&mut alice, "MARKER-bob after the removal").await;
    let update = alice.mls.update(&group).unwrap();
    alice.send(update).await.expect("the next real commit is accepted");
    assert_eq!(alice.mls.epoch(&group).unwrap(), epoch + 1);
    say(&mut alice, &group, "MARKER-alice at the new epoch").await;
    sees(&mut bob, "MARKER-alice at the new epoch").await;
    assert_eq!(bob.mls.epoch(&group).unwrap(), epoch + 1, "bob processed the real commit, nothing forged");
    say(&mut bob, &group, "MARKER-bob at the new epoch").await;
    sees(&mut alice, "MARKER-bob at the new epoch").await;
    assert!(!bob.events.iter().chain(&alice.events).any(|e| matches!(e, MlsEvent::Ignored { .. })), "no forged delivery reached them");
}

async fn a_removed_member_cannot_break_the_conversation_on_sqlite(encoding: Encoding) {
    a_removed_member_cannot_break_the_conversation(TestServer::start().await, encoding).await;
}

async fn a_removed_member_cannot_break_the_conversation_on_postgres(encoding: Encoding) {
    let Some(db) = postgres_database().await else { return };
    let server = TestServer::start_with(ServerOptions { database_url: Some(db), ..Default::default() }).await;
    a_removed_member_cannot_break_the_conversation(server, encoding).await;
}
