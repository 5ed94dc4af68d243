//! Client source addresses. Linux routes all of 127.0.0.0/8 over loopback, so binding a socket to
//! 127.0.0.K before it connects to a server on 127.0.0.1 makes the server see the client at
//! 127.0.0.K: the bench spreads connections over addresses so that a per-address connection cap
//! limits each kind of client separately (healthy pairs on 127.0.0.1, attackers from 127.0.0.2 on).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::net::{TcpSocket, TcpStream};

/// 127.0.0.1, where the healthy clients connect from.
pub const HEALTHY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

/// 127.0.0.`k` (k in 1..=254).
pub fn loopback(k: usize) -> IpAddr {
    assert!((1..=254).contains(&k), "127.0.0.{k} is not a usable loopback source address");
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, k as u8))
}

/// The source address of connection `i` when at most `per_address` share one, counting from
/// 127.0.0.`first`: connections 0..per_address from 127.0.0.first, the next from first + 1, …
pub fn spread(i: usize, per_address: usize, first: usize) -> IpAddr {
    loopback(first + i / per_address.max(1))
}

/// The attacker address for connection `i`: round robin over 127.0.0.2..=127.0.0.(1 + sources).
pub fn attacker(i: usize, sources: usize) -> IpAddr {
    loopback(2 + i % sources.max(1))
}

/// A TCP connection to `remote` from `local` (port chosen by the system), with TCP_NODELAY.
pub async fn connect_from(local: IpAddr, remote: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if local.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.bind(SocketAddr::new(local, 0))?;
    let stream = socket.connect(remote).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// `host:port` of an `http://host:port` URL, resolved.
pub async fn server_addr(url: &str) -> anyhow::Result<SocketAddr> {
    let authority = url.trim_start_matches("http://").trim_end_matches('/');
    let authority = authority.split('/').next().unwrap_or(authority);
    tokio::net::lookup_host(authority)
        .await?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| anyhow::anyhow!("{url} has no IPv4 address (source addresses are 127.0.0.x)"))
}
