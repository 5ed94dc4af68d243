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
}
