//! The server under test: either a `sallyport serve` process started here (fresh SQLite database in
//! a temp dir, stopped with SIGTERM at the end) or one that is already running (`--url`), plus the
//! helpers around it: invitations (over REST by the administrator device the bench enrols from the
//! server's first-start link, or through `sallyport admin invite` for a running server), enrolment
//! over REST, /proc readings (CPU, RSS, peak RSS, file-descriptor limit) and /metrics.

use anyhow::{Context as _, bail};
use sallyport_core::Credentials;
use sallyport_core::protocol::rest::Role;
use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the started server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct ServerArgs {
    pub server_bin: Option<PathBuf>,
    pub url: Option<String>,
    pub server_pid: Option<u32>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub server_args: Vec<String>,
    pub admin_parallel: usize,
    /// Invitations (and enrolments) in flight at once when they go over REST.
    pub enrol_parallel: usize,
}

pub struct Server {
    pub url: String,
    /// Base URL of the server's metrics listener (`--metrics-listen`), when the bench started it.
    metrics_url: Option<String>,
    pub pid: Option<u32>,
    /// Binary used for `sallyport admin`.
    bin: PathBuf,
    /// `--data-dir`/`--database-url` for `sallyport admin`.
    db_args: Vec<String>,
    child: Option<Child>,
    /// Removed on drop (after the child is stopped).
    _temp: Option<tempfile::TempDir>,
    pub log_path: Option<PathBuf>,
    admin_parallel: usize,
    enrol_parallel: usize,
    /// The first administrator's device, enrolled from the link a fresh server prints: invitations
    /// are then `POST /v1/admin/invitations` requests, many at once, instead of one `sallyport
    /// admin invite` process each. `None` for a running server (`--url`).
    admin: Option<Credentials>,
}

/// The workspace root: the bench's manifest dir's parent when run from the source tree, else the
/// current directory.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match manifest.parent() {
        Some(root) if root.join("Cargo.toml").exists() => root.to_path_buf(),
        _ => std::env::current_dir().unwrap_or_default(),
    }
}

fn resolve_bin(explicit: &Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        if !path.exists() {
            bail!("--server-bin {} does not exist", path.display());
        }
        return Ok(path.clone());
    }
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| workspace_root().join("target"));
    let path = target.join("release").join("sallyport");
    if !path.exists() {
        bail!(
            "the release server binary {} is missing: run `cargo build --release --bin sallyport` \
             in the workspace root first (or pass --server-bin PATH)",
            path.display()
        );
    }
    Ok(path)
}

impl Server {
    pub async fn start_or_attach(args: &ServerArgs) -> anyhow::Result<Server> {
        match &args.url {
            Some(url) => Self::attach(args, url.trim_end_matches('/').to_owned()),
            None => Self::start(args).await,
        }
    }

    fn attach(args: &ServerArgs, url: String) -> anyhow::Result<Server> {
        let bin = resolve_bin(&args.server_bin)?;
        let mut db_args = Vec::new();
        if let Some(dir) = &args.data_dir {
            db_args.extend(["--data-dir".to_owned(), dir.display().to_string()]);
        }
        if let Some(db) = &args.database_url {
            db_args.extend(["--database-url".to_owned(), db.clone()]);
        }
        if db_args.is_empty() {
            bail!(
                "with --url, pass the server's --data-dir or --database-url so the bench can create \
                 invitations with `sallyport admin invite`"
            );
        }
        if args.server_pid.is_none() {
            eprintln!("note: no --server-pid: server CPU and RSS figures will be null");
        }
        eprintln!("note: attached to a running server: /metrics is on its --metrics-listen address, not read here");
        Ok(Server {
            url,
            metrics_url: None,
            pid: args.server_pid,
            bin,
            db_args,
            child: None,
            _temp: None,
            log_path: None,
            admin_parallel: args.admin_parallel,
            enrol_parallel: args.enrol_parallel,
            admin: None,
        })
    }

