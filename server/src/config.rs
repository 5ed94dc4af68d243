//! Command line and environment configuration. Every option is also a `SALLYPORT_*` environment
//! variable; each field's doc comment is its `--help` text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use sallyport_protocol::rest::Role;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "sallyport", version, about = "Sallyport: confidential support and paging relay for corrections staff")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the relay (web app, REST API and WebSocket on one port).
    Serve(ServeConfig),
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

    /// Most undelivered messages one mailbox may hold; senders get `quota_exceeded` beyond it.
    #[arg(long, env = "SALLYPORT_QUEUE_QUOTA", default_value_t = 10_000)]
    pub queue_quota: u64,

    /// Hours the first administrator's enrolment link (printed on first start) stays valid.
    #[arg(long, env = "SALLYPORT_INVITATION_TTL_HOURS", default_value_t = 72)]
    pub invitation_ttl_hours: u32,

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
    pub push: crate::push::PushArgs,

    #[command(flatten)]
    pub support: crate::support::requests::SupportArgs,

    /// Most messages committed in one database transaction (group commit).
    #[arg(long, env = "SALLYPORT_MAX_COMMIT_BATCH", default_value_t = 4_096)]
    pub max_commit_batch: usize,
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
        #[arg(long)]
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
