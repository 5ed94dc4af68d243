//! In-process tests of the MLS layer: no server; the test plays the server by handing each
//! `Outgoing` to the clients whose mailboxes it names, and by picking the winning commit.

use super::*;
use crate::storage::{FileStateStore, MemoryStateStore};
use std::cell::RefCell;

thread_local! {
    /// The tests' own "directory": names are not in credentials, so the test names mailboxes.
    static NAMES: RefCell<HashMap<MailboxId, &'static str>> = RefCell::new(HashMap::new());
}

/// A fresh mailbox known to this test as `name`.
fn named(name: &'static str) -> MemberInfo {
    let mailbox = MailboxId::random();
    NAMES.with(|n| n.borrow_mut().insert(mailbox, name));
    MemberInfo::new(mailbox)
}

fn name_of(member: &Member) -> String {
    NAMES.with(|n| n.borrow().get(&member.mailbox).copied().unwrap_or("?").to_owned())
}

struct Peer {
    name: &'static str,
    mls: MlsClient,
}

impl Peer {
    fn new(name: &'static str) -> Peer {
        let info = named(name);
        Peer { name, mls: MlsClient::open(MlsIdentity::generate(), info, Box::new(MemoryStateStore::new())).unwrap() }
    }

    fn mailbox(&self) -> MailboxId {
        self.mls.member_info().mailbox
    }

    fn kp(&mut self) -> Vec<u8> {
        self.mls.key_packages(1).unwrap().remove(0)
    }
}

/// Delivers `out` to every peer it is addressed to; returns (peer name, events).
fn deliver(peers: &mut [&mut Peer], out: &Outgoing) -> Vec<(&'static str, Vec<MlsEvent>)> {
    let mut all = Vec::new();
    for p in peers.iter_mut() {
        if out.to.contains(&p.mailbox()) {
            all.push((p.name, p.mls.process(&out.envelope).unwrap()));
        }
    }
    all
}

fn names_of(members: &[Member]) -> Vec<String> {
    let mut h: Vec<String> = members.iter().map(name_of).collect();
    h.sort();
    h
}

fn only(events: Vec<MlsEvent>) -> MlsEvent {
    assert_eq!(events.len(), 1, "{events:?}");
    events.into_iter().next().unwrap()
}

fn plaintext_from(event: MlsEvent) -> (String, Vec<u8>) {
    match event {
        MlsEvent::Message { sender, plaintext, .. } => (name_of(&sender), plaintext),
        other => panic!("expected a message, got {other:?}"),
    }
}

/// alice creates a group and adds bob and carol.
fn three() -> (Peer, Peer, Peer, GroupId) {
    let (mut alice, mut bob, mut carol) = (Peer::new("alice"), Peer::new("bob"), Peer::new("carol"));
    let group = alice.mls.create_group().unwrap();
    let out = alice.mls.add_members(&group, &[bob.kp(), carol.kp()]).unwrap();
    assert!(out.commit);
    assert_eq!(out.to.len(), 2);
    let mut everyone = vec![alice.mailbox(), bob.mailbox(), carol.mailbox()];
    everyone.sort_unstable();
    assert_eq!(out.members, everyone, "the creator and the added members");
    match only(alice.mls.commit_accepted(&group).unwrap()) {
        MlsEvent::MembershipChanged { added, removed, epoch: 1, .. } => {
            assert_eq!(names_of(&added), ["bob", "carol"]);
            assert!(removed.is_empty());
        }
        other => panic!("{other:?}"),
    }
    for (_, events) in deliver(&mut [&mut bob, &mut carol], &out) {
        match only(events) {
            MlsEvent::Joined { group: g, epoch: 1, members } => {
                assert_eq!(g, group);
                assert_eq!(names_of(&members), ["alice", "bob", "carol"]);
            }
            other => panic!("{other:?}"),
        }
    }
    (alice, bob, carol, group)
}

