//! Command line and environment configuration. Every option is also a `SALLYPORT_*` environment
//! variable; each field's doc comment is its `--help` text.

use crate::push::PushSettings;
use crate::workflows::peer_support;
use clap::{Args, Parser, Subcommand, ValueEnum};
use sallyport_protocol::rest::Role;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "sallyport", version, about = "Sallyport: confidential support and paging relay for corrections staff")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the relay (web app, REST API and WebSocket on one port).
    Serve(Box<ServeConfig>),
    /// Administer a Sallyport database (works while the server is running).
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Directory for the embedded SQLite database (`sallyport.db`) when no --database-url is given.
    #[arg(long, env = "SALLYPORT_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Database URL: `sqlite://PATH` (default: DATA_DIR/sallyport.db) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "SALLYPORT_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
}

impl DatabaseArgs {
    /// The database URL to open: the explicit one, or the SQLite file in the data directory.
    pub fn url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.data_dir)
            .map_err(|e| anyhow::anyhow!("cannot create data directory {}: {e}", self.data_dir.display()))?;
        let dir = std::fs::canonicalize(&self.data_dir)?;
        Ok(format!("sqlite://{}", dir.join("sallyport.db").display()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on (use port 0 for any free port).
    #[arg(long, env = "SALLYPORT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The address users reach this server at, put into enrolment links and signed by devices
    /// when they authenticate (default: http://LISTEN).
    #[arg(long, env = "SALLYPORT_PUBLIC_URL")]
    pub public_url: Option<String>,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Log format.
    #[arg(long, env = "SALLYPORT_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Days an undelivered message is kept before it expires.
    #[arg(long, env = "SALLYPORT_MESSAGE_TTL_DAYS", default_value_t = 14)]
    pub message_ttl_days: u32,

    /// Days an unlinked mailbox may go unread before it is deleted with what it holds, unless it
    /// serves an open support request (free mailboxes cannot pile up for ever).
    #[arg(long, env = "SALLYPORT_UNLINKED_MAILBOX_IDLE_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub unlinked_mailbox_idle_days: u32,

    /// The roles a crisis-response team member may have (comma-separated; 1–32 lowercase letters,
    /// digits, `-` or `_`, starting with a letter). Quorum policies name them.
    #[arg(long = "team-roles", env = "SALLYPORT_TEAM_ROLES", value_delimiter = ',', default_value = "peer,clinician,chaplain,lead")]
    pub team_roles: Vec<String>,

    /// Milliseconds between expiry sweeps (tests shorten it).
    #[arg(long, hide = true, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(10..))]
    pub expiry_sweep_interval_ms: u64,

    /// Most undelivered messages one mailbox may hold; senders get `quota_exceeded` beyond it.
    #[arg(long, env = "SALLYPORT_QUEUE_QUOTA", default_value_t = 10_000)]
    pub queue_quota: u64,

    /// Hours the first administrator's enrolment link (printed on first start) stays valid.
    #[arg(long, env = "SALLYPORT_INVITATION_TTL_HOURS", default_value_t = 72)]
    pub invitation_ttl_hours: u32,

    /// Address of a separate listener serving `GET /metrics` (e.g. `127.0.0.1:9090`); none by
    /// default. Metrics are never served on the public port.
    #[arg(long, env = "SALLYPORT_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,

    /// The first administrator's name, as the directory will show it (the person cannot change it
    /// at enrolment).
    #[arg(long, env = "SALLYPORT_ADMIN_NAME", default_value = "Administrator")]
    pub admin_name: String,

    /// Frames per second one connection may send (sustained; bursts of twice this are allowed).
    #[arg(long, env = "SALLYPORT_MAX_FRAMES_PER_SECOND", default_value_t = 5_000)]
    pub max_frames_per_second: u32,

    /// Ignore other nodes' wake-up notifications and rely on the catch-up poll alone (for testing
    /// that a lost notification loses no message).
    #[arg(long, hide = true)]
    pub ignore_notifications: bool,

    /// The built web app to serve (default: web-client/dist under the working directory, when
    /// it has been built; otherwise a plain landing page is served).
    #[arg(long, env = "SALLYPORT_WEB_DIR")]
    pub web_dir: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub push: PushArgs,

    #[command(flatten)]
    pub support: PeerSupportArgs,

    #[command(flatten)]
    pub budgets: BudgetArgs,

    /// A file holding a number of milliseconds added to the server's clock, re-read on every use:
    /// end-to-end tests move time (escalations, schedules, expiry) without waiting.
    #[arg(long, hide = true)]
    pub clock_offset_file: Option<PathBuf>,

    /// Connections open at once, WebSockets included; beyond it new connections are closed unread.
    /// The open-file limit is raised to fit (or the cap lowered to what it allows).
    #[arg(long, env = "SALLYPORT_MAX_CONNECTIONS", default_value_t = 16_384)]
    pub max_connections: usize,

    /// Connections open at once from one client address (IPv6: one /64); 0 for no per-address cap.
    /// Counted in memory only. Behind a reverse proxy every connection comes from the proxy: set 0
    /// there and cap per client at the proxy.
    #[arg(long, env = "SALLYPORT_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 1_024)]
    pub max_connections_per_address: usize,

    /// Milliseconds a connection may take to send a request's headers, from its start or the end
    /// of its previous response (so also the idle timeout of a keep-alive connection).
    #[arg(long, env = "SALLYPORT_HEADER_TIMEOUT_MS", default_value_t = 15_000)]
    pub header_timeout_ms: u64,

    /// Milliseconds a request's body may take to arrive, once its headers have.
    #[arg(long, env = "SALLYPORT_BODY_TIMEOUT_MS", default_value_t = 15_000)]
    pub body_timeout_ms: u64,

    /// Most messages committed in one database transaction (group commit).
    #[arg(long, env = "SALLYPORT_MAX_COMMIT_BATCH", default_value_t = 4_096)]
    pub max_commit_batch: usize,

    /// Milliseconds a message delivered before its commit waits for every recipient's ack; one
    /// acked by all in time is never written to disk. Only where one node knows every reader:
    /// on SQLite, and on PostgreSQL with --single-node. 0 writes every message before
    /// delivering it.
    #[arg(long, env = "SALLYPORT_EARLY_DELIVERY_HOLD_MS", default_value_t = 50)]
    pub early_delivery_hold_ms: u64,

    /// This node is the only one serving its PostgreSQL database, so it delivers early as on
    /// SQLite. Enforced by a lock in the database: it does not start while another node serves,
    /// no other node starts while it serves, and it stops if it loses the lock. Without it a
    /// node on PostgreSQL may share the database with others. (SQLite is always one node.)
    #[arg(long, env = "SALLYPORT_SINGLE_NODE")]
    pub single_node: bool,

    /// Milliseconds a starting node waits for the node lock while another holds it (a node just
    /// stopped or killed holds it until PostgreSQL sees its connection close).
    #[arg(long, hide = true, default_value_t = 15_000)]
    pub node_lock_wait_ms: u64,
}

impl ServeConfig {
    /// The public URL, given the address actually bound (which differs when port 0 was asked).
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }
}

