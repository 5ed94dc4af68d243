//! A test participant in MLS conversations: a native transport `Client` plus an `MlsClient` whose
//! state lives in files (so it survives a restart), glued the way an app must: process and
//! persist a delivery before acking it; apply a commit only once the server accepted it.

use crate::{Encoding, TestServer, WAIT};
use sallyport_core::protocol::{ErrorCode, MailboxId, MessageId, Payload};
use sallyport_core::{Client, Credentials, Event, FileStateStore, GroupId, MemberInfo, MlsClient, MlsEvent, Outgoing};
use std::collections::VecDeque;
use std::path::PathBuf;

pub struct MlsPeer {
    pub name: String,
    pub creds: Credentials,
    pub client: Client,
    /// The encoding of the hot frames this peer's connections ask for.
    encoding: Encoding,
    pub mls: MlsClient,
    state_dir: PathBuf,
    /// Plaintexts shown to the user, in order: (group, sender's mailbox, text). Credentials carry
    /// no name; an app names the sender from the directory.
    pub shown: Vec<(GroupId, MailboxId, String)>,
    /// Every MLS event, for assertions.
    pub events: Vec<MlsEvent>,
    /// Deliveries read while waiting for an answer, processed by the next `pump`.
    backlog: VecDeque<Event>,
}

impl MlsPeer {
    /// Enrols, connects (with the client's default encoding) and publishes KeyPackages.
    pub async fn join(server: &TestServer, name: &str, state_root: &std::path::Path) -> MlsPeer {
        Self::join_with(server, name, state_root, Encoding::Binary).await
    }

    /// Like [`join`](Self::join), connecting with the given encoding of the hot frames.
    pub async fn join_with(server: &TestServer, name: &str, state_root: &std::path::Path, encoding: Encoding) -> MlsPeer {
        let creds = server.enrol(name).await;
        let state_dir = state_root.join(name);
        let mls = Self::open_mls(&creds, &state_dir);
        let client = crate::connect(&creds, encoding).await.expect("connect");
        let mut peer = MlsPeer {
            name: name.to_owned(),
            creds,
            client,
            encoding,
            mls,
            state_dir,
            shown: vec![],
            events: vec![],
            backlog: VecDeque::new(),
        };
        peer.publish_key_packages(5).await;
        peer
    }

    fn open_mls(creds: &Credentials, dir: &std::path::Path) -> MlsClient {
        let store = FileStateStore::open(dir).expect("state dir");
        MlsClient::for_device(&creds.keys, MemberInfo::new(creds.mailbox), Box::new(store)).expect("mls client")
    }

    pub fn mailbox(&self) -> MailboxId {
        self.creds.mailbox
    }

    pub async fn publish_key_packages(&mut self, n: usize) {
        let kps = self.mls.key_packages(n).expect("key packages").into_iter().map(|k| Payload(k.into())).collect();
        let last = Payload(self.mls.last_resort_key_package().expect("last resort").into());
        self.client.publish_key_packages(self.mailbox(), kps, Some(last)).await.expect("publish");
    }

    /// Simulates an app restart: everything in memory is dropped; MLS state is reloaded from
    /// its files and the transport reconnects (server redelivers whatever was not acked).
    pub async fn restart(&mut self) {
        self.backlog.clear();
        self.mls = Self::open_mls(&self.creds, &self.state_dir);
        self.client = crate::connect(&self.creds, self.encoding).await.expect("reconnect");
    }

    pub async fn claim(&mut self, mailbox: MailboxId) -> Vec<u8> {
        self.client.claim_key_package(mailbox).await.expect("claim").0 .0.to_vec()
    }

    /// Sends `out` and waits for the server's answer. A commit is applied when accepted and
    /// discarded when refused (`Err(stale_epoch)`).
    pub async fn send(&mut self, out: Outgoing) -> Result<(), ErrorCode> {
        let (to, members) = (out.to.clone(), out.members.clone());
        let id = self.client.group_send(to, members, Payload(out.envelope.clone().into())).await.expect("send");
        let answer = self.answer(id).await;
        if out.commit {
            match answer {
                Ok(()) => {
                    let events = self.mls.commit_accepted(&out.group).expect("apply commit");
                    self.events.extend(events);
                }
                Err(_) => self.mls.commit_rejected(&out.group).expect("discard commit"),
            }
        }
        answer
    }

    /// Sends raw bytes as a group message under a chosen id (duplicate/reorder and forgery tests),
    /// naming `members` (for a commit; `group_send`'s `members`), or as a plain `send`.
    pub async fn send_raw(
        &mut self,
        id: MessageId,
        to: Vec<MailboxId>,
        members: Vec<MailboxId>,
        envelope: Vec<u8>,
        group: bool,
    ) -> Result<(), ErrorCode> {
        let payload = Payload(envelope.into());
        if group {
            self.client.group_send_with_id(id, to, members, payload).await.expect("send");
        } else {
            self.client.send_with_id(id, to, payload).await.expect("send");
        }
        self.answer(id).await
    }

    async fn answer(&mut self, id: MessageId) -> Result<(), ErrorCode> {
        loop {
            let event = tokio::time::timeout(WAIT, self.client.next_event()).await.expect("an answer in time").expect("connection");
            match event {
                Event::Accepted { id: got, .. } if got == id => return Ok(()),
                Event::Error { id: Some(got), code, .. } if got == id => return Err(code),
                Event::Message { .. } => self.backlog.push_back(event),
                _ => {}
            }
        }
    }

    /// Processes deliveries until `done(self)` holds (failing after `WAIT`).
    pub async fn pump_until(&mut self, what: &str, mut done: impl FnMut(&mut MlsPeer) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(self) {
            let event = match self.backlog.pop_front() {
                Some(e) => e,
                None => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    match tokio::time::timeout(left, self.client.next_event()).await {
                        Ok(e) => e.expect("connection"),
                        Err(_) => panic!("{}: timed out waiting until {what}; events: {:?}", self.name, self.events),
                    }
                }
            };
            if let Event::Message { mailbox, seq, payload, .. } = event {
                self.process(&payload.0);
                // Only now, with the new state on disk, may the server forget the message.
                self.client.ack(mailbox, seq).await.expect("ack");
            }
        }
    }

    /// Processes one envelope (state is persisted by the MLS client before this returns).
    pub fn process(&mut self, envelope: &[u8]) {
        let events = self.mls.process(envelope).expect("process");
        for event in events {
            if let MlsEvent::Message { group, sender, plaintext } = &event {
                self.shown.push((group.clone(), sender.mailbox, String::from_utf8_lossy(plaintext).into_owned()));
            }
            self.events.push(event);
        }
    }

    pub fn has_joined(&self, group: &GroupId) -> bool {
        self.events.iter().any(|e| matches!(e, MlsEvent::Joined { group: g, .. } if g == group))
    }

    pub fn texts(&self) -> Vec<String> {
        self.shown.iter().map(|(_, _, t)| t.clone()).collect()
    }
}

