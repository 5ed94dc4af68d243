//! Harness for end-to-end tests: starts real `sallyport` processes on 127.0.0.1:0 (SQLite in a
//! temp dir, or a fresh database on the test PostgreSQL), runs the admin command, enrols native
//! clients, and waits on conditions with timeouts instead of sleeping.

pub mod mls_peer;
pub mod push_emulator;

use sallyport_core::protocol::{MailboxId, MailboxSecret, Payload};
use sallyport_core::{Client, ClientError, ConnectOptions, Credentials, Event, MemberInfo, MlsClient, MlsIdentity};
pub use sallyport_core::protocol::Encoding;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// What cargo sets for the crate it runs (besides `CARGO_PKG_*`); not for a nested cargo.
const CARGO_CRATE_VARIABLES: &[&str] = &[
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
];

/// The `sallyport` binary, built once per test process so tests never run a stale one.
pub fn sallyport_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(path) = std::env::var("SALLYPORT_BIN") {
            return PathBuf::from(path);
        }
        let root = workspace_root();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // The same build as `scripts/test`'s build stage: a build of the server package alone
        // resolves dependency features differently. Without the variables cargo set for this
        // test crate: build scripts that watch them (ring's watches CARGO_MANIFEST_DIR) would
        // rebuild half the dependencies here and again in the next `cargo` run outside.
        let mut command = Command::new(cargo);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_PKG_") || CARGO_CRATE_VARIABLES.contains(&name.as_ref()) {
                command.env_remove(name.as_ref());
            }
        }
        let status = command
            .args(["build", "--quiet", "--workspace", "--bins"])
            .current_dir(&root)
            .status()
            .expect("running cargo build for the sallyport binary");
        assert!(status.success(), "cargo build --workspace --bins failed");
        let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
        target.join("debug").join("sallyport")
    })
    .clone()
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the workspace").to_path_buf()
}

/// The value of a PostgreSQL test setting (`scripts/test` sets them all), or `None` to skip when
/// PostgreSQL is not configured; with `SALLYPORT_REQUIRE_POSTGRES=1` a missing one fails the test.
pub fn postgres_setting(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) => Some(value),
        Err(_) => {
            assert!(
                std::env::var("SALLYPORT_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "SALLYPORT_REQUIRE_POSTGRES=1 but {name} is not set (scripts/test sets it)"
            );
            eprintln!("skipping: no {name}");
            None
        }
    }
}

/// A fresh, empty PostgreSQL database on the test cluster, or `None` when no cluster is
/// configured. With `SALLYPORT_REQUIRE_POSTGRES=1` (the README's test command) a missing cluster
/// fails the test instead.
pub async fn postgres_database() -> Option<String> {
    let base = postgres_setting("SALLYPORT_TEST_POSTGRES_URL")?;
    use sqlx::Connection as _;
    let name = format!("e2e_{}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(&base).await.expect("connecting to the test PostgreSQL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("creating a test database");
    let (prefix, _) = base.rsplit_once('/').expect("a database URL has a path");
    Some(format!("{prefix}/{name}"))
}

#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// `None`: SQLite in the server's data dir.
    pub database_url: Option<String>,
    pub extra_args: Vec<String>,
}

