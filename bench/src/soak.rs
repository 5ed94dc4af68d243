//! `soak`: N authenticated sockets (one device each, at most `--per-address` per source address
//! from 127.0.0.1 up) for a long run under a steady load of messages between random pairs of them.
//! Counts every error, checks every message is delivered exactly once (after a final drain), and
//! samples the server's RSS to fit its slope after the warm-up.

use crate::net;
use crate::relay::{latency_json, new_histogram};
use crate::server::{Server, nofile_limit};
use bytes::Bytes;
use hdrhistogram::Histogram;
use rand::Rng as _;
use sallyport_core::protocol::Payload;
use sallyport_core::{Client, ClientSender, Event};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Connections opened at once.
const CONNECT_PARALLEL: usize = 64;
/// How long the last messages may take to arrive after the load stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct SoakParams {
    pub connections: usize,
    /// Seconds of load (after every socket is open).
    pub duration: f64,
    /// Total messages per second between random pairs.
    pub rate: f64,
    /// Seconds of load left out of the RSS slope (capped at half the duration).
    pub warmup: f64,
    pub per_address: usize,
    /// Seconds between RSS samples.
    pub sample_every: f64,
    pub payload: usize,
}

/// What every socket's reader and the sender count.
struct Counts {
    base: Instant,
    sent: AtomicU64,
    accepted: AtomicU64,
    delivered: AtomicU64,
    duplicates: AtomicU64,
    /// Sends the server refused (an error naming a message): never delivered.
    refused: AtomicU64,
    send_failures: AtomicU64,
    /// Sockets that closed before the end.
    closed: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    /// One bit per message number: set on delivery.
    seen: Vec<AtomicU64>,
    hist: Mutex<Histogram<u64>>,
    stopping: AtomicBool,
}

impl Counts {
    fn error(&self, what: String) {
        *self.errors.lock().unwrap().entry(what).or_default() += 1;
    }
}