    async fn start(args: &ServerArgs) -> anyhow::Result<Server> {
        let bin = resolve_bin(&args.server_bin)?;
        let temp = tempfile::Builder::new().prefix("sallyport-bench-").tempdir().context("creating a temp dir")?;
        let data_dir = temp.path().join("data");
        let log_path = temp.path().join("server.log");
        let log = std::fs::File::create(&log_path).context("creating the server log")?;
        let db_args = vec!["--data-dir".to_owned(), data_dir.display().to_string()];
        let mut child = Command::new(&bin)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .args(&db_args)
            .args(&args.server_args)
            .env("SALLYPORT_LOG", std::env::var("SALLYPORT_LOG").unwrap_or_else(|_| "warn".into()))
            .env_remove("SALLYPORT_PUBLIC_URL")
            .env_remove("SALLYPORT_DATABASE_URL")
            .env_remove("SALLYPORT_DATA_DIR")
            .env_remove("SALLYPORT_LISTEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().expect("piped stdout");
        let mut server = Server {
            url: String::new(),
            metrics_url: None,
            pid: Some(pid),
            bin,
            db_args,
            child: Some(child),
            _temp: Some(temp),
            log_path: Some(log_path),
            admin_parallel: args.admin_parallel,
            enrol_parallel: args.enrol_parallel,
            admin: None,
        };
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (url, metrics_url, admin_link) = tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + START_TIMEOUT;
            let (mut metrics, mut admin) = (None, None);
            while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                if let Some(m) = line.strip_prefix("sallyport metrics on ") {
                    metrics = m.trim().strip_suffix("/metrics").map(str::to_owned);
                }
                if let Some(link) = line.strip_prefix("administrator enrolment link: ") {
                    admin = Some(link.trim().to_owned());
                }
                if let Some(u) = line.strip_prefix("sallyport listening on ") {
                    return (Some(u.trim().to_owned()), metrics, admin);
                }
            }
            (None, metrics, admin)
        })
        .await?;
        server.metrics_url = metrics_url;
        match url {
            Some(url) => server.url = url,
            None => bail!("the server did not start within {START_TIMEOUT:?}; its log:\n{}", server.log_tail()),
        }
        if let Some(link) = admin_link {
            let admin = sallyport_core::enrol_with(http(), &server.url, &link).await.map_err(|e| anyhow::anyhow!("enrolling the administrator: {e}"))?;
            server.admin = Some(admin);
        }
        Ok(server)
    }

    pub fn started_here(&self) -> bool {
        self.child.is_some()
    }

    pub fn log_tail(&self) -> String {
        let text = self.log_path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// One invitation link, from `sallyport admin invite`.
    async fn invite_with_admin_command(bin: &Path, db_args: &[String], url: &str, name: &str, roles: &[Role]) -> anyhow::Result<String> {
        let mut command = tokio::process::Command::new(bin);
        command.args(["admin", "invite", "--name", name, "--public-url", url]);
        for role in roles {
            command.args(["--role", role_name(*role)]);
        }
        let out = command.args(db_args).stdin(Stdio::null()).output().await.context("running sallyport admin invite")?;
        if !out.status.success() {
            bail!("sallyport admin invite failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let link = String::from_utf8(out.stdout)?.trim().to_owned();
        if link.is_empty() {
            bail!("sallyport admin invite printed no link");
        }
        Ok(link)
    }

    /// One invitation link, from `POST /v1/admin/invitations` signed by the administrator device.
    async fn invite_over_rest(admin: &Credentials, name: &str, roles: &[Role]) -> anyhow::Result<String> {
        let body = serde_json::json!({"display_name": name, "roles": roles});
        let (status, answer) = sallyport_core::api_request_with(http(), admin, "POST", "/v1/admin/invitations", Some(&body))
            .await
            .map_err(|e| anyhow::anyhow!("POST /v1/admin/invitations: {e}"))?;
        match answer["link"].as_str() {
            Some(link) if status == 201 => Ok(link.to_owned()),
            _ => bail!("POST /v1/admin/invitations answered {status}: {answer}"),
        }
    }

    /// Invites and enrols `n` staff devices (one account each). See [`Self::enrol_many_with_roles`].
    pub async fn enrol_many(&self, n: usize, prefix: &str) -> anyhow::Result<(Vec<Credentials>, Duration)> {
        self.enrol_many_with_roles(n, prefix, &[Role::Staff]).await
    }

    /// How invitations are made: `rest` (the administrator device the bench enrolled on a server it
    /// started) or `admin-command` (`sallyport admin invite`, for a running server).
    pub fn enrolment_method(&self) -> &'static str {
        if self.admin.is_some() { "rest" } else { "admin-command" }
    }

    /// Invites and enrols `n` devices with `roles` (one account each, named `{prefix}-{i}`).
    /// Over REST, `enrol_parallel` invitation+enrolment pairs run at once; with the admin
    /// command, `admin_parallel` processes at a time, each followed by the REST enrolment.
    /// Returns the credentials in order and the time it took.
    pub async fn enrol_many_with_roles(&self, n: usize, prefix: &str, roles: &[Role]) -> anyhow::Result<(Vec<Credentials>, Duration)> {
        let started = Instant::now();
        let parallel = if self.admin.is_some() { self.enrol_parallel } else { self.admin_parallel };
        let limit = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let limit = limit.clone();
            let bin = self.bin.clone();
            let db_args = self.db_args.clone();
            let url = self.url.clone();
            let admin = self.admin.clone();
            let roles = roles.to_vec();
            let name = format!("{prefix}-{i}");
            tasks.spawn(async move {
                let permit = limit.acquire_owned().await.expect("semaphore open");
                let link = match &admin {
                    Some(admin) => Self::invite_over_rest(admin, &name, &roles).await?,
                    None => Self::invite_with_admin_command(&bin, &db_args, &url, &name, &roles).await?,
                };
                // The admin command's permit is for the process only; over REST it bounds both.
                if admin.is_none() {
                    drop(permit);
                }
                let creds = sallyport_core::enrol_with(http(), &url, &link).await.map_err(|e| anyhow::anyhow!("enrolment: {e}"))?;
                anyhow::Ok((i, creds))
            });
        }
        let mut out: Vec<Option<Credentials>> = vec![None; n];
        let mut last_report = Instant::now();
        let mut done = 0usize;
        while let Some(result) = tasks.join_next().await {
            let (i, creds) = result??;
            out[i] = Some(creds);
            done += 1;
            if last_report.elapsed() > Duration::from_secs(10) {
                eprintln!("  enrolled {done}/{n} devices ({:.0} s)", started.elapsed().as_secs_f64());
                last_report = Instant::now();
            }
        }
        Ok((out.into_iter().map(|c| c.expect("every index filled")).collect(), started.elapsed()))
    }

    /// The server's CPU time so far (user + system), in seconds.
    pub fn cpu_s(&self) -> Option<f64> {
        self.pid.and_then(cpu_seconds)
    }

    pub fn rss_kib(&self) -> Option<u64> {
        self.pid.and_then(rss_kib)
    }

    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.pid.and_then(peak_rss_kib)
    }

    /// Counters from /metrics (name → value, histograms' `_sum`/`_count` included; a labelled
    /// series under its name with labels, e.g. `sallyport_errors_total{code="rate_limited"}`).
    pub async fn metrics(&self) -> Option<HashMap<String, f64>> {
        let body = http_get(self.metrics_url.as_deref()?, "/metrics").await.ok()?;
        let mut out = HashMap::new();
        for line in body.lines() {
            if line.starts_with('#') {
                continue;
            }
            if let Some((name, value)) = line.trim().rsplit_once(char::is_whitespace)
                && let Ok(v) = value.parse::<f64>()
            {
                out.insert(name.trim().to_owned(), v);
            }
        }
        Some(out)
    }

    /// SIGTERM to the server started here, then wait for it (SIGKILL after a timeout).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        // SAFETY: plain kill(2) on the pid of a child we own and have not reaped.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let status = tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + STOP_TIMEOUT;
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => return Some(status),
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return None;
                    }
                }
            }
        })
        .await?;
        match status {
            Some(s) if s.success() => Ok(()),
            Some(s) => bail!("the server exited with {s} after SIGTERM; log tail:\n{}", self.log_tail()),
            None => bail!("the server did not exit within {STOP_TIMEOUT:?} of SIGTERM and was killed"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: as in `stop`.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The bench's one HTTP client for REST calls (on the main runtime only: a client's pooled
/// connections belong to the runtime that opened them). One client, because building one can
/// load the system's trust store each time (reqwest's `native-tls`, enabled for the server when
/// both are built in one `cargo build`): tens of ms of CPU per enrolment otherwise.
pub fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

/// Minimal HTTP/1.1 GET over a fresh connection; returns the body.
pub async fn http_get(base: &str, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await??;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if !head.starts_with("HTTP/1.1 200") {
        bail!("GET {path}: {}", head.lines().next().unwrap_or(""));
    }
    // /metrics may be chunked; strip chunk-size lines if so.
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        return Ok(out);
    }
    Ok(body.to_owned())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// utime + stime of a process from /proc/PID/stat, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces: fields after it start past the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clock_ticks())
}

/// This process's CPU time (all threads), in seconds.
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id()).unwrap_or(0.0)
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// VmRSS in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:")
}