/// A running `sallyport serve` process.
pub struct TestServer {
    child: Option<Child>,
    pub url: String,
    /// `http://ADDRESS` the server bound: its URL unless `--public-url` names another.
    pub bound_url: String,
    pub admin_link: Option<String>,
    /// `http://127.0.0.1:PORT` of the separate metrics listener (`--metrics-listen`).
    pub metrics_url: String,
    data_dir: tempfile::TempDir,
    options: ServerOptions,
    listen: String,
    log_path: PathBuf,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(ServerOptions::default()).await
    }

    pub async fn start_with(options: ServerOptions) -> TestServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let log_path = data_dir.path().join("server.log");
        let mut server = TestServer {
            child: None,
            url: String::new(),
            bound_url: String::new(),
            admin_link: None,
            metrics_url: String::new(),
            data_dir,
            options,
            listen: "127.0.0.1:0".into(),
            log_path,
        };
        server.spawn().await;
        server
    }

    fn db_args(&self) -> Vec<String> {
        let mut args = vec!["--data-dir".to_owned(), self.data_dir.path().join("data").display().to_string()];
        if let Some(url) = &self.options.database_url {
            args.extend(["--database-url".to_owned(), url.clone()]);
        }
        args
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log_path).expect("log file");
        let mut child = Command::new(sallyport_bin())
            .arg("serve")
            .args(["--listen", &self.listen, "--metrics-listen", "127.0.0.1:0"])
            .args(self.db_args())
            .args(&self.options.extra_args)
            .env("SALLYPORT_LOG", "debug")
            .env_remove("SALLYPORT_PUBLIC_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("starting sallyport");
        let stdout = child.stdout.take().expect("piped stdout");
        self.child = Some(child);
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        // The server prints the administrator link (on first start) before the address line,
        // and the address line only once it is ready.
        let lines = tokio::task::spawn_blocking(move || {
            let mut admin = None;
            let mut metrics = None;
            let mut bound = None;
            let deadline = std::time::Instant::now() + WAIT;
            while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
                if let Some(l) = line.strip_prefix("administrator enrolment link: ") {
                    admin = Some(l.trim().to_owned());
                }
                if let Some(m) = line.strip_prefix("sallyport metrics on ") {
                    metrics = m.trim().strip_suffix("/metrics").map(str::to_owned);
                }
                if let Some(b) = line.strip_prefix("sallyport bound to ") {
                    bound = Some(b.trim().to_owned());
                }
                if let Some(u) = line.strip_prefix("sallyport listening on ") {
                    return (Some(u.trim().to_owned()), admin, metrics, bound);
                }
            }
            (None, admin, metrics, bound)
        })
        .await
        .expect("reader task");
        let url = lines.0.unwrap_or_else(|| panic!("sallyport did not start; its log:\n{}", self.logs()));
        let bound = lines.3.unwrap_or_else(|| url.clone());
        self.listen = bound.trim_start_matches("http://").to_owned();
        self.bound_url = bound;
        self.url = url;
        self.admin_link = lines.1;
        self.metrics_url = lines.2.unwrap_or_else(|| panic!("sallyport printed no metrics address; its log:\n{}", self.logs()));
        wait_until("the server answers /healthz", || async { http_ok(&self.url, "/healthz").await }).await;
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The PostgreSQL database it serves, or `None` on SQLite (in `data_dir`).
    pub fn database_url(&self) -> Option<&str> {
        self.options.database_url.as_deref()
    }

    /// The server's log output (stderr) so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Runs `sallyport admin ARGS…` against this server's database; returns stdout.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = self.admin_output(args);
        assert!(out.status.success(), "sallyport admin {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs `sallyport admin ARGS…` against this server's database, successful or not.
    pub fn admin_output(&self, args: &[&str]) -> std::process::Output {
        Command::new(sallyport_bin())
            .arg("admin")
            .args(args)
            .args(self.db_args())
            .env_remove("SALLYPORT_PUBLIC_URL")
            .stdin(Stdio::null())
            .output()
            .expect("running sallyport admin")
    }

    /// A one-time enrolment link from the admin command.
    pub fn invite(&self, name: &str, roles: &[&str]) -> String {
        let mut args = vec!["invite", "--name", name];
        for role in roles {
            args.extend(["--role", role]);
        }
        self.admin(&args).trim().to_owned()
    }

    /// Invites and enrols a new person's device.
    pub async fn enrol(&self, name: &str) -> Credentials {
        let link = self.invite(name, &["staff"]);
        sallyport_core::enrol(&self.url, &link).await.expect("enrolment")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
        assert!(status.success(), "sallyport exited with {status} after SIGTERM; log:\n{}", self.logs());
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }

    /// Waits for the server to exit by itself (failing the test after [`WAIT`]) and returns how.
    pub async fn exited(&mut self) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.as_mut().expect("running").try_wait().expect("waiting for sallyport") {
                self.child = None;
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "sallyport did not exit; its log:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The options of the next `restart` (in place of those it was started with).
    pub fn set_extra_args(&mut self, extra_args: Vec<String>) {
        self.options.extra_args = extra_args;
    }

    /// Starts the server again on the same address and database.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill the server first");
        self.spawn().await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn http_ok(base: &str, path: &str) -> bool {
    matches!(http_get(base, path).await, Some((200, _)))
}

/// A plain HTTP/1.1 GET: `(status, body)`, or `None` if the server cannot be reached.
pub async fn http_get(base: &str, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

/// The value of `name` on the server's `/metrics`, labels included when it has them (e.g.
/// `sallyport_errors_total{code="unknown_mailbox"}`). The server lists every metric, so a name it
/// does not list fails the test.
pub async fn metric(server: &TestServer, name: &str) -> u64 {
    let (status, text) = http_get(&server.metrics_url, "/metrics").await.expect("GET /metrics");
    assert_eq!(status, 200, "GET /metrics: {text}");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} on /metrics"))
}

/// Polls `name` on `/metrics` until its value satisfies `holds` and returns that value, failing
/// the test with the last value seen after [`WAIT`]. A counter is updated after the event that
/// causes it (a push is counted once the push service has answered, a message once its sender
/// is told): wait for the count, never read it once the event is seen.
pub async fn wait_for_metric(server: &TestServer, name: &str, holds: impl Fn(u64) -> bool) -> u64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let value = metric(server, name).await;
        if holds(value) {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting on {name}: still {value} after {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis() as i64
}

/// `YYYY-MM-DD` of the UTC day a Unix-ms instant falls in (proleptic Gregorian).
pub fn date(ms: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The server process's resident memory in KiB (Linux).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Polls `condition` until it holds, failing the test after [`WAIT`].
pub async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Connects `creds`' device with the given encoding of the hot frames (offering the binary
/// subprotocol or not), and checks the connection negotiated it.
pub async fn connect(creds: &Credentials, encoding: Encoding) -> Result<Client, ClientError> {
    let client = Client::connect_with(creds, ConnectOptions { encoding, ..ConnectOptions::default() }).await?;
    assert_eq!(client.encoding(), encoding, "the connection negotiated the encoding asked for");
    Ok(client)
}

/// Declares, for each `async fn NAME(encoding: Encoding)` named, the tests `NAME::json` and
/// `NAME::binary` (on a two-thread runtime): every delivery test runs on both encodings of the
/// hot frames.
#[macro_export]
macro_rules! on_both_encodings {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn json() {
                super::$name($crate::Encoding::Json).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn binary() {
                super::$name($crate::Encoding::Binary).await
            }
        }
    )+};
}

/// Where a test server keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    Sqlite,
    /// PostgreSQL as it is shared by several nodes: every message written before it is delivered.
    Postgres,
    /// PostgreSQL with `--single-node`: early delivery, as on SQLite.
    PostgresSingleNode,
}

impl Database {
    /// Options for a server on this database (a fresh PostgreSQL database), or `None` to skip the
    /// test when no PostgreSQL cluster is configured (see [`postgres_database`]).
    pub async fn options(self) -> Option<ServerOptions> {
        let (database_url, extra_args) = match self {
            Database::Sqlite => (None, Vec::new()),
            Database::Postgres => (Some(postgres_database().await?), Vec::new()),
            Database::PostgresSingleNode => (Some(postgres_database().await?), vec!["--single-node".to_owned()]),
        };
        Some(ServerOptions { database_url, extra_args })
    }
}

/// Like [`on_both_encodings!`] for an `async fn NAME(encoding: Encoding, database: Database)`:
/// `NAME::json_sqlite`, `NAME::binary_sqlite`, `NAME::json_postgres`, `NAME::binary_postgres`,
/// `NAME::json_postgres_single_node`, `NAME::binary_postgres_single_node`.
#[macro_export]
macro_rules! on_both_encodings_and_databases {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use $crate::{Database, Encoding};

            $crate::on_both_encodings_and_single_nodes!(@tests $name);

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn json_postgres() {
                super::$name(Encoding::Json, Database::Postgres).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn binary_postgres() {
                super::$name(Encoding::Binary, Database::Postgres).await
            }
        }
    )+};
}

