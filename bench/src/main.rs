//! `sallyport-bench`: load generator and benchmark scenarios for the Sallyport relay. By default it
//! starts the release `sallyport` binary on a fresh SQLite database in a temp dir, measures, and
//! stops it; `--url` measures a server that is already running. See bench/README.md.

// The relay result is one `json!` object with many fields.
#![recursion_limit = "256"]

mod abuse;
mod idle;
mod net;
mod page;
mod relay;
mod server;
mod soak;

use abuse::Kind;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::Value;
use server::{Server, ServerArgs};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "sallyport-bench",
    about = "Sallyport benchmarks: relay throughput and latency, idle-socket memory, abuse resistance, long-run soak, crisis paging"
)]
struct Cli {
    /// The `sallyport` binary to start (and to run `sallyport admin invite` with).
    /// Default: target/release/sallyport under the workspace root.
    #[arg(long, global = true)]
    server_bin: Option<PathBuf>,

    /// Measure a server that is already running at this URL instead of starting one. Must be the
    /// server's public URL (devices sign its origin). Needs --data-dir or --database-url.
    #[arg(long, global = true)]
    url: Option<String>,

    /// With --url: the server's process id, for its CPU time and RSS (from /proc).
    #[arg(long, global = true)]
    server_pid: Option<u32>,

    /// With --url: the server's data directory, for `sallyport admin invite`.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,

    /// With --url: the server's database URL, for `sallyport admin invite`.
    #[arg(long, global = true)]
    database_url: Option<String>,

    /// Extra argument for the started server's `serve` command (repeat for several),
    /// e.g. --server-arg=--max-commit-batch=8192.
    #[arg(long = "server-arg", global = true, allow_hyphen_values = true)]
    server_args: Vec<String>,

    /// `sallyport admin invite` processes run at once while enrolling (with --url only: a server
    /// started here is enrolled into over REST).
    #[arg(long, global = true, default_value_t = 4)]
    admin_parallel: usize,

    /// Invitations and enrolments in flight at once over REST (`POST /v1/admin/invitations` by the
    /// administrator device the bench enrols on a server it starts).
    #[arg(long, global = true, default_value_t = 16)]
    enrol_parallel: usize,

    /// The bench's tokio runtime: multi-thread (with --bench-threads workers) or current-thread.
    #[arg(long, global = true, value_enum, default_value = "multi")]
    runtime: Runtime,

    /// Worker threads of the multi-thread runtime.
    #[arg(long, global = true, default_value_t = 2)]
    bench_threads: usize,

    /// Print one JSON object per scenario instead of a summary.
    #[arg(long, global = true)]
    json: bool,

