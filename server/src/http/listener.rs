//! The public listener: admits each TCP connection within the connection caps, then serves
//! HTTP/1.1 on it (WebSocket upgrades included) with a header read timeout.
//!
//! The caps are counted in memory only: an address is a key in a map of open-connection counts
//! while it has connections open, and is never stored, logged or put in a metric. IPv6 clients
//! are counted per /64, the block one subscriber usually holds, so rotating addresses within it
//! gains nothing.

use crate::metrics::Metrics;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// How many connections the listener admits, and how long a request's head may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once, WebSockets included.
    pub max_connections: usize,
    /// Connections open at once from one client address (an IPv6 /64); 0 for no per-address cap
    /// (behind a reverse proxy every connection comes from the proxy's address).
    pub max_per_address: usize,
    /// From a connection's start, or the end of its previous response, until a request's headers
    /// are complete: also the idle timeout of a keep-alive connection.
    pub header_timeout: Duration,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Total,
    PerAddress,
}

/// The open-connection counts the caps are checked against.
pub struct Gate {
    limits: Limits,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    open: usize,
    per_address: HashMap<AddressKey, usize>,
}

/// A client address as counted: IPv4 whole, IPv6 by its /64 (an IPv4-mapped IPv6 address as IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AddressKey {
    V4([u8; 4]),
    V6([u8; 8]),
}

impl AddressKey {
    fn of(ip: IpAddr) -> AddressKey {
        match ip {
            IpAddr::V4(v4) => AddressKey::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey::V4(v4.octets()),
                None => {
                    let mut prefix = [0; 8];
                    prefix.copy_from_slice(&v6.octets()[..8]);
                    AddressKey::V6(prefix)
                }
            },
        }
    }
}

impl Gate {
    pub fn new(limits: Limits) -> Arc<Gate> {
        Arc::new(Gate { limits, counts: Mutex::default() })
    }

    /// Admits a connection from `ip`, or says which cap it would exceed. The ticket gives the
    /// place back when dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refusal> {
        let key = AddressKey::of(ip);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.open >= self.limits.max_connections {
            return Err(Refusal::Total);
        }
        let per_address = self.limits.max_per_address > 0;
        if per_address {
            let from_here = counts.per_address.entry(key).or_insert(0);
            if *from_here >= self.limits.max_per_address {
                return Err(Refusal::PerAddress);
            }
            *from_here += 1;
        }
        counts.open += 1;
        Ok(Ticket { gate: self.clone(), key: per_address.then_some(key) })
    }

    /// Connections admitted and not yet closed.
    pub fn open(&self) -> usize {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).open
    }
}

/// One admitted connection's place under the caps, held until the socket closes.
pub struct Ticket {
    gate: Arc<Gate>,
    key: Option<AddressKey>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.gate.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.open -= 1;
        if let Some(key) = self.key
            && let std::collections::hash_map::Entry::Occupied(mut entry) = counts.per_address.entry(key)
        {
            *entry.get_mut() -= 1;
            if *entry.get() == 0 {
                // Forgotten as soon as it has nothing open: the map holds only live connections.
                entry.remove();
            }
        }
    }
}

/// A socket that holds its ticket: an upgraded WebSocket keeps the socket, so it keeps its place
/// under the caps until it closes.
struct Admitted {
    stream: TcpStream,
    _ticket: Ticket,
}

impl AsyncRead for Admitted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The read buffer of a connection, and so the largest request head it accepts.
const MAX_HEAD_BYTES: usize = 32 * 1024;