/// Like [`on_both_encodings_and_databases!`] on the single-node databases only (those that
/// deliver early): `NAME::{json,binary}_sqlite` and `NAME::{json,binary}_postgres_single_node`.
#[macro_export]
macro_rules! on_both_encodings_and_single_nodes {
    (@tests $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn json_sqlite() {
            super::$name($crate::Encoding::Json, $crate::Database::Sqlite).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn binary_sqlite() {
            super::$name($crate::Encoding::Binary, $crate::Database::Sqlite).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn json_postgres_single_node() {
            super::$name($crate::Encoding::Json, $crate::Database::PostgresSingleNode).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn binary_postgres_single_node() {
            super::$name($crate::Encoding::Binary, $crate::Database::PostgresSingleNode).await
        }
    };
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            $crate::on_both_encodings_and_single_nodes!(@tests $name);
        }
    )+};
}

/// The next event from a client, failing the test after [`WAIT`].
pub async fn next_event(client: &mut Client) -> Result<Event, ClientError> {
    tokio::time::timeout(WAIT, client.next_event()).await.expect("timed out waiting for an event")
}

/// Waits for the next event matching `pick`, skipping others, failing after [`WAIT`].
pub async fn expect_event<T>(client: &mut Client, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = tokio::time::timeout(left, client.next_event())
            .await
            .expect("timed out waiting for an event")
            .expect("client error while waiting for an event");
        if let Some(t) = pick(&event) {
            return t;
        }
    }
}

