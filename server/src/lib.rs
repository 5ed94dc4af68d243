//! The Sallyport server: authenticated WebSocket sessions, durable mailbox queues with group
//! commit, the workflows (enrolment, peer support), the REST API and the admin commands. `run`
//! wires the layers together and serves one node until shutdown.
//!
//! Dependencies point one way: `http` → `workflows` → `push` / `store` → `domain` → protocol;
//! `relay` → `store`, `push`. `clock`, `shutdown` and `metrics` are leaves anyone may use.

pub mod admin;
pub mod budgets;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod push;
pub mod relay;
pub mod shutdown;
pub mod store;
pub mod workflows;

use anyhow::Context as _;
use clock::Clock;
use config::ServeConfig;
use http::state::{AppState, Settings};
use relay::committer::{Committer, CommitterConfig};
use relay::hub::Hub;
use relay::{Relay, RelaySettings};
use sallyport_protocol::rest::Role;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use workflows::enrolment::{self, Invitation, PUBLIC_URL_SETTING};
use workflows::peer_support::{self, PeerSupport};

/// Settings key claimed by the node that prints the first administrator's link.
const FIRST_ADMIN_SETTING: &str = "first_admin_link";

/// How long shutdown waits for queued writes to commit before giving up.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

impl workflows::incidents::Listeners for Hub {
    fn incident_changed(&self, mailboxes: &[sallyport_protocol::MailboxId], incident: sallyport_protocol::IncidentId) {
        Hub::incident_changed(self, mailboxes, incident);
    }
}

