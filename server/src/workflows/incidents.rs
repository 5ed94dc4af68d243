//! Critical incidents (protocol/README.md §16): a supervisor or coordinator declares one for a
//! crisis team, with a preview the declarer's client sealed to each recipient device; the team is
//! paged by `domain::incidents::plan` (tier 1 at once, repeats, escalation, quorum) and answers
//! from the app or from the notification (a single-use token); the board shows who was paged,
//! how each push went and who answered; resolving stops the paging and deletes the routing state.
//!
//! Pages are at least once: what a plan decides is stored with an outbox row per device in one
//! transaction, and a row goes only when the push service has answered, so a page a crash
//! interrupted is sent after the restart (by whichever node claims it), and repeats collapse on
//! the device by `Topic` and notification tag.

use crate::clock::Clock;
use crate::domain::incidents::{self, Incident, Plan};
use crate::domain::paging::Step;
use crate::domain::secrets::sha256;
use crate::domain::teams::CrisisTeam;
use crate::metrics::Metrics;
use crate::push::{Push, PushOutcome, Report};
use crate::shutdown::{Shutdown, shutting_down};
use crate::store::incidents::{IncidentRecord, NewIncident, OutboxItem, PageResult};
use tokio::sync::mpsc;
use crate::store::{DeviceRecord, Store, StoreError, StoreResult};
use crate::workflows::peer_support::bodies::Names;
use crate::workflows::{Outcome, WorkflowError};
use base64::Engine as _;
use sallyport_protocol::incidents::{
    AnsweredBody, AnswerRequest, AttemptBody, DeclareRequest, IncidentBody, IncidentsBody, LocationsBody, MAX_LOCATION_CHARS, MAX_LOCATIONS,
    MAX_SEALED_BYTES, MAX_SEVERITY, PagedBody, RecipientBody, RecipientsBody, StepBody, TokenAnswerRequest,
};
use sallyport_protocol::rest::Role;
use sallyport_protocol::{AccountId, AnswerToken, IncidentId, MailboxId, Payload};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// Timers and outbox rows claimed per pass, and how long a claim holds before another node may
/// take the work over (a node that died mid-send).
const CLAIM_BATCH: u32 = 100;
const CLAIM_LEASE_MS: i64 = 60_000;
/// Longest ETA a responder may give.
const MAX_ETA_MINUTES: u32 = 600;
/// Most sealed previews one declaration may carry.
const MAX_SEALS: usize = 2_000;
/// What a page says before (or without) its sealed details.
pub const PAGE_TITLE: &str = "Critical incident";
pub const PAGE_BODY: &str = "Open Sallyport";
pub const TEST_TITLE: &str = "Test page";

/// Settings key of the facility's incident locations (JSON list of names).
pub const LOCATIONS_SETTING: &str = "incident_locations";

/// `GET /v1/incidents/locations` (anyone enrolled): the list an administrator set, or none.
pub async fn locations(store: &dyn Store) -> Outcome<LocationsBody> {
    let locations = match store.setting(LOCATIONS_SETTING).await? {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            tracing::warn!("the stored incident locations are unreadable; listing none");
            Vec::new()
        }),
        None => Vec::new(),
    };
    Ok(LocationsBody { locations })
}

/// `PUT /v1/admin/incident-locations` (administrators): replaces the list. Names are trimmed,
/// 1–60 characters without control characters, at most 100, no repeats (first kept).
pub async fn set_locations(store: &dyn Store, caller: &DeviceRecord, body: LocationsBody) -> Outcome<LocationsBody> {
    crate::workflows::require(caller, Role::Admin)?;
    if body.locations.len() > MAX_LOCATIONS {
        return Err(WorkflowError::Invalid(format!("at most {MAX_LOCATIONS} locations")));
    }
    let mut locations: Vec<String> = Vec::with_capacity(body.locations.len());
    for name in body.locations {
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_LOCATION_CHARS || name.chars().any(char::is_control) {
            return Err(WorkflowError::Invalid(format!("a location is 1 to {MAX_LOCATION_CHARS} characters, without control characters")));
        }
        if !locations.contains(&name) {
            locations.push(name);
        }
    }
    store.set_setting(LOCATIONS_SETTING, &serde_json::to_vec(&locations).expect("strings serialise")).await?;
    tracing::info!(locations = locations.len(), "an administrator set the incident locations");
    Ok(LocationsBody { locations })
}

