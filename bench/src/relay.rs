//! `relay`: P pairs of devices; A sends to B's linked mailbox, B receives and acks. Up to W
//! messages per pair are in flight (sent, not yet delivered to B); with `--rate` a fixed total
//! rate is paced by timers instead, for latency. Latency is from send (or, with `--rate`, from the
//! scheduled send time, so a stalled sender cannot hide queueing) to delivery at B. [`Pairs`] is
//! the running pairs on their own, which `abuse` reuses for its healthy traffic.

use crate::server::{Server, io_counters, machine_busy_seconds, own_cpu_seconds};
use anyhow::Context as _;
use hdrhistogram::Histogram;
use rand::RngCore as _;
use sallyport_core::protocol::{Encoding, MailboxId, Payload};
use sallyport_core::{Client, ClientReceiver, ClientSender, ConnectOptions, Credentials, Event};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};

/// How long the senders' last messages may take to arrive after the measured window.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);
/// Connections opened at once while setting up.
const CONNECT_PARALLEL: usize = 32;

#[derive(Debug, Clone)]
pub struct RelayParams {
    pub pairs: usize,
    pub window: usize,
    pub payload: usize,
    pub duration: f64,
    pub warmup: f64,
    pub rate: Option<f64>,
    /// How the clients encode the hot frames (the server takes what they offer).
    pub encoding: Encoding,
    /// Share of the pairs whose receiver stays offline: their messages are written to the
    /// database, and a sender's window slot is freed by `accepted` instead of a delivery.
    pub offline_fraction: f64,
    /// A second node the receivers connect to (same database), and its process id.
    pub receivers_url: Option<String>,
    pub receivers_pid: Option<u32>,
}

