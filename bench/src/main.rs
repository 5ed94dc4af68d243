//! `sallyport-bench`: load generator and benchmark scenarios for the Sallyport relay. By default it
//! starts the release `sallyport` binary on a fresh SQLite database in a temp dir, measures, and
//! stops it; `--url` measures a server that is already running. See bench/README.md.

mod idle;
mod relay;
mod server;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::Value;
use server::{Server, ServerArgs};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "sallyport-bench", about = "Sallyport benchmarks: relay throughput and latency, idle-socket memory")]
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

    /// `sallyport admin invite` processes run at once while enrolling.
    #[arg(long, global = true, default_value_t = 4)]
    admin_parallel: usize,

    /// The bench's tokio runtime: multi-thread (with --bench-threads workers) or current-thread.
    #[arg(long, global = true, value_enum, default_value = "multi")]
    runtime: Runtime,

    /// Worker threads of the multi-thread runtime.
    #[arg(long, global = true, default_value_t = 2)]
    bench_threads: usize,

    /// Print one JSON object per scenario instead of a summary.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    scenario: Scenario,
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
    },
    /// N idle authenticated sockets (one device each): server RSS per socket.
    Idle {
        #[arg(long, default_value_t = 5000)]
        connections: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Sockets on both sides of every connection; a server started here inherits the limit.
    let wanted = match cli.scenario {
        Scenario::Idle { connections } => 2 * connections as u64 + 1024,
        Scenario::Relay { pairs, .. } => 4 * pairs as u64 + 1024,
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
        server_args: cli.server_args.clone(),
        admin_parallel: cli.admin_parallel,
    };
    let mut server = Server::start_or_attach(&args).await?;
    if server.started_here() {
        eprintln!("started {} (pid {})", server.url, server.pid.unwrap_or_default());
    }
    let scenario = async {
        match &cli.scenario {
            Scenario::Relay { pairs, window, payload, duration, warmup, rate } => {
                let p = relay::RelayParams {
                    pairs: *pairs,
                    window: *window,
                    payload: *payload,
                    duration: *duration,
                    warmup: *warmup,
                    rate: *rate,
                };
                relay::run(&server, &p).await
            }
            Scenario::Idle { connections } => idle::run(&server, &idle::IdleParams { connections: *connections }).await,
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
    if cli.json {
        println!("{report}");
    } else {
        print_summary(&report);
    }
    Ok(())
}

fn print_summary(r: &Value) {
    let num = |k: &str| r.get(k).and_then(Value::as_f64);
    let show = |k: &str, digits: usize| match num(k) {
        Some(v) => format!("{v:.digits$}"),
        None => "n/a".into(),
    };
    match r["scenario"].as_str() {
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
            println!("  latency            p50 {} ms, p90 {} ms, p99 {} ms, p99.9 {} ms, max {} ms", show("p50_ms", 2), show("p90_ms", 2), show("p99_ms", 2), show("p999_ms", 2), show("max_ms", 2));
            println!("  server CPU         {} s ({} cores), {} s per 1,000 messages", show("server_cpu_s", 2), show("server_cpu_cores", 2), show("server_cpu_s_per_1k", 4));
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
                println!("  per second         {}", t.join(" "));
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