/// A payload that carries a marker string, so tests can search the server's files for it.
pub fn marked_payload(marker: &str, n: usize) -> Payload {
    Payload(bytes::Bytes::from(format!("{marker}-{n:06}")))
}

pub fn payload_number(marker: &str, payload: &Payload) -> Option<usize> {
    std::str::from_utf8(&payload.0).ok()?.strip_prefix(marker)?.strip_prefix('-')?.parse().ok()
}

/// A request for peer support as a requester makes it: a fresh unlinked mailbox and secret, and
/// the KeyPackage of a fresh pseudonymous MLS identity for that mailbox. `body` is what
/// `POST /v1/support/requests` takes.
pub struct SupportRequest {
    pub body: serde_json::Value,
    pub mailbox: MailboxId,
    pub secret: MailboxSecret,
    pub mls: MlsClient,
}

impl SupportRequest {
    pub fn new(urgency: &str) -> SupportRequest {
        use base64::Engine as _;
        let (mailbox, secret) = (MailboxId::random(), MailboxSecret::random());
        let mut mls = MlsClient::new(MlsIdentity::generate(), MemberInfo::new(mailbox), vec![]).expect("mls");
        let key_package = mls.last_resort_key_package().expect("key package");
        let body = serde_json::json!({
            "urgency": urgency,
            "mailbox": mailbox,
            "mailbox_secret": secret,
            "key_package": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&key_package),
        });
        SupportRequest { body, mailbox, secret, mls }
    }
}

pub fn mailbox(creds: &Credentials) -> MailboxId {
    creds.mailbox
}