/// What every task can see: the clock origin for payload timestamps and the measured phase.
struct Shared {
    base: Instant,
    /// The measured phase deliveries count in now: 0 = none (warm-up, between phases, drain),
    /// k ≥ 1 = the k-th histogram. `relay` has one phase (its window); `abuse` two (quiet, attack).
    phase: AtomicUsize,
    phases: usize,
    stop: AtomicBool,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

struct Pair {
    /// Sent by A (incremented after the frame is queued).
    sent: AtomicU64,
    /// Delivered to B (whenever).
    delivered: AtomicU64,
    /// Refused by the server (an `error` answering a send): never delivered.
    failed: AtomicU64,
    window: Semaphore,
    /// Its receiver is offline: `delivered` counts what the server accepted (stored).
    offline: bool,
    /// Accepted for the offline receiver in each phase.
    stored_in_phase: Vec<AtomicU64>,
}

struct ReceiverResult {
    /// One per phase.
    hists: Vec<Histogram<u64>>,
    in_phase: Vec<u64>,
}

#[derive(Default)]
struct SenderSideResult {
    accepted: u64,
    errors: BTreeMap<String, u64>,
}

/// P running pairs: their sockets and tasks, and what they have counted. `relay` measures one
/// phase; `abuse` runs the same pairs through a quiet phase and an attack phase.
pub struct Pairs {
    shared: Arc<Shared>,
    pairs: Vec<Arc<Pair>>,
    senders: Vec<tokio::task::JoinHandle<()>>,
    receivers: Vec<tokio::task::JoinHandle<ReceiverResult>>,
    acceptors: Vec<tokio::task::JoinHandle<SenderSideResult>>,
    keep: Vec<(ClientSender, ClientSender)>,
    shutdown_tx: watch::Sender<bool>,
    timeline: tokio::task::JoinHandle<Vec<u64>>,
    pub enrol_time: Duration,
}

/// What the pairs counted, once stopped.
pub struct PairsResult {
    /// Latency of the messages delivered in each phase.
    pub hists: Vec<Histogram<u64>>,
    /// Messages delivered in each phase.
    pub delivered: Vec<u64>,
    /// Messages accepted for offline receivers (written) in each phase.
    pub stored: Vec<u64>,
    pub sent_total: u64,
    pub accepted: u64,
    pub errors: BTreeMap<String, u64>,
    pub undelivered_after_drain: u64,
    /// Deliveries in every second of the run, warm-up included.
    pub timeline: Vec<u64>,
}

impl Pairs {
    /// Enrols 2P devices, connects them (from `source`, or the system's choice of address) and
    /// starts sending; deliveries count in no phase until [`Pairs::begin_phase`].
    pub async fn start(server: &Server, p: &RelayParams, phases: usize, source: Option<IpAddr>) -> anyhow::Result<Pairs> {
        anyhow::ensure!(p.pairs > 0 && p.window > 0, "--pairs and --window must be at least 1");
        anyhow::ensure!(p.payload >= 8, "--payload must be at least 8 bytes (it carries the send timestamp)");
        anyhow::ensure!(p.duration > 0.0, "--duration must be positive");
        if let Some(rate) = p.rate {
            anyhow::ensure!(rate > 0.0, "--rate must be positive");
        }
        anyhow::ensure!((0.0..=1.0).contains(&p.offline_fraction), "--offline-fraction must be between 0 and 1");
        let offline_pairs = (p.pairs as f64 * p.offline_fraction).round() as usize;
        eprintln!("pairs: enrolling {} devices…", 2 * p.pairs);
        let (mut creds, enrol_time) = server.enrol_many(2 * p.pairs, "bench-relay").await?;
        if let Some(url) = &p.receivers_url {
            // A device may connect to any node; it signs the origin it connects to.
            for c in creds.iter_mut().skip(1).step_by(2) {
                c.server_url = url.trim_end_matches('/').to_owned();
            }
        }
        eprintln!("pairs: enrolled in {:.1} s; connecting…", enrol_time.as_secs_f64());
        let clients = connect_all(&creds, ConnectOptions { local: source, encoding: p.encoding }).await?;

        let shared = Arc::new(Shared { base: Instant::now(), phase: AtomicUsize::new(0), phases, stop: AtomicBool::new(false) });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let mut pairs = Vec::new();
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        let mut acceptors = Vec::new();
        let mut keep = Vec::new();
        let mut clients = clients.into_iter();
        for i in 0..p.pairs {
            let (a_tx, a_rx) = clients.next().expect("2P clients");
            let (b_tx, b_rx) = clients.next().expect("2P clients");
            let b_mailbox = creds[2 * i + 1].mailbox;
            let offline = i < offline_pairs;
            let pair = Arc::new(Pair {
                sent: AtomicU64::new(0),
                delivered: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                window: Semaphore::new(p.window),
                offline,
                stored_in_phase: (0..phases).map(|_| AtomicU64::new(0)).collect(),
            });
            pairs.push(pair.clone());
            if offline {
                // The receiver goes away before anything is sent to it.
                b_tx.close().await.context("closing an offline receiver")?;
                drop(b_rx);
            } else {
                receivers.push(tokio::spawn(receive_loop(b_rx, pair.clone(), shared.clone(), shutdown_rx.clone())));
            }
            senders.push(tokio::spawn(send_loop(a_tx.clone(), b_mailbox, pair.clone(), shared.clone(), p.clone(), i, shutdown_rx.clone())));
            acceptors.push(tokio::spawn(accept_loop(a_rx, pair, shared.clone(), shutdown_rx.clone())));
            keep.push((a_tx, b_tx));
        }

        // Deliveries per second over the whole run (warm-up included), to see trends.
        let timeline = {
            let pairs = pairs.clone();
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut out = Vec::new();
                let mut last = 0u64;
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                tick.tick().await;
                while !shared.stop.load(Relaxed) {
                    tick.tick().await;
                    let now: u64 = pairs.iter().map(|pair| pair.delivered.load(Relaxed)).sum();
                    out.push(now - last);
                    last = now;
                }
                out
            })
        };
        Ok(Pairs { shared, pairs, senders, receivers, acceptors, keep, shutdown_tx, timeline, enrol_time })
    }

    /// From now on, deliveries count in phase `k` (1-based).
    pub fn begin_phase(&self, k: usize) {
        assert!((1..=self.shared.phases).contains(&k), "phase {k} of {}", self.shared.phases);
        self.shared.phase.store(k, Relaxed);
    }

    /// From now on, deliveries count in no phase.
    pub fn end_phase(&self) {
        self.shared.phase.store(0, Relaxed);
    }

    /// Stops sending, lets what is in flight arrive (≤ [`DRAIN_TIMEOUT`]), closes the sockets.
    pub async fn finish(self) -> anyhow::Result<PairsResult> {
        self.end_phase();
        let pairs = &self.pairs;
        self.shared.stop.store(true, Relaxed);
        let drain_started = Instant::now();
        while drain_started.elapsed() < DRAIN_TIMEOUT
            && pairs.iter().any(|pair| pair.delivered.load(Relaxed) + pair.failed.load(Relaxed) < pair.sent.load(Relaxed))
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let undelivered: u64 = pairs
            .iter()
            .map(|pair| pair.sent.load(Relaxed).saturating_sub(pair.delivered.load(Relaxed) + pair.failed.load(Relaxed)))
            .sum();
        let _ = self.shutdown_tx.send(true);
        let timeline = self.timeline.await.unwrap_or_default();
        for s in self.senders {
            let _ = s.await;
        }
        let mut hists = vec![new_histogram(); self.shared.phases];
        let mut delivered = vec![0u64; self.shared.phases];
        for r in self.receivers {
            let r = r.await.context("receiver task")?;
            for (k, h) in r.hists.iter().enumerate() {
                hists[k].add(h).expect("same bounds");
                delivered[k] += r.in_phase[k];
            }
        }
        let (mut accepted, mut errors) = (0, BTreeMap::new());
        for a in self.acceptors {
            let a = a.await.context("acceptor task")?;
            accepted += a.accepted;
            for (code, n) in a.errors {
                *errors.entry(code).or_default() += n;
            }
        }
        for (a_tx, b_tx) in self.keep {
            let _ = a_tx.close().await;
            let _ = b_tx.close().await;
        }
        let sent_total: u64 = pairs.iter().map(|pair| pair.sent.load(Relaxed)).sum();
        let stored = (0..self.shared.phases)
            .map(|k| pairs.iter().map(|pair| pair.stored_in_phase[k].load(Relaxed)).sum())
            .collect();
        Ok(PairsResult { hists, delivered, stored, sent_total, accepted, errors, undelivered_after_drain: undelivered, timeline })
    }
}