/// What the paging workflows use.
pub struct Paging {
    pub store: Arc<dyn Store>,
    pub push: Arc<Push>,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    /// `scheme://host[:port]`, for the page's `navigate` link.
    pub public_url: String,
    /// How often the scheduler looks for due timers and unsent pages.
    pub interval: Duration,
    /// This node's connections, told when an incident changes (`incident_changed`).
    pub hub: Arc<dyn Listeners>,
    /// This node's id in multi-node notifications.
    pub node_id: String,
    /// Page outcomes to record and changes to announce, batched by [`record_notes`].
    notes: mpsc::Sender<Note>,
}

/// What the recorder task batches: a page push's outcome, or an incident that changed.
enum Note {
    Result(PageResult),
    Changed(IncidentId),
}

/// Notes waiting for the recorder; when full, a note is dropped (an outcome's outbox row is then
/// sent again after its lease; a change is announced with the next one).
const NOTES_CAPACITY: usize = 65_536;

/// Records page outcomes in batches (one transaction each) and announces each changed incident
/// once per batch: 500 pages answered by their push service cost one write and one announcement
/// per incident, not 500 of each.
async fn record_notes(store: Arc<dyn Store>, hub: Arc<dyn Listeners>, node_id: String, mut rx: mpsc::Receiver<Note>) {
    let mut batch = Vec::with_capacity(1_024);
    while rx.recv_many(&mut batch, 1_024).await > 0 {
        let mut results = Vec::new();
        let mut incidents: Vec<IncidentId> = Vec::new();
        for note in batch.drain(..) {
            let id = match note {
                Note::Result(r) => {
                    let id = r.incident;
                    results.push(r);
                    id
                }
                Note::Changed(id) => id,
            };
            if !incidents.contains(&id) {
                incidents.push(id);
            }
        }
        if let Err(err) = store.finish_pages(&results).await {
            tracing::warn!(error = %err, pages = results.len(), "could not record pages' outcomes; they will be sent again");
        }
        for id in &incidents {
            changed(&*store, &*hub, &node_id, id).await;
        }
    }
}

impl Paging {
    /// The paging workflows, with their recorder task (which stops when the last sender goes).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        store: Arc<dyn Store>,
        push: Arc<Push>,
        clock: Clock,
        metrics: Arc<Metrics>,
        public_url: String,
        interval: Duration,
        hub: Arc<dyn Listeners>,
        node_id: String,
    ) -> Arc<Paging> {
        let (notes, rx) = mpsc::channel(NOTES_CAPACITY);
        tokio::spawn(record_notes(store.clone(), hub.clone(), node_id.clone(), rx));
        Arc::new(Paging { store, push, clock, metrics, public_url, interval, hub, node_id, notes })
    }

    /// Announces (soon, batched) that an incident changed.
    fn note_changed(&self, id: IncidentId) {
        let _ = self.notes.try_send(Note::Changed(id));
    }
}

/// This node's connections, by the mailboxes they read (the relay's hub).
pub trait Listeners: Send + Sync {
    /// Tells the readers of these mailboxes on this node that `incident` changed.
    fn incident_changed(&self, mailboxes: &[MailboxId], incident: IncidentId);
}

