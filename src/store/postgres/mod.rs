//! PostgreSQL backend (preview): the same store traits and behaviour as SQLite, for CRMs
//! that run on several hosts and share one database.
//!
//! - `store`: a libpq-style URL, `postgres://user:pass@host:port/db?sslmode=disable&schema=crm1`.
//!   `schema` (default `public`) names the PostgreSQL schema the tables live in, so one
//!   database can host several installations; it is created on first open. `pool_size`
//!   (default 8) is how many idle connections each store keeps. TLS: `sslmode=require`
//!   (encrypted, certificate not checked), `verify-ca` (chain checked), `verify-full` (chain
//!   and host name), trusting `sslrootcert=/path/ca.pem` or the public web CAs (see `tls`).
//! - Coordination across hosts: lease expiry by the database's clock (`misc`), a presence
//!   connection per process that shows other hosts whether a lease holder is alive and wakes
//!   event consumers through LISTEN/NOTIFY (`presence`); pooled connections the server closed
//!   are replaced on the next call.
//! - Writes run in SERIALIZABLE transactions, retried on serialization failures, so every
//!   read-check-write a SQLite write transaction does is just as atomic here; the event claim
//!   is a READ COMMITTED `FOR UPDATE SKIP LOCKED` (consumers do not queue behind each other).
//! - Every call goes through [`crate::runtime::off_worker`] like SQLite's: the synchronous
//!   client never blocks an async worker.

mod activity;
mod blobs;
mod cache;
mod events;
mod links;
mod mailboxes;
pub mod migrations;
mod misc;
mod outbox;
mod presence;
mod text;
mod tls;
mod tokens;

use crate::error::{Error, Fault, Result};
use crate::store::events::Wake;
use postgres::{Client, IsolationLevel, NoTls, Transaction};
use presence::Presence;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Idle connections kept per store unless the URL says `pool_size=N`.
const DEFAULT_POOL: usize = 8;
/// How long opening a connection may take unless the URL says `connect_timeout=S`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a write transaction is tried again after a serialization failure or deadlock.
const MAX_TRIES: u32 = 100;
/// The kind of the error a serialization failure or deadlock becomes (retried by `write`).
const RETRY_KIND: &str = "store_serialization";
/// The kind of a unique violation. Inside a transaction that looked for the row first, it
/// means another writer inserted it meanwhile (PostgreSQL does not always report that as a
/// serialization failure): `write` tries again a few times, and the check then sees the row.
const DUPLICATE_KIND: &str = "store_duplicate";
/// How often a unique violation is tried again before it is reported.
const MAX_DUPLICATE_TRIES: u32 = 3;

/// The kind of the error a lost connection becomes.
const UNREACHABLE_KIND: &str = "store_unreachable";

/// How to open a connection to the server (shared by the pool and the presence thread).
#[derive(Clone)]
pub struct Connector {
    config: postgres::Config,
    /// The URL with any password masked, for messages.
    shown: String,
    /// The URL the driver reads (names the server in this process's presence registry).
    target: String,
    /// TLS, when `sslmode` asks for it.
    tls: Option<tls::Rustls>,
}

impl Connector {
    fn connect(&self) -> Result<Client> {
        let connected = match &self.tls {
            None => self.config.connect(NoTls),
            Some(t) => self.config.connect(t.clone()),
        };
        connected.map_err(|e| {
            let base: Error = e.into();
            let text = base.message().to_owned();
            let tls_failed = self.tls.is_some()
                && ["certificate", "TLS", "tls", "SSL", "handshake"]
                    .iter()
                    .any(|w| text.contains(w));
            Error::Store(Fault::new(
                UNREACHABLE_KIND,
                format!("cannot connect to the store '{}': {text}", self.shown),
            ))
            .with_detail("field", "store")
            .with_hint(if tls_failed {
                "the TLS connection failed: check that the server has ssl=on, that sslrootcert \
                 names the CA that signed the server's certificate, and (verify-full) that the \
                 certificate names the URL's host"
            } else {
                "check that the PostgreSQL server named by 'store' is running and reachable"
            })
        })
    }

    fn target(&self) -> &str {
        &self.target
    }
}