/// p50, p90, p99, p99.9 and max of a latency histogram (µs) in ms; `null` when it is empty.
pub fn latency_json(hist: &Histogram<u64>) -> Value {
    let ms = |us: u64| us as f64 / 1000.0;
    let quantile = |q: f64| if hist.is_empty() { Value::Null } else { json!(ms(hist.value_at_quantile(q))) };
    json!({
        "p50_ms": quantile(0.50),
        "p90_ms": quantile(0.90),
        "p99_ms": quantile(0.99),
        "p999_ms": quantile(0.999),
        "max_ms": if hist.is_empty() { Value::Null } else { json!(ms(hist.max())) },
    })
}

pub async fn run(server: &Server, p: &RelayParams) -> anyhow::Result<Value> {
    let pairs = Pairs::start(server, p, 1, None).await?;
    let enrol_time = pairs.enrol_time;

    // Warm-up, then the measured window.
    eprintln!("relay: running ({:.0} s warm-up + {:.0} s measured)…", p.warmup, p.duration);
    tokio::time::sleep(Duration::from_secs_f64(p.warmup)).await;
    let m0 = server.metrics().await;
    let (cpu0, own0, all0) = (server.cpu_s(), own_cpu_seconds(), machine_busy_seconds());
    let node2_0 = p.receivers_pid.and_then(crate::server::cpu_seconds);
    let io0 = server.pid.and_then(io_counters);
    let t0 = Instant::now();
    pairs.begin_phase(1);
    tokio::time::sleep(Duration::from_secs_f64(p.duration)).await;
    pairs.end_phase();
    let elapsed = t0.elapsed().as_secs_f64();
    let (cpu1, own1, all1) = (server.cpu_s(), own_cpu_seconds(), machine_busy_seconds());
    let node2_1 = p.receivers_pid.and_then(crate::server::cpu_seconds);
    let io1 = server.pid.and_then(io_counters);
    let rss = server.rss_kib();
    let m1 = server.metrics().await;

    // Stop sending, let what is in flight arrive, then close.
    let result = pairs.finish().await?;
    let hist = &result.hists[0];
    let delivered = result.delivered[0];
    let stored = result.stored[0];
    let latency = latency_json(hist);

    let server_cpu = cpu0.zip(cpu1).map(|(a, b)| b - a);
    let completed = delivered + stored;
    let per_1k = |cpu: f64| if completed > 0 { Some(cpu / (completed as f64 / 1000.0)) } else { None };
    let own_cpu = own1 - own0;
    // Other processes on the machine during the window (noise): total busy minus server and bench.
    let node2_cpu = node2_0.zip(node2_1).map(|(a, b)| b - a);
    let other_cores = all0
        .zip(all1)
        .map(|(a, b)| ((b - a) - own_cpu - server_cpu.unwrap_or(0.0) - node2_cpu.unwrap_or(0.0)).max(0.0) / elapsed);
    let metric_delta = |name: &str| -> Option<f64> {
        let (a, b) = (m0.as_ref()?.get(name)?, m1.as_ref()?.get(name)?);
        Some(b - a)
    };
    let commits = metric_delta("sallyport_commits_total");
    let committed_ops = metric_delta("sallyport_committed_ops_total");
    let commit_sum = metric_delta("sallyport_commit_latency_seconds_sum");
    let commit_count = metric_delta("sallyport_commit_latency_seconds_count");
    let accepted_delta = metric_delta("sallyport_messages_accepted_total");
    let acks_delta = metric_delta("sallyport_acks_total");
    // Syscall I/O per delivered message (includes socket traffic): [wchar, syscw, rchar, syscr].
    let io_per_msg = io0.zip(io1).filter(|_| delivered > 0).map(|(a, b)| {
        let d = |i: usize| (b[i] - a[i]) as f64 / delivered as f64;
        [d(0), d(1), d(2), d(3)]
    });
    let mean_commit_ms = commit_sum.zip(commit_count).filter(|(_, c)| *c > 0.0).map(|(s, c)| 1000.0 * s / c);
    let commit_busy = commit_sum.map(|s| s / elapsed);
    let msgs_per_commit = accepted_delta.zip(commits).filter(|(_, c)| *c > 0.0).map(|(a, c)| a / c);
    let encoding = match p.encoding {
        Encoding::Json => "json",
        Encoding::Binary => "binary",
    };
    let mut result = json!({
        "scenario": if p.rate.is_some() { "relay-rate" } else { "relay" },
        "pairs": p.pairs,
        "window": p.window,
        "payload": p.payload,
        "duration_s": p.duration,
        "warmup_s": p.warmup,
        "rate": p.rate,
        "measured_s": elapsed,
        "offline_fraction": p.offline_fraction,
        "delivered": delivered,
        "delivered_per_s": delivered as f64 / elapsed,
        // Accepted for offline receivers: written to the database.
        "stored": stored,
        "stored_per_s": stored as f64 / elapsed,
        "unwritten_per_s": metric_delta("sallyport_messages_unwritten_total").map(|n| n / elapsed),
        "written_late_per_s": metric_delta("sallyport_messages_written_late_total").map(|n| n / elapsed),
        "p50_ms": latency["p50_ms"],
        "p90_ms": latency["p90_ms"],
        "p99_ms": latency["p99_ms"],
        "p999_ms": latency["p999_ms"],
        "max_ms": latency["max_ms"],
        "server_cpu_s": server_cpu,
        "server_cpu_cores": server_cpu.map(|c| c / elapsed),
        "server_cpu_s_per_1k": server_cpu.and_then(per_1k),
        "receivers_node_cpu_s": node2_cpu,
        "receivers_node_cpu_cores": node2_cpu.map(|c| c / elapsed),
        "receivers_node_cpu_s_per_1k": node2_cpu.and_then(per_1k),
        "bench_cpu_s": own_cpu,
        "bench_cpu_cores": own_cpu / elapsed,
        "bench_cpu_s_per_1k": per_1k(own_cpu),
        "server_rss_kib": rss,
        "server_write_bytes_per_msg": io_per_msg.map(|v| v[0]),
        "server_write_calls_per_msg": io_per_msg.map(|v| v[1]),
        "server_read_bytes_per_msg": io_per_msg.map(|v| v[2]),
        "server_read_calls_per_msg": io_per_msg.map(|v| v[3]),
        "other_processes_cpu_cores": other_cores,
        "rss_per_socket_kib": Value::Null,
        "enrol_s": enrol_time.as_secs_f64(),
        "sent_total": result.sent_total,
        "accepted_total": result.accepted,
        "undelivered_after_drain": result.undelivered_after_drain,
        "client_errors": result.errors,
        "delivered_per_s_timeline": result.timeline,
        "server_commits_per_s": commits.map(|c| c / elapsed),
        // sallyport_committed_ops_total is not maintained by the server (yet): count appends + acks.
        "server_ops_per_commit": committed_ops
            .filter(|o| *o > 0.0)
            .or_else(|| accepted_delta.zip(acks_delta).map(|(a, k)| a + k))
            .zip(commits)
            .filter(|(_, c)| *c > 0.0)
            .map(|(o, c)| o / c),
        "server_msgs_per_commit": msgs_per_commit,
        "server_mean_commit_ms": mean_commit_ms,
        "server_committer_busy": commit_busy,
        "server_accepted_per_s": accepted_delta.map(|a| a / elapsed),
        "server_acks_per_s": acks_delta.map(|a| a / elapsed),
    });
    result["encoding"] = encoding.into();
    Ok(result)
}