/// What one device may spend (issue 11): counted in memory only, per node.
#[derive(Debug, Clone, Args)]
pub struct BudgetArgs {
    /// Signed REST requests one device may make per minute; beyond it `429 rate_limited`.
    #[arg(long, env = "SALLYPORT_SIGNED_REQUESTS_PER_MINUTE", default_value_t = 600)]
    pub signed_requests_per_minute: u32,

    /// Unlinked mailboxes one device may create per day; beyond it `rate_limited`.
    #[arg(long, env = "SALLYPORT_MAILBOXES_PER_DAY", default_value_t = 50)]
    pub mailboxes_per_day: u32,

    /// Messages one device may put into any one mailbox per day (its share of that mailbox's
    /// queue); beyond it `rate_limited` for that send. With the defaults one sender holds at most
    /// 7,000 of a mailbox's 10,000 places before its messages expire.
    #[arg(long, env = "SALLYPORT_SENDER_SHARE_PER_DAY", default_value_t = 500)]
    pub sender_share_per_day: u32,

    /// Recipients × payload bytes one device may send per 10 seconds; beyond it `rate_limited`.
    #[arg(long, env = "SALLYPORT_SEND_BYTES_PER_10S", default_value_t = 32 * 1024 * 1024)]
    pub send_bytes_per_10s: u64,
}

impl BudgetArgs {
    pub fn settings(&self) -> crate::budgets::BudgetSettings {
        crate::budgets::BudgetSettings {
            signed_requests_per_minute: self.signed_requests_per_minute,
            mailboxes_per_day: self.mailboxes_per_day,
            sender_share_per_day: self.sender_share_per_day,
            send_bytes_per_10s: self.send_bytes_per_10s,
        }
    }
}