/// The linked mailboxes of the unrevoked devices of everyone who may see `incident`: its
/// declarer, the coordinators, the team's members and anyone paged.
async fn audience(store: &dyn Store, incident: &Incident) -> StoreResult<Vec<MailboxId>> {
    let teams = store.crisis_teams().await?;
    let mut accounts: HashSet<AccountId> = incident.pages.iter().map(|p| p.account).collect();
    accounts.extend(incident.declared_by);
    if let Some(team) = teams.team(&incident.team) {
        accounts.extend(team.members.iter().map(|m| m.account));
    }
    Ok(store
        .list_devices()
        .await?
        .into_iter()
        .filter(|d| d.revoked_at.is_none() && (accounts.contains(&d.account) || d.roles.contains(&Role::Coordinator)))
        .map(|d| d.mailbox)
        .collect())
}

/// Tells the connections of `mailboxes`, on this node and the others, that `incident` changed.
async fn announce(store: &dyn Store, hub: &dyn Listeners, node_id: &str, incident: &IncidentId, mailboxes: &[MailboxId]) {
    hub.incident_changed(mailboxes, *incident);
    if let Err(err) = store.notify_incident(node_id, incident, mailboxes).await {
        tracing::warn!(error = %err, "could not tell the other nodes that an incident changed");
    }
}

/// Tells everyone who may see the incident (as it is now) that it changed.
async fn changed(store: &dyn Store, hub: &dyn Listeners, node_id: &str, id: &IncidentId) {
    let mailboxes = match store.incident(id).await {
        Ok(Some(record)) => audience(store, &record.incident).await,
        Ok(None) => return,
        Err(err) => Err(err),
    };
    match mailboxes {
        Ok(mailboxes) => announce(store, hub, node_id, id, &mailboxes).await,
        Err(err) => tracing::warn!(error = %err, "could not work out whom to tell that an incident changed"),
    }
}

fn may_declare(caller: &DeviceRecord) -> Outcome<()> {
    let roles = &caller.roles;
    if roles.contains(&Role::Supervisor) || roles.contains(&Role::Coordinator) { Ok(()) } else { Err(WorkflowError::Forbidden(None)) }
}

fn check_eta(eta_minutes: Option<u32>) -> Outcome<()> {
    if eta_minutes.is_some_and(|m| m > MAX_ETA_MINUTES) {
        return Err(WorkflowError::Invalid(format!("eta_minutes must be 0 to {MAX_ETA_MINUTES}")));
    }
    Ok(())
}

fn incident_id(text: &str) -> Outcome<IncidentId> {
    IncidentId::parse(text).ok_or_else(|| WorkflowError::not_found("incident"))
}

/// The accounts of every coordinator with an unrevoked device.
async fn coordinators(store: &dyn Store) -> StoreResult<Vec<AccountId>> {
    let mut out: Vec<AccountId> =
        store.list_devices().await?.into_iter().filter(|d| d.revoked_at.is_none() && d.roles.contains(&Role::Coordinator)).map(|d| d.account).collect();
    out.sort();
    out.dedup();
    Ok(out)
}

async fn crisis_team(store: &dyn Store, id: &str) -> Outcome<CrisisTeam> {
    store.crisis_teams().await?.teams.into_iter().find(|t| t.id == id).ok_or_else(|| WorkflowError::not_found("team"))
}

/// Who may see an incident's board: its declarer, coordinators, and the team's members (and
/// anyone it paged).
fn may_see(caller: &DeviceRecord, incident: &Incident, team: Option<&CrisisTeam>) -> bool {
    caller.roles.contains(&Role::Coordinator)
        || incident.declared_by == Some(caller.account)
        || team.is_some_and(|t| t.member(&caller.account).is_some())
        || incident.page_of(&caller.account).is_some()
}

impl Paging {
    fn decide(&self, team: CrisisTeam, coordinators: Vec<AccountId>) -> impl Fn(&Incident) -> Plan + Send + Sync + use<> {
        let clock = self.clock.clone();
        move |incident: &Incident| incidents::plan(incident, &team, &coordinators, clock.now())
    }

