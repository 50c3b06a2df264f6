//! The core, usable from Rust alone: one [`Client`] with one async method per capability.
//! Each method checks the acting user's access, then composes the parts below it.
//! The FFI layer is a thin shell around this.

mod auth;
pub mod contract;
mod events;
mod link_page;
mod links;
mod mail_view;
mod mailboxes;
mod maintenance;
mod observe;
mod send;
mod setup;
pub(crate) mod supervisor;
mod sync;
mod warm;

pub use auth::{AuditLog, Authenticate, SignOut};
pub use events::{Event, NextEventFilter, EVENT_TYPES};
pub use link_page::{LinkPage, PageAnswer, StreamAnswer};
pub use links::{LinkAccept, LinkDownload, LinkOpen, LinksPurge};
pub use mailboxes::{GetMailbox, ImportMailbox, ListMailboxes, RemoveMailbox, UpdateMailbox};
pub use maintenance::Maintenance;
pub use observe::{MetricsResult, TakeLogs, TakenLogs};
pub use send::{OutboxProcess, SendMail, SendStatus};
pub use setup::CheckSetup;
pub use sync::{
    CacheClear, DeleteMessage, GetAttachment, GetMessage, ListFolders, ListMessages, MarkRead,
    MoveFolderContents, MoveMessage, SyncMailbox,
};

use crate::auth::tokens::TokenCache;
use crate::auth::vault::{KeySource, Vault};
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::graph::{Graph, MailboxGraph};
use crate::store::{AuditEntry, MailboxRecord, SqliteStore, Store};
use crate::telemetry::Telemetry;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::Notify;

/// Throttling windows kept in the store's lease table (`throttle:<mailbox id>`, expiry =
/// end of the window), so that a second process learns them and sends nothing until then.
struct StoreThrottleBook {
    client: Client,
}

const THROTTLE_OWNER: &str = "graph-throttle";

impl crate::graph::ThrottleBook for StoreThrottleBook {
    fn now_ms(&self) -> i64 {
        self.client.now_ms()
    }

    fn window_until(&self, mailbox_key: &str) -> Option<i64> {
        let name = format!("throttle:{mailbox_key}");
        match self.client.store().lease_holder(&name) {
            Ok(h) => h.map(|(_, until)| until),
            Err(e) => {
                tracing::warn!("cannot read the throttling window: {e}");
                None
            }
        }
    }

    fn record_window(&self, mailbox_key: &str, until_ms: i64) {
        if self.window_until(mailbox_key).unwrap_or(0) >= until_ms {
            return;
        }
        let now = self.now_ms();
        let name = format!("throttle:{mailbox_key}");
        if let Err(e) = self
            .client
            .store()
            .try_lease(&name, THROTTLE_OWNER, now, until_ms - now)
        {
            tracing::warn!("cannot record the throttling window: {e}");
        }
    }
}

/// A handle on one store with one configuration. Cheap to clone; thread-safe.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub vault: Vault,
    pub clock: Clock,
    /// Unique per client instance: owner name for event reservations and leases.
    pub instance: String,
    /// Wakes `next_event` waiters in this process when an event is published.
    pub events_changed: Notify,
    pub warnings: Vec<String>,
    pub tokens: TokenCache,
    /// Built on first use (reads the CA file), shared by Graph and sign-in.
    pub graph: OnceLock<Arc<Graph>>,
    /// Supervised background jobs: panics counted, test-hook arming.
    pub jobs: supervisor::Jobs,
    /// Delta pages of every sync of this client on their way into the store.
    pub pages: crate::sync::writer::PageWriter,
    /// Serialized warm answers (see [`warm`]).
    pub warm: warm::WarmCache,
    /// This client's log sinks and metrics.
    pub telemetry: Arc<Telemetry>,
    /// The root span of this client: records inside it go to its sinks.
    pub span: tracing::Span,
}

/// Clients whose state is still alive in this process (freed handles whose background jobs
/// have let go are not counted; shown by `o365_debug_counters`).
pub static LIVE_CLIENTS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

