//! The binary encoding of the hot frames (subprotocol `sallyport.bin.v1`) next to JSON: clients
//! of either kind talk to each other through one server, and bad binary input gets the same
//! stable errors as bad JSON, with the connection kept (or closed for an oversized frame).

use futures::{SinkExt, StreamExt};
use sallyport_core::protocol::{
    BINARY_SUBPROTOCOL, ClientFrame, ErrorCode, MessageId, Payload, ServerFrame, decode_server_binary,
};
use sallyport_core::{Credentials, Event};
use sallyport_e2e::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Receives one numbered message on `client`, acks it, and returns its number.
async fn receive(client: &mut sallyport_core::Client, marker: &str) -> usize {
    let (mailbox, seq, n) = expect_event(client, |e| match e {
        Event::Message { mailbox, seq, payload, .. } => Some((*mailbox, *seq, payload_number(marker, payload))),
        _ => None,
    })
    .await;
    client.ack(mailbox, seq).await.unwrap();
    n.expect("a numbered payload")
}

async fn accepted(client: &mut sallyport_core::Client, id: MessageId) {
    expect_event(client, |e| match e {
        Event::Accepted { id: got, .. } if *got == id => Some(()),
        Event::Error { code, .. } => panic!("refused: {code}"),
        _ => None,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_client_and_a_binary_client_talk_to_each_other_through_one_server() {
    let server = TestServer::start().await;
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let mut a = connect(&alice, Encoding::Json).await.unwrap();
    let mut b = connect(&bob, Encoding::Binary).await.unwrap();

    for i in 0..20 {
        let id = a.send(vec![bob.mailbox], marked_payload("a2b", i)).await.unwrap();
        accepted(&mut a, id).await;
        assert_eq!(receive(&mut b, "a2b").await, i);
        let id = b.send(vec![alice.mailbox], marked_payload("b2a", i)).await.unwrap();
        accepted(&mut b, id).await;
        assert_eq!(receive(&mut a, "b2a").await, i);
    }
    // Payloads of every size up to the limit arrive unchanged either way.
    for len in [0, 1, 2, 3, 127, 128, 16_383, 16_384, 65_536] {
        let payload = Payload((0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into());
        for a_to_b in [true, false] {
            let (from, to, to_mailbox) = if a_to_b { (&mut a, &mut b, bob.mailbox) } else { (&mut b, &mut a, alice.mailbox) };
            from.send(vec![to_mailbox], payload.clone()).await.unwrap();
            let got = expect_event(to, |e| match e {
                Event::Message { mailbox, seq, payload, .. } => Some((*mailbox, *seq, payload.clone())),
                _ => None,
            })
            .await;
            assert_eq!(got.2, payload, "a {len}-byte payload");
            to.ack(got.0, got.1).await.unwrap();
        }
    }

    // A message Bob leaves unacked on his binary connection is redelivered to him on a JSON one.
    a.send(vec![bob.mailbox], marked_payload("again", 1)).await.unwrap();
    let first = expect_event(&mut b, |e| match e {
        Event::Message { payload, .. } => payload_number("again", payload),
        _ => None,
    })
    .await;
    assert_eq!(first, 1);
    b.close().await.unwrap();
    let mut b = connect(&bob, Encoding::Json).await.unwrap();
    assert_eq!(receive(&mut b, "again").await, 1);
}

/// A raw WebSocket with or without the binary subprotocol, authenticated as `creds`.
async fn raw(server: &TestServer, creds: &Credentials, binary: bool) -> Ws {
    let mut request = format!("{}/v1/ws", server.url.replacen("http://", "ws://", 1)).into_client_request().unwrap();
    if binary {
        request.headers_mut().insert("sec-websocket-protocol", BINARY_SUBPROTOCOL.parse().unwrap());
    }
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.expect("websocket connect");
    let selected = response.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(selected.as_deref(), binary.then_some(BINARY_SUBPROTOCOL), "the server selects the subprotocol offered");
    let Some(ServerFrame::Challenge { nonce, .. }) = next(&mut ws).await else { panic!("a challenge") };
    // Hot frames before authentication are refused as any frame is.
    ws.send(Message::binary(ClientFrame::Ack { mailbox: creds.mailbox, seq: 1 }.to_binary().unwrap())).await.unwrap();
    let expected = if binary { ErrorCode::NotAuthenticated } else { ErrorCode::MalformedFrame };
    expect_error(&mut ws, expected, None).await;
    let timestamp = now_ms();
    let signature = creds.keys.sign_auth(&creds.device, &nonce, &creds.server_url, timestamp);
    let auth = ClientFrame::Auth { device: creds.device, nonce, timestamp, signature };
    ws.send(Message::text(auth.to_json())).await.unwrap();
    assert!(matches!(next(&mut ws).await, Some(ServerFrame::Ready { .. })));
    ws
}

/// The next server frame, text or binary; `None` once the connection is closed.
async fn next(ws: &mut Ws) -> Option<ServerFrame> {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("a frame in time") {
            Some(Ok(Message::Text(text))) => match serde_json::from_str(&text).expect("server frames parse") {
                ServerFrame::KeyPackagesLow { .. } => continue,
                frame => return Some(frame),
            },
            Some(Ok(Message::Binary(bytes))) => {
                return Some(decode_server_binary(&bytes).expect("binary server frames parse").expect("a known tag"));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(other)) => panic!("unexpected message {other:?}"),
        }
    }
}

async fn expect_error(ws: &mut Ws, want: ErrorCode, want_id: Option<MessageId>) {
    match next(ws).await {
        Some(ServerFrame::Error { code, id, .. }) => assert_eq!((code, id), (want, want_id)),
        other => panic!("expected error {want}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_binary_frames_get_stable_errors() {
    let server = TestServer::start().await;
    let bob = server.enrol("Bob").await;
    let mallory = server.enrol("Mallory").await;
    let mut ws = raw(&server, &mallory, true).await;

    let id = MessageId::random();
    let send = |payload: Vec<u8>| {
        ClientFrame::Send { id, to: vec![bob.mailbox], payload: Payload(payload.into()) }.to_binary().unwrap()
    };
    let good = send(b"fine".to_vec());
    let cases: Vec<(Vec<u8>, ErrorCode, Option<MessageId>)> = vec![
        (vec![], ErrorCode::MalformedFrame, None),
        (vec![0x7f, 1, 2, 3], ErrorCode::UnknownFrameType, None),
        (good[..10].to_vec(), ErrorCode::MalformedFrame, None),
        (good[..good.len() - 1].to_vec(), ErrorCode::MalformedFrame, Some(id)),
        ([&good[..], &[0]].concat(), ErrorCode::MalformedFrame, Some(id)),
        (send(vec![0; 65_537]), ErrorCode::PayloadTooLarge, Some(id)),
        // An ack whose seq varint never ends.
        ([&[1u8][..], &[7; 16], &[0xff; 11]].concat(), ErrorCode::MalformedFrame, None),
    ];
    for (bytes, code, want_id) in cases {
        ws.send(Message::binary(bytes.clone())).await.unwrap();
        expect_error(&mut ws, code, want_id).await;
    }
    // A well-formed binary frame is refused like its JSON form where it must be.
    ws.send(Message::binary(ClientFrame::Ack { mailbox: bob.mailbox, seq: 1 }.to_binary().unwrap())).await.unwrap();
    expect_error(&mut ws, ErrorCode::UnknownMailbox, None).await;
    ws.send(Message::binary(ClientFrame::Send { id, to: vec![], payload: marked_payload("x", 1) }.to_binary().unwrap()))
        .await
        .unwrap();
    expect_error(&mut ws, ErrorCode::BadRecipients, Some(id)).await;
    // The connection carries on: a good binary send is accepted, in binary.
    ws.send(Message::binary(good.clone())).await.unwrap();
    assert!(matches!(next(&mut ws).await, Some(ServerFrame::Accepted { id: got, .. }) if got == id));
    // JSON frames still work on a binary connection.
    ws.send(Message::text(ClientFrame::Send { id: MessageId::random(), to: vec![bob.mailbox], payload: marked_payload("j", 1) }.to_json()))
        .await
        .unwrap();
    assert!(matches!(next(&mut ws).await, Some(ServerFrame::Accepted { .. })));

    // A binary frame over the frame limit closes that connection, as a text one does.
    ws.send(Message::binary(vec![0u8; sallyport_core::protocol::MAX_FRAME_BYTES + 1])).await.unwrap();
    expect_error(&mut ws, ErrorCode::FrameTooLarge, None).await;
    assert_eq!(next(&mut ws).await, None, "the server closes the connection");

    // On a JSON connection a binary message is malformed, whatever it holds, and the connection
    // carries on.
    let mut json = raw(&server, &mallory, false).await;
    json.send(Message::binary(good)).await.unwrap();
    expect_error(&mut json, ErrorCode::MalformedFrame, None).await;
    let id = MessageId::random();
    json.send(Message::text(ClientFrame::Send { id, to: vec![bob.mailbox], payload: marked_payload("k", 1) }.to_json()))
        .await
        .unwrap();
    assert!(matches!(next(&mut json).await, Some(ServerFrame::Accepted { id: got, .. }) if got == id));

    // Bob gets the three messages that were accepted.
    let mut b = connect(&bob, Encoding::Binary).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(expect_event(&mut b, |e| match e {
            Event::Message { payload, .. } => Some(String::from_utf8_lossy(&payload.0).into_owned()),
            _ => None,
        })
        .await);
    }
    got.sort();
    assert_eq!(got, vec!["fine".to_owned(), "j-000001".to_owned(), "k-000001".to_owned()]);
}