#[test]
fn three_members_talk_and_a_removed_member_reads_nothing_after() {
    let (mut alice, mut bob, mut carol, group) = three();
    for p in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(p.mls.epoch(&group).unwrap(), 1);
        assert_eq!(p.mls.recipients(&group).unwrap().len(), 2);
        assert!(!p.mls.recipients(&group).unwrap().contains(&p.mailbox()));
    }

    // Messages all ways.
    let names = ["alice", "bob", "carol"];
    for (sender, name) in names.iter().enumerate() {
        let text = format!("hello from {name}");
        let out = {
            let peers = [&mut alice, &mut bob, &mut carol];
            let [a, b, c] = peers;
            let s = match sender {
                0 => a,
                1 => b,
                _ => c,
            };
            s.mls.encrypt(&group, text.as_bytes()).unwrap()
        };
        assert!(!out.commit);
        let got = deliver(&mut [&mut alice, &mut bob, &mut carol], &out);
        assert_eq!(got.len(), 2);
        for (_, events) in got {
            assert_eq!(plaintext_from(only(events)), (name.to_string(), text.clone().into_bytes()));
        }
    }

    // A copy of carol's state as it was before her removal.
    let carol_state = carol.mls.kv.entries();

    let out = alice.mls.remove_members(&group, &[carol.mailbox()]).unwrap();
    assert!(out.to.contains(&carol.mailbox()), "the removed member learns of it");
    let mut remaining = vec![alice.mailbox(), bob.mailbox()];
    remaining.sort_unstable();
    assert_eq!(out.members, remaining, "but the server binds the group to the remaining members only");
    alice.mls.commit_accepted(&group).unwrap();
    for (name, events) in deliver(&mut [&mut bob, &mut carol], &out) {
        match (name, only(events)) {
            ("bob", MlsEvent::MembershipChanged { removed, added, epoch: 2, committer, .. }) => {
                assert_eq!(names_of(&removed), ["carol"]);
                assert!(added.is_empty());
                assert_eq!(name_of(&committer.unwrap()), "alice");
            }
            ("carol", MlsEvent::Removed { group: g }) => assert_eq!(g, group),
            other => panic!("{other:?}"),
        }
    }
    assert!(carol.mls.groups().is_empty());
    assert!(carol.mls.kv.keys_with_prefix("g.").is_empty(), "carol's group state is deleted");

    let secret = alice.mls.encrypt(&group, b"after carol left").unwrap();
    assert!(!secret.to.contains(&carol.mailbox()));
    assert_eq!(plaintext_from(only(bob.mls.process(&secret.envelope).unwrap())).1, b"after carol left");
    // Even if carol gets it, she has nothing to read it with...
    assert_eq!(
        only(carol.mls.process(&secret.envelope).unwrap()),
        MlsEvent::Ignored { group: Some(group.clone()), reason: IgnoreReason::UnknownGroup }
    );
    // ...not even with the state she had before the removal (it lacks the new epoch's secrets).
    let mut old_carol =
        MlsClient::new(carol.mls.identity().clone(), carol.mls.member_info().clone(), carol_state).unwrap();
    assert_eq!(
        only(old_carol.process(&secret.envelope).unwrap()),
        MlsEvent::Ignored { group: Some(group.clone()), reason: IgnoreReason::FutureEpoch }
    );
    assert!(matches!(only(old_carol.process(&out.envelope).unwrap()), MlsEvent::Removed { .. }));
    assert!(matches!(only(old_carol.process(&secret.envelope).unwrap()), MlsEvent::Ignored { .. }));
}