impl Drop for Inner {
    fn drop(&mut self) {
        LIVE_CLIENTS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        // Hand reserved, unacked events to the next taker right away.
        let _ = self.store.release_events(&self.instance);
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("store", &self.inner.config.store)
            .field("instance", &self.inner.instance)
            .finish()
    }
}

impl Client {
    /// Opens the store (creating and migrating it as needed) and loads the encryption key.
    pub fn new(config: Config) -> Result<Client> {
        let instance = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let telemetry = Telemetry::open(&instance, &config.log)?;
        let span = telemetry.root_span();
        let _entered = span.clone().entered();
        let store = SqliteStore::open(&config.store_path())?;
        let vault = Vault::load(&config)?;
        let mut warnings = Vec::new();
        if vault.source == KeySource::NewKeyFile || vault.source == KeySource::KeyFile {
            let w = format!(
                "no encryption key configured: tokens are encrypted with the key file '{}' \
                 beside the store; set encryption_key or O365_ENCRYPTION_KEY and keep the key apart from the store",
                crate::config::key_file_for(&config.store_path()).display()
            );
            tracing::warn!("{w}");
            warnings.push(w);
        }
        let clock = Clock::with_offset(config.debug.clock_offset_ms);
        LIVE_CLIENTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let client = Client {
            inner: Arc::new(Inner {
                config,
                store: Arc::new(store),
                vault,
                clock,
                instance,
                events_changed: Notify::new(),
                warnings,
                tokens: TokenCache::default(),
                graph: OnceLock::new(),
                jobs: supervisor::Jobs::default(),
                pages: Default::default(),
                warm: Default::default(),
                telemetry,
                span,
            }),
        };
        sync::start_scheduler(&client);
        Ok(client)
    }

    /// Parses the config JSON and opens the client.
    pub fn from_json(config_json: &str) -> Result<Client> {
        Client::new(Config::from_json(config_json)?)
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn store(&self) -> &dyn Store {
        &*self.inner.store
    }

    /// The queue that stores fetched delta pages (see [`crate::sync::writer`]).
    pub(crate) fn page_writer(&self) -> &crate::sync::writer::PageWriter {
        &self.inner.pages
    }

    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    pub(crate) fn jobs(&self) -> &supervisor::Jobs {
        &self.inner.jobs
    }

    /// This client's log sinks and metrics.
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.inner.telemetry
    }

    /// The client's root span: enter it (or `.instrument` a future with it) so that records
    /// reach this client's log sinks.
    pub fn span(&self) -> &tracing::Span {
        &self.inner.span
    }

    pub(crate) fn token_cache(&self) -> &TokenCache {
        &self.inner.tokens
    }

    /// A weak handle for background tasks: they end when the host frees the client.
    pub(crate) fn downgrade(&self) -> Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    pub(crate) fn upgrade(w: &Weak<Inner>) -> Option<Client> {
        w.upgrade().map(|inner| Client { inner })
    }

    /// The Graph client core (one connection pool per client).
    pub fn graph(&self) -> Result<Arc<Graph>> {
        if let Some(g) = self.inner.graph.get() {
            return Ok(g.clone());
        }
        let http = crate::graph::http_client(self.config())?;
        let g = Arc::new(Graph::new(self.config(), http).observed_by(self.telemetry().clone()));
        Ok(self.inner.graph.get_or_init(|| g).clone())
    }

    /// The HTTP client (sign-in uses the same pool as Graph).
    pub fn http(&self) -> Result<&reqwest::Client> {
        self.graph()?;
        Ok(self.inner.graph.get().expect("built above").http())
    }

