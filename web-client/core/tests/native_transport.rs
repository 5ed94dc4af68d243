//! The native transport against scripted fake servers on 127.0.0.1: each test plays the server's
//! side frame by frame, so these run without the real `sallyport` binary.

use ed25519_dalek::{Verifier as _, VerifyingKey};
use futures::{SinkExt as _, StreamExt as _};
use sallyport_core::protocol::rest::{EnrolRequest, Role};
use sallyport_core::protocol::{
    AccountId, BINARY_SUBPROTOCOL, ClientFrame, DeviceId, Encoding, ErrorCode, MailboxId, MailboxSecret, MessageId, Nonce,
    Payload, ServerFrame, auth, decode_client_binary,
};
use sallyport_core::{Client, ClientError, Credentials, DeviceKeys, Event, enrol};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

const TIMEOUT: Duration = Duration::from_secs(10);

type ServerWs = WebSocketStream<TcpStream>;

async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

fn creds(server_url: &str) -> Credentials {
    Credentials {
        server_url: server_url.to_owned(),
        account: AccountId([1; 16]),
        device: DeviceId([2; 16]),
        mailbox: MailboxId([3; 16]),
        display_name: "Officer A".into(),
        roles: vec![Role::Staff],
        keys: DeviceKeys::generate(),
    }
}

/// Accepts a WebSocket as the server does: with the binary subprotocol when the client offers it.
// The callback's `Result<Response, ErrorResponse>` is tungstenite's signature.
#[allow(clippy::result_large_err)]
async fn accept(listener: &TcpListener) -> ServerWs {
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
    let (tcp, _) = listener.accept().await.unwrap();
    let select = |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
        let offered = request.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).unwrap_or("");
        if offered.split(',').any(|p| p.trim() == BINARY_SUBPROTOCOL) {
            response.headers_mut().insert("sec-websocket-protocol", BINARY_SUBPROTOCOL.parse().unwrap());
        }
        Ok(response)
    };
    tokio_tungstenite::accept_hdr_async(tcp, select).await.unwrap()
}

/// Accepts a WebSocket as a server from before the binary encoding does: no subprotocol.
async fn accept_without_subprotocol(listener: &TcpListener) -> ServerWs {
    let (tcp, _) = listener.accept().await.unwrap();
    tokio_tungstenite::accept_async(tcp).await.unwrap()
}

async fn put(ws: &mut ServerWs, frame: ServerFrame) {
    ws.send(Message::text(frame.to_json())).await.unwrap();
}

async fn take(ws: &mut ServerWs) -> ClientFrame {
    loop {
        match tokio::time::timeout(TIMEOUT, ws.next()).await.expect("client frame in time") {
            Some(Ok(Message::Text(text))) => {
                return sallyport_core::protocol::decode_client_frame(text.as_bytes()).unwrap();
            }
            Some(Ok(Message::Binary(bytes))) => return decode_client_binary(&bytes).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a client frame, got {other:?}"),
        }
    }
}

/// Challenge, verify the signature the way the server must, answer `ready`.
async fn handshake(ws: &mut ServerWs, c: &Credentials) {
    let nonce = Nonce::random();
    put(ws, ServerFrame::Challenge { protocol: 1, nonce, server_time: 0 }).await;
    let ClientFrame::Auth { device, nonce: echoed, timestamp, signature } = take(ws).await else {
        panic!("expected auth");
    };
    assert_eq!((device, echoed), (c.device, nonce));
    let vk = VerifyingKey::from_bytes(c.keys.signing_public().as_bytes()).unwrap();
    let msg = auth::auth_message(&device, &nonce, &auth::origin_of(&c.server_url), timestamp);
    vk.verify(&msg, &ed25519_dalek::Signature::from_bytes(&signature.0)).expect("auth signature verifies");
    put(ws, ServerFrame::Ready { account: c.account, device: c.device, mailbox: c.mailbox }).await;
}

