//! TCP_NODELAY on the sockets sqlx opens to PostgreSQL.
//!
//! sqlx 0.9 connects with a plain `TcpStream::connect` and never disables Nagle's algorithm, and
//! offers no hook to reach the socket. A group-commit round sends its arrays in one write of many
//! segments; Nagle holds the last, short segment until PostgreSQL acknowledges the previous ones,
//! and PostgreSQL delays that acknowledgement: each round then waited about 40 ms per statement
//! for nothing (91 ms rounds, 5,200 msg/s, both processes nearly idle; over a Unix socket the same
//! rounds took 21 ms). So after every new connection, each TCP socket of this process whose peer
//! is the database's port gets TCP_NODELAY. Setting it on another socket to that port is harmless
//! (the server sets it on its own client sockets anyway), and a socket that closes meanwhile only
//! makes a call fail. Linux only (`/proc/self/fd`); elsewhere, or over a Unix socket, nothing to do.

/// Sets TCP_NODELAY on every TCP socket of this process connected to a peer on `port`; returns how
/// many it set.
#[cfg(target_os = "linux")]
pub(super) fn on_sockets_to(port: u16) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<libc::c_int>().ok())
        .filter(|&fd| peer_port(fd) == Some(port) && set_nodelay(fd))
        .count()
}

#[cfg(not(target_os = "linux"))]
pub(super) fn on_sockets_to(_port: u16) -> usize {
    0
}

/// The peer's port of `fd` if it is a connected TCP socket (IPv4 or IPv6).
#[cfg(target_os = "linux")]
fn peer_port(fd: libc::c_int) -> Option<u16> {
    // SAFETY: getsockopt writes at most the length passed into a buffer owned here; on a
    // descriptor that is not a socket (or no longer open) it fails with an error.
    unsafe {
        let mut kind: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let rc = libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_TYPE, (&raw mut kind).cast(), &mut len);
        if rc != 0 || kind != libc::SOCK_STREAM {
            return None;
        }
    }
    port_of(fd, libc::getpeername)
}

/// The port of `fd`'s address as `get` (getpeername or getsockname) reports it, for IPv4 and IPv6.
#[cfg(target_os = "linux")]
fn port_of(
    fd: libc::c_int,
    get: unsafe extern "C" fn(libc::c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int,
) -> Option<u16> {
    // SAFETY: `get` writes at most `len` bytes into a sockaddr_storage owned here, and the family
    // it reports says which sockaddr it holds.
    unsafe {
        let mut addr: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        if get(fd, (&raw mut addr).cast(), &mut len) != 0 {
            return None;
        }
        match libc::c_int::from(addr.ss_family) {
            libc::AF_INET => Some(u16::from_be((*(&raw const addr).cast::<libc::sockaddr_in>()).sin_port)),
            libc::AF_INET6 => Some(u16::from_be((*(&raw const addr).cast::<libc::sockaddr_in6>()).sin6_port)),
            _ => None,
        }
    }
}

#[cfg(target_os = "linux")]
fn set_nodelay(fd: libc::c_int) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: passes a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&raw const on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

/// Whether TCP_NODELAY is set on `fd` (for tests).
#[cfg(all(test, target_os = "linux"))]
pub(super) fn is_set(fd: libc::c_int) -> Option<bool> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: as in `peer_port`.
    let rc = unsafe { libc::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, (&raw mut value).cast(), &mut len) };
    (rc == 0).then_some(value != 0)
}

/// The descriptor of this process's TCP socket from local port `local` to peer port `peer`.
#[cfg(all(test, target_os = "linux"))]
pub(super) fn socket_between(local: u16, peer: u16) -> Option<libc::c_int> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<libc::c_int>().ok())
        .find(|&fd| peer_port(fd) == Some(peer) && local_port(fd) == Some(local))
}

#[cfg(all(test, target_os = "linux"))]
fn local_port(fd: libc::c_int) -> Option<u16> {
    port_of(fd, libc::getsockname)
}