pub async fn run(server: &Server, p: &SoakParams) -> anyhow::Result<Value> {
    anyhow::ensure!(p.connections >= 2, "--connections must be at least 2");
    anyhow::ensure!(p.duration > 0.0 && p.rate > 0.0 && p.sample_every > 0.0, "--duration, --rate and --sample-every must be positive");
    anyhow::ensure!(p.payload >= 16, "--payload must be at least 16 bytes (send time and message number)");
    anyhow::ensure!(p.per_address >= 1, "--per-address must be at least 1");
    let addresses = p.connections.div_ceil(p.per_address);
    anyhow::ensure!(addresses <= 254, "{} connections at {} per address need {addresses} addresses; 127.0.0.1..=127.0.0.254 has 254", p.connections, p.per_address);
    if let Some(pid) = server.pid
        && let Some(limit) = nofile_limit(pid)
        && limit < p.connections as u64 + 64
    {
        eprintln!("warning: the server's open-file limit is {limit}, below {} connections plus its own files", p.connections);
    }

    eprintln!("soak: enrolling {} devices ({})…", p.connections, server.enrolment_method());
    let (creds, enrol_time) = server.enrol_many(p.connections, "bench-soak").await?;
    eprintln!("soak: enrolled in {:.1} s ({:.0}/s); connecting from 127.0.0.1..=127.0.0.{addresses}…", enrol_time.as_secs_f64(), p.connections as f64 / enrol_time.as_secs_f64());

    let max_messages = (p.rate * p.duration * 1.05) as u64 + 1024;
    let counts = Arc::new(Counts {
        base: Instant::now(),
        sent: AtomicU64::new(0),
        accepted: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        send_failures: AtomicU64::new(0),
        closed: AtomicU64::new(0),
        errors: Mutex::default(),
        seen: (0..max_messages.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
        hist: Mutex::new(new_histogram()),
        stopping: AtomicBool::new(false),
    });

    // Connect every socket; each gets a reader that acks, counts and checks.
    let connect_started = Instant::now();
    let mut senders: Vec<Option<ClientSender>> = vec![None; p.connections];
    let mut readers = tokio::task::JoinSet::new();
    let mut connect_failures = 0u64;
    let mut connect_errors: BTreeMap<String, u64> = BTreeMap::new();
    {
        use futures::StreamExt as _;
        let mut connects = futures::stream::iter(creds.iter().cloned().enumerate())
            .map(|(i, c)| async move {
                let source = net::spread(i, p.per_address, 1);
                (i, Client::connect_from(&c, Some(source)).await)
            })
            .buffer_unordered(CONNECT_PARALLEL);
        while let Some((i, result)) = connects.next().await {
            let client = match result {
                Ok(client) => client,
                Err(e) => {
                    connect_failures += 1;
                    *connect_errors.entry(e.to_string()).or_default() += 1;
                    continue;
                }
            };
            let Ok((tx, rx)) = client.into_split() else {
                connect_failures += 1;
                continue;
            };
            senders[i] = Some(tx);
            readers.spawn(read_loop(rx, counts.clone()));
        }
    }
    let connect_s = connect_started.elapsed().as_secs_f64();
    let mailboxes: Vec<_> = creds.iter().map(|c| c.mailbox).collect();
    let open: Vec<usize> = (0..p.connections).filter(|i| senders[*i].is_some()).collect();
    eprintln!("soak: {} sockets open in {connect_s:.1} s; load {:.0} msg/s for {:.0} s…", open.len(), p.rate, p.duration);
    anyhow::ensure!(open.len() >= 2, "fewer than two sockets connected");

    // The load: one paced sender over random (from, to) pairs of open sockets.
    let load_started = Instant::now();
    let cpu0 = server.cpu_s();
    let sender = {
        let counts = counts.clone();
        let senders = senders.clone();
        let (open, mailboxes) = (open.clone(), mailboxes.clone());
        let (rate, duration, payload_len) = (p.rate, Duration::from_secs_f64(p.duration), p.payload);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            let end = tokio::time::Instant::now() + duration;
            let mut payload = vec![0u8; payload_len];
            let mut number = 0u64;
            while tokio::time::Instant::now() < end && number < max_messages {
                let scheduled = ticker.tick().await;
                let (from, to) = {
                    let mut rng = rand::thread_rng();
                    let from = open[rng.gen_range(0..open.len())];
                    let mut to = open[rng.gen_range(0..open.len())];
                    while to == from {
                        to = open[rng.gen_range(0..open.len())];
                    }
                    (from, to)
                };
                let ts = scheduled.into_std().saturating_duration_since(counts.base).as_nanos() as u64;
                payload[..8].copy_from_slice(&ts.to_le_bytes());
                payload[8..16].copy_from_slice(&number.to_le_bytes());
                number += 1;
                let tx = senders[from].as_ref().expect("open sockets have senders");
                match tx.send(vec![mailboxes[to]], Payload(Bytes::copy_from_slice(&payload))).await {
                    Ok(_) => {
                        counts.sent.fetch_add(1, Relaxed);
                    }
                    Err(_) => {
                        counts.send_failures.fetch_add(1, Relaxed);
                    }
                }
            }
        })
    };

    // RSS (and progress) every `sample_every` seconds of load.
    let mut samples: Vec<Value> = Vec::new();
    let mut rss_points: Vec<(f64, f64)> = Vec::new();
    let sample_every = Duration::from_secs_f64(p.sample_every);
    let mut next = sample_every;
    let record = |t: f64, samples: &mut Vec<Value>, rss_points: &mut Vec<(f64, f64)>, open: Option<f64>| {
        let rss = server.rss_kib();
        if let Some(kib) = rss {
            rss_points.push((t, kib as f64));
        }
        let (sent, delivered) = (counts.sent.load(Relaxed), counts.delivered.load(Relaxed));
        samples.push(json!({"t_s": (t * 10.0).round() / 10.0, "rss_kib": rss, "connections_open": open, "sent": sent, "delivered": delivered}));
        eprintln!("  {t:>5.0} s  RSS {} KiB  open {}  sent {sent}  delivered {delivered}", rss.map_or("?".into(), |r| r.to_string()), open.map_or("?".into(), |o| o.to_string()));
    };
    let open_now = || async { server.metrics().await.and_then(|m| m.get("sallyport_connections_open").copied()) };
    record(0.0, &mut samples, &mut rss_points, open_now().await);
    while !sender.is_finished() {
        tokio::time::sleep(next.saturating_sub(load_started.elapsed()).min(Duration::from_millis(200))).await;
        if load_started.elapsed() >= next {
            record(next.as_secs_f64(), &mut samples, &mut rss_points, open_now().await);
            next += sample_every;
        }
    }
    let _ = sender.await;
    let load_s = load_started.elapsed().as_secs_f64();
    let cpu1 = server.cpu_s();
    let open_at_end = open_now().await;
    record(load_s, &mut samples, &mut rss_points, open_at_end);

    // Drain: every message sent and not refused must arrive.
    let drain_started = Instant::now();
    let outstanding = |c: &Counts| c.sent.load(Relaxed).saturating_sub(c.delivered.load(Relaxed) + c.refused.load(Relaxed));
    while outstanding(&counts) > 0 && drain_started.elapsed() < DRAIN_TIMEOUT {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain_s = drain_started.elapsed().as_secs_f64();
    let undelivered = outstanding(&counts);
    let closed_before_end = counts.closed.load(Relaxed);
    counts.stopping.store(true, Relaxed);
    for tx in senders.iter().flatten() {
        let _ = tx.close().await;
    }
    drop(senders);
    let close_deadline = Instant::now() + Duration::from_secs(30);
    while !readers.is_empty() && Instant::now() < close_deadline {
        let _ = tokio::time::timeout(Duration::from_secs(1), readers.join_next()).await;
    }
    readers.abort_all();

    let warmup = p.warmup.min(load_s / 2.0);
    let after_warmup: Vec<(f64, f64)> = rss_points.iter().copied().filter(|(t, _)| *t >= warmup).collect();
    let slope = least_squares_slope(&after_warmup).map(|kib_per_s| kib_per_s * 60.0);
    let errors = counts.errors.lock().unwrap().clone();
    let error_events: u64 = errors.values().sum();
    let total_errors = connect_failures
        + error_events
        + counts.send_failures.load(Relaxed)
        + closed_before_end
        + counts.duplicates.load(Relaxed)
        + undelivered;
    let hist = counts.hist.lock().unwrap().clone();
    let latency = latency_json(&hist);
    let server_cpu = cpu0.zip(cpu1).map(|(a, b)| b - a);
    Ok(json!({
        "scenario": "soak",
        "connections": p.connections,
        "connected": open.len(),
        "per_address": p.per_address,
        "source_addresses": format!("127.0.0.1-127.0.0.{addresses}"),
        "duration_s": p.duration,
        "rate": p.rate,
        "payload": p.payload,
        "warmup_s": warmup,
        "enrol_method": server.enrolment_method(),
        "enrol_s": enrol_time.as_secs_f64(),
        "enrol_per_s": p.connections as f64 / enrol_time.as_secs_f64(),
        "connect_s": connect_s,
        "load_s": load_s,
        "sent": counts.sent.load(Relaxed),
        "accepted": counts.accepted.load(Relaxed),
        "delivered": counts.delivered.load(Relaxed),
        "refused": counts.refused.load(Relaxed),
        "undelivered_after_drain": undelivered,
        "duplicates": counts.duplicates.load(Relaxed),
        "drain_s": drain_s,
        "connect_failures": connect_failures,
        "connect_errors": connect_errors,
        "send_failures": counts.send_failures.load(Relaxed),
        "closed_before_end": closed_before_end,
        "error_events": errors,
        "errors": total_errors,
        "delivered_per_s": counts.delivered.load(Relaxed) as f64 / load_s,
        "p50_ms": latency["p50_ms"],
        "p99_ms": latency["p99_ms"],
        "p999_ms": latency["p999_ms"],
        "max_ms": latency["max_ms"],
        "server_cpu_cores": server_cpu.map(|c| c / load_s),
        "server_cpu_s_per_1k": Value::Null,
        "server_connections_open_at_end": open_at_end,
        "server_rss_kib": rss_points.last().map(|r| r.1),
        "server_peak_rss_kib": server.peak_rss_kib(),
        "rss_per_socket_kib": Value::Null,
        "rss_slope_kib_per_min": slope,
        "rss_samples": samples,
    }))
}