/// VmHWM (the peak resident set since the process started) in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmHWM:")
}

/// The name `sallyport admin invite --role` takes (the snake_case serde name).
fn role_name(role: Role) -> &'static str {
    role.as_str()
}

/// The soft "Max open files" limit of a process, from /proc/PID/limits.
pub fn nofile_limit(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// Raises this process's RLIMIT_NOFILE soft limit to `want` (capped at the hard limit); returns
/// the soft limit in force afterwards. A server started afterwards inherits it.
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        let target = want.min(lim.rlim_max as u64);
        if (lim.rlim_cur as u64) < target {
            let new = libc::rlimit { rlim_cur: target as libc::rlim_t, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &new) == 0 {
                return target;
            }
        }
        lim.rlim_cur as u64
    }
}

/// CPU seconds used by the whole machine so far (all CPUs, everything but idle and iowait), from
/// /proc/stat: with the server's and the bench's own share subtracted, what other processes took.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal …
    let busy: u64 = v.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, x)| *x).sum();
    Some(busy as f64 / clock_ticks())
}

/// (wchar, syscw, rchar, syscr) from /proc/PID/io: bytes and calls of write and read syscalls.
pub fn io_counters(pid: u32) -> Option<[u64; 4]> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let get = |k: &str| -> Option<u64> { io.lines().find(|l| l.starts_with(k))?[k.len()..].trim().parse().ok() };
    Some([get("wchar:")?, get("syscw:")?, get("rchar:")?, get("syscr:")?])
}