pub struct PgStore {
    connector: Connector,
    schema: String,
    pool_size: usize,
    idle: Mutex<Vec<Client>>,
    /// The host id this store's process is known by (`HOST|PID`, see [`presence`]).
    host: String,
    /// This process's presence (lock and event wake-ups), shared with its other stores.
    presence: Arc<Presence>,
    /// Wake-ups registered through this store (kept alive as long as the store).
    watchers: Mutex<Vec<Wake>>,
    /// Test hook: how far this "host's" wall clock is off (see [`PgStore::debug_skew_wall_clock`]).
    wall_skew_ms: AtomicI64,
    /// How far the database's clock is ahead of this host's (see `misc`), and when that was
    /// last measured.
    lead_ms: AtomicI64,
    lead_checked: Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.connector.shown)
            .field("schema", &self.schema)
            .finish()
    }
}

/// The driver's message with its cause (its Display alone says only "db error").
fn describe(e: &postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(s) => format!("{e}: {s}"),
        None => e.to_string(),
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        use postgres::error::SqlState;
        let text = describe(&e);
        match e.code() {
            Some(c)
                if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                Error::Store(Fault::new(RETRY_KIND, format!("store conflict: {text}")))
                    .with_hint("concurrent writers kept colliding; retry")
            }
            Some(c) if *c == SqlState::UNIQUE_VIOLATION => {
                Error::Store(Fault::new(DUPLICATE_KIND, format!("store error: {text}")))
            }
            _ if e.is_closed()
                || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
                || e.code().is_some_and(|c| {
                    *c == SqlState::ADMIN_SHUTDOWN
                        || *c == SqlState::CRASH_SHUTDOWN
                        || *c == SqlState::CANNOT_CONNECT_NOW
                }) =>
            {
                Error::Store(Fault::new(UNREACHABLE_KIND, format!("store error: {text}")))
                    .with_hint(
                    "check that the PostgreSQL server named by 'store' is running and reachable",
                )
            }
            _ => Error::store(format!("store error: {text}")),
        }
    }
}

/// The parts of a `postgres://` store URL: what the driver reads, and ours.
struct Url {
    driver: String,
    schema: String,
    pool_size: usize,
    shown: String,
    /// TLS (`sslmode=require|verify-ca|verify-full`), and the CA file (`sslrootcert`).
    tls: Option<(tls::Verify, Option<String>)>,
}

fn config_error(message: impl Into<String>) -> Error {
    Error::store(message)
        .with_detail("field", "store")
        .with_hint(
            "use postgres://user:password@host:port/database?sslmode=verify-full&sslrootcert=/path/ca.pem&schema=NAME \
             (sslmode disable, require, verify-ca or verify-full)",
        )
}

/// Splits our own query parameters (`schema`, `pool_size`) and the TLS ones (`sslmode`,
/// `sslrootcert`: the driver knows neither `verify-*` nor CA files) off the URL: the
/// driver refuses parameters it does not know.
fn parse_url(url: &str) -> Result<Url> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let shown = mask_password(base);
    let mut schema = "public".to_owned();
    let mut pool_size = DEFAULT_POOL;
    let mut verify = None;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "schema" => schema = v.to_owned(),
            "pool_size" => {
                pool_size = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        config_error(format!("store URL: pool_size must be 1 to 1000, not '{v}'"))
                    })?
            }
            "sslmode" => match v {
                // Unencrypted: `allow` and `prefer` first try without TLS (libpq: allow), or
                // find that the server offers none; the driver handles both as no TLS.
                "disable" | "allow" | "prefer" => verify = None,
                "require" => verify = Some(tls::Verify::Nothing),
                "verify-ca" => verify = Some(tls::Verify::Chain),
                "verify-full" => verify = Some(tls::Verify::Full),
                _ => {
                    return Err(config_error(format!(
                        "store URL: sslmode={v} is not a TLS mode \
                         (disable, allow, prefer, require, verify-ca, verify-full)"
                    )))
                }
            },
            "sslrootcert" if !v.is_empty() => root_cert = Some(percent_decode(v)),
            "sslcert" | "sslkey" | "sslcrl" | "sslpassword" => {
                return Err(config_error(format!(
                    "store URL: {k} is not supported by the PostgreSQL store \
                     (no client certificates; the server's certificate is checked with sslrootcert)"
                )))
            }
            _ => kept.push(pair),
        }
    }
    let valid = !schema.is_empty()
        && schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(config_error(format!(
            "store URL: schema '{schema}' must be 1 to 63 of a-z, 0-9 and _, starting with a letter or _"
        )));
    }
    if root_cert.is_some() && verify.is_none() {
        return Err(config_error(
            "store URL: sslrootcert needs sslmode=verify-ca or verify-full (the CA checks the \
             server's certificate)",
        ));
    }
    let driver = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(Url {
        driver,
        schema,
        pool_size,
        shown,
        tls: verify.map(|v| (v, root_cert)),
    })
}

