//! `abuse`: healthy pairs at a fixed rate through a quiet phase and then an attack phase on the
//! same server, and a support-request page probed in each. Compares the healthy pairs' latency,
//! the server's memory and the page's delivery time with and without attackers. The attackers
//! (`attackers`) run on a runtime of their own; the page and its push emulator are in `paging`.

mod attackers;
mod paging;

pub use attackers::{Intensity, Kind};

use crate::net;
use crate::relay::{Pairs, RelayParams, latency_json};
use crate::server::{Server, machine_busy_seconds, own_cpu_seconds};
use attackers::{Counters, MalformedFrames, Target};
use paging::{Paging, Probe};
use sallyport_e2e::push_emulator::PushEmulator;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the server's VmRSS is sampled.
const RSS_EVERY: Duration = Duration::from_secs(1);
/// How long attackers get to wind down after their deadline before they are aborted.
const ATTACKER_STOP: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct AbuseParams {
    /// The healthy pairs (`rate` is always set); `duration` is each phase's length.
    pub relay: RelayParams,
    /// Seconds between starting the attackers and measuring the attack phase.
    pub ramp: f64,
    pub attacks: Vec<Kind>,
    pub intensity: Intensity,
    pub probe_interval: f64,
    pub probe_timeout: f64,
    /// Worker threads of the attackers' own runtime.
    pub attacker_threads: usize,
    /// The nice value of the attackers' threads (0: the same priority as the server).
    pub attacker_nice: i32,
}

/// Readings at a phase boundary.
struct Snapshot {
    at: Instant,
    server_cpu: Option<f64>,
    bench_cpu: f64,
    machine_busy: Option<f64>,
    metrics: Option<HashMap<String, f64>>,
}

async fn snapshot(server: &Server) -> Snapshot {
    let metrics = server.metrics().await;
    Snapshot { at: Instant::now(), server_cpu: server.cpu_s(), bench_cpu: own_cpu_seconds(), machine_busy: machine_busy_seconds(), metrics }
}

/// (seconds since the run's origin, VmRSS KiB)
type RssSamples = Arc<Mutex<Vec<(f64, u64)>>>;

pub async fn run(server: &Server, p: &AbuseParams) -> anyhow::Result<Value> {
    let rate = p.relay.rate.ok_or_else(|| anyhow::anyhow!("abuse needs a fixed --rate"))?;
    anyhow::ensure!(p.relay.duration > 0.0 && p.ramp >= 0.0, "--duration must be positive and --ramp not negative");
    anyhow::ensure!(p.probe_interval > 0.0 && p.probe_timeout > 0.0, "--probe-interval and --probe-timeout must be positive");
    anyhow::ensure!((1..=253).contains(&p.intensity.sources), "--attack-sources must be 1..=253 (127.0.0.2 ..= 127.0.0.254)");
    let attacks = |k: Kind| p.attacks.contains(&k);
    let addr = net::server_addr(&server.url).await?;
    let nice = p.attacker_nice;
    let attack_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(p.attacker_threads.max(1))
        .thread_name("attacker")
        .on_thread_start(move || lower_priority(nice))
        .enable_all()
        .build()?;
    let result = run_phases(server, p, rate, addr, &attack_rt, &attacks).await;
    // Dropping a runtime inside another one's task would block it; this returns at once.
    attack_rt.shutdown_background();
    result
}

/// Gives the calling thread the nice value `nice`. On Linux a nice value belongs to a thread
/// (`who` 0 is the caller), so the healthy pairs' threads keep theirs. Real attackers use their
/// own machines' CPUs; on one 2-core box an attacker at the server's priority takes its CPU from
/// the server, and the run measures the scheduler's sharing as much as the server.
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    // SAFETY: setpriority only reads its arguments; a failure leaves the priority as it was.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if rc != 0 {
        eprintln!("warning: could not set the attackers' nice value to {nice}: {}", std::io::Error::last_os_error());
    }
}