#[test]
fn concurrent_commits_the_loser_processes_the_winner_and_retries() {
    let (mut alice, mut bob, mut carol, group) = three();
    let (mut dave, mut erin) = (Peer::new("dave"), Peer::new("erin"));
    let (dave_kp, erin_kp) = (dave.kp(), erin.kp());

    // Both commit at epoch 1.
    let alice_commit = alice.mls.add_members(&group, &[dave_kp]).unwrap();
    let bob_commit = bob.mls.add_members(&group, std::slice::from_ref(&erin_kp)).unwrap();
    assert!(matches!(bob.mls.update(&group), Err(MlsClientError::PendingCommit)));

    // Application messages still flow while commits are in flight.
    let hello = carol.mls.encrypt(&group, b"meanwhile").unwrap();
    deliver(&mut [&mut alice, &mut bob], &hello);

    // The server takes alice's, refuses bob's (and drops its Welcome).
    alice.mls.commit_accepted(&group).unwrap();
    bob.mls.commit_rejected(&group).unwrap();
    assert!(!bob.mls.has_pending_commit(&group).unwrap());
    for (name, events) in deliver(&mut [&mut bob, &mut carol, &mut dave], &alice_commit) {
        match only(events) {
            MlsEvent::MembershipChanged { added, epoch: 2, .. } => assert_eq!(names_of(&added), ["dave"], "{name}"),
            MlsEvent::Joined { members, epoch: 2, .. } => {
                assert_eq!(name, "dave");
                assert_eq!(members.len(), 4);
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // bob's stale commit, if anyone got it, is ignored.
    assert_eq!(
        only(carol.mls.process(&bob_commit.envelope).unwrap()),
        MlsEvent::Ignored { group: Some(group.clone()), reason: IgnoreReason::StaleEpoch }
    );

    // bob retries at epoch 2 with the same (unused) KeyPackage.
    let retry = bob.mls.add_members(&group, &[erin_kp]).unwrap();
    assert!(retry.to.contains(&dave.mailbox()) && retry.to.contains(&erin.mailbox()));
    bob.mls.commit_accepted(&group).unwrap();
    let got = deliver(&mut [&mut alice, &mut carol, &mut dave, &mut erin], &retry);
    assert_eq!(got.len(), 4);

    let peers = [&mut alice, &mut bob, &mut carol, &mut dave, &mut erin];
    let expected = ["alice", "bob", "carol", "dave", "erin"];
    for p in peers {
        assert_eq!(p.mls.epoch(&group).unwrap(), 3, "{}", p.name);
        assert_eq!(names_of(&p.mls.members(&group).unwrap()), expected, "{}", p.name);
    }
    let out = erin.mls.encrypt(&group, b"hi all").unwrap();
    for (_, events) in deliver(&mut [&mut alice, &mut bob, &mut carol, &mut dave], &out) {
        assert_eq!(plaintext_from(only(events)), ("erin".to_owned(), b"hi all".to_vec()));
    }
}

#[test]
fn duplicates_echoes_and_reordering_show_each_message_once() {
    let (mut alice, mut bob, mut carol, group) = three();
    let outs: Vec<Outgoing> = (0..12).map(|i| alice.mls.encrypt(&group, format!("m{i}").as_bytes()).unwrap()).collect();
    // Shuffled (a fixed permutation), and everything twice.
    let order = [7, 2, 11, 0, 5, 9, 1, 3, 10, 4, 8, 6];
    let mut shown = Vec::new();
    let mut ignored = 0;
    for round in 0..2 {
        for &i in &order {
            let idx = if round == 0 { i } else { 11 - i };
            for event in bob.mls.process(&outs[idx].envelope).unwrap() {
                match event {
                    MlsEvent::Message { plaintext, .. } => shown.push(String::from_utf8(plaintext).unwrap()),
                    MlsEvent::Ignored { reason: IgnoreReason::Duplicate, .. } => ignored += 1,
                    other => panic!("{other:?}"),
                }
            }
        }
    }
    shown.sort_by_key(|s| s[1..].parse::<u32>().unwrap());
    assert_eq!(shown, (0..12).map(|i| format!("m{i}")).collect::<Vec<_>>());
    assert_eq!(ignored, 12);

    // Our own message echoed back.
    assert_eq!(
        only(alice.mls.process(&outs[0].envelope).unwrap()),
        MlsEvent::Ignored { group: Some(group.clone()), reason: IgnoreReason::OwnMessage }
    );

    // A message from just before a commit still decrypts after it (prior epoch), with its sender.
    let late = carol.mls.encrypt(&group, b"late").unwrap();
    let update = alice.mls.update(&group).unwrap();
    alice.mls.commit_accepted(&group).unwrap();
    assert!(matches!(only(bob.mls.process(&update.envelope).unwrap()), MlsEvent::MembershipChanged { epoch: 2, .. }));
    assert_eq!(plaintext_from(only(bob.mls.process(&late.envelope).unwrap())), ("carol".to_owned(), b"late".to_vec()));
    // A repeated commit, and a repeated Welcome.
    assert_eq!(
        only(bob.mls.process(&update.envelope).unwrap()),
        MlsEvent::Ignored { group: Some(group.clone()), reason: IgnoreReason::StaleEpoch }
    );
    let mut dave = Peer::new("dave");
    let add = alice.mls.add_members(&group, &[dave.kp()]).unwrap();
    alice.mls.commit_accepted(&group).unwrap();
    assert!(matches!(only(dave.mls.process(&add.envelope).unwrap()), MlsEvent::Joined { .. }));
    assert!(matches!(only(dave.mls.process(&add.envelope).unwrap()), MlsEvent::Ignored { .. }));
    // Our own commit echoed after it was applied.
    assert!(matches!(only(alice.mls.process(&add.envelope).unwrap()), MlsEvent::Ignored { .. }));
    // Garbage is an error, not a panic.
    assert!(matches!(bob.mls.process(b"junk"), Err(MlsClientError::Malformed(_))));
}

#[test]
fn restart_from_files_and_continue_both_ways() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let id_a = MlsIdentity::generate();
    let keys_b = DeviceKeys::generate();
    let info_a = named("alice");
    let info_b = named("Officer B");
    let open_a = || {
        MlsClient::open(id_a.clone(), info_a.clone(), Box::new(FileStateStore::open(dir_a.path()).unwrap())).unwrap()
    };
    let open_b = || {
        MlsClient::for_device(&keys_b, info_b.clone(), Box::new(FileStateStore::open(dir_b.path()).unwrap())).unwrap()
    };

    let (group, pending_for_b) = {
        let (mut a, mut b) = (open_a(), open_b());
        let kp = b.key_packages(3).unwrap().remove(1);
        let group = a.create_group().unwrap();
        let add = a.add_members(&group, &[kp]).unwrap();
        a.commit_accepted(&group).unwrap();
        assert!(matches!(only(b.process(&add.envelope).unwrap()), MlsEvent::Joined { .. }));
        let m = b.encrypt(&group, b"before restart").unwrap();
        assert_eq!(plaintext_from(only(a.process(&m.envelope).unwrap())).1, b"before restart");
        // b's signing key is the device's.
        let me = b.members(&group).unwrap().into_iter().find(|m| name_of(m) == "Officer B").unwrap();
        assert_eq!(me.signing_key, keys_b.signing_public().0);
        // Sent while b is "offline": delivered after both restart.
        let pending = a.encrypt(&group, b"while you were away").unwrap();
        (group, pending)
    };

    let (mut a, mut b) = (open_a(), open_b());
    assert_eq!(a.groups(), vec![group.clone()]);
    assert_eq!(plaintext_from(only(b.process(&pending_for_b.envelope).unwrap())).1, b"while you were away");
    for i in 0..3 {
        let m = a.encrypt(&group, format!("a{i}").as_bytes()).unwrap();
        assert_eq!(plaintext_from(only(b.process(&m.envelope).unwrap())).1, format!("a{i}").as_bytes());
        let m = b.encrypt(&group, format!("b{i}").as_bytes()).unwrap();
        assert_eq!(
            plaintext_from(only(a.process(&m.envelope).unwrap())),
            ("Officer B".to_owned(), format!("b{i}").into_bytes())
        );
    }
    // A commit made before a restart (still in flight) can be accepted after it.
    let update = b.update(&group).unwrap();
    drop(b);
    let mut b = open_b();
    assert!(b.has_pending_commit(&group).unwrap());
    b.commit_accepted(&group).unwrap();
    a.process(&update.envelope).unwrap();
    assert_eq!(a.epoch(&group).unwrap(), b.epoch(&group).unwrap());
    let m = a.encrypt(&group, b"after all that").unwrap();
    assert_eq!(plaintext_from(only(b.process(&m.envelope).unwrap())).1, b"after all that");

    // The store refuses another identity.
    drop(a);
    let wrong =
        MlsClient::open(MlsIdentity::generate(), info_a.clone(), Box::new(FileStateStore::open(dir_a.path()).unwrap()));
    assert!(matches!(wrong, Err(MlsClientError::IdentityMismatch)));
}

#[test]
fn host_persisted_changes_rebuild_the_client() {
    let id = MlsIdentity::generate();
    let info = named("pseudonym-7");
    let mut host_db: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    let save = |changes: Vec<(String, Option<Vec<u8>>)>, db: &mut std::collections::BTreeMap<String, Vec<u8>>| {
        assert!(!changes.is_empty());
        for (k, v) in changes {
            match v {
                Some(v) => db.insert(k, v),
                None => db.remove(&k),
            };
        }
    };
    let mut alice = Peer::new("alice");
    let mut anon = MlsClient::new(id.clone(), info.clone(), vec![]).unwrap();
    let kp = anon.key_packages(1).unwrap().remove(0);
    save(anon.take_changes(), &mut host_db);
    assert!(anon.take_changes().is_empty());

    let group = alice.mls.create_group().unwrap();
    let add = alice.mls.add_members(&group, &[kp]).unwrap();
    alice.mls.commit_accepted(&group).unwrap();
    anon.process(&add.envelope).unwrap();
    save(anon.take_changes(), &mut host_db);
    let out = anon.encrypt(&group, b"I need to talk").unwrap();
    save(anon.take_changes(), &mut host_db);
    drop(anon);

    let mut anon = MlsClient::new(id, info, host_db.clone().into_iter().collect()).unwrap();
    assert_eq!(plaintext_from(only(alice.mls.process(&out.envelope).unwrap())).1, b"I need to talk");
    let reply = alice.mls.encrypt(&group, b"I'm here").unwrap();
    assert_eq!(
        plaintext_from(only(anon.process(&reply.envelope).unwrap())),
        ("alice".to_owned(), b"I'm here".to_vec())
    );
    let again = anon.encrypt(&group, b"thanks").unwrap();
    assert_eq!(plaintext_from(only(alice.mls.process(&again.envelope).unwrap())).1, b"thanks");
}

#[test]
fn leave_is_committed_by_another_member() {
    let (mut alice, mut bob, mut carol, group) = three();
    let leave = bob.mls.leave(&group).unwrap();
    assert!(!leave.commit);
    let mut committers = Vec::new();
    for (name, events) in deliver(&mut [&mut alice, &mut carol], &leave) {
        match only(events) {
            MlsEvent::LeaveRequested { member, .. } => assert_eq!(name_of(&member), "bob"),
            other => panic!("{name}: {other:?}"),
        }
        committers.push(name);
    }
    // Pending proposals block messages until committed.
    assert!(matches!(carol.mls.encrypt(&group, b"x"), Err(MlsClientError::CommitRequired)));
    let commit = alice.mls.commit_pending(&group).unwrap().expect("a proposal is pending");
    assert!(commit.to.contains(&bob.mailbox()));
    let mut remaining = vec![alice.mailbox(), carol.mailbox()];
    remaining.sort_unstable();
    assert_eq!(commit.members, remaining, "the committed leave request removes bob from the members");
    alice.mls.commit_accepted(&group).unwrap();
    assert!(alice.mls.commit_pending(&group).unwrap().is_none());
    for (name, events) in deliver(&mut [&mut bob, &mut carol], &commit) {
        match (name, only(events)) {
            ("bob", MlsEvent::Removed { .. }) => {}
            ("carol", MlsEvent::MembershipChanged { removed, .. }) => assert_eq!(names_of(&removed), ["bob"]),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(names_of(&carol.mls.members(&group).unwrap()), ["alice", "carol"]);
    let m = carol.mls.encrypt(&group, b"bye bob").unwrap();
    assert_eq!(m.to, vec![alice.mailbox()]);
    assert!(m.members.is_empty(), "only a commit names members");
}

#[test]
fn key_packages_credentials_and_last_resort() {
    let keys = DeviceKeys::generate();
    let info = named("Officer A");
    let mut device = MlsClient::for_device(&keys, info.clone(), Box::new(MemoryStateStore::new())).unwrap();
    let mut anon = MlsClient::open(
        MlsIdentity::generate(),
        named("anon"),
        Box::new(MemoryStateStore::new()),
    )
    .unwrap();
    let kp_of = |bytes: &[u8]| MlsMessage::from_bytes(bytes).unwrap().into_key_package().unwrap();
    let device_kp = kp_of(&device.key_packages(1).unwrap()[0]);
    assert_eq!(device_kp.signing_identity().signature_key.as_bytes(), keys.signing_public().0);
    let anon_kp = kp_of(&anon.key_packages(1).unwrap()[0]);
    assert_ne!(anon_kp.signing_identity().signature_key.as_bytes(), keys.signing_public().0, "unlinked key");

    // Bad inputs.
    let mut alice = Peer::new("alice");
    let group = alice.mls.create_group().unwrap();
    assert!(matches!(alice.mls.add_members(&group, &[vec![1, 2, 3]]), Err(MlsClientError::BadKeyPackage(_))));
    assert!(matches!(alice.mls.encrypt(b"no such group", b"x"), Err(MlsClientError::UnknownGroup)));
    assert!(MemberInfo::decode(&MemberInfo::new(MailboxId::random()).encode()).is_some());
    assert!(MemberInfo::decode(b"\x02short").is_none());

    // The last-resort KeyPackage works for two joins.
    let mut bob = Peer::new("bob");
    let lr = bob.mls.last_resort_key_package().unwrap();
    for _ in 0..2 {
        let g = alice.mls.create_group().unwrap();
        let add = alice.mls.add_members(&g, std::slice::from_ref(&lr)).unwrap();
        alice.mls.commit_accepted(&g).unwrap();
        assert!(matches!(only(bob.mls.process(&add.envelope).unwrap()), MlsEvent::Joined { .. }));
    }
    // One-time ones work once: a second Welcome made with it is not for us.
    let kp = bob.kp();
    let g1 = alice.mls.create_group().unwrap();
    let add1 = alice.mls.add_members(&g1, std::slice::from_ref(&kp)).unwrap();
    alice.mls.commit_accepted(&g1).unwrap();
    assert!(matches!(only(bob.mls.process(&add1.envelope).unwrap()), MlsEvent::Joined { .. }));
    let g2 = alice.mls.create_group().unwrap();
    let add2 = alice.mls.add_members(&g2, &[kp]).unwrap();
    alice.mls.commit_accepted(&g2).unwrap();
    assert!(matches!(
        only(bob.mls.process(&add2.envelope).unwrap()),
        MlsEvent::Ignored { reason: IgnoreReason::UnknownGroup, .. }
    ));
    // Only the newest two last-resort KeyPackages keep their keys.
    bob.mls.last_resort_key_package().unwrap();
    bob.mls.last_resort_key_package().unwrap();
    assert_eq!(bob.mls.kv.keys_with_prefix("lr.").len(), 2);
}

#[test]
fn handshake_messages_are_encrypted() {
    let (mut alice, _bob, _carol, group) = three();
    let out = alice.mls.update(&group).unwrap();
    let (message, _) = GroupEnvelope::parse(&out.envelope).unwrap();
    let message = MlsMessage::from_bytes(message).unwrap();
    assert_eq!(message.wire_format(), mls_rs::WireFormat::PrivateMessage);
    assert_eq!(message.epoch(), Some(1));
}

#[test]
fn the_client_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<MlsClient>();
}

/// A KeyPackage whose BasicCredential identity is `identity` (not a `MemberInfo` of this version).
fn key_package_with_credential(identity: &[u8]) -> Vec<u8> {
    let kv = KvState::from_entries(Vec::new());
    let provider = SallyportIdentityProvider::default();
    let client = build_client(&MlsIdentity::generate(), identity, &kv, &provider, KEY_PACKAGE_LIFETIME);
    client.generate_key_package_message(ExtensionList::default(), ExtensionList::default(), None).unwrap().to_bytes().unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_credential_holds_a_version_and_the_mailbox_and_no_name() {
    let name = "Zqpseudonymtext";
    let info = named(name);
    let mut anon = MlsClient::new(MlsIdentity::generate(), info.clone(), vec![]).unwrap();
    let mut expected = vec![2u8];
    expected.extend_from_slice(info.mailbox.as_bytes());
    assert_eq!(info.encode(), expected, "version 2 and the 16-byte mailbox, nothing else");
    for kp in [anon.key_packages(1).unwrap().remove(0), anon.last_resort_key_package().unwrap()] {
        let message = MlsMessage::from_bytes(&kp).unwrap().into_key_package().unwrap();
        let credential = message.signing_identity().credential.as_basic().unwrap().identifier.clone();
        assert_eq!(credential, expected);
        assert!(!contains(&kp, name.as_bytes()), "the KeyPackage holds the name");
    }
    // What the host persists names no one either.
    let state = anon.take_changes();
    assert!(state.iter().all(|(_, v)| v.as_ref().is_none_or(|v| !contains(v, name.as_bytes()))));
}

#[test]
fn a_version_1_credential_with_a_handle_is_refused() {
    let mailbox = MailboxId::random();
    let mut v1 = vec![1u8];
    v1.extend_from_slice(mailbox.as_bytes());
    v1.extend_from_slice(b"Officer A");
    assert_eq!(MemberInfo::decode(&v1), None);
    // Text after the mailbox is refused in version 2 as well: a credential has no room for a name.
    let mut v2_with_text = MemberInfo::new(mailbox).encode();
    v2_with_text.extend_from_slice(b"Officer A");
    assert_eq!(MemberInfo::decode(&v2_with_text), None);
    assert_eq!(MemberInfo::decode(&MemberInfo::new(mailbox).encode()), Some(MemberInfo::new(mailbox)));

    let mut alice = Peer::new("alice");
    let group = alice.mls.create_group().unwrap();
    for identity in [v1, v2_with_text] {
        let kp = key_package_with_credential(&identity);
        let added = alice.mls.add_claimed_members(&group, &[(mailbox, kp)]);
        assert!(matches!(added, Err(MlsClientError::BadKeyPackage(_))), "{added:?}");
    }
    // The group is unharmed: a current KeyPackage is still added.
    let mut bob = Peer::new("bob");
    let kp = bob.kp();
    alice.mls.add_claimed_members(&group, &[(bob.mailbox(), kp)]).unwrap();
}

#[test]
fn key_package_lifetimes_start_and_end_at_midnight_utc() {
    let mut client = MlsClient::new(MlsIdentity::generate(), named("Rounding"), vec![]).unwrap();
    let mut published = client.key_packages(2).unwrap();
    published.push(client.last_resort_key_package().unwrap());
    for bytes in published {
        let kp = MlsMessage::from_bytes(&bytes).unwrap().into_key_package().unwrap();
        let expiry = kp.expiration().unwrap().seconds_since_epoch();
        assert_eq!(expiry % 86_400, 0, "a lifetime to the second would date when the KeyPackage was made");
        assert!(expiry > MlsTime::now().seconds_since_epoch());
    }
}