/// A clock the server reads through `--clock-offset-file`: tests move it forward, and every node
/// started with [`DrivenClock::server_args`] follows it.
pub struct DrivenClock {
    pub offset_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl DrivenClock {
    pub fn new() -> DrivenClock {
        let dir = tempfile::tempdir().expect("temp dir");
        let offset_file = dir.path().join("clock-offset");
        std::fs::write(&offset_file, "0").expect("offset file");
        DrivenClock { offset_file, _dir: dir }
    }

    /// Moves the servers' clock to `ms` after the wall clock.
    pub fn set_offset(&self, ms: i64) {
        std::fs::write(&self.offset_file, ms.to_string()).expect("offset file");
    }

    /// What a server pushing to a local emulator on this clock needs: loopback push endpoints,
    /// no wake-up coalescing, the offset file, and schedulers that look every 50 ms.
    pub fn server_args(&self) -> Vec<String> {
        vec![
            "--push-allow-insecure-endpoints".into(),
            "--push-min-interval-ms".into(),
            "0".into(),
            "--clock-offset-file".into(),
            self.offset_file.display().to_string(),
            "--support-scheduler-interval-ms".into(),
            "50".into(),
        ]
    }
}

impl Default for DrivenClock {
    fn default() -> Self {
        Self::new()
    }
}

/// A push-service emulator that accepts only pushes signed with `server`'s VAPID key.
pub async fn emulator_for(server: &TestServer) -> push_emulator::PushEmulator {
    let emulator = push_emulator::PushEmulator::start().await;
    let (_, config) = http_get(&server.url, "/v1/config").await.expect("config");
    let config: serde_json::Value = serde_json::from_str(&config).expect("config JSON");
    emulator.expect_vapid_key(config["vapid_public_key"].as_str().expect("vapid_public_key"));
    emulator
}


/// A signed REST request by `creds` that must answer `expect`: its JSON.
pub async fn call(creds: &Credentials, method: &str, path: &str, body: Option<serde_json::Value>, expect: u16) -> serde_json::Value {
    let (status, answer) = sallyport_core::api_request(creds, method, path, body.as_ref()).await.expect("request");
    assert_eq!(status, expect, "{method} {path}: {answer}");
    answer
}

/// Standard base64 (with padding), as REST bodies carry sealed blobs.
pub fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Files under `dir` (recursively) that contain `needle`: the "nothing readable" checks.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(path);
            }
        }
    }
    found
}

/// Declares an incident for `team` as `declarer`'s app does: the preview (an assault on staff in
/// Unit C, with `note`) sealed with the client core to each recipient device the server lists.
/// The incident's id and the board the server answered.
pub async fn declare_incident(
    declarer: &Credentials,
    team: &str,
    test: bool,
    note: &str,
) -> (sallyport_protocol::IncidentId, serde_json::Value) {
    use sallyport_protocol::incidents::page_aad;
    use sallyport_protocol::{DeviceId, IncidentId, PublicKey};
    use serde_json::{Value, json};
    let recipients = call(declarer, "GET", &format!("/v1/incidents/recipients?team={team}"), None, 200).await;
    let id = IncidentId::random();
    let preview = json!({"type": "assault_on_staff", "location": "Unit C", "note": note}).to_string();
    let sealed: Vec<Value> = recipients["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .map(|r| {
            let device: DeviceId = r["device"].as_str().unwrap().parse().unwrap();
            let key: PublicKey = r["notification_key"].as_str().unwrap().parse().unwrap();
            let blob = sallyport_core::seal::seal(&key.0, &page_aad(&id, &device), preview.as_bytes()).unwrap();
            json!({"device": device.to_string(), "sealed": base64_std(&blob)})
        })
        .collect();
    let body = json!({"id": id.to_string(), "team": team, "severity": 1, "test": test, "sealed": sealed});
    let board = call(declarer, "POST", "/v1/incidents", Some(body), 201).await;
    (id, board)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_days() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(-1), "1969-12-31");
        assert_eq!(date(951_782_400_000), "2000-02-29");
        assert_eq!(date(1_700_000_000_000), "2023-11-14");
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
    }
}
