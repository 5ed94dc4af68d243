//! `idle`: N authenticated WebSockets that do nothing (each its own device, since a newer
//! connection of a device supersedes the older one). Measures the server's resident memory before
//! and after opening them.

use crate::server::{Server, nofile_limit, own_cpu_seconds};
use sallyport_core::{Client, Event};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Connections opened at once.
const CONNECT_PARALLEL: usize = 64;
/// Time given to the server (allocator, tasks) to settle before reading its RSS.
const SETTLE: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
pub struct IdleParams {
    pub connections: usize,
}

pub async fn run(server: &Server, p: &IdleParams) -> anyhow::Result<Value> {
    anyhow::ensure!(p.connections > 0, "--connections must be at least 1");
    if let Some(pid) = server.pid
        && let Some(limit) = nofile_limit(pid)
        && limit < p.connections as u64 + 64
    {
        eprintln!(
            "warning: the server's open-file limit is {limit}, below {} connections plus its own files: \
             raise it (`ulimit -n`) before starting the server",
            p.connections
        );
    }

    eprintln!("idle: enrolling {} devices…", p.connections);
    let (creds, enrol_time) = server.enrol_many(p.connections, "bench-idle").await?;
    eprintln!(
        "idle: enrolled {} devices in {:.1} s ({:.0}/s); measuring…",
        p.connections,
        enrol_time.as_secs_f64(),
        p.connections as f64 / enrol_time.as_secs_f64()
    );

    tokio::time::sleep(SETTLE).await;
    let rss_before = server.rss_kib();
    let cpu_before = server.cpu_s();
    let own_before = own_cpu_seconds();
    let started = Instant::now();

    // Each connection gets a reader task that answers pings and otherwise waits.
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut senders = Vec::with_capacity(p.connections);
    let mut readers = tokio::task::JoinSet::new();
    {
        use futures::StreamExt as _;
        let mut connects = futures::stream::iter(creds.iter().cloned())
            .map(|c| async move { Client::connect(&c).await })
            .buffer_unordered(CONNECT_PARALLEL);
        while let Some(result) = connects.next().await {
            let client = result.map_err(|e| anyhow::anyhow!("connecting socket {}: {e}", senders.len() + 1))?;
            let (tx, mut rx) = client.into_split().map_err(|e| anyhow::anyhow!("splitting: {e}"))?;
            let mut shutdown = shutdown_rx.clone();
            readers.spawn(async move {
                loop {
                    tokio::select! {
                        e = rx.next_event() => match e {
                            Ok(Event::Closed) | Err(_) => return false,
                            Ok(_) => {}
                        },
                        _ = shutdown.changed() => return true,
                    }
                }
            });
            senders.push(tx);
        }
    }
    let connect_time = started.elapsed();
    let cpu_connect = server.cpu_s().zip(cpu_before).map(|(b, a)| b - a);
    let own_connect = own_cpu_seconds() - own_before;
    eprintln!("idle: {} sockets open in {:.1} s; settling…", senders.len(), connect_time.as_secs_f64());
    tokio::time::sleep(SETTLE).await;
    let rss_after = server.rss_kib();
    let open = server.metrics().await.and_then(|m| m.get("sallyport_connections_open").copied());
    let dropped = readers.len() < senders.len() || readers.try_join_next().is_some();

    let _ = shutdown_tx.send(true);
    for tx in &senders {
        let _ = tx.close().await;
    }
    drop(senders);
    while readers.join_next().await.is_some() {}

    let per_socket = rss_before
        .zip(rss_after)
        .map(|(before, after)| (after as f64 - before as f64) / p.connections as f64);
    Ok(json!({
        "scenario": "idle",
        "connections": p.connections,
        "delivered_per_s": Value::Null,
        "p50_ms": Value::Null,
        "p99_ms": Value::Null,
        "max_ms": Value::Null,
        "server_cpu_s_per_1k": Value::Null,
        "server_rss_kib": rss_after,
        "server_rss_before_kib": rss_before,
        "rss_per_socket_kib": per_socket,
        "server_connections_open": open,
        "connections_dropped_during_measurement": dropped,
        "enrol_s": enrol_time.as_secs_f64(),
        "enrol_per_s": p.connections as f64 / enrol_time.as_secs_f64(),
        "connect_s": connect_time.as_secs_f64(),
        "connects_per_s": p.connections as f64 / connect_time.as_secs_f64(),
        "server_cpu_s_per_connect_ms": cpu_connect.map(|c| 1000.0 * c / p.connections as f64),
        "bench_cpu_s_connect": own_connect,
    }))
}
