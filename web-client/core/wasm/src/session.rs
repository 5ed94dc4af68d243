//! The I/O-free protocol [`Session`] for the browser: the JS host owns the WebSocket, feeds each
//! text or binary message in and writes out each message the session produces; events come out as
//! plain objects.

use crate::convert::{js_error, number, object, parse, whole};
use js_sys::{Array, Uint8Array};
use sallyport_core::protocol::{Encoding, MailboxId, MailboxSecret, MessageId, Payload, WireMessage};
use sallyport_core::{Credentials, Event, session};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
export type SessionEvent =
    | { type: "ready"; account: string; device: string; mailbox: string }
    | { type: "accepted"; id: string; seq: number }
    | { type: "message"; mailbox: string; seq: number; id: string; payload: Uint8Array }
    | { type: "mailbox_created"; mailbox: string }
    | { type: "subscribed"; mailbox: string }
    | { type: "error"; code: string; message: string; id?: string; mailbox?: string }
    | { type: "key_packages_published"; mailbox: string; available: number }
    | { type: "key_package"; mailbox: string; keyPackage: Uint8Array; lastResort: boolean }
    | { type: "key_packages_low"; mailbox: string; available: number }
    | { type: "incident_changed"; incident: string }
    | { type: "closed" };
export interface SessionOutput { transmit: (string | Uint8Array<ArrayBuffer>)[]; events: SessionEvent[] }
"#;

/// One device's protocol state across reconnects. After any call, `drain()` (or `pollTransmit()` /
/// `pollEvent()`) gives the frames to write to the socket and the events for the application.
#[wasm_bindgen]
pub struct Session {
    inner: session::Session,
}