/// Reads one socket's events until it closes: delivers (checks, records, acks), counts
/// acceptances and errors.
async fn read_loop(mut rx: sallyport_core::ClientReceiver, counts: Arc<Counts>) {
    loop {
        match rx.next_event().await {
            Ok(Event::Message { mailbox, seq, payload, .. }) => {
                let now = counts.base.elapsed().as_nanos() as u64;
                if payload.0.len() >= 16 {
                    let sent = u64::from_le_bytes(payload.0[..8].try_into().expect("8 bytes"));
                    let number = u64::from_le_bytes(payload.0[8..16].try_into().expect("8 bytes"));
                    counts.hist.lock().unwrap().saturating_record(now.saturating_sub(sent) / 1000);
                    let (word, bit) = ((number / 64) as usize, 1u64 << (number % 64));
                    match counts.seen.get(word) {
                        Some(w) if w.fetch_or(bit, Relaxed) & bit != 0 => {
                            counts.duplicates.fetch_add(1, Relaxed);
                        }
                        Some(_) => {
                            counts.delivered.fetch_add(1, Relaxed);
                        }
                        None => counts.error("delivery with an unknown message number".into()),
                    }
                } else {
                    counts.error("delivery of a short payload".into());
                }
                let _ = rx.ack(mailbox, seq).await;
            }
            Ok(Event::Accepted { .. }) => {
                counts.accepted.fetch_add(1, Relaxed);
            }
            Ok(Event::Error { code, id, .. }) => {
                if id.is_some() {
                    counts.refused.fetch_add(1, Relaxed);
                }
                counts.error(format!("error {code}"));
            }
            Ok(Event::Closed) | Err(_) => {
                if !counts.stopping.load(Relaxed) {
                    counts.closed.fetch_add(1, Relaxed);
                }
                return;
            }
            Ok(_) => {}
        }
    }
}

/// The least-squares slope of y over x; `None` with fewer than two distinct x.
fn least_squares_slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::least_squares_slope;

    #[test]
    fn the_slope_of_a_line_is_its_gradient() {
        let points: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 * x as f64 + 7.0)).collect();
        assert!((least_squares_slope(&points).unwrap() - 3.0).abs() < 1e-9);
        assert_eq!(least_squares_slope(&[(1.0, 2.0)]), None);
        assert_eq!(least_squares_slope(&[(1.0, 2.0), (1.0, 5.0)]), None);
    }
}