/// `%XX` escapes of a URL parameter's value (a CA file path may hold them).
fn percent_decode(v: &str) -> String {
    url::form_urlencoded::parse(format!("x={v}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| v.to_owned())
}

fn mask_password(base: &str) -> String {
    let Some((scheme, rest)) = base.split_once("://") else {
        return base.to_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or("");
            format!("{scheme}://{name}:***@{host}")
        }
        _ => base.to_owned(),
    }
}

impl PgStore {
    /// Connects, creates the schema if needed and brings it up to date; this process is
    /// known by the machine's tag (see [`PgStore::open_as`]).
    pub fn open(url: &str) -> Result<PgStore> {
        PgStore::open_as(url, crate::config::machine_tag())
    }

    /// Like [`open`](Self::open), for the host named `host` (the config's `host_id`): the
    /// process holds its presence lock (`host|pid`) until its last store is dropped or it
    /// dies.
    pub fn open_as(url: &str, host: &str) -> Result<PgStore> {
        let parsed = parse_url(url)?;
        // The driver knows `postgresql://` and `postgres://` in lower case only.
        let driver = match parsed.driver.split_once("://") {
            Some((_, rest)) => format!("postgresql://{rest}"),
            None => parsed.driver.clone(),
        };
        let mut config = postgres::Config::from_str(&driver)
            .map_err(|e| config_error(format!("store URL '{}': {e}", parsed.shown)))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("o365");
        }
        config.options(&format!("-c search_path={}", parsed.schema));
        let tls = match &parsed.tls {
            None => None,
            Some((verify, root_cert)) => {
                config.ssl_mode(postgres::config::SslMode::Require);
                Some(tls::Rustls::new(*verify, root_cert.as_deref())?)
            }
        };
        let connector = Connector {
            config,
            shown: parsed.shown,
            target: driver,
            tls,
        };
        let process_key = format!("{host}|{}", std::process::id());
        run(|| {
            let mut c = connector.connect()?;
            migrate(&mut c, &parsed.schema)?;
            let presence = Presence::join(&connector, &parsed.schema, &process_key)?;
            Ok(PgStore {
                connector: connector.clone(),
                schema: parsed.schema.clone(),
                pool_size: parsed.pool_size,
                idle: Mutex::new(vec![c]),
                host: host.to_owned(),
                presence,
                watchers: Mutex::new(Vec::new()),
                wall_skew_ms: AtomicI64::new(0),
                lead_ms: AtomicI64::new(0),
                lead_checked: Mutex::new(None),
            })
        })
    }

    /// Test hook: makes this store behave as if its host's wall clock were `ms` off, as a
    /// host with a skewed clock whose callers pass a `now` read from that clock.
    #[doc(hidden)]
    pub fn debug_skew_wall_clock(&self, ms: i64) {
        self.wall_skew_ms.store(ms, Ordering::SeqCst);
        *self.lead_checked.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The host's wall clock (milliseconds since the epoch), with the test hook's skew.
    fn wall_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.wall_skew_ms.load(Ordering::SeqCst)
    }

    /// The host id this store's process is known by.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The schema the tables live in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// A pooled connection (`true`: it may have been closed by the server meanwhile) or a
    /// new one.
    fn take(&self) -> Result<(Client, bool)> {
        loop {
            let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match pooled {
                Some(c) if c.is_closed() => continue,
                Some(c) => return Ok((c, true)),
                None => return Ok((self.connector.connect()?, false)),
            }
        }
    }

    /// After a pooled connection turned out closed (the server restarted, or terminated
    /// it): the other idle ones likely are too; they are dropped and opened anew on demand.
    fn forget_idle(&self) {
        let stale = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        close_apart(stale);
    }

    fn give_back(&self, c: Client) {
        if c.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.pool_size {
            idle.push(c);
        }
    }

    /// Runs `f` on a pooled connection, off the async worker threads. For reads only: when
    /// the pooled connection turns out closed by the server (restart, `pg_terminate_backend`)
    /// the pool is dropped and `f` runs again on a new connection; writes go through
    /// [`write`](Self::write), which never repeats a commit that may have happened.
    pub fn read<T>(&self, mut f: impl FnMut(&mut Client) -> Result<T>) -> Result<T> {
        run(|| loop {
            let (mut c, pooled) = self.take()?;
            let out = f(&mut c);
            if pooled && c.is_closed() && out.as_ref().is_err_and(|e| e.kind() == UNREACHABLE_KIND)
            {
                tracing::info!("a pooled PostgreSQL connection was closed; reconnecting");
                self.forget_idle();
                continue;
            }
            self.give_back(c);
            return out;
        })
    }

    /// Runs `f` in a SERIALIZABLE transaction and commits; a serialization failure or
    /// deadlock (another writer touched the same rows) runs `f` again on fresh data.
    pub fn write<T>(&self, f: impl FnMut(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        self.transact(IsolationLevel::Serializable, f)
    }

    /// Like [`write`](Self::write), READ COMMITTED: for statements that lock their rows
    /// themselves (`FOR UPDATE SKIP LOCKED`).
    pub fn write_committed<T>(
        &self,
        f: impl FnMut(&mut Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.transact(IsolationLevel::ReadCommitted, f)
    }

    fn transact<T>(
        &self,
        level: IsolationLevel,
        mut f: impl FnMut(&mut Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        run(|| {
            let (mut c, mut pooled) = self.take()?;
            let (mut tries, mut duplicates) = (0, 0);
            let out = loop {
                tries += 1;
                let mut committing = false;
                let attempt = (|| -> Result<T> {
                    let mut tx = c.build_transaction().isolation_level(level).start()?;
                    let out = f(&mut tx)?;
                    committing = true;
                    tx.commit()?;
                    Ok(out)
                })();
                match attempt {
                    // A pooled connection the server closed while it was idle: nothing was
                    // committed (the commit was not sent), so run it again on a new one.
                    Err(e)
                        if pooled
                            && !committing
                            && c.is_closed()
                            && e.kind() == UNREACHABLE_KIND =>
                    {
                        tracing::info!("a pooled PostgreSQL connection was closed; reconnecting");
                        self.forget_idle();
                        c = self.connector.connect()?;
                        pooled = false;
                    }
                    Err(e)
                        if e.kind() == DUPLICATE_KIND
                            && duplicates < MAX_DUPLICATE_TRIES
                            && !c.is_closed() =>
                    {
                        duplicates += 1;
                    }
                    Err(e) if e.kind() == RETRY_KIND && tries < MAX_TRIES && !c.is_closed() => {
                        // A little jitter so colliding writers do not collide again.
                        let ms = rand::random::<u64>() % (1 + u64::from(tries.min(20)));
                        std::thread::sleep(Duration::from_millis(ms));
                    }
                    other => break other,
                }
            };
            self.give_back(c);
            out
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        close_apart(std::mem::take(
            &mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()),
        ));
    }
}

/// Closing a client blocks on its own small runtime, which Tokio forbids inside a runtime:
/// close them on a thread of their own.
fn close_apart(clients: Vec<Client>) {
    if !clients.is_empty() {
        let _ = std::thread::Builder::new()
            .name("o365-pg-close".into())
            .spawn(move || drop(clients));
    }
}

/// Runs a database call through [`crate::runtime::off_worker`]. The synchronous client
/// blocks on a small runtime of its own, which Tokio forbids on a current-thread runtime's
/// thread (a multi-thread worker leaves its runtime in `block_in_place` first): such a
/// caller gets an error instead of a panic.
fn run<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() != RuntimeFlavor::MultiThread => {
            Err(Error::WrongThread(Fault::new(
                "wrong_thread",
                "the PostgreSQL store cannot be called on a current-thread Tokio runtime",
            ))
            .with_hint("call it from a multi-thread runtime, or outside any runtime"))
        }
        _ => crate::runtime::off_worker(f),
    }
}

/// Creates the schema if needed and applies the missing migrations, in one transaction
/// under an advisory lock (one per schema), so hosts starting together migrate once.
fn migrate(c: &mut Client, schema: &str) -> Result<()> {
    let mut tx = c.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('o365.migrate.' || $1::text))",
        &[&schema],
    )?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; \
         CREATE TABLE IF NOT EXISTS {schema}.o365_schema (version BIGINT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());"
    ))?;
    let current: i64 = tx
        .query_one(
            &format!("SELECT COALESCE(MAX(version), 0) FROM {schema}.o365_schema"),
            &[],
        )?
        .get(0);
    let newest = migrations::newest();
    if current > newest {
        return Err(Error::store(format!(
            "the store was written by a newer library (schema {current}, this library knows {newest})"
        ))
        .with_hint("upgrade the library, or point it at another store"));
    }
    for (version, sql) in migrations::MIGRATIONS {
        if *version > current {
            tx.batch_execute(&format!("SET LOCAL search_path TO {schema}; {sql}"))
                .map_err(|e| {
                    Error::store(format!("migration {version} failed: {}", describe(&e)))
                })?;
            tx.execute(
                &format!("INSERT INTO {schema}.o365_schema (version) VALUES ($1)"),
                &[version],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The version the schema is at.
fn schema_version(c: &mut Client) -> Result<i64> {
    Ok(
        c.query_one("SELECT COALESCE(MAX(version), 0) FROM o365_schema", &[])?
            .get(0),
    )
}

/// Unicode lower case of an address: the key addresses are unique and looked up by (the
/// same folding as SQLite's `o365_lower`, independent of the database's locale).
pub(crate) fn address_key(address: &str) -> String {
    address.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_options_are_split_off_and_checked() {
        let u = parse_url("postgres://u:secret@h:5432/db?sslmode=disable&schema=crm_1&pool_size=3")
            .unwrap();
        assert_eq!(u.driver, "postgres://u:secret@h:5432/db");
        assert_eq!((u.schema.as_str(), u.pool_size), ("crm_1", 3));
        assert_eq!(u.shown, "postgres://u:***@h:5432/db");
        assert_eq!(parse_url("postgres://h/db").unwrap().schema, "public");
        let t = parse_url("postgres://u:pw@h/db?sslmode=verify-full&sslrootcert=/etc/ca%20x.pem")
            .unwrap();
        assert_eq!(t.driver, "postgres://u:pw@h/db");
        assert_eq!(
            t.tls,
            Some((tls::Verify::Full, Some("/etc/ca x.pem".to_owned())))
        );
        assert_eq!(
            parse_url("postgres://h/db?sslmode=require").unwrap().tls,
            Some((tls::Verify::Nothing, None))
        );
        assert_eq!(
            parse_url("postgres://h/db?sslmode=verify-ca").unwrap().tls,
            Some((tls::Verify::Chain, None))
        );
        assert_eq!(
            parse_url("postgres://h/db?sslmode=disable").unwrap().tls,
            None
        );
        for bad in [
            "postgres://h/db?sslmode=verify",
            "postgres://h/db?sslrootcert=/ca.pem",
            "postgres://h/db?sslmode=require&sslcert=/c.pem",
            "postgres://h/db?schema=Crm",
            "postgres://h/db?schema=a;drop",
            "postgres://h/db?schema=",
            "postgres://h/db?pool_size=0",
        ] {
            let Err(e) = parse_url(bad) else {
                panic!("{bad} was accepted")
            };
            assert_eq!(e.status(), crate::error::status::STORE, "{bad}");
            assert!(e.hint().unwrap().contains("sslmode"), "{bad}");
        }
    }

    #[test]
    fn the_key_must_come_from_the_config() {
        if std::env::var_os("O365_ENCRYPTION_KEY").is_some() {
            return;
        }
        let e = crate::config::Config::from_json(r#"{"store": "postgres://u@h/db"}"#).unwrap_err();
        assert_eq!(e.status(), crate::error::status::INVALID_ARGUMENT);
        assert_eq!(e.fault().details["field"], "encryption_key", "{e}");
    }

    #[test]
    fn unreachable_server_is_a_store_error_with_a_hint() {
        // Port 1 on loopback: nothing listens there.
        let e = PgStore::open("postgres://u@127.0.0.1:1/db?connect_timeout=5").unwrap_err();
        assert_eq!(e.status(), crate::error::status::STORE);
        assert!(e.message().contains("cannot connect"), "{e}");
        assert!(e.hint().unwrap().contains("running"), "{e}");
    }

    /// The test server (`scripts/pg_cluster.sh`, `make test`): see tests/store_conformance.rs.
    fn server() -> Option<String> {
        match std::env::var("O365_TEST_PG_URL") {
            Ok(u) => Some(u),
            Err(_) if std::env::var("O365_TEST_PG_SKIP").as_deref() == Ok("1") => None,
            Err(_) => panic!(
                "O365_TEST_PG_URL is not set: run `scripts/pg_cluster.sh start /tmp/o365-pg` and \
                 export the URL it prints (`make test` does both), or set O365_TEST_PG_SKIP=1"
            ),
        }
    }

    fn with_schema(url: &str, schema: &str) -> String {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}schema={schema}")
    }

    fn drop_schema(url: &str, schema: &str) {
        let mut c =
            postgres::Client::connect(&url.replacen("postgres://", "postgresql://", 1), NoTls)
                .unwrap();
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .unwrap();
    }

    #[test]
    fn hosts_opening_together_migrate_once_and_schemas_stay_apart() {
        use crate::store::{LeaseStore, MailboxRecord, MailboxStore};
        let Some(url) = server() else { return };
        let tag = rand::random::<u32>();
        let (a, b) = (format!("unit_a_{tag:08x}"), format!("unit_b_{tag:08x}"));
        // Eight "hosts" open one new schema at once: one migrates, all see the newest version.
        let stores: Vec<PgStore> = std::thread::scope(|s| {
            let opening: Vec<_> = (0..8)
                .map(|_| s.spawn(|| PgStore::open(&with_schema(&url, &a))))
                .collect();
            opening
                .into_iter()
                .map(|h| h.join().unwrap().unwrap())
                .collect()
        });
        for s in &stores {
            assert_eq!(
                s.schema_version().unwrap(),
                (migrations::newest(), migrations::newest())
            );
        }
        let applied: i64 = stores[0]
            .read(|c| Ok(c.query_one("SELECT count(*) FROM o365_schema", &[])?.get(0)))
            .unwrap();
        assert_eq!(
            applied,
            migrations::MIGRATIONS.len() as i64,
            "each migration applied once"
        );
        // Another schema in the same database is another installation.
        let other = PgStore::open(&with_schema(&url, &b)).unwrap();
        stores[0]
            .insert_mailbox(&MailboxRecord {
                id: "m1".into(),
                address: "a@x.example".into(),
                kind: "user".into(),
                alias_of: None,
                users: vec!["u1".into()],
                main_user: "u1".into(),
                auth_state: "not_authenticated".into(),
                settings: serde_json::json!({}),
                account: None,
                created_at: 1,
                updated_at: 1,
            })
            .unwrap();
        assert!(stores[7].find_mailbox("A@X.example").unwrap().is_some());
        assert!(other.find_mailbox("a@x.example").unwrap().is_none());
        drop(stores);
        drop(other);
        drop_schema(&url, &a);
        drop_schema(&url, &b);
    }

    #[test]
    fn calls_from_async_workers_leave_the_runtime_first() {
        use crate::store::{MailboxStore, TokenStore};
        use std::sync::Arc;
        let Some(url) = server() else { return };
        let schema = format!("unit_rt_{:08x}", rand::random::<u32>());
        let store = Arc::new(PgStore::open(&with_schema(&url, &schema)).unwrap());
        // On a multi-thread runtime's workers, many at once: block_in_place, then the
        // client's own block_on.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let found = rt.block_on(async {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let s = store.clone();
                    tokio::spawn(async move { s.list_mailboxes(None).map(|m| m.len()) })
                })
                .collect();
            let mut n = 0;
            for t in tasks {
                n += t.await.unwrap().unwrap();
            }
            n
        });
        assert_eq!(found, 0);
        drop(rt);
        // On a current-thread runtime the synchronous client cannot run: an error, no panic.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let e = rt.block_on(async { store.get_token("m1") }).unwrap_err();
        assert_eq!(e.status(), crate::error::status::WRONG_THREAD, "{e}");
        drop(store);
        drop_schema(&url, &schema);
    }
}