#[wasm_bindgen]
impl Session {
    /// A disconnected session for the credentials saved after enrolment (their JSON form:
    /// `server_url`, `account`, `device`, `mailbox`, `display_name`, `roles`, `keys`).
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(js_name = credentialsJson)] credentials_json: &str) -> Result<Session, JsError> {
        let creds = Credentials::from_json(credentials_json).map_err(js_error)?;
        Ok(Session { inner: session::Session::new(&creds) })
    }

    /// A new socket is open; the server's `challenge` comes next. `protocol`: the subprotocol the
    /// upgrade negotiated (`WebSocket.protocol`); `"sallyport.bin.v1"` turns on the binary
    /// encoding of the hot frames, anything else (or nothing) means JSON only.
    pub fn connected(&mut self, protocol: Option<String>) {
        self.inner.connected_with(Encoding::from_subprotocol(protocol.as_deref()));
    }

    /// The socket closed or failed; a `closed` event follows if it was open.
    pub fn disconnected(&mut self) {
        self.inner.disconnected();
    }

    /// Handles one WebSocket text message from the server; `nowMs` is `Date.now()`. Throws if the
    /// server broke the protocol: close the socket then.
    #[wasm_bindgen(js_name = handleText)]
    pub fn handle_text(&mut self, text: &str, #[wasm_bindgen(js_name = nowMs)] now_ms: f64) -> Result<(), JsError> {
        self.inner.handle_text(text, now_ms as i64).map_err(js_error)
    }

    /// Handles one WebSocket binary message from the server (with `binaryType = "arraybuffer"`,
    /// `new Uint8Array(event.data)`). Throws if the server broke the protocol: close the socket then.
    #[wasm_bindgen(js_name = handleBinary)]
    pub fn handle_binary(&mut self, data: Vec<u8>, #[wasm_bindgen(js_name = nowMs)] now_ms: f64) -> Result<(), JsError> {
        self.inner.handle_binary(&data.into(), now_ms as i64).map_err(js_error)
    }

    /// Everything produced since the last drain: `{ transmit, events }`. Write each `transmit`
    /// item to the socket in order: a string as a text message, a `Uint8Array` as a binary one.
    #[wasm_bindgen(unchecked_return_type = "SessionOutput")]
    pub fn drain(&mut self) -> JsValue {
        let transmit = Array::new();
        while let Some(message) = self.inner.poll_message() {
            transmit.push(&wire(message));
        }
        let events = Array::new();
        while let Some(event) = self.inner.poll_event() {
            events.push(&event_object(event));
        }
        object(&[("transmit", transmit.into()), ("events", events.into())]).into()
    }

    /// The next message to write (a string for text, a `Uint8Array` for binary), if any.
    #[wasm_bindgen(js_name = pollTransmit, unchecked_return_type = "string | Uint8Array<ArrayBuffer> | undefined")]
    pub fn poll_transmit(&mut self) -> JsValue {
        self.inner.poll_message().map_or(JsValue::UNDEFINED, wire)
    }

    /// The next event for the application, if any (see `drain()` for the shapes).
    #[wasm_bindgen(js_name = pollEvent, unchecked_return_type = "SessionEvent | undefined")]
    pub fn poll_event(&mut self) -> JsValue {
        self.inner.poll_event().map_or(JsValue::UNDEFINED, event_object)
    }

    /// Sends `payload` to the mailboxes `to` under a fresh id, returned; re-sent after reconnects
    /// until an `accepted` event names it.
    pub fn send(&mut self, to: Vec<String>, payload: &[u8]) -> Result<String, JsError> {
        let to = mailboxes(&to)?;
        Ok(self.inner.send(to, Payload(payload.to_vec().into())).to_text())
    }

    /// Like `send` with a chosen id (sending an id again is idempotent on the server).
    #[wasm_bindgen(js_name = sendWithId)]
    pub fn send_with_id(&mut self, id: &str, to: Vec<String>, payload: &[u8]) -> Result<(), JsError> {
        let id = parse("message id", id, MessageId::parse)?;
        self.inner.send_with_id(id, mailboxes(&to)?, Payload(payload.to_vec().into()));
        Ok(())
    }

    /// Sends an MLS group envelope (`Outgoing.envelope` from `MlsClient`) to `to` (`Outgoing.to`)
    /// as `group_send`, naming `members` (`Outgoing.members`: for a commit, the group's members
    /// once it takes effect; empty otherwise); returns its id. The server orders commits: a
    /// losing one is refused with a `stale_epoch` error naming this id; a message from a
    /// connection that reads none of the group's members with `not_a_member`.
    #[wasm_bindgen(js_name = groupSend)]
    pub fn group_send(&mut self, to: Vec<String>, members: Vec<String>, envelope: &[u8]) -> Result<String, JsError> {
        let (to, members) = (mailboxes(&to)?, mailboxes(&members)?);
        Ok(self.inner.group_send(to, members, Payload(envelope.to_vec().into())).to_text())
    }

    /// Like `groupSend` with a chosen id: after a reload, re-send what the outbox kept under its
    /// original id, so the server answers a commit it already took with `accepted`, not
    /// `stale_epoch`.
    #[wasm_bindgen(js_name = groupSendWithId)]
    pub fn group_send_with_id(
        &mut self,
        id: &str,
        to: Vec<String>,
        members: Vec<String>,
        envelope: &[u8],
    ) -> Result<(), JsError> {
        let id = parse("message id", id, MessageId::parse)?;
        self.inner.group_send_with_id(id, mailboxes(&to)?, mailboxes(&members)?, Payload(envelope.to_vec().into()));
        Ok(())
    }

    /// Publishes one-time KeyPackages (and optionally a new last-resort one) for `mailbox`;
    /// answered by a `key_packages_published` event. Only while ready; not retried.
    #[wasm_bindgen(js_name = publishKeyPackages)]
    pub fn publish_key_packages(
        &mut self,
        mailbox: &str,
        #[wasm_bindgen(js_name = keyPackages)] key_packages: Vec<Uint8Array>,
        #[wasm_bindgen(js_name = lastResort)] last_resort: Option<Uint8Array>,
    ) -> Result<(), JsError> {
        let mailbox = parse("mailbox", mailbox, MailboxId::parse)?;
        let key_packages = key_packages.iter().map(|kp| Payload(kp.to_vec().into())).collect();
        let last_resort = last_resort.map(|kp| Payload(kp.to_vec().into()));
        self.inner.publish_key_packages(mailbox, key_packages, last_resort);
        Ok(())
    }

    /// Claims a KeyPackage of `mailbox` (to add its owner to a group); answered by a `key_package`
    /// event. Only while ready; not retried.
    #[wasm_bindgen(js_name = claimKeyPackage)]
    pub fn claim_key_package(&mut self, mailbox: &str) -> Result<(), JsError> {
        self.inner.claim_key_package(parse("mailbox", mailbox, MailboxId::parse)?);
        Ok(())
    }

    /// Writes again every message not yet accepted (after a `rate_limited` error, for instance).
    #[wasm_bindgen(js_name = resendUnaccepted)]
    pub fn resend_unaccepted(&mut self) {
        self.inner.resend_unaccepted();
    }

    /// Ids of the messages sent and not yet accepted, oldest first.
    pub fn unaccepted(&self) -> Vec<String> {
        self.inner.unaccepted().map(|id| id.to_text()).collect()
    }

    /// Creates an unlinked mailbox (answered by a `mailbox_created` or an `error` event naming it).
    #[wasm_bindgen(js_name = createMailbox)]
    pub fn create_mailbox(&mut self, mailbox: &str, secret: &str) -> Result<(), JsError> {
        let (mailbox, secret) = mailbox_and_secret(mailbox, secret)?;
        self.inner.create_mailbox(mailbox, secret);
        Ok(())
    }

    /// Reads an unlinked mailbox on this and every later connection.
    pub fn subscribe(&mut self, mailbox: &str, secret: &str) -> Result<(), JsError> {
        let (mailbox, secret) = mailbox_and_secret(mailbox, secret)?;
        self.inner.subscribe(mailbox, secret);
        Ok(())
    }

    /// Stops re-subscribing `mailbox` after reconnects.
    #[wasm_bindgen(js_name = forgetMailbox)]
    pub fn forget_mailbox(&mut self, mailbox: &str) -> Result<(), JsError> {
        self.inner.forget_mailbox(parse("mailbox", mailbox, MailboxId::parse)?);
        Ok(())
    }

    /// The application has durably processed message `seq` of `mailbox`: the server may delete it.
    pub fn ack(&mut self, mailbox: &str, seq: f64) -> Result<(), JsError> {
        self.inner.ack(parse("mailbox", mailbox, MailboxId::parse)?, whole("seq", seq)?);
        Ok(())
    }

    /// How many acked messages per mailbox are remembered for de-duplication.
    #[wasm_bindgen(js_name = setDedupWindow)]
    pub fn set_dedup_window(&mut self, window: usize) {
        self.inner.set_dedup_window(window);
    }

    #[wasm_bindgen(getter, js_name = isReady)]
    pub fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }

    #[wasm_bindgen(getter)]
    pub fn device(&self) -> String {
        self.inner.device().to_text()
    }

    #[wasm_bindgen(getter, js_name = linkedMailbox)]
    pub fn linked_mailbox(&self) -> String {
        self.inner.linked_mailbox().to_text()
    }

    /// The account, once `ready` has named it.
    #[wasm_bindgen(getter)]
    pub fn account(&self) -> Option<String> {
        self.inner.account().map(|a| a.to_text())
    }
}