    /// The Entra ID sign-in endpoints, over the shared HTTP client.
    pub fn entra(&self) -> Result<crate::auth::entra::Entra<'_>> {
        Ok(crate::auth::entra::Entra {
            http: self.http()?,
            login: &self.config().endpoints.login,
            proxy: self.config().proxy.as_ref().and_then(|p| p.display_url()),
        })
    }

    /// The app registration, with a client id.
    pub fn app_registration(&self) -> Result<&AppConfig> {
        let app = &self.config().app;
        match &app.client_id {
            Some(id) if !id.trim().is_empty() => Ok(app),
            _ => Err(Error::invalid_field(
                "app.client_id",
                "the client config has no app.client_id: register an app in Microsoft Entra ID and configure its application (client) id",
            )),
        }
    }

    /// Graph access for a mailbox, as its signed-in account.
    pub fn mailbox_graph(&self, m: &MailboxRecord) -> Result<MailboxGraph> {
        let graph = self.graph()?;
        let limiter = graph.limiter(&m.id);
        let root = if m.kind == "shared" {
            format!("/{}", crate::graph::user_path(&m.address))
        } else {
            "/me".to_owned()
        };
        // An alias without a sign-in of its own uses its signed-in owner's tokens.
        let tokens = Arc::new(crate::auth::tokens::MailboxTokens {
            client: self.clone(),
            mailbox_id: self.token_record(m)?.id,
        });
        let book = Arc::new(StoreThrottleBook {
            client: self.clone(),
        });
        Ok(MailboxGraph::new(
            graph,
            limiter,
            root,
            tokens,
            m.id.clone(),
            book,
        ))
    }

    /// The end of the mailbox's throttling window, when Microsoft throttled it for longer
    /// than a call waits (learned by any process on the store).
    pub(crate) fn throttled_until(&self, m: &MailboxRecord) -> Result<Option<i64>> {
        Ok(self.mailbox_graph(m)?.throttled_until())
    }

    /// The owner name of this client instance (leases, event reservations).
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// Longest time a blocking call may take.
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.inner.config.timeouts.call_ms)
    }

    pub fn worker_threads(&self) -> usize {
        self.inner.config.runtime.worker_threads
    }

    /// The mailbox named by id or address, if the acting `user` is assigned to it.
    /// Unknown → `not_found`; unassigned → `forbidden`, and the attempt is recorded.
    pub fn mailbox_for_user(&self, key: &str, user: &str, action: &str) -> Result<MailboxRecord> {
        crate::mailbox::check_user("user", user)?;
        let m = self.find_mailbox(key)?;
        if m.users.iter().any(|u| u == user) {
            return Ok(m);
        }
        self.audit(Some(&m.id), Some(user), action, "denied", None);
        Err(Error::forbidden(
            "user_not_assigned",
            format!(
                "CRM user '{user}' is not assigned to mailbox '{}'",
                m.address
            ),
        )
        .with_hint("an administrator can assign the user to the mailbox (o365_update_mailbox)")
        .with_detail("mailbox", m.id.as_str())
        .with_detail("user", user))
    }

    /// The mailbox named by id or address, or `not_found`.
    pub fn find_mailbox(&self, key: &str) -> Result<MailboxRecord> {
        if key.is_empty() {
            return Err(Error::invalid_field(
                "mailbox",
                "mailbox must name a mailbox id or address",
            ));
        }
        let lookup = if key.contains('@') {
            key.trim().to_lowercase()
        } else {
            key.to_owned()
        };
        self.store()
            .find_mailbox(&lookup)?
            .ok_or_else(|| Error::not_found("mailbox", key))
    }

    /// Appends to the audit log; failures to audit never fail the call itself.
    pub fn audit(
        &self,
        mailbox: Option<&str>,
        user: Option<&str>,
        action: &str,
        outcome: &str,
        detail: Option<String>,
    ) {
        let entry = AuditEntry {
            at: self.now_ms(),
            mailbox_id: mailbox.map(str::to_owned),
            user: user.map(str::to_owned),
            action: action.to_owned(),
            outcome: outcome.to_owned(),
            detail,
        };
        if let Err(e) = self.store().record_audit(&entry) {
            tracing::warn!("audit entry not written: {e}");
        }
    }
}