/// `--team-roles`, checked: each 1–32 lowercase letters, digits, `-` or `_`, starting with a
/// letter; no repeats.
fn team_roles(names: &[String]) -> anyhow::Result<Vec<domain::paging::TeamRole>> {
    let mut roles = Vec::new();
    for name in names {
        let role = domain::paging::TeamRole::parse(name.trim()).with_context(|| {
            format!("--team-roles: {name:?} is not a team role (1-32 lowercase letters, digits, '-' or '_', starting with a letter)")
        })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    anyhow::ensure!(!roles.is_empty(), "--team-roles must name at least one role");
    Ok(roles)
}

/// Serves one node on `listener` until `shutdown` resolves, then stops taking connections, lets
/// sessions answer their in-flight sends, commits everything queued, and closes the database.
pub async fn run(
    config: ServeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let bound = listener.local_addr()?;
    let public_url = config.public_url_for(bound);
    let database_url = config.database.url()?;
    let web_dir = http::web::resolve_dir(config.web_dir.as_deref())?;
    let team_roles = team_roles(&config.team_roles)?;
    let store = store::connect(&database_url).await.context("opening the database")?;
    let place_lost = store.take_node_place(config.single_node, Duration::from_millis(config.node_lock_wait_ms)).await?;
    let clock = Clock::with_offset_file(config.clock_offset_file.clone());
    tracing::info!(backend = store.backend(), single_node = config.single_node, "database ready");

    store.set_setting(PUBLIC_URL_SETTING, public_url.as_bytes()).await.context("recording the public URL")?;
    // Before the address line: a bad VAPID key stops the start before anyone is told it is up.
    let metrics = Arc::new(metrics::Metrics::default());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let push = push::Push::start(store.clone(), metrics.clone(), &config.push.settings(), &public_url, shutdown_rx.clone())
        .await
        .context("setting up Web Push")?;

    let mut stdout = std::io::stdout().lock();
    // The first administrator's link is made once, by the first node to start on an empty
    // database: a restart or a second node prints none (`sallyport admin invite --role admin`
    // makes another), so no second valid link lies around in an old log or terminal.
    if store.account_count().await? == 0 {
        let claim = sallyport_protocol::MessageId::random().to_text();
        if store.init_setting(FIRST_ADMIN_SETTING, claim.as_bytes()).await? == claim.as_bytes() {
            let invitation = Invitation::new(&config.admin_name, vec![Role::Admin], None, config.invitation_ttl_hours)?;
            let link = enrolment::create_invitation(&*store, &public_url, &invitation, clock.now()).await?;
            writeln!(stdout, "No administrator is enrolled yet. Open this one-time link to enrol the first one (valid {} h):", config.invitation_ttl_hours)?;
            writeln!(stdout, "administrator enrolment link: {link}")?;
        } else {
            tracing::warn!(
                "no administrator is enrolled yet and the first link was already printed: use `sallyport admin invite --role admin` for another"
            );
        }
    }
    if let Some(address) = &config.metrics_listen {
        let listener = TcpListener::bind(address).await.with_context(|| format!("binding the metrics listener {address}"))?;
        writeln!(stdout, "sallyport metrics on http://{}/metrics", listener.local_addr()?)?;
        let mut stop = shutdown_rx.clone();
        let app = http::metrics_router(metrics.clone());
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|stop| *stop).await;
            };
            if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
                tracing::error!(error = %err, "the metrics listener failed");
            }
        });
    }
    // The address bound, which differs from the public URL behind a proxy.
    writeln!(stdout, "sallyport bound to http://{bound}")?;
    // Last, so whoever reads stdout knows the server is up once they see it.
    writeln!(stdout, "sallyport listening on {public_url}")?;
    stdout.flush()?;
    drop(stdout);

    let node_id = sallyport_protocol::MessageId::random().to_text();
    let hub = Arc::new(Hub::default());
    let (committer, committer_task) = Committer::start(
        store.clone(),
        hub.clone(),
        metrics.clone(),
        CommitterConfig {
            node_id: node_id.clone(),
            max_batch: config.max_commit_batch.max(1),
            queue_quota: config.queue_quota,
            push: Some(push.clone()),
            hold: std::time::Duration::from_millis(config.early_delivery_hold_ms),
        },
    );
    relay::watchers::spawn_all(
        store.clone(),
        hub.clone(),
        metrics.clone(),
        clock.clone(),
        relay::watchers::WatcherConfig { node_id: node_id.clone(), ignore_notifications: config.ignore_notifications },
        relay::watchers::ExpiryConfig {
            every: std::time::Duration::from_millis(config.expiry_sweep_interval_ms),
            unlinked_mailbox_idle_days: config.unlinked_mailbox_idle_days,
        },
        shutdown_rx.clone(),
    );

    let peer_support = Arc::new(PeerSupport::new(
        store.clone(),
        push.clone(),
        clock.clone(),
        metrics.clone(),
        config.support.settings(),
    ));
    tokio::spawn(peer_support::escalation::run_scheduler(peer_support.clone(), shutdown_rx.clone()));
    let paging = workflows::incidents::Paging::start(
        store.clone(),
        push.clone(),
        clock.clone(),
        metrics.clone(),
        public_url.trim_end_matches('/').to_owned(),
        peer_support.settings.scheduler_interval,
        hub.clone(),
        node_id.clone(),
    );
    tokio::spawn(workflows::incidents::run_scheduler(paging.clone(), shutdown_rx.clone()));

    let origin = sallyport_protocol::auth::origin_of(&public_url);
    let relay = Relay {
        store: store.clone(),
        hub,
        committer,
        metrics: metrics.clone(),
        clock: clock.clone(),
        settings: Arc::new(RelaySettings {
            origin: origin.clone(),
            message_ttl_ms: i64::from(config.message_ttl_days) * domain::DAY_MS,
            max_frames_per_second: config.max_frames_per_second,
            queue_quota: config.queue_quota,
        }),
        budgets: Arc::new(budgets::Budgets::new(config.budgets.settings())),
        shutdown: shutdown_rx.clone(),
    };
    let metrics_for_listener = metrics.clone();
    let state = AppState {
        settings: Arc::new(Settings {
            origin,
            public_url,
            team_roles,
        }),
        store: store.clone(),
        clock,
        metrics,
        relay,
        push,
        peer_support,
        paging,
        replay: Arc::default(),
        shutdown: shutdown_rx,
    };
    let app = http::router(state.clone(), web_dir, Duration::from_millis(config.body_timeout_ms.max(1)));
    drop(state);
    let limits = http::listener::Limits {
        max_connections: http::listener::fit_to_file_limit(config.max_connections.max(1)),
        max_per_address: config.max_connections_per_address,
        header_timeout: Duration::from_millis(config.header_timeout_ms.max(1)),
    };
    if limits.max_connections < config.max_connections {
        tracing::warn!(
            cap = limits.max_connections,
            asked = config.max_connections,
            "the open-file limit allows fewer connections than --max-connections"
        );
    }

    let shutdown_tx = Arc::new(shutdown_tx);
    // Losing the node's place (see `Store::take_node_place`) stops it as a signal would, and
    // the node then exits with an error, for its supervisor to start it again.
    let lost = Arc::new(std::sync::OnceLock::new());
    let signal = {
        let shutdown_tx = shutdown_tx.clone();
        let lost = lost.clone();
        async move {
            tokio::select! {
                () = shutdown => {}
                reason = place_lost => {
                    tracing::error!(reason, "this node lost its place among the nodes serving the database; stopping");
                    let _ = lost.set(reason);
                }
            }
            tracing::info!("shutting down: closing connections and committing queued writes");
            let _ = shutdown_tx.send(true);
        }
    };
    http::listener::serve(listener, app, limits, metrics_for_listener, signal).await;

    // Every session holds a committer handle; the committer ends once they are all gone and the
    // queue is empty.
    match tokio::time::timeout(DRAIN_TIMEOUT, committer_task).await {
        Ok(_) => tracing::info!("all queued writes committed"),
        Err(_) => tracing::error!("queued writes did not commit within 30 s; unacknowledged sends will be retried by clients"),
    }
    store.close().await;
    drop(shutdown_tx);
    match lost.get() {
        Some(reason) => anyhow::bail!("stopped: {reason}"),
        None => Ok(()),
    }
}