    /// `GET /v1/incidents/recipients?team=ID` (supervisors, coordinators).
    pub async fn recipients(&self, caller: &DeviceRecord, team: &str) -> Outcome<RecipientsBody> {
        may_declare(caller)?;
        let team = crisis_team(&*self.store, team).await?;
        let coordinators: HashSet<AccountId> = coordinators(&*self.store).await?.into_iter().collect();
        let recipients = self
            .store
            .list_devices()
            .await?
            .into_iter()
            .filter(|d| d.revoked_at.is_none() && !d.is_pending())
            .filter(|d| team.member(&d.account).is_some() || coordinators.contains(&d.account))
            .map(|d| RecipientBody { account: d.account, device: d.device, notification_key: d.notification_key })
            .collect();
        Ok(RecipientsBody { recipients })
    }

    /// `POST /v1/incidents` (supervisors, coordinators): stores the incident and pages tier 1.
    pub async fn declare(&self, caller: &DeviceRecord, request: DeclareRequest) -> Outcome<IncidentBody> {
        may_declare(caller)?;
        if !(1..=MAX_SEVERITY).contains(&request.severity) {
            return Err(WorkflowError::Invalid(format!("severity must be 1 to {MAX_SEVERITY}")));
        }
        if request.sealed.len() > MAX_SEALS {
            return Err(WorkflowError::Invalid(format!("at most {MAX_SEALS} sealed previews")));
        }
        let team = crisis_team(&*self.store, &request.team).await?;
        if let Some(only) = request.only {
            if !request.test {
                return Err(WorkflowError::Invalid("a page for one person must be a test page (\"test\": true)".into()));
            }
            if team.member(&only).is_none() {
                return Err(WorkflowError::not_on_team("the person to test"));
            }
        }
        let recipients: HashSet<_> = self.recipients(caller, &team.id).await?.recipients.into_iter().map(|r| r.device).collect();
        let mut seals = Vec::with_capacity(request.sealed.len());
        let mut seen = HashSet::new();
        for s in request.sealed {
            if s.sealed.0.is_empty() || s.sealed.0.len() > MAX_SEALED_BYTES {
                return Err(WorkflowError::Invalid(format!("a sealed preview is 1 to {MAX_SEALED_BYTES} bytes")));
            }
            if !recipients.contains(&s.device) || !seen.insert(s.device) {
                return Err(WorkflowError::Invalid("sealed names a device that is not a recipient of this team, or twice".into()));
            }
            seals.push((s.device, s.sealed.0.to_vec()));
        }
        let now = self.clock.now();
        let incident = Incident {
            id: request.id,
            team: team.id.clone(),
            severity: request.severity,
            test: request.test,
            declared_by: Some(caller.account),
            declared_at: now,
            step: Step::FIRST,
            step_at: now,
            first_response_at: None,
            quorum_at: None,
            resolved_at: None,
            only: request.only,
            pages: Vec::new(),
        };
        let decide = self.decide(team, coordinators(&*self.store).await?);
        let stored = match self.store.create_incident(&NewIncident { incident, seals }, &decide).await {
            Err(StoreError::NotFound) => return Err(WorkflowError::not_found("team")),
            Err(StoreError::Conflict(_)) => return Err(WorkflowError::Refused("an incident with this id exists".into())),
            other => other?,
        };
        tracing::info!(severity = stored.severity, test = stored.test, "an incident was declared");
        self.send_now();
        self.note_changed(stored.id);
        self.board(caller, &stored.id).await
    }

    /// `GET /v1/incidents`: the open incidents the caller may see.
    pub async fn list(&self, caller: &DeviceRecord) -> Outcome<IncidentsBody> {
        let teams = self.store.crisis_teams().await?;
        let names = Names::load(&*self.store).await?;
        let mut out = Vec::new();
        for record in self.store.open_incidents().await? {
            let team = teams.team(&record.incident.team);
            if may_see(caller, &record.incident, team) {
                out.push(self.body(caller, record, team, &names).await?);
            }
        }
        Ok(IncidentsBody { incidents: out })
    }

    /// `GET /v1/incidents/{id}`: the board.
    pub async fn get(&self, caller: &DeviceRecord, id: &str) -> Outcome<IncidentBody> {
        self.board(caller, &incident_id(id)?).await
    }