async fn event(client: &mut Client) -> Event {
    tokio::time::timeout(TIMEOUT, client.next_event()).await.expect("event in time").unwrap()
}

fn payload(text: &'static str) -> Payload {
    Payload(bytes::Bytes::from_static(text.as_bytes()))
}

#[tokio::test]
async fn connect_send_reconnect_resumes_and_deliveries_are_deduplicated() {
    let (listener, url) = listen().await;
    let c = creds(&url);
    let (unlinked, secret) = (MailboxId([6; 16]), MailboxSecret([7; 32]));
    let peer = MailboxId([4; 16]);
    let server_c = c.clone();
    let server = tokio::spawn(async move {
        let c = server_c;
        let mut ws = accept(&listener).await;
        handshake(&mut ws, &c).await;
        assert_eq!(take(&mut ws).await, ClientFrame::Subscribe { mailbox: unlinked, secret });
        put(&mut ws, ServerFrame::Subscribed { mailbox: unlinked }).await;
        let ClientFrame::Send { id, to, .. } = take(&mut ws).await else { panic!("expected send") };
        assert_eq!(to, vec![peer]);
        // The connection drops before the message is accepted.
        drop(ws);

        let mut ws = accept(&listener).await;
        handshake(&mut ws, &c).await;
        assert_eq!(take(&mut ws).await, ClientFrame::Subscribe { mailbox: unlinked, secret });
        let ClientFrame::Send { id: again, .. } = take(&mut ws).await else { panic!("expected the re-send") };
        assert_eq!(again, id, "re-sent under the same id");
        put(&mut ws, ServerFrame::Subscribed { mailbox: unlinked }).await;
        put(&mut ws, ServerFrame::Accepted { id, seq: 1 }).await;
        let deliver =
            ServerFrame::Deliver { mailbox: unlinked, seq: 9, id: MessageId([9; 16]), payload: payload("hi") };
        put(&mut ws, deliver.clone()).await;
        put(&mut ws, deliver.clone()).await;
        assert_eq!(take(&mut ws).await, ClientFrame::Ack { mailbox: unlinked, seq: 9 });
        // A later duplicate of the acked message is re-acked by the client on its own.
        put(&mut ws, deliver).await;
        assert_eq!(take(&mut ws).await, ClientFrame::Ack { mailbox: unlinked, seq: 9 });
        put(&mut ws, ServerFrame::Accepted { id: MessageId([1; 16]), seq: 2 }).await;
        id
    });

    let mut client = Client::connect(&c).await.unwrap();
    assert!(client.is_ready());
    client.subscribe(unlinked, secret).await.unwrap();
    let id = client.send(vec![peer], payload("hello")).await.unwrap();
    assert_eq!(event(&mut client).await, Event::Closed);
    assert!(matches!(client.next_event().await, Err(ClientError::Closed)));

    client.reconnect().await.unwrap();
    assert_eq!(event(&mut client).await, Event::Accepted { id, seq: 1 }, "the silent re-subscribe is not an event");
    let Event::Message { mailbox, seq, payload: p, .. } = event(&mut client).await else {
        panic!("expected a message")
    };
    assert_eq!((mailbox, seq, p), (unlinked, 9, payload("hi")));
    client.ack(unlinked, 9).await.unwrap();
    // The duplicate never shows; the next event is the marker the server sends last.
    assert_eq!(event(&mut client).await, Event::Accepted { id: MessageId([1; 16]), seq: 2 });
    assert_eq!(client.session().unaccepted().count(), 0);
    assert_eq!(server.await.unwrap(), id);
}