/// How long the accept loop pauses after an accept error such as running out of file
/// descriptors, so it does not spin while none is free.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting and lets each
/// HTTP connection finish its request in flight. Upgraded WebSockets end with their sessions,
/// which watch the server's own shutdown signal.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let gate = Gate::new(limits);
    let mut http = hyper::server::conn::http1::Builder::new();
    // A request head (line and headers) must fit in MAX_HEAD_BYTES: hyper's default buffer
    // would let each connection hold ~400 KiB of an unfinished head.
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).max_buf_size(MAX_HEAD_BYTES);
    // Each connection task holds a sender: when all are gone, every connection has finished.
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let (alive, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let ticket = match gate.admit(peer.ip()) {
            Ok(ticket) => ticket,
            Err(refusal) => {
                let counter = match refusal {
                    Refusal::Total => &metrics.connections_refused_total,
                    Refusal::PerAddress => &metrics.connections_refused_per_address,
                };
                counter.fetch_add(1, Relaxed);
                // Closed at once: nothing is read from it and nothing is kept.
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Admitted { stream, _ticket: ticket });
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = http.serve_connection(io, service).with_upgrades();
        let (mut stopping, alive) = (stopping.clone(), alive.clone());
        tokio::spawn(async move {
            tokio::pin!(connection);
            // Errors here are the client's (a reset, a header timeout): nothing to report.
            tokio::select! {
                _ = connection.as_mut() => {}
                () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(alive);
        });
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    drop(alive);
    let _ = all_done.recv().await;
}

/// Raises this process's open-file limit to the hard limit when the connection cap needs more
/// than the soft one allows; returns the cap the limit allows (some descriptors are kept for the
/// database, the log and the metrics listener).
pub fn fit_to_file_limit(max_connections: usize) -> usize {
    const RESERVED: u64 = 256;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return max_connections;
        }
        let wanted = (max_connections as u64).saturating_add(RESERVED);
        if limit.rlim_cur < wanted && limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: wanted.min(limit.rlim_max), rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = raised.rlim_cur;
            }
        }
    }
    let allowed = usize::try_from(limit.rlim_cur.saturating_sub(RESERVED)).unwrap_or(usize::MAX);
    max_connections.min(allowed.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(max_connections: usize, max_per_address: usize) -> Arc<Gate> {
        Gate::new(Limits { max_connections, max_per_address, header_timeout: Duration::from_secs(1) })
    }

    #[test]
    fn the_caps_hold_and_a_closed_connection_gives_its_place_back() {
        let gate = gate(3, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = gate.admit(a).unwrap();
        let _second = gate.admit(a).unwrap();
        assert_eq!(gate.admit(a).err(), Some(Refusal::PerAddress));
        let _third = gate.admit(b).unwrap();
        assert_eq!(gate.admit(b).err(), Some(Refusal::Total));
        drop(first);
        assert_eq!(gate.open(), 2);
        let _again = gate.admit(a).unwrap();
        assert_eq!(gate.open(), 3);
    }

    #[test]
    fn an_address_with_nothing_open_is_forgotten() {
        let gate = gate(10, 5);
        let ticket = gate.admit("198.51.100.7".parse().unwrap()).unwrap();
        assert_eq!(gate.counts.lock().unwrap().per_address.len(), 1);
        drop(ticket);
        assert!(gate.counts.lock().unwrap().per_address.is_empty());
        assert_eq!(gate.open(), 0);
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let gate = gate(10, 1);
        let _one = gate.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert_eq!(gate.admit("2001:db8:1:2:ffff::9".parse().unwrap()).err(), Some(Refusal::PerAddress));
        let _other_block = gate.admit("2001:db8:1:3::1".parse().unwrap()).unwrap();
        let _v4 = gate.admit("203.0.113.5".parse().unwrap()).unwrap();
        assert_eq!(gate.admit("::ffff:203.0.113.5".parse().unwrap()).err(), Some(Refusal::PerAddress));
    }

    #[test]
    fn no_per_address_cap_when_it_is_zero() {
        let gate = gate(3, 0);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let _held: Vec<Ticket> = (0..3).map(|_| gate.admit(ip).unwrap()).collect();
        assert_eq!(gate.admit(ip).err(), Some(Refusal::Total));
        assert!(gate.counts.lock().unwrap().per_address.is_empty());
    }
}