    async fn board(&self, caller: &DeviceRecord, id: &IncidentId) -> Outcome<IncidentBody> {
        let record = self.store.incident(id).await?.ok_or_else(|| WorkflowError::not_found("incident"))?;
        let teams = self.store.crisis_teams().await?;
        let team = teams.team(&record.incident.team);
        if !may_see(caller, &record.incident, team) {
            return Err(WorkflowError::not_found("incident"));
        }
        self.body(caller, record, team, &Names::load(&*self.store).await?).await
    }

    async fn body(&self, caller: &DeviceRecord, record: IncidentRecord, team: Option<&CrisisTeam>, names: &Names) -> Outcome<IncidentBody> {
        let IncidentRecord { incident, attempts, steps } = record;
        let shortfall = team.map(|t| incident.shortfall(t));
        let sealed = self.store.sealed_for(&incident.id, &caller.device).await?.map(|b| Payload(b.into()));
        let paged = incident
            .pages
            .iter()
            .map(|p| {
                let member = team.and_then(|t| t.member(&p.account));
                PagedBody {
                    person: names.person(p.account),
                    role: member.map_or_else(|| "coordinator".to_owned(), |m| m.role.as_str().to_owned()),
                    tier: member.map_or(0, |m| m.tier),
                    paged_at: p.paged_at,
                    pages: p.pages,
                    waiting_until: p.waiting_until,
                    attempts: attempts
                        .iter()
                        .filter(|(who, _, _)| *who == p.account)
                        .map(|(_, at, outcome)| AttemptBody { at: *at, outcome: outcome.clone() })
                        .collect(),
                    answer: p.answer,
                    answered_at: p.answered_at,
                    eta_at: p.eta_at,
                }
            })
            .collect();
        Ok(IncidentBody {
            id: incident.id,
            team: incident.team.clone(),
            team_name: team.map(|t| t.name.clone()).unwrap_or_default(),
            severity: incident.severity,
            test: incident.test,
            declared_at: incident.declared_at,
            declared_by: incident.declared_by.map(|a| names.person(a)),
            short_by: shortfall.as_ref().map_or(0, |s| s.total),
            short_roles: shortfall.map(|s| s.roles.into_iter().map(|(r, n)| (r.as_str().to_owned(), n)).collect()).unwrap_or_default(),
            quorum_at: incident.quorum_at,
            first_response_at: incident.first_response_at,
            resolved_at: incident.resolved_at,
            paged,
            steps: steps.into_iter().map(|(at, step)| StepBody { at, step }).collect(),
            sealed,
        })
    }

    /// Records `account`'s answer and re-plans (the quorum may be met, or still short).
    async fn record_answer(&self, id: &IncidentId, account: AccountId, answer: sallyport_protocol::incidents::PageAnswer, eta_minutes: Option<u32>) -> Outcome<()> {
        check_eta(eta_minutes)?;
        let record = self.store.incident(id).await?.ok_or_else(|| WorkflowError::not_found("incident"))?;
        if record.incident.resolved_at.is_some() {
            return Err(WorkflowError::IncidentResolved);
        }
        let team = crisis_team(&*self.store, &record.incident.team).await?;
        let coordinators = coordinators(&*self.store).await?;
        let is_coordinator = team.member(&account).is_none();
        let clock = self.clock.clone();
        let decide = move |incident: &Incident| {
            let now = clock.now();
            let eta_at = eta_minutes.map(|m| now + i64::from(m) * crate::domain::MINUTE_MS);
            let after = incidents::answered(incident, account, is_coordinator, answer, eta_at, now);
            incidents::plan(&after, &team, &coordinators, now)
        };
        self.store.update_incident(id, &decide).await?;
        tracing::info!(answer = answer.as_str(), "a page was answered");
        self.send_now();
        self.note_changed(*id);
        Ok(())
    }