    /// Also write the JSON object to this file (the summary is still printed).
    #[arg(long, global = true)]
    json_out: Option<PathBuf>,

    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum WireEncoding {
    Json,
    Binary,
}

impl From<WireEncoding> for sallyport_core::protocol::Encoding {
    fn from(e: WireEncoding) -> Self {
        match e {
            WireEncoding::Json => Self::Json,
            WireEncoding::Binary => Self::Binary,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Runtime {
    Multi,
    Current,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// P pairs: A sends to B's mailbox, B receives and acks. Throughput, latency, server CPU.
    Relay {
        /// Sender/receiver pairs (2 devices each).
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        /// Messages in flight per sender (sent, not yet delivered to the receiver).
        #[arg(long, default_value_t = 16)]
        window: usize,
        /// Payload bytes (opaque random; the first 8 carry the send timestamp).
        #[arg(long, default_value_t = 300)]
        payload: usize,
        /// Measured seconds (after the warm-up).
        #[arg(long, default_value_t = 20.0)]
        duration: f64,
        /// Warm-up seconds, excluded from every figure.
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
        /// Fixed total send rate (msg/s, spread over the senders, paced by timers) for latency;
        /// latency then counts from the scheduled send time. Default: as fast as the window allows.
        #[arg(long)]
        rate: Option<f64>,
        /// How the clients encode the hot frames (`send`, `deliver`, `ack`, `accepted`): the
        /// binary subprotocol `sallyport.bin.v1`, or JSON text.
        #[arg(long, value_enum, default_value_t = WireEncoding::Binary)]
        encoding: WireEncoding,
        /// Share of the pairs whose receiver is offline, so that their messages are written to
        /// the database (e.g. 0.5); server CPU per 1,000 then counts delivered and written.
        #[arg(long, default_value_t = 0.0)]
        offline_fraction: f64,
        /// Connect the receivers to a second node (`http://host:port`, a `sallyport serve` on the
        /// same PostgreSQL database) instead of the server the senders use: every message then
        /// crosses nodes (committed by the senders' node, woken by LISTEN/NOTIFY on the other).
        #[arg(long)]
        receivers_url: Option<String>,
        /// With --receivers-url: that node's process id, for its CPU time.
        #[arg(long)]
        receivers_pid: Option<u32>,
    },
    /// N idle authenticated sockets (one device each): server RSS per socket.
    Idle {
        #[arg(long, default_value_t = 5000)]
        connections: usize,
    },
    /// Healthy pairs at a fixed rate, quiet then under attack (same server): latency, RSS, and
    /// whether a support-request push still reaches the on-call supporter, and how fast.
    Abuse(Box<AbuseArgs>),
    /// A crisis team of N on-call responders is paged: time until the push service has every
    /// page, and until every answer (by the page's token) is on the board.
    Page {
        #[arg(long, default_value_t = 500)]
        responders: usize,
        /// Answers sent at once.
        #[arg(long, default_value_t = 32)]
        answer_parallel: usize,
        /// Seconds to wait for all pages, and for all answers.
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
    },
    /// N authenticated sockets for a long run under a steady load: errors, RSS slope, every
    /// message delivered.
    Soak {
        /// Authenticated sockets (one device each).
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Seconds of load, after every socket is open.
        #[arg(long, default_value_t = 600.0)]
        duration: f64,
        /// Messages per second in total, each between a random pair of the sockets.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Seconds of load left out of the RSS slope (at most half of --duration).
        #[arg(long, default_value_t = 60.0)]
        warmup: f64,
        /// Most sockets per source address (127.0.0.1, then .2, …).
        #[arg(long, default_value_t = 200)]
        per_address: usize,
        /// Seconds between RSS samples.
        #[arg(long, default_value_t = 10.0)]
        sample_every: f64,
        /// Payload bytes (the first 16 carry the send time and the message number).
        #[arg(long, default_value_t = 100)]
        payload: usize,
    },
}

#[derive(Debug, clap::Args)]
struct AbuseArgs {
    /// Healthy sender/receiver pairs (from 127.0.0.1).
    #[arg(long, default_value_t = 50)]
    pairs: usize,
    /// Healthy messages per second in total (paced; latency from the scheduled send time).
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Healthy messages in flight per pair at most.
    #[arg(long, default_value_t = 16)]
    window: usize,
    /// Healthy payload bytes.
    #[arg(long, default_value_t = 300)]
    payload: usize,
    /// Seconds of each measured phase (quiet, then attack).
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Seconds before the quiet phase, not measured.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Seconds between starting the attackers and measuring the attack phase.
    #[arg(long, default_value_t = 3.0)]
    ramp: f64,
    /// Attacker kinds, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "flood,malformed,idle,bodies,push")]
    attacks: Vec<Kind>,
    /// Attacker source addresses: 127.0.0.2 ..= 127.0.0.(1 + N).
    #[arg(long, default_value_t = 16)]
    attack_sources: usize,
    /// Worker threads of the attackers' own runtime (the healthy pairs keep the main one).
    #[arg(long, default_value_t = 2)]
    attacker_threads: usize,
    /// Nice value of the attackers' threads (0..=19). Real attackers bring their own CPUs; at 0
    /// they take theirs from the server's two cores, which the run then measures too.
    #[arg(long, default_value_t = 19, value_parser = clap::value_parser!(i32).range(0..=19))]
    attacker_nice: i32,
    /// flood: authenticated sockets sending back to back.
    #[arg(long, default_value_t = 4)]
    flood_conns: usize,
    /// flood: payload bytes per message.
    #[arg(long, default_value_t = 256)]
    flood_payload: usize,
    /// malformed: sockets sending malformed and oversized frames (half of them authenticated).
    #[arg(long, default_value_t = 8)]
    malformed_conns: usize,
    /// malformed: size of the oversized frame, KiB (the limit is 128 KiB).
    #[arg(long, default_value_t = 1024)]
    oversize_kib: usize,
    /// idle: WebSockets that never authenticate.
    #[arg(long, default_value_t = 1000)]
    idle_conns: usize,
    /// idle: HTTP connections that never finish their headers (slowloris).
    #[arg(long, default_value_t = 200)]
    slowloris_conns: usize,
    /// idle: seconds between a slowloris connection's header lines.
    #[arg(long, default_value_t = 5.0)]
    slowloris_interval: f64,
    /// bodies: connections posting large unauthenticated bodies (half fast, half slow).
    #[arg(long, default_value_t = 32)]
    body_conns: usize,
    /// bodies: body size, MiB.
    #[arg(long, default_value_t = 64)]
    body_mib: usize,
    /// bodies: bytes per second of a slow body.
    #[arg(long, default_value_t = 1024)]
    body_slow_bps: usize,
    /// push: unlinked mailboxes with subscriptions at the 429 emulator.
    #[arg(long, default_value_t = 100)]
    push_mailboxes: usize,
    /// push: unlinked mailboxes each attacker device creates (the server allows 50 a day), so
    /// the set-up uses ceil(push-mailboxes / this) devices.
    #[arg(long, default_value_t = 50)]
    push_mailboxes_per_device: usize,
    /// push: subscriptions per mailbox (the server allows 5).
    #[arg(long, default_value_t = 5)]
    push_subs: usize,
    /// push: messages per second to those mailboxes (in turn).
    #[arg(long, default_value_t = 100.0)]
    push_rate: f64,
    /// push: the emulator's Retry-After, seconds.
    #[arg(long, default_value_t = 10)]
    push_retry_after: u64,
    /// push: how long the emulator takes to answer, milliseconds.
    #[arg(long, default_value_t = 1000)]
    push_delay_ms: u64,
    /// Seconds between support-request probes during the attack.
    #[arg(long, default_value_t = 5.0)]
    probe_interval: f64,
    /// Seconds a probe waits for its push.
    #[arg(long, default_value_t = 10.0)]
    probe_timeout: f64,
}

impl AbuseArgs {
    fn params(&self) -> abuse::AbuseParams {
        abuse::AbuseParams {
            relay: relay::RelayParams {
                pairs: self.pairs,
                window: self.window,
                payload: self.payload,
                duration: self.duration,
                warmup: self.warmup,
                rate: Some(self.rate),
                // The healthy pairs speak as the client core does by default.
                encoding: sallyport_core::protocol::Encoding::Binary,
                offline_fraction: 0.0,
                receivers_url: None,
                receivers_pid: None,
            },
            ramp: self.ramp,
            attacks: self.attacks.clone(),
            intensity: abuse::Intensity {
                sources: self.attack_sources,
                flood_conns: self.flood_conns,
                flood_payload: self.flood_payload,
                malformed_conns: self.malformed_conns,
                oversize_kib: self.oversize_kib,
                idle_conns: self.idle_conns,
                slowloris_conns: self.slowloris_conns,
                slowloris_interval: std::time::Duration::from_secs_f64(self.slowloris_interval.max(0.01)),
                body_conns: self.body_conns,
                body_mib: self.body_mib,
                body_slow_bps: self.body_slow_bps,
                push_mailboxes: self.push_mailboxes,
                push_mailboxes_per_device: self.push_mailboxes_per_device.max(1),
                push_subs: self.push_subs,
                push_rate: self.push_rate,
                push_retry_after: self.push_retry_after,
                push_delay: std::time::Duration::from_millis(self.push_delay_ms),
            },
            probe_interval: self.probe_interval,
            probe_timeout: self.probe_timeout,
            attacker_threads: self.attacker_threads,
            attacker_nice: self.attacker_nice,
        }
    }

    /// Sockets the attackers and the healthy pairs may hold at once (one end each).
    fn sockets(&self) -> u64 {
        (4 * self.pairs + self.flood_conns + self.malformed_conns + self.idle_conns + self.slowloris_conns + self.body_conns + 64)
            as u64
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Sockets on both sides of every connection (idle, relay; a server started here inherits the
    // limit), or one side of each (abuse, soak: the bench and the server each hold one).
    let wanted = match cli.scenario {
        Scenario::Idle { connections } => 2 * connections as u64 + 1024,
        Scenario::Relay { pairs, .. } => 4 * pairs as u64 + 1024,
        Scenario::Abuse(ref a) => a.sockets() + 1024,
        Scenario::Soak { connections, .. } => connections as u64 + 1024,
        Scenario::Page { responders, .. } => 2 * responders as u64 + 1024,
    };
    let nofile = server::raise_nofile(wanted);
    if nofile < wanted {
        eprintln!("warning: the open-file limit is {nofile} (hard limit), below the {wanted} this run may need");
    }
    let runtime = match cli.runtime {
        Runtime::Multi => {
            tokio::runtime::Builder::new_multi_thread().worker_threads(cli.bench_threads.max(1)).enable_all().build()
        }
        Runtime::Current => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    }
    .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let args = ServerArgs {
        server_bin: cli.server_bin.clone(),
        url: cli.url.clone(),
        server_pid: cli.server_pid,
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        server_args: server_args(&cli),
        admin_parallel: cli.admin_parallel,
        enrol_parallel: cli.enrol_parallel,
    };
    let mut server = Server::start_or_attach(&args).await?;
    if server.started_here() {
        eprintln!("started {} (pid {})", server.url, server.pid.unwrap_or_default());
    }
    let scenario = async {
        match &cli.scenario {
            Scenario::Relay { pairs, window, payload, duration, warmup, rate, encoding, offline_fraction, receivers_url, receivers_pid } => {
                let p = relay::RelayParams {
                    pairs: *pairs,
                    window: *window,
                    payload: *payload,
                    duration: *duration,
                    warmup: *warmup,
                    rate: *rate,
                    encoding: (*encoding).into(),
                    offline_fraction: *offline_fraction,
                    receivers_url: receivers_url.clone(),
                    receivers_pid: *receivers_pid,
                };
                relay::run(&server, &p).await
            }
            Scenario::Idle { connections } => idle::run(&server, &idle::IdleParams { connections: *connections }).await,
            Scenario::Abuse(a) => abuse::run(&server, &a.params()).await,
            Scenario::Page { responders, answer_parallel, timeout } => {
                let p = page::PageParams { responders: *responders, answer_parallel: *answer_parallel, timeout: *timeout };
                page::run(&server, &p).await
            }
            Scenario::Soak { connections, duration, rate, warmup, per_address, sample_every, payload } => {
                let p = soak::SoakParams {
                    connections: *connections,
                    duration: *duration,
                    rate: *rate,
                    warmup: *warmup,
                    per_address: *per_address,
                    sample_every: *sample_every,
                    payload: *payload,
                };
                soak::run(&server, &p).await
            }
        }
    };
    let result = tokio::select! {
        r = scenario => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let stopped = server.stop().await;
    let mut report = result?;
    stopped?;
    if let Value::Object(map) = &mut report {
        map.insert("bench_runtime".into(), match cli.runtime {
            Runtime::Multi => format!("multi-thread/{}", cli.bench_threads.max(1)).into(),
            Runtime::Current => "current-thread".into(),
        });
        map.insert("server".into(), if server.started_here() || cli.url.is_none() { "started".into() } else { "external".into() });
    }
    if let Some(path) = &cli.json_out {
        std::fs::write(path, format!("{report}\n")).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    if cli.json {
        println!("{report}");
    } else {
        print_summary(&report);
    }
    Ok(())
}

/// The started server's extra arguments: `abuse` registers push endpoints at a local emulator
/// (http://127.0.0.1), which the server accepts only with `--push-allow-insecure-endpoints` (so
/// does `page`);
/// `idle` lifts the per-address connection cap; `idle` and `soak` the administrator's budget of
/// signed requests.
fn server_args(cli: &Cli) -> Vec<String> {
    let mut args = cli.server_args.clone();
    let insecure = "--push-allow-insecure-endpoints";
    if matches!(cli.scenario, Scenario::Abuse(_) | Scenario::Page { .. }) && !args.iter().any(|a| a == insecure) {
        args.push(insecure.to_owned());
    }
    // `idle` opens all its sockets from 127.0.0.1: it measures memory per socket, not the cap.
    let per_address = "--max-connections-per-address";
    if matches!(cli.scenario, Scenario::Idle { .. }) && !args.iter().any(|a| a.starts_with(per_address)) {
        args.extend([per_address.to_owned(), "0".to_owned()]);
    }
    // `idle`, `soak` and `page` have the administrator (or coordinator) make thousands of signed
    // requests in their set-up, far over a device's per minute; the set-up is not what they measure.
    let signed = "--signed-requests-per-minute";
    if matches!(cli.scenario, Scenario::Idle { .. } | Scenario::Soak { .. } | Scenario::Page { .. }) && !args.iter().any(|a| a.starts_with(signed)) {
        args.extend([signed.to_owned(), "1000000".to_owned()]);
    }
    args
}

fn print_summary(r: &Value) {
    let num = |k: &str| r.get(k).and_then(Value::as_f64);
    let show = |k: &str, digits: usize| match num(k) {
        Some(v) => format!("{v:.digits$}"),
        None => "n/a".into(),
    };
    match r["scenario"].as_str() {
        Some("abuse") => print_abuse(r),
        Some("soak") => print_soak(r),
        Some("page") => page::print(r),
        Some("idle") => {
            println!("idle: {} authenticated sockets", r["connections"]);
            println!("  server RSS         {} KiB before, {} KiB after", show("server_rss_before_kib", 0), show("server_rss_kib", 0));
            println!("  RSS per socket     {} KiB", show("rss_per_socket_kib", 2));
            println!("  open (server)      {}", show("server_connections_open", 0));
            println!("  enrolment          {} s ({} devices/s)", show("enrol_s", 1), show("enrol_per_s", 0));
            println!("  connecting         {} s ({} sockets/s, {} ms server CPU each)", show("connect_s", 1), show("connects_per_s", 0), show("server_cpu_s_per_connect_ms", 3));
        }
        _ => {
            println!(
                "{}: {} pairs, window {}, payload {} B, rate {}, {} s measured",
                r["scenario"].as_str().unwrap_or("relay"),
                r["pairs"],
                r["window"],
                r["payload"],
                num("rate").map(|v| format!("{v:.0} msg/s")).unwrap_or_else(|| "unpaced".into()),
                show("measured_s", 1)
            );
            println!("  delivered          {} msg/s ({} messages)", show("delivered_per_s", 0), r["delivered"]);
            if num("offline_fraction").is_some_and(|f| f > 0.0) {
                println!("  stored (offline)   {} msg/s ({} messages)", show("stored_per_s", 0), r["stored"]);
            }
            println!(
                "  never written      {} msg/s; written after early delivery {} msg/s",
                show("unwritten_per_s", 0),
                show("written_late_per_s", 0)
            );
            println!("  latency            p50 {} ms, p90 {} ms, p99 {} ms, p99.9 {} ms, max {} ms", show("p50_ms", 2), show("p90_ms", 2), show("p99_ms", 2), show("p999_ms", 2), show("max_ms", 2));
            println!("  server CPU         {} s ({} cores), {} s per 1,000 messages", show("server_cpu_s", 2), show("server_cpu_cores", 2), show("server_cpu_s_per_1k", 4));
            if num("receivers_node_cpu_s").is_some() {
                println!("  receivers' node    {} s CPU ({} cores), {} s per 1,000 messages", show("receivers_node_cpu_s", 2), show("receivers_node_cpu_cores", 2), show("receivers_node_cpu_s_per_1k", 4));
            }
            println!("  bench CPU          {} s ({} cores), {} s per 1,000 messages ({})", show("bench_cpu_s", 2), show("bench_cpu_cores", 2), show("bench_cpu_s_per_1k", 4), r["bench_runtime"].as_str().unwrap_or(""));
            println!("  server RSS         {} KiB", show("server_rss_kib", 0));
            println!(
                "  server syscall I/O {} B in {} writes, {} B in {} reads per message (sockets + database)",
                show("server_write_bytes_per_msg", 0),
                show("server_write_calls_per_msg", 2),
                show("server_read_bytes_per_msg", 0),
                show("server_read_calls_per_msg", 2)
            );
            println!("  other processes    {} cores busy during the window (noise)", show("other_processes_cpu_cores", 2));
            println!(
                "  group commits      {} /s, {} messages and {} ops per commit, {} ms mean, committer busy {}",
                show("server_commits_per_s", 0),
                show("server_msgs_per_commit", 0),
                show("server_ops_per_commit", 0),
                show("server_mean_commit_ms", 2),
                show("server_committer_busy", 2)
            );
            if let Some(t) = r["delivered_per_s_timeline"].as_array() {
                let t: Vec<String> = t.iter().map(|v| format!("{:.0}k", v.as_f64().unwrap_or(0.0) / 1000.0)).collect();
                println!("  per second         {} (delivered + stored)", t.join(" "));
            }
            if r["client_errors"].as_object().is_some_and(|m| !m.is_empty()) {
                println!("  errors             {}", r["client_errors"]);
            }
            if num("undelivered_after_drain").unwrap_or(0.0) > 0.0 {
                println!("  undelivered        {} after the drain", r["undelivered_after_drain"]);
            }
        }
    }
}

fn fmt_num(v: &Value, digits: usize) -> String {
    match v.as_f64() {
        Some(x) => format!("{x:.digits$}"),
        None => "n/a".into(),
    }
}

fn verdict(v: &Value) -> &'static str {
    match v.as_bool() {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "n/a",
    }
}

fn print_abuse(r: &Value) {
    let (q, a) = (&r["quiet"], &r["attack"]);
    println!(
        "abuse: {} healthy pairs at {} msg/s from {}; attackers {} from {} at nice {}; one server, quiet phase then attack phase, {} s each",
        r["pairs"],
        fmt_num(&r["rate"], 0),
        r["healthy_source"].as_str().unwrap_or(""),
        r["attacks"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")).unwrap_or_default(),
        r["attack_sources"].as_str().unwrap_or(""),
        r["attacker_nice"],
        fmt_num(&r["duration_s"], 0),
    );
    println!("  {:<34} {:>12} {:>12}   target", "", "quiet", "attack");
    let row = |name: &str, key: &str, digits: usize, target: &str| {
        println!("  {:<34} {:>12} {:>12}   {target}", name, fmt_num(&q[key], digits), fmt_num(&a[key], digits));
    };
    row("healthy delivered msg/s", "delivered_per_s", 0, "");
    row("healthy p50 ms", "p50_ms", 2, "");
    row(
        "healthy p99 ms",
        "p99_ms",
        2,
        &format!("≤ 2× quiet: {} ({}×)", verdict(&r["targets"]["p99_within_2x_of_quiet"]), fmt_num(&r["p99_ratio"], 2)),
    );
    row("healthy p99.9 ms", "p999_ms", 2, "");
    row("healthy max ms", "max_ms", 2, "");
    row("server CPU cores", "server_cpu_cores", 2, "");
    row("bench CPU cores (incl. attackers)", "bench_cpu_cores", 2, "");
    row("other processes' CPU cores", "other_processes_cpu_cores", 2, "(noise)");
    row("server RSS max sampled KiB", "server_rss_max_sampled_kib", 0, "");
    let probe = |p: &Value| match p["push_ms"].as_f64() {
        Some(ms) => format!("{ms:.0} ms"),
        None => format!("none ({})", p["error"].as_str().unwrap_or("?")),
    };
    println!("  support push (request → emulator)  quiet: {}", probe(&r["quiet_probe"]));
    let probes: Vec<String> = a["probes"].as_array().map(|ps| ps.iter().map(|p| format!("at {}s: {}", fmt_num(&p["at_s"], 0), probe(p))).collect()).unwrap_or_default();
    println!("  support push under attack          {}", if probes.is_empty() { "no probe made".into() } else { probes.join("; ") });
    if let Some(late) = a["late_push_s"].as_f64() {
        println!("  the overdue push arrived           {late:.1} s after its request");
    }
    println!("  {:<34} {}", "support push ≤ 2 s under attack", verdict(&r["targets"]["support_push_within_2s"]));
    println!(
        "  server peak RSS (VmHWM)            {} KiB; during the attack {} → {} KiB; still growing at its end: {} (RSS bounded: {})",
        fmt_num(&r["server_peak_rss_kib"], 0),
        fmt_num(&a["server_rss_first_kib"], 0),
        fmt_num(&a["server_rss_last_kib"], 0),
        r["attack_rss_still_growing"],
        verdict(&r["targets"]["rss_bounded"]),
    );
    let server = &a["server"];
    println!(
        "  server during the attack           {} connections opened, {} open at its end; push sent {}, failed {}, dropped {}; errors {}",
        fmt_num(&server["connections"], 0),
        fmt_num(&server["connections_open_at_end"], 0),
        fmt_num(&server["push_sent"], 0),
        fmt_num(&server["push_failed"], 0),
        fmt_num(&server["push_dropped"], 0),
        server["errors"],
    );
    println!("  attackers (what they did; what the server answered):");
    if let Some(kinds) = r["attackers"].as_object() {
        for (kind, c) in kinds {
            println!(
                "    {:<10} {} connections ({} failed), {} sent, {} MB, {} ended by the server; {}",
                kind,
                c["connections"],
                c["connect_failures"],
                c["sent"],
                fmt_num(&json_div(&c["bytes"], 1e6), 1),
                c["ended_by_server"],
                c["answers"]
            );
        }
    }
    if r["push_emulator_requests"].is_number() {
        println!("    push emulator (429, slow) got {} requests", r["push_emulator_requests"]);
    }
    let healthy_errors = r["healthy_client_errors"].as_object().is_some_and(|m| !m.is_empty());
    if healthy_errors || r["healthy_undelivered_after_drain"].as_u64().unwrap_or(0) > 0 {
        println!("  healthy pairs: errors {}, undelivered after the drain {}", r["healthy_client_errors"], r["healthy_undelivered_after_drain"]);
    }
}

fn json_div(v: &Value, by: f64) -> Value {
    v.as_f64().map(|x| serde_json::json!(x / by)).unwrap_or(Value::Null)
}

fn print_soak(r: &Value) {
    println!(
        "soak: {} sockets ({} connected) from {} (≤ {} per address), {} msg/s for {} s",
        r["connections"], r["connected"], r["source_addresses"].as_str().unwrap_or(""), r["per_address"], fmt_num(&r["rate"], 0), fmt_num(&r["load_s"], 0)
    );
    println!("  enrolment          {} s ({} devices/s, {}); connecting {} s", fmt_num(&r["enrol_s"], 1), fmt_num(&r["enrol_per_s"], 0), r["enrol_method"].as_str().unwrap_or(""), fmt_num(&r["connect_s"], 1));
    println!(
        "  messages           sent {}, accepted {}, delivered {}, refused {}, undelivered after a {} s drain {}, duplicates {}",
        r["sent"], r["accepted"], r["delivered"], r["refused"], fmt_num(&r["drain_s"], 1), r["undelivered_after_drain"], r["duplicates"]
    );
    println!(
        "  errors             {} (target 0): connect failures {}, send failures {}, sockets closed early {}, error frames {}",
        r["errors"], r["connect_failures"], r["send_failures"], r["closed_before_end"], r["error_events"]
    );
    println!("  latency            p50 {} ms, p99 {} ms, p99.9 {} ms, max {} ms", fmt_num(&r["p50_ms"], 2), fmt_num(&r["p99_ms"], 2), fmt_num(&r["p999_ms"], 2), fmt_num(&r["max_ms"], 2));
    println!("  server CPU         {} cores; {} connections open at the end", fmt_num(&r["server_cpu_cores"], 2), fmt_num(&r["server_connections_open_at_end"], 0));
    println!(
        "  server RSS         slope {} KiB/min after a {} s warm-up (least squares); last {} KiB, peak (VmHWM) {} KiB",
        fmt_num(&r["rss_slope_kib_per_min"], 1),
        fmt_num(&r["warmup_s"], 0),
        fmt_num(&r["server_rss_kib"], 0),
        fmt_num(&r["server_peak_rss_kib"], 0)
    );
    if let Some(samples) = r["rss_samples"].as_array() {
        let s: Vec<String> = samples.iter().map(|x| format!("{}s:{}", fmt_num(&x["t_s"], 0), fmt_num(&x["rss_kib"], 0))).collect();
        println!("  RSS samples (KiB)  {}", s.join(" "));
    }
}