/// Web Push options of `sallyport serve`.
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// File with the VAPID private key: a PEM file (SEC1 `EC PRIVATE KEY` or PKCS#8 `PRIVATE KEY`,
    /// P-256), or the raw 32-byte private scalar in base64url. Without it, a key is generated on
    /// first start and kept in the database (shared by every node).
    #[arg(long, env = "SALLYPORT_VAPID_PRIVATE_KEY_FILE")]
    pub vapid_private_key_file: Option<PathBuf>,

    /// Contact for push services, the VAPID `sub` claim: a `mailto:` or `https:` URL (default: the
    /// public URL if it is https, else mailto:push@HOST of the public URL).
    #[arg(long, env = "SALLYPORT_VAPID_SUBJECT")]
    pub vapid_subject: Option<String>,

    /// Accept push endpoints on the loopback host, http://127.0.0.1 and http://localhost included
    /// (tests with a local push service emulator). Never needed in production: real push services
    /// are https.
    #[arg(long, hide = true)]
    pub push_allow_insecure_endpoints: bool,

    /// A push service to accept subscriptions for and push to, besides the browsers' own (Google
    /// FCM, Mozilla autopush, Apple, Microsoft WNS): `HOST`, `HOST:PORT`, or `*.DOMAIN` for every
    /// host below DOMAIN; the port defaults to 443. Repeat for several (in the environment:
    /// comma-separated). Endpoints are URLs a client chooses: allow only push services you trust.
    #[arg(long = "push-allow-host", value_name = "HOST", env = "SALLYPORT_PUSH_ALLOW_HOSTS", value_delimiter = ',')]
    pub push_allow_hosts: Vec<String>,

    /// A device is pushed at most once per conversation within this many milliseconds.
    #[arg(long, hide = true, default_value_t = 10_000)]
    pub push_min_interval_ms: u64,
}

impl PushArgs {
    pub fn settings(&self) -> PushSettings {
        PushSettings {
            vapid_private_key_file: self.vapid_private_key_file.clone(),
            vapid_subject: self.vapid_subject.clone(),
            allow_insecure_endpoints: self.push_allow_insecure_endpoints,
            allow_hosts: self.push_allow_hosts.clone(),
            min_interval: Duration::from_millis(self.push_min_interval_ms),
        }
    }
}

/// Peer support options of `sallyport serve`.
#[derive(Debug, Clone, Args)]
pub struct PeerSupportArgs {
    /// An unclaimed "now" request is offered to every peer supporter after this long, and to the
    /// coordinators after as long again (e.g. 300s, 5m, 1h).
    #[arg(long, env = "SALLYPORT_ESCALATE_NOW_AFTER", default_value = "5m", value_parser = parse_duration)]
    pub escalate_now_after: Duration,

    /// Escalation delay of a "today" request.
    #[arg(long, env = "SALLYPORT_ESCALATE_TODAY_AFTER", default_value = "60m", value_parser = parse_duration)]
    pub escalate_today_after: Duration,

    /// Escalation delay of a "this week" request.
    #[arg(long, env = "SALLYPORT_ESCALATE_WEEK_AFTER", default_value = "24h", value_parser = parse_duration)]
    pub escalate_week_after: Duration,

    /// Support requests one device may make per hour (counted in memory only, never stored).
    #[arg(long, env = "SALLYPORT_SUPPORT_REQUESTS_PER_HOUR", default_value_t = 5)]
    pub support_requests_per_hour: u32,

    /// How often the escalation scheduler looks for due timers, in milliseconds.
    #[arg(long, hide = true, default_value_t = 1_000)]
    pub support_scheduler_interval_ms: u64,
}

impl PeerSupportArgs {
    pub fn settings(&self) -> peer_support::Settings {
        peer_support::Settings {
            escalate_now_after: self.escalate_now_after,
            escalate_today_after: self.escalate_today_after,
            escalate_week_after: self.escalate_week_after,
            requests_per_hour: self.support_requests_per_hour,
            scheduler_interval: Duration::from_millis(self.support_scheduler_interval_ms),
        }
    }
}