    /// `POST /v1/incidents/{id}/answer` (signed): a team member, a coordinator, or anyone paged.
    pub async fn answer(&self, caller: &DeviceRecord, id: &str, request: AnswerRequest) -> Outcome<IncidentBody> {
        let id = incident_id(id)?;
        let record = self.store.incident(&id).await?.ok_or_else(|| WorkflowError::not_found("incident"))?;
        let teams = self.store.crisis_teams().await?;
        let team = teams.team(&record.incident.team);
        let on_team = team.is_some_and(|t| t.member(&caller.account).is_some());
        if !(on_team || caller.roles.contains(&Role::Coordinator) || record.incident.page_of(&caller.account).is_some()) {
            return Err(WorkflowError::not_found("incident"));
        }
        self.record_answer(&id, caller.account, request.answer, request.eta_minutes).await?;
        self.board(caller, &id).await
    }

    /// `POST /v1/incidents/answer` (unsigned): the token from one page answers once.
    pub async fn answer_with_token(&self, request: TokenAnswerRequest) -> Outcome<AnsweredBody> {
        // Checked before the token is spent.
        check_eta(request.eta_minutes)?;
        let hash = sha256(request.token.as_bytes());
        let (id, account) = self.store.take_answer_token(&hash).await?.ok_or(WorkflowError::InvalidAnswerToken)?;
        self.record_answer(&id, account, request.answer, request.eta_minutes).await?;
        Ok(AnsweredBody { incident: id, answer: request.answer })
    }

    /// `POST /v1/incidents/{id}/resolve` (its declarer, coordinators).
    pub async fn resolve(&self, caller: &DeviceRecord, id: &str) -> Outcome<IncidentBody> {
        let id = incident_id(id)?;
        let record = self.store.incident(&id).await?.ok_or_else(|| WorkflowError::not_found("incident"))?;
        let declarer = record.incident.declared_by == Some(caller.account);
        if !(declarer || caller.roles.contains(&Role::Coordinator)) {
            let teams = self.store.crisis_teams().await?;
            return Err(if may_see(caller, &record.incident, teams.team(&record.incident.team)) {
                WorkflowError::Forbidden(Some("only the declarer or a coordinator resolves an incident".into()))
            } else {
                WorkflowError::not_found("incident")
            });
        }
        let mailboxes = audience(&*self.store, &record.incident).await?;
        if self.store.resolve_incident(&id, self.clock.now()).await? {
            tracing::info!("an incident was resolved");
            announce(&*self.store, &*self.hub, &self.node_id, &id, &mailboxes).await;
        }
        let teams = self.store.crisis_teams().await?;
        let record = self.store.incident(&id).await?.ok_or_else(|| WorkflowError::not_found("incident"))?;
        let team = teams.team(&record.incident.team);
        self.body(caller, record, team, &Names::load(&*self.store).await?).await
    }

    // ---- the scheduler and the outbox

    fn outbox(&self) -> Outbox {
        Outbox {
            store: self.store.clone(),
            push: self.push.clone(),
            clock: self.clock.clone(),
            public_url: self.public_url.clone(),
            notes: self.notes.clone(),
        }
    }

    /// Sends what is in the outbox now, without waiting for the next pass.
    fn send_now(&self) {
        let outbox = self.outbox();
        tokio::spawn(async move {
            if let Err(err) = outbox.send().await {
                tracing::warn!(error = %err, "could not send pages; the scheduler will");
            }
        });
    }

    /// One pass: every due incident is re-planned (repeats, escalations, those who came out),
    /// then every unsent page is pushed. Returns how many incidents were due.
    pub async fn run_due(&self) -> StoreResult<usize> {
        let now = self.clock.now();
        let due = self.store.claim_due_incidents(now, CLAIM_LEASE_MS, CLAIM_BATCH).await?;
        if !due.is_empty() {
            let teams = self.store.crisis_teams().await?;
            let coordinators = coordinators(&*self.store).await?;
            for id in &due {
                let Some(record) = self.store.incident(id).await? else { continue };
                let Some(team) = teams.team(&record.incident.team) else { continue };
                match self.store.update_incident(id, &self.decide(team.clone(), coordinators.clone())).await {
                    Ok(after) if after != record.incident => self.note_changed(*id),
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "could not plan an incident's pages; retrying after the lease"),
                }
            }
        }
        self.outbox().send().await?;
        if let Err(err) = self.run_checks().await {
            tracing::warn!(error = %err, "readiness checks failed; retrying");
        }
        if let Err(err) = self.run_debrief_pushes().await {
            tracing::warn!(error = %err, "debrief pushes failed; retrying");
        }
        Ok(due.len())
    }
}