async fn run_phases(
    server: &Server,
    p: &AbuseParams,
    rate: f64,
    addr: std::net::SocketAddr,
    attack_rt: &tokio::runtime::Runtime,
    attacks: &dyn Fn(Kind) -> bool,
) -> anyhow::Result<Value> {
    let it = &p.intensity;
    let duration = Duration::from_secs_f64(p.relay.duration);
    let probe_timeout = Duration::from_secs_f64(p.probe_timeout);
    let attack_probes = (p.relay.duration / p.probe_interval).ceil() as usize + 1;

    // --- Set-up, all before anything is measured.
    let setup_started = Instant::now();
    eprintln!("abuse: setting up the on-call supporter and {} requesters…", 1 + attack_probes);
    let mut paging = Paging::setup(server, 1 + attack_probes).await?;
    let flooders = if attacks(Kind::Flood) { it.flood_conns } else { 0 };
    let malformed_auth = if attacks(Kind::Malformed) { it.malformed_conns / 2 } else { 0 };
    // The push attack: one device sends; set-up devices create the mailboxes, as many as the
    // server's per-device daily budget of mailboxes makes necessary.
    let push_devices = if attacks(Kind::Push) { 1 + it.push_mailboxes.div_ceil(it.push_mailboxes_per_device) } else { 0 };
    let (attacker_creds, _) = server.enrol_many(flooders + malformed_auth + push_devices, "bench-attacker").await?;
    let mut attacker_creds = attacker_creds.into_iter();
    let flood_creds: Vec<_> = attacker_creds.by_ref().take(flooders).collect();
    let malformed_creds: Vec<_> = attacker_creds.by_ref().take(malformed_auth).collect();
    let push_creds = attacker_creds.next();
    let push_setup_creds: Vec<_> = attacker_creds.collect();

    let push_emulator = if attacks(Kind::Push) {
        let emulator = attack_rt.spawn(PushEmulator::start()).await?;
        let config: Value = serde_json::from_str(&crate::server::http_get(&server.url, "/v1/config").await?)?;
        emulator.expect_vapid_key(config["vapid_public_key"].as_str().unwrap_or_default());
        Some(emulator)
    } else {
        None
    };
    let push_targets = match &push_emulator {
        Some(emulator) => {
            eprintln!(
                "abuse: push attack: {} unlinked mailboxes × {} subscriptions, from {} devices…",
                it.push_mailboxes,
                it.push_subs,
                push_setup_creds.len()
            );
            Some(attackers::setup_push(&server.url, &push_setup_creds, emulator, it).await?)
        }
        _ => None,
    };
    let pairs = Pairs::start(server, &p.relay, 2, Some(net::HEALTHY)).await?;
    let setup_s = setup_started.elapsed().as_secs_f64();

    let origin = Instant::now();
    let rss: RssSamples = Arc::default();
    let sampler = {
        let (rss, pid) = (rss.clone(), server.pid);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RSS_EVERY);
            loop {
                tick.tick().await;
                if let Some(kib) = pid.and_then(crate::server::rss_kib) {
                    rss.lock().unwrap().push((origin.elapsed().as_secs_f64(), kib));
                }
            }
        })
    };

    // --- Quiet phase: the pairs alone, one probe in the middle.
    eprintln!("abuse: warm-up {:.0} s, quiet phase {:.0} s…", p.relay.warmup, p.relay.duration);
    tokio::time::sleep(Duration::from_secs_f64(p.relay.warmup)).await;
    let q0 = snapshot(server).await;
    pairs.begin_phase(1);
    let (quiet_probe, q1) = tokio::join!(
        async {
            tokio::time::sleep(duration / 2).await;
            paging.probe(origin, probe_timeout).await
        },
        async {
            tokio::time::sleep(duration).await;
            pairs.end_phase();
            snapshot(server).await
        }
    );

    // --- Attack phase.
    let names: Vec<&str> = p.attacks.iter().map(|k| k.name()).collect();
    eprintln!("abuse: attackers ({}) start; {:.0} s ramp, attack phase {:.0} s…", names.join(","), p.ramp, p.relay.duration);
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(p.ramp) + duration;
    let target = Target { url: server.url.clone(), addr, deadline, sources: it.sources };
    let counters: BTreeMap<Kind, Arc<Counters>> = p.attacks.iter().map(|k| (*k, Arc::default())).collect();
    let mut slowloris: Option<Arc<Counters>> = None;
    let mut tasks = Vec::new();
    let mut index = 0usize;
    let mut next = || {
        index += 1;
        index
    };
    if let Some(c) = counters.get(&Kind::Flood) {
        for creds in flood_creds {
            tasks.push(attack_rt.spawn(attackers::flood(target.clone(), creds, next(), it.flood_payload, c.clone())));
        }
    }
    if let Some(c) = counters.get(&Kind::Malformed) {
        let frames = Arc::new(MalformedFrames::new(it.oversize_kib));
        let mut creds = malformed_creds.into_iter();
        for i in 0..it.malformed_conns {
            let auth = if i % 2 == 1 { creds.next() } else { None };
            tasks.push(attack_rt.spawn(attackers::malformed(target.clone(), auth, next(), frames.clone(), c.clone())));
        }
    }
    if let Some(c) = counters.get(&Kind::Idle) {
        for _ in 0..it.idle_conns {
            tasks.push(attack_rt.spawn(attackers::idle_socket(target.clone(), next(), c.clone())));
        }
        // Slowloris is counted apart: its answers are HTTP statuses.
        let slow = Arc::new(Counters::default());
        for _ in 0..it.slowloris_conns {
            tasks.push(attack_rt.spawn(attackers::slowloris(target.clone(), next(), it.slowloris_interval, slow.clone())));
        }
        slowloris = Some(slow);
    }
    if let Some(c) = counters.get(&Kind::Bodies) {
        for _ in 0..it.body_conns {
            tasks.push(attack_rt.spawn(attackers::bodies(target.clone(), next(), it.body_mib, it.body_slow_bps, c.clone())));
        }
    }
    if let (Some(c), Some(targets), Some(creds)) = (counters.get(&Kind::Push), &push_targets, push_creds) {
        let mailboxes = Arc::new(targets.mailboxes.clone());
        tasks.push(attack_rt.spawn(attackers::push_sender(target.clone(), creds, mailboxes, it.push_rate, c.clone())));
    }

    tokio::time::sleep(Duration::from_secs_f64(p.ramp)).await;
    let a0 = snapshot(server).await;
    pairs.begin_phase(2);
    let (attack_probes, a1) = tokio::join!(
        async {
            let mut probes: Vec<Probe> = Vec::new();
            let phase_start = Instant::now();
            let mut at = Duration::from_secs(1).min(duration / 4);
            while at < duration && paging.left() > 0 && !paging.overdue() {
                tokio::time::sleep(at.saturating_sub(phase_start.elapsed())).await;
                probes.push(paging.probe(origin, probe_timeout).await);
                at += Duration::from_secs_f64(p.probe_interval);
            }
            probes
        },
        async {
            tokio::time::sleep(duration).await;
            pairs.end_phase();
            snapshot(server).await
        }
    );
    let attack_end_s = origin.elapsed().as_secs_f64();

    // --- Wind down: attackers stop at their deadline; then a late page, the pairs' drain.
    let stop_by = Instant::now() + ATTACKER_STOP;
    let mut aborted = 0usize;
    for task in tasks {
        let left = stop_by.saturating_duration_since(Instant::now());
        let abort = task.abort_handle();
        if tokio::time::timeout(left, task).await.is_err() {
            abort.abort();
            aborted += 1;
        }
    }
    let late_by = Instant::now() + probe_timeout;
    let mut late_s = paging.late_arrival();
    while late_s.is_none() && paging.overdue() && Instant::now() < late_by {
        tokio::time::sleep(Duration::from_millis(20)).await;
        late_s = paging.late_arrival();
    }
    let result = pairs.finish().await?;
    sampler.abort();
    let peak_rss = server.peak_rss_kib();
    let samples = rss.lock().unwrap().clone();

    // --- Report.
    let phase = |k: usize, s0: &Snapshot, s1: &Snapshot| -> Value {
        let secs = s1.at.duration_since(s0.at).as_secs_f64();
        let server_cpu = s0.server_cpu.zip(s1.server_cpu).map(|(a, b)| b - a);
        let bench_cpu = s1.bench_cpu - s0.bench_cpu;
        let other = s0.machine_busy.zip(s1.machine_busy).map(|(a, b)| ((b - a) - bench_cpu - server_cpu.unwrap_or(0.0)).max(0.0) / secs);
        let (from, to) = (s0.at.duration_since(origin).as_secs_f64(), s1.at.duration_since(origin).as_secs_f64());
        let in_phase: Vec<u64> = samples.iter().filter(|(t, _)| *t >= from && *t <= to).map(|(_, kib)| *kib).collect();
        let mut out = latency_json(&result.hists[k]);
        let map = out.as_object_mut().expect("object");
        map.insert("measured_s".into(), json!(secs));
        map.insert("delivered".into(), json!(result.delivered[k]));
        map.insert("delivered_per_s".into(), json!(result.delivered[k] as f64 / secs));
        map.insert("server_cpu_cores".into(), json!(server_cpu.map(|c| c / secs)));
        map.insert("bench_cpu_cores".into(), json!(bench_cpu / secs));
        map.insert("other_processes_cpu_cores".into(), json!(other));
        map.insert("server_rss_max_sampled_kib".into(), json!(in_phase.iter().max()));
        map.insert("server_rss_first_kib".into(), json!(in_phase.first()));
        map.insert("server_rss_last_kib".into(), json!(in_phase.last()));
        map.insert("server".into(), metric_deltas(s0.metrics.as_ref(), s1.metrics.as_ref()));
        out
    };
    let quiet = phase(0, &q0, &q1);
    let mut attack = phase(1, &a0, &a1);
    attack["probes"] = attack_probes.iter().map(Probe::json).collect();
    attack["late_push_s"] = json!(late_s);

    let (quiet_p99, attack_p99) = (quiet["p99_ms"].as_f64(), attack["p99_ms"].as_f64());
    let p99_ratio = quiet_p99.zip(attack_p99).filter(|(q, _)| *q > 0.0).map(|(q, a)| a / q);
    let push_times: Vec<Option<f64>> = attack_probes.iter().map(|pr| pr.push_ms).collect();
    let worst_push = if push_times.iter().all(Option::is_some) { push_times.iter().flatten().copied().reduce(f64::max) } else { None };
    let rss_growing = still_growing(&samples, a0.at.duration_since(origin).as_secs_f64(), attack_end_s);
    let attackers_json: Map<String, Value> = counters
        .iter()
        .map(|(k, c)| (k.name().to_owned(), c.json()))
        .chain(slowloris.map(|c| ("slowloris".to_owned(), c.json())))
        .collect();
    Ok(json!({
        "scenario": "abuse",
        "pairs": p.relay.pairs,
        "rate": rate,
        "window": p.relay.window,
        "payload": p.relay.payload,
        "duration_s": p.relay.duration,
        "warmup_s": p.relay.warmup,
        "ramp_s": p.ramp,
        "attacks": names,
        "attacker_nice": p.attacker_nice,
        "attack_sources": format!("127.0.0.2-127.0.0.{}", 1 + it.sources),
        "healthy_source": "127.0.0.1",
        "same_server_both_phases": true,
        "intensity": {
            "flood_conns": it.flood_conns, "flood_payload": it.flood_payload,
            "malformed_conns": it.malformed_conns, "oversize_kib": it.oversize_kib,
            "idle_conns": it.idle_conns, "slowloris_conns": it.slowloris_conns, "slowloris_interval_s": it.slowloris_interval.as_secs_f64(),
            "body_conns": it.body_conns, "body_mib": it.body_mib, "body_slow_bps": it.body_slow_bps,
            "push_mailboxes": it.push_mailboxes, "push_mailboxes_per_device": it.push_mailboxes_per_device, "push_subs": it.push_subs, "push_rate": it.push_rate,
            "push_retry_after_s": it.push_retry_after, "push_delay_ms": it.push_delay.as_millis() as u64,
            "push_subscriptions_registered": push_targets.as_ref().map(|t| t.subscriptions),
        },
        "setup_s": setup_s,
        "enrol_method": server.enrolment_method(),
        "quiet": quiet,
        "quiet_probe": quiet_probe.json(),
        "attack": attack,
        "attackers": attackers_json,
        "attackers_aborted_after_deadline": aborted,
        "push_emulator_requests": push_emulator.as_ref().map(|e| e.arrivals()),
        "push_emulator_rejections": paging.rejections().len() + push_emulator.as_ref().map_or(0, |e| e.rejections().len()),
        "p50_ms": attack["p50_ms"],
        "p99_ms": attack["p99_ms"],
        "max_ms": attack["max_ms"],
        "delivered_per_s": attack["delivered_per_s"],
        "server_cpu_s_per_1k": Value::Null,
        "rss_per_socket_kib": Value::Null,
        "p99_ratio": p99_ratio,
        "server_peak_rss_kib": peak_rss,
        "server_rss_kib": samples.last().map(|s| s.1),
        "server_rss_samples": samples.iter().map(|(t, k)| json!([(t * 10.0).round() / 10.0, k])).collect::<Vec<_>>(),
        "attack_rss_still_growing": rss_growing,
        "support_push_worst_ms": worst_push,
        "targets": {
            "p99_within_2x_of_quiet": p99_ratio.map(|r| r <= 2.0),
            "support_push_within_2s": if attack_probes.is_empty() { Value::Null } else { json!(worst_push.is_some_and(|w| w <= 2000.0)) },
            "rss_bounded": rss_growing.map(|g| !g),
        },
        "healthy_sent_total": result.sent_total,
        "healthy_accepted_total": result.accepted,
        "healthy_undelivered_after_drain": result.undelivered_after_drain,
        "healthy_client_errors": result.errors,
        "delivered_per_s_timeline": result.timeline,
    }))
}