/// A fresh random mailbox id and secret for a support request: `{ mailbox, secret }`.
#[wasm_bindgen(js_name = newMailbox, unchecked_return_type = "{ mailbox: string; secret: string }")]
pub fn new_mailbox() -> JsValue {
    object(&[
        ("mailbox", JsValue::from_str(&MailboxId::random().to_text())),
        ("secret", JsValue::from_str(&MailboxSecret::random().to_text())),
    ])
    .into()
}

fn wire(message: WireMessage) -> JsValue {
    match message {
        WireMessage::Text(text) => JsValue::from_str(&text),
        WireMessage::Binary(bytes) => Uint8Array::from(&bytes[..]).into(),
    }
}

fn mailboxes(texts: &[String]) -> Result<Vec<MailboxId>, JsError> {
    texts.iter().map(|t| parse("mailbox", t, MailboxId::parse)).collect()
}

fn mailbox_and_secret(mailbox: &str, secret: &str) -> Result<(MailboxId, MailboxSecret), JsError> {
    Ok((parse("mailbox", mailbox, MailboxId::parse)?, parse("mailbox secret", secret, MailboxSecret::parse)?))
}

/// `{ type, … }` with the event's fields; ids as text, `payload` as a `Uint8Array`, `seq` a number.
fn event_object(event: Event) -> JsValue {
    let text = |s: String| JsValue::from_str(&s);
    let kind = |k: &str| ("type", JsValue::from_str(k));
    let object = match event {
        Event::Ready { account, device, mailbox } => object(&[
            kind("ready"),
            ("account", text(account.to_text())),
            ("device", text(device.to_text())),
            ("mailbox", text(mailbox.to_text())),
        ]),
        Event::Accepted { id, seq } => object(&[kind("accepted"), ("id", text(id.to_text())), ("seq", number(seq))]),
        Event::Message { mailbox, seq, id, payload } => object(&[
            kind("message"),
            ("mailbox", text(mailbox.to_text())),
            ("seq", number(seq)),
            ("id", text(id.to_text())),
            ("payload", Uint8Array::from(&payload.0[..]).into()),
        ]),
        Event::MailboxCreated { mailbox } => object(&[kind("mailbox_created"), ("mailbox", text(mailbox.to_text()))]),
        Event::Subscribed { mailbox } => object(&[kind("subscribed"), ("mailbox", text(mailbox.to_text()))]),
        Event::Error { code, message, id, mailbox } => object(&[
            kind("error"),
            ("code", JsValue::from_str(code.as_str())),
            ("message", text(message)),
            ("id", id.map_or(JsValue::UNDEFINED, |id| text(id.to_text()))),
            ("mailbox", mailbox.map_or(JsValue::UNDEFINED, |m| text(m.to_text()))),
        ]),
        Event::KeyPackagesPublished { mailbox, available } => object(&[
            kind("key_packages_published"),
            ("mailbox", text(mailbox.to_text())),
            ("available", JsValue::from(available)),
        ]),
        Event::KeyPackage { mailbox, key_package, last_resort } => object(&[
            kind("key_package"),
            ("mailbox", text(mailbox.to_text())),
            ("keyPackage", Uint8Array::from(&key_package.0[..]).into()),
            ("lastResort", JsValue::from_bool(last_resort)),
        ]),
        Event::KeyPackagesLow { mailbox, available } => object(&[
            kind("key_packages_low"),
            ("mailbox", text(mailbox.to_text())),
            ("available", JsValue::from(available)),
        ]),
        Event::IncidentChanged { incident } => object(&[kind("incident_changed"), ("incident", text(incident.to_text()))]),
        Event::Closed => object(&[kind("closed")]),
    };
    object.into()
}