/// Connects every device (a few at a time) and splits each client.
async fn connect_all(creds: &[Credentials], options: ConnectOptions) -> anyhow::Result<Vec<(ClientSender, ClientReceiver)>> {
    use futures::StreamExt as _;
    let results: Vec<anyhow::Result<(ClientSender, ClientReceiver)>> = futures::stream::iter(creds.iter().cloned())
        .map(|c| async move {
            let client = Client::connect_with(&c, options).await.map_err(|e| anyhow::anyhow!("connecting: {e}"))?;
            anyhow::ensure!(client.encoding() == options.encoding, "the server did not take the {:?} encoding", options.encoding);
            client.into_split().map_err(|e| anyhow::anyhow!("splitting: {e}"))
        })
        .buffered(CONNECT_PARALLEL)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn send_loop(
    tx: ClientSender,
    to: MailboxId,
    pair: Arc<Pair>,
    shared: Arc<Shared>,
    p: RelayParams,
    index: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut payload = vec![0u8; p.payload];
    rand::thread_rng().fill_bytes(&mut payload);
    let mut ticker = p.rate.map(|rate| {
        let period = Duration::from_secs_f64(p.pairs as f64 / rate);
        // Stagger the senders over one period so the total rate is smooth.
        let offset = period.mul_f64(index as f64 / p.pairs as f64);
        tokio::time::interval_at(tokio::time::Instant::now() + offset, period)
    });
    while !shared.stop.load(Relaxed) {
        let scheduled = match ticker.as_mut() {
            Some(t) => tokio::select! {
                at = t.tick() => Some(at.into_std()),
                _ = shutdown.changed() => return,
            },
            None => None,
        };
        tokio::select! {
            permit = pair.window.acquire() => match permit {
                Ok(permit) => permit.forget(),
                Err(_) => return,
            },
            _ = shutdown.changed() => return,
        }
        if shared.stop.load(Relaxed) {
            return;
        }
        let ts = match scheduled {
            Some(at) => at.saturating_duration_since(shared.base).as_nanos() as u64,
            None => shared.now_ns(),
        };
        payload[..8].copy_from_slice(&ts.to_le_bytes());
        let frame = Payload(bytes::Bytes::copy_from_slice(&payload));
        tokio::select! {
            r = tx.send(vec![to], frame) => if r.is_err() { return },
            _ = shutdown.changed() => return,
        }
        pair.sent.fetch_add(1, Relaxed);
    }
}

/// B's side: record latency (in the histogram of the phase in force), ack, and free a window slot.
async fn receive_loop(
    mut rx: ClientReceiver,
    pair: Arc<Pair>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) -> ReceiverResult {
    let mut hists = vec![new_histogram(); shared.phases];
    let mut in_phase = vec![0u64; shared.phases];
    loop {
        let event = tokio::select! {
            e = rx.next_event() => e,
            _ = shutdown.changed() => break,
        };
        match event {
            Ok(Event::Message { mailbox, seq, payload, .. }) => {
                let now = shared.now_ns();
                let phase = shared.phase.load(Relaxed);
                if phase > 0 {
                    if let Some(ts) = payload.0.get(..8) {
                        let sent = u64::from_le_bytes(ts.try_into().expect("8 bytes"));
                        hists[phase - 1].saturating_record(now.saturating_sub(sent) / 1000);
                    }
                    in_phase[phase - 1] += 1;
                }
                let _ = rx.ack(mailbox, seq).await;
                pair.delivered.fetch_add(1, Relaxed);
                pair.window.add_permits(1);
            }
            Ok(Event::Closed) | Err(_) => break,
            Ok(_) => {}
        }
    }
    ReceiverResult { hists, in_phase }
}

/// Latency in µs, 1 µs to 10 minutes, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

/// A's side: read `accepted` (and errors) so the server is never blocked writing to A. For an
/// offline receiver, `accepted` (the message is written) is what frees a window slot.
async fn accept_loop(mut rx: ClientReceiver, pair: Arc<Pair>, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) -> SenderSideResult {
    let mut out = SenderSideResult::default();
    loop {
        let event = tokio::select! {
            e = rx.next_event() => e,
            _ = shutdown.changed() => break,
        };
        match event {
            Ok(Event::Accepted { .. }) => {
                out.accepted += 1;
                if pair.offline {
                    let phase = shared.phase.load(Relaxed);
                    if phase > 0 {
                        pair.stored_in_phase[phase - 1].fetch_add(1, Relaxed);
                    }
                    pair.delivered.fetch_add(1, Relaxed);
                    pair.window.add_permits(1);
                }
            }
            Ok(Event::Error { code, id, .. }) => {
                *out.errors.entry(code.to_string()).or_default() += 1;
                if id.is_some() {
                    // A refused send is never delivered: give its window slot back.
                    pair.failed.fetch_add(1, Relaxed);
                    pair.window.add_permits(1);
                }
            }
            Ok(Event::Closed) | Err(_) => break,
            Ok(_) => {}
        }
    }
    out
}