/// Whether the server's RSS was still rising at the end of the attack: the highest sample of its
/// last quarter above the highest before it by more than 5 %. `None` without enough samples.
fn still_growing(samples: &[(f64, u64)], from: f64, to: f64) -> Option<bool> {
    let cut = to - (to - from) / 4.0;
    let before = samples.iter().filter(|(t, _)| *t >= from && *t < cut).map(|s| s.1).max()?;
    let last = samples.iter().filter(|(t, _)| *t >= cut && *t <= to).map(|s| s.1).max()?;
    Some(last as f64 > before as f64 * 1.05)
}

/// Deltas of the server's counters over a phase that matter here (push outcomes, connections,
/// errors by code), and the open connections at its end.
fn metric_deltas(m0: Option<&HashMap<String, f64>>, m1: Option<&HashMap<String, f64>>) -> Value {
    let (Some(m0), Some(m1)) = (m0, m1) else { return Value::Null };
    let delta = |name: &str| m1.get(name).map(|b| b - m0.get(name).copied().unwrap_or(0.0));
    let errors: BTreeMap<String, f64> = m1
        .iter()
        .filter_map(|(name, b)| {
            let code = name.strip_prefix("sallyport_errors_total{code=\"")?.strip_suffix("\"}")?;
            let d = b - m0.get(name).copied().unwrap_or(0.0);
            (d > 0.0).then(|| (code.to_owned(), d))
        })
        .collect();
    json!({
        "connections_open_at_end": m1.get("sallyport_connections_open"),
        "connections": delta("sallyport_connections_total"),
        "auth_ok": delta("sallyport_auth_ok_total"),
        "messages_accepted": delta("sallyport_messages_accepted_total"),
        "push_sent": delta("sallyport_push_sent_total"),
        "push_failed": delta("sallyport_push_failed_total"),
        "push_dropped": delta("sallyport_push_dropped_total"),
        "errors": errors,
    })
}
