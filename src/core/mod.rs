//! The core beneath the domain modules: one context that `auth`, `sync`, `send`, `links` and
//! `activity` take by reference. It holds what every part shares (config, store, vault,
//! clock, Graph client, token cache, event wake-ups, log sinks, supervised jobs) and knows
//! nothing of the capabilities built on it: [`crate::service`] composes those, and
//! [`crate::ffi`] is the C shell over the service.

pub mod events;
pub mod lease;
pub mod pages;
pub mod spool;
pub mod supervisor;
pub mod throttle;
pub mod tokens;
pub mod vault;

use crate::clock::Clock;
use crate::config::{AppConfig, Config};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::store::{AuditEntry, MailboxRecord, Store};
use crate::telemetry::Telemetry;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use tokens::TokenCache;
use tokio::sync::Notify;
use vault::{KeySource, Vault};

/// A handle on the shared state of one client. Cheap to clone; thread-safe.
#[derive(Clone)]
pub struct Core {
    inner: Arc<Shared>,
}

/// A handle for background jobs: it does not keep the client alive.
pub type WeakCore = Weak<Shared>;

pub struct Shared {
    config: Config,
    store: Arc<dyn Store>,
    vault: Vault,
    clock: Clock,
    /// Unique per client instance: owner name for event reservations and leases.
    instance: String,
    /// This host's name in lease owners (`host_id`).
    host_id: String,
    /// Wakes `next_event` waiters in this process when an event is published.
    events_changed: Arc<Notify>,
    warnings: Vec<String>,
    tokens: TokenCache,
    /// Built on first use (reads the CA file), shared by Graph and sign-in.
    graph: OnceLock<Arc<Graph>>,
    /// Supervised background jobs: panics counted, test-hook arming.
    jobs: supervisor::Jobs,
    /// Delta pages of every sync of this client on their way into the store.
    pages: pages::PageWriter,
    /// This client's log sinks and metrics.
    telemetry: Arc<Telemetry>,
    /// The root span of this client: records inside it go to its sinks.
    span: tracing::Span,
}

/// Clients whose state is still alive in this process (freed handles whose background jobs
/// have let go are not counted; shown by `o365_debug_counters`).
pub static LIVE_CLIENTS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

impl Drop for Shared {
    fn drop(&mut self) {
        LIVE_CLIENTS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        // Hand reserved, unacked events to the next taker right away.
        let _ = self.store.release_events(&self.instance);
    }
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("store", &self.inner.config.store_display())
            .field("instance", &self.inner.instance)
            .finish()
    }
}

impl Core {
    /// Opens the store named by the config (creating and migrating it as needed), loads the
    /// encryption key and opens the log sinks.
    pub fn open(config: Config) -> Result<Core> {
        let instance = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let telemetry = Telemetry::open(&instance, &config.log)?;
        let span = telemetry.root_span();
        let _entered = span.clone().entered();
        let store = crate::store::open(&config)?;
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
        let host_id = config.host_id();
        LIVE_CLIENTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // Events published by other processes (PostgreSQL: on any host) wake this client's
        // waiters too. The store keeps the wake-up only while the client lives.
        let events_changed = Arc::new(Notify::new());
        let wake = Arc::downgrade(&events_changed);
        store.watch(Arc::new(move || {
            if let Some(n) = wake.upgrade() {
                n.notify_waiters();
            }
        }));
        Ok(Core {
            inner: Arc::new(Shared {
                config,
                store,
                vault,
                clock,
                instance,
                host_id,
                events_changed,
                warnings,
                tokens: TokenCache::default(),
                graph: OnceLock::new(),
                jobs: supervisor::Jobs::default(),
                pages: Default::default(),
                telemetry,
                span,
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn store(&self) -> &dyn Store {
        &*self.inner.store
    }

    /// The queue that stores fetched delta pages (see [`pages`]).
    pub(crate) fn page_writer(&self) -> &pages::PageWriter {
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

    pub(crate) fn events_changed(&self) -> &Notify {
        &self.inner.events_changed
    }

    /// A weak handle for background jobs: they end when the host frees the client.
    pub fn downgrade(&self) -> WeakCore {
        Arc::downgrade(&self.inner)
    }

    pub fn upgrade(w: &WeakCore) -> Option<Core> {
        w.upgrade().map(|inner| Core { inner })
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

    /// The owner name of this client instance (leases, event reservations).
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// This host's name in lease owners (`host_id`, or the machine's tag).
    pub fn host_id(&self) -> &str {
        &self.inner.host_id
    }

    /// Longest time a blocking call may take.
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.inner.config.timeouts.call_ms)
    }

    pub fn worker_threads(&self) -> usize {
        self.inner.config.runtime.worker_threads
    }

    /// Runs store work on the blocking pool, off the async worker threads (a task that makes
    /// many store calls in a row; single calls go through the store's own bridge).
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Core) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (c, span) = (self.clone(), tracing::Span::current());
        tokio::task::spawn_blocking(move || span.in_scope(|| f(&c)))
            .await
            .map_err(|e| Error::internal(format!("store task failed: {e}")))?
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

impl crate::telemetry::log::Observed for Core {
    fn telemetry(&self) -> &Arc<Telemetry> {
        &self.inner.telemetry
    }
}