/// The page push for one device: a Declarative Web Push message (Safari shows its generic
/// notification even if the service worker fails) with, for the service worker, the incident,
/// its severity, a single-use answer token and the preview sealed to this device.
fn page_payload(item: &OutboxItem, token: &AnswerToken, public_url: &str) -> Vec<u8> {
    let id = item.incident.to_text();
    let sealed = item.sealed.as_ref().map(|s| base64::engine::general_purpose::STANDARD.encode(s));
    let body = serde_json::json!({
        "web_push": 8030,
        "notification": {
            "title": if item.test { TEST_TITLE } else { PAGE_TITLE },
            "body": PAGE_BODY,
            "navigate": format!("{public_url}/incidents/{id}"),
            "tag": format!("incident-{id}"),
        },
        "v": 1,
        "kind": "page",
        "incident": id,
        "severity": item.severity,
        "test": item.test,
        "token": token.to_text(),
        "sealed": sealed,
    });
    body.to_string().into_bytes()
}

/// What sending pages needs (cheap clones of the workflow's parts, for spawned tasks).
struct Outbox {
    store: Arc<dyn Store>,
    push: Arc<Push>,
    clock: Clock,
    public_url: String,
    notes: mpsc::Sender<Note>,
}

impl Outbox {
    /// Claims unsent pages and pushes each with a fresh answer token (its hash stored first); the
    /// outbox row goes when the push service has answered, with the outcome kept for the board.
    async fn send(&self) -> StoreResult<()> {
        for _ in 0..100 {
            let items = self.store.claim_outbox(self.clock.now(), CLAIM_LEASE_MS, CLAIM_BATCH).await?;
            let n = items.len();
            // Every token's hash is stored (one transaction) before any page carrying it goes out.
            let tokens: Vec<AnswerToken> = items.iter().map(|_| AnswerToken::random()).collect();
            let hashes: Vec<_> = items.iter().zip(&tokens).map(|(item, t)| (sha256(t.as_bytes()), item.incident, item.account)).collect();
            self.store.add_answer_tokens(&hashes).await?;
            for (item, token) in items.into_iter().zip(tokens) {
                let payload = page_payload(&item, &token, &self.public_url);
                let (notes, clock) = (self.notes.clone(), self.clock.clone());
                let (incident, device, account) = (item.incident, item.device, item.account);
                let report = Report::new(move |outcome: PushOutcome| {
                    let result = PageResult { incident, device, account, outcome: outcome.as_str(), at: clock.now() };
                    if notes.try_send(Note::Result(result)).is_err() {
                        tracing::warn!("page outcomes are backing up; this page will be sent again");
                    }
                });
                let mut tag = b"incident:".to_vec();
                tag.extend_from_slice(item.incident.as_bytes());
                self.push.offer_page(item.mailbox, &tag, payload, report);
            }
            if n < CLAIM_BATCH as usize {
                break;
            }
        }
        Ok(())
    }
}

/// The paging scheduler of this node: a pass at start (what was due while down fires, pages a
/// crash interrupted are sent) and then every `interval`, until shutdown.
pub async fn run_scheduler(paging: Arc<Paging>, mut shutdown: Shutdown) {
    let interval = paging.interval.max(Duration::from_millis(10));
    loop {
        if let Err(err) = paging.run_due().await {
            tracing::warn!(error = %err, "paging pass failed; retrying");
        }
        paging.metrics.paging_scheduler_runs.fetch_add(1, Relaxed);
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutting_down(&mut shutdown) => return,
        }
    }
}