/// `300`, `300s`, `500ms`, `5m`, `5min`, `1h`, `2d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration like 300s, 5m or 24h"))?;
    let ms = match unit.trim() {
        "ms" => 1,
        "" | "s" | "sec" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => return Err(format!("unknown duration unit `{other}` (ms, s, m, h, d)")),
    };
    n.checked_mul(ms).map(Duration::from_millis).ok_or_else(|| format!("`{text}` is too long"))
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a one-time enrolment link for a new person (or a new device of an existing account).
    Invite {
        /// The person's display name.
        #[arg(long)]
        name: String,
        /// A role: staff, peer_supporter, coordinator, admin or clinician (an EAP clinician; repeat for several).
        #[arg(long = "role", required = true)]
        roles: Vec<Role>,
        /// Add a device to this existing account instead of creating a new account.
        // An id may begin with `-` (one in 64 does): it is a value, not a flag.
        #[arg(long, allow_hyphen_values = true)]
        account: Option<String>,
        /// Hours the link stays valid.
        #[arg(long, default_value_t = 72)]
        expires_hours: u32,
        /// Base URL for the link (default: the URL the server last announced, or http://127.0.0.1:8080).
        #[arg(long, env = "SALLYPORT_PUBLIC_URL")]
        public_url: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke a device: it is refused from now on and its live connections close within a second.
    RevokeDevice {
        /// The device id (as shown by `admin devices`).
        // An id may begin with `-` (one in 64 does): it is a value, not a flag.
        #[arg(allow_hyphen_values = true)]
        device: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List enrolled devices.
    Devices {
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use sallyport_protocol::{AccountId, DeviceId};

    /// The text of a random 16-byte id that begins with `first`: the first base64url character
    /// is the top six bits of the first byte (`-` is 62, `_` is 63).
    fn id_beginning_with(first: char, mut bytes: [u8; 16]) -> String {
        let index = match first {
            '-' => 62,
            '_' => 63,
            other => panic!("not a test case: {other}"),
        };
        bytes[0] = (index << 2) | (bytes[0] & 0b11);
        let text = DeviceId(bytes).to_text();
        assert!(text.starts_with(first), "{text}");
        text
    }

    fn admin(args: &[&str]) -> AdminCommand {
        let argv = ["sallyport", "admin"].iter().chain(args);
        match Cli::try_parse_from(argv) {
            Ok(Cli { command: Command::Admin(command) }) => command,
            Ok(other) => panic!("{args:?} parsed as {other:?}"),
            Err(err) => panic!("{args:?} is refused: {err}"),
        }
    }

    #[test]
    fn revoke_device_takes_an_id_beginning_with_a_hyphen_or_an_underscore() {
        for first in ['-', '_'] {
            let id = id_beginning_with(first, DeviceId::random().0);
            // As an administrator pastes it from `admin devices`: before or after the options.
            for args in [
                vec!["revoke-device", &id],
                vec!["revoke-device", &id, "--data-dir", "/srv/sallyport"],
                vec!["revoke-device", "--data-dir", "/srv/sallyport", &id],
                vec!["revoke-device", &id, "--database-url", "postgres://sallyport@db/sallyport"],
            ] {
                let AdminCommand::RevokeDevice { device, database } = admin(&args) else {
                    panic!("{args:?} is not revoke-device")
                };
                assert_eq!(device, id, "{args:?}");
                assert_eq!(DeviceId::parse(&device).map(|d| d.to_text()), Some(id.clone()), "a device id");
                if args.contains(&"--data-dir") {
                    assert_eq!(database.data_dir, PathBuf::from("/srv/sallyport"), "{args:?}");
                }
                if args.contains(&"--database-url") {
                    assert_eq!(database.database_url.as_deref(), Some("postgres://sallyport@db/sallyport"), "{args:?}");
                }
            }
        }
    }

    #[test]
    fn invite_takes_an_account_id_beginning_with_a_hyphen_or_an_underscore() {
        for first in ['-', '_'] {
            let id = id_beginning_with(first, AccountId::random().0);
            let joined = format!("--account={id}");
            for args in [
                vec!["invite", "--name", "Dana", "--role", "staff", "--account", &id],
                vec!["invite", "--account", &id, "--name", "Dana", "--role", "staff"],
                vec!["invite", &joined, "--name", "Dana", "--role", "staff"],
            ] {
                let AdminCommand::Invite { name, roles, account, .. } = admin(&args) else {
                    panic!("{args:?} is not invite")
                };
                assert_eq!(account.as_deref(), Some(id.as_str()), "{args:?}");
                assert_eq!(AccountId::parse(&id).map(|a| a.to_text()), Some(id.clone()), "an account id");
                assert_eq!((name.as_str(), roles), ("Dana", vec![Role::Staff]), "{args:?}");
            }
        }
    }

    #[test]
    fn a_flag_after_a_hyphen_id_is_still_a_flag() {
        // The id takes one value: what follows it is parsed as usual, and a real unknown flag is
        // still refused.
        let id = id_beginning_with('-', DeviceId::random().0);
        let err = Cli::try_parse_from(["sallyport", "admin", "revoke-device", &id, "--no-such-flag"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument, "{err}");
        let err = Cli::try_parse_from(["sallyport", "admin", "revoke-device", &id, &id]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument, "{err}");
    }

    #[test]
    fn push_hosts_are_repeated_or_comma_separated() {
        let argv = ["sallyport", "serve", "--push-allow-host", "push.example.net", "--push-allow-host=*.corp.example,b.example:8443"];
        let Cli { command: Command::Serve(serve) } = Cli::try_parse_from(argv).unwrap() else { panic!("not serve") };
        assert_eq!(serve.push.settings().allow_hosts, ["push.example.net", "*.corp.example", "b.example:8443"]);
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("300").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("5min").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}