#[tokio::test]
async fn hot_frames_are_binary_where_the_server_selects_the_subprotocol_and_json_where_it_does_not() {
    let (listener, url) = listen().await;
    let c = creds(&url);
    let peer = MailboxId([4; 16]);
    let server_c = c.clone();
    let server = tokio::spawn(async move {
        let c = server_c;
        let mut ws = accept(&listener).await;
        handshake(&mut ws, &c).await;
        let Some(Ok(Message::Binary(bytes))) = ws.next().await else { panic!("a binary send") };
        let ClientFrame::Send { id, .. } = decode_client_binary(&bytes).unwrap() else { panic!("a send") };
        ws.send(Message::binary(ServerFrame::Accepted { id, seq: 1 }.to_binary().unwrap())).await.unwrap();
        drop(ws);
        // A server from before the encoding: the client's handshake fails on the missing
        // subprotocol (RFC 6455 §4.1) and it comes back offering none.
        drop(accept_without_subprotocol(&listener).await);
        let mut ws = accept_without_subprotocol(&listener).await;
        handshake(&mut ws, &c).await;
        let Some(Ok(Message::Text(text))) = ws.next().await else { panic!("a JSON send") };
        let ClientFrame::Send { id, .. } = sallyport_core::protocol::decode_client_frame(text.as_bytes()).unwrap() else {
            panic!("a send")
        };
        put(&mut ws, ServerFrame::Accepted { id, seq: 2 }).await;
    });

    let mut client = Client::connect(&c).await.unwrap();
    assert_eq!(client.encoding(), Encoding::Binary);
    let id = client.send(vec![peer], payload("binary")).await.unwrap();
    assert_eq!(event(&mut client).await, Event::Accepted { id, seq: 1 });
    assert_eq!(event(&mut client).await, Event::Closed);
    client.reconnect().await.unwrap();
    assert_eq!(client.encoding(), Encoding::Json);
    let id = client.send(vec![peer], payload("json")).await.unwrap();
    assert_eq!(event(&mut client).await, Event::Accepted { id, seq: 2 });
    server.await.unwrap();
}

#[tokio::test]
async fn refused_authentication_returns_the_servers_code() {
    let (listener, url) = listen().await;
    let c = creds(&url);
    tokio::spawn(async move {
        let mut ws = accept(&listener).await;
        put(&mut ws, ServerFrame::Challenge { protocol: 1, nonce: Nonce::random(), server_time: 0 }).await;
        let _auth = take(&mut ws).await;
        put(&mut ws, ServerFrame::error(ErrorCode::DeviceRevoked)).await;
        let _ = ws.close(None).await;
    });
    let err = Client::connect(&c).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::DeviceRevoked), "{err}");
}

#[tokio::test]
async fn create_mailbox_and_subscribe_return_refusals_and_keep_other_events() {
    let (listener, url) = listen().await;
    let c = creds(&url);
    let (m, secret) = (MailboxId([6; 16]), MailboxSecret([7; 32]));
    let server_c = c.clone();
    tokio::spawn(async move {
        let mut ws = accept(&listener).await;
        handshake(&mut ws, &server_c).await;
        assert_eq!(take(&mut ws).await, ClientFrame::CreateMailbox { mailbox: m, secret });
        // A delivery arrives before the answer: it must not be lost.
        put(
            &mut ws,
            ServerFrame::Deliver { mailbox: server_c.mailbox, seq: 1, id: MessageId([1; 16]), payload: payload("x") },
        )
        .await;
        put(&mut ws, ServerFrame::MailboxCreated { mailbox: m }).await;
        assert_eq!(take(&mut ws).await, ClientFrame::Subscribe { mailbox: m, secret: MailboxSecret([0; 32]) });
        put(&mut ws, ServerFrame::error_for_mailbox(ErrorCode::WrongMailboxSecret, m)).await;
    });
    let mut client = Client::connect(&c).await.unwrap();
    client.create_mailbox(m, secret).await.unwrap();
    let err = client.subscribe(m, MailboxSecret([0; 32])).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::WrongMailboxSecret));
    assert!(matches!(event(&mut client).await, Event::Message { seq: 1, .. }));
}

