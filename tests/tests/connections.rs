//! Connection-level abuse (issue 11 item 1): a client that sends its request slowly, or holds
//! connections open without a request, gets them closed; the caps on open connections (in all and
//! per client address) hold, count refusals, and give a place back when a connection closes.
//! Every test runs a real server process on 127.0.0.1; a second client address is 127.0.0.2.

use sallyport_e2e::*;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// How long a test waits for the server to close a connection it should close: far beyond the
/// timeouts the servers here are given, so only a server that never closes fails.
const CLOSE_WAIT: Duration = Duration::from_secs(20);

on_both_encodings!(the_total_cap_holds_and_websockets_keep_their_place);

fn address(server: &TestServer) -> SocketAddr {
    server.url.trim_start_matches("http://").parse().expect("host:port")
}

/// A TCP connection from `source` (an address on the loopback network).
async fn connect_from(server: &TestServer, source: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(format!("{source}:0").parse().unwrap()).expect("bind the source address");
    socket.connect(address(server)).await.expect("connect")
}

/// Reads until the server closes the connection (or resets it); what it sent before, as text.
/// Fails the test if it is still open after [`CLOSE_WAIT`].
async fn closed_by_server(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let read = tokio::time::timeout(CLOSE_WAIT, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server left the connection open for {CLOSE_WAIT:?}");
    String::from_utf8_lossy(&seen).into_owned()
}

/// True while the connection is open: nothing to read within a moment, and no close.
async fn still_open(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1];
    tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await.is_err()
}

/// A plain GET on an open connection, keeping it open; the status.
async fn get_status(stream: &mut TcpStream, path: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(CLOSE_WAIT, stream.read(&mut byte)).await.expect("an answer").expect("read");
        assert_eq!(n, 1, "closed before the answer: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    // Bodies here are small and sent whole; drain what is there so the next request starts clean.
    let length: usize = text
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.expect("body");
    text[9..12].parse().expect("status")
}

async fn server_with(args: &[&str]) -> TestServer {
    TestServer::start_with(ServerOptions { extra_args: args.iter().map(|a| a.to_string()).collect(), ..Default::default() }).await
}

#[tokio::test]
async fn a_request_head_sent_slowly_or_never_is_cut_off() {
    let server = server_with(&["--header-timeout-ms", "500"]).await;
    // Connects and sends nothing.
    let mut silent = connect_from(&server, "127.0.0.1").await;
    // Starts a request and never finishes its headers (slowloris), a byte at a time.
    let mut slow = connect_from(&server, "127.0.0.1").await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    // A kept-alive connection idle after its first answer.
    let mut idle = connect_from(&server, "127.0.0.1").await;
    assert_eq!(get_status(&mut idle, "/healthz").await, 200);

    let trickle = async {
        for _ in 0..400 {
            if slow.write_all(b"X").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (silent_saw, (), idle_saw) = tokio::join!(closed_by_server(&mut silent), trickle, closed_by_server(&mut idle));
    assert_eq!(silent_saw, "", "nothing is answered to a connection that sent nothing");
    assert_eq!(idle_saw, "");
    closed_by_server(&mut slow).await;
    // The server itself is fine.
    assert_eq!(http_get(&server.url, "/healthz").await.map(|r| r.0), Some(200));
}

#[tokio::test]
async fn a_body_that_never_arrives_is_cut_off() {
    let server = server_with(&["--body-timeout-ms", "500"]).await;
    let mut stream = connect_from(&server, "127.0.0.1").await;
    // Headers whole, then 10 of the 1,000 bytes promised, and nothing more.
    stream
        .write_all(b"POST /v1/enrol HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"token\":")
        .await
        .unwrap();
    let answer = closed_by_server(&mut stream).await;
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 4"), "{answer}");
    assert_eq!(http_get(&server.url, "/healthz").await.map(|r| r.0), Some(200));
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let server = server_with(&["--max-connections-per-address", "4", "--max-connections", "64"]).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = connect_from(&server, "127.0.0.2").await;
        assert_eq!(get_status(&mut stream, "/healthz").await, 200);
        held.push(stream);
    }
    // The fifth from the same address is closed unanswered, and counted.
    let mut fifth = connect_from(&server, "127.0.0.2").await;
    let _ = fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(closed_by_server(&mut fifth).await, "");
    wait_for_metric(&server, "sallyport_connections_refused_total{cap=\"per_address\"}", |n| n >= 1).await;
    // Everyone else is served: another address, and the healthy connections already open.
    let mut other = connect_from(&server, "127.0.0.1").await;
    assert_eq!(get_status(&mut other, "/healthz").await, 200);
    assert_eq!(get_status(&mut held[0], "/healthz").await, 200);
    // A closed connection gives its place back.
    drop(held.pop());
    wait_until("a place is free again for 127.0.0.2", || async {
        let mut stream = connect_from(&server, "127.0.0.2").await;
        let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        closed_by_server(&mut stream).await.starts_with("HTTP/1.1 200")
    })
    .await;
    assert!(still_open(&mut held[0]).await);
}

async fn the_total_cap_holds_and_websockets_keep_their_place(encoding: Encoding) {
    let server = server_with(&["--max-connections", "3", "--max-connections-per-address", "0"]).await;
    // Two authenticated WebSockets (an upgraded connection keeps counting until it closes) and
    // one plain connection fill the cap.
    let a = server.enrol("Ana").await;
    let b = server.enrol("Ben").await;
    let mut ws_a = connect(&a, encoding).await.expect("connect a");
    let mut ws_b = connect(&b, encoding).await.expect("connect b");
    let mut plain = connect_from(&server, "127.0.0.1").await;
    assert_eq!(get_status(&mut plain, "/healthz").await, 200);
    let mut over = connect_from(&server, "127.0.0.2").await;
    assert_eq!(closed_by_server(&mut over).await, "");
    wait_for_metric(&server, "sallyport_connections_refused_total{cap=\"total\"}", |n| n >= 1).await;
    // The open ones carry on: a message from b's socket reaches a's.
    ws_b.send(vec![a.mailbox], marked_payload("cap", 1)).await.expect("send within the cap");
    expect_event(&mut ws_a, |e| match e {
        sallyport_core::Event::Message { payload, .. } => payload_number("cap", payload),
        _ => None,
    })
    .await;
    // Closing the WebSocket frees its place.
    drop(ws_b);
    wait_until("the closed WebSocket's place is free", || async {
        let mut stream = connect_from(&server, "127.0.0.2").await;
        let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        closed_by_server(&mut stream).await.starts_with("HTTP/1.1 200")
    })
    .await;
}