#[tokio::test]
async fn split_client_pipelines_sends_and_reads_acceptances() {
    const N: u64 = 500;
    let (listener, url) = listen().await;
    let c = creds(&url);
    let server_c = c.clone();
    tokio::spawn(async move {
        let mut ws = accept(&listener).await;
        handshake(&mut ws, &server_c).await;
        // Sends and acks interleave: the two halves write independently.
        let (mut seq, mut acks) = (0, Vec::new());
        while seq < N || (acks.len() as u64) < N {
            match take(&mut ws).await {
                ClientFrame::Send { id, .. } => {
                    seq += 1;
                    put(&mut ws, ServerFrame::Accepted { id, seq }).await;
                    put(&mut ws, ServerFrame::Deliver { mailbox: server_c.mailbox, seq, id, payload: payload("p") })
                        .await;
                }
                ClientFrame::Ack { mailbox, seq } => {
                    assert_eq!(mailbox, server_c.mailbox);
                    acks.push(seq);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(acks, (1..=N).collect::<Vec<_>>());
        let _ = ws.close(None).await;
    });
    let client = Client::connect(&c).await.unwrap();
    let (sender, mut receiver) = client.into_split().unwrap();
    let me = c.mailbox;
    let sending = tokio::spawn(async move {
        let mut ids = Vec::new();
        for _ in 0..N {
            ids.push(sender.send(vec![me], payload("p")).await.unwrap());
        }
        ids
    });
    let (mut accepted, mut delivered) = (Vec::new(), 0);
    loop {
        match tokio::time::timeout(TIMEOUT, receiver.next_event()).await.expect("event in time").unwrap() {
            Event::Accepted { id, .. } => accepted.push(id),
            Event::Message { mailbox, seq, .. } => {
                delivered += 1;
                receiver.ack(mailbox, seq).await.unwrap();
            }
            Event::Closed => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(accepted, sending.await.unwrap());
    assert_eq!(delivered, N);
}

/// Answers one HTTP request with `status` and `body`, returning the request body.
async fn http_once(listener: TcpListener, status: &'static str, body: String) -> String {
    let (mut tcp, _) = listener.accept().await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let request_body = loop {
        let n = tcp.read(&mut chunk).await.unwrap();
        assert!(n > 0, "request ended early");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            assert!(head.starts_with("POST /v1/enrol "), "{head}");
            let len: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .unwrap();
            if rest.len() >= len {
                break rest[..len].to_owned();
            }
        }
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(response.as_bytes()).await.unwrap();
    request_body
}

#[tokio::test]
async fn enrol_accepts_a_link_and_returns_credentials() {
    let (listener, url) = listen().await;
    let body = serde_json::json!({
        "account": AccountId([1; 16]), "device": DeviceId([2; 16]), "mailbox": MailboxId([3; 16]),
        "display_name": "Officer A", "roles": ["staff", "admin"], "approved": true,
    })
    .to_string();
    let server = tokio::spawn(http_once(listener, "200 OK", body));
    let creds = enrol("", &format!("{url}/enrol#CODE123")).await.unwrap();
    let request: EnrolRequest = serde_json::from_str(&server.await.unwrap()).unwrap();
    assert_eq!(request.code, "CODE123");
    assert_eq!(request.signing_key, creds.keys.signing_public());
    assert_eq!(request.notification_key, creds.keys.notification_public());
    assert_eq!(creds.server_url, url);
    assert_eq!((creds.device, creds.roles.clone()), (DeviceId([2; 16]), vec![Role::Staff, Role::Admin]));
}

#[tokio::test]
async fn enrol_maps_an_error_body_to_its_code() {
    let (listener, url) = listen().await;
    let body = r#"{"code":"invalid_invitation","message":"this invitation is unknown, used or expired"}"#.to_owned();
    tokio::spawn(http_once(listener, "404 Not Found", body));
    let err = enrol(&url, "NOPE").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidInvitation), "{err}");
}
