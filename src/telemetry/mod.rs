//! Per-client logs and metrics.
//!
//! Design: the library keeps using `tracing` macros everywhere. One library-owned subscriber
//! (a `Registry` with [`RouteLayer`]) is installed once per process; it never writes
//! anything itself. Each [`crate::Client`] owns a [`Telemetry`] (its level, its sinks, its
//! pull buffer, its metrics) and a root span `o365{client=<id>}`. Every C call, background
//! task and store task of that client runs inside that span, so each record carries the
//! client id; the layer looks the id up in a registry of live clients and hands the record,
//! as one JSON object, to that client's sinks only: a file, stderr, syslog, and/or an
//! in-memory buffer the host pulls (`o365_take_logs`, for PSR-3 loggers). Records outside
//! any client's span are dropped. Two clients in one process never share a log.
//!
//! Metrics live in [`Metrics`] beside the sinks; the Graph client reports each request
//! attempt through [`Telemetry::graph_attempt`] (one call site in its send path).

pub mod log;
pub mod metrics;

pub use metrics::{Metrics, ResultFormat};

use crate::config::LogConfig;
use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Once, RwLock, Weak};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Level numbers: 0 off, 1 error ... 5 trace.
fn level_rank(l: &Level) -> u8 {
    match *l {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

fn rank_of(name: &str) -> u8 {
    match name {
        "error" => 1,
        "warn" => 2,
        "info" => 3,
        "debug" => 4,
        "trace" => 5,
        _ => 0,
    }
}

/// The most verbose level any live client wants (0: nobody logs; the macros stay cheap).
static MAX_RANK: AtomicU8 = AtomicU8::new(0);
/// Live clients by id.
static ROUTES: RwLock<Option<HashMap<String, Weak<Telemetry>>>> = RwLock::new(None);

fn recompute_max() {
    let routes = ROUTES.read().unwrap_or_else(|p| p.into_inner());
    let max = routes
        .as_ref()
        .map(|m| {
            m.values()
                .filter_map(Weak::upgrade)
                .map(|t| t.rank)
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    MAX_RANK.store(max, Ordering::Relaxed);
}

/// One client's log sinks, pull buffer and metrics.
pub struct Telemetry {
    client_id: String,
    rank: u8,
    file: Option<Mutex<std::fs::File>>,
    stderr: bool,
    syslog: bool,
    buffer: Option<Mutex<VecDeque<Value>>>,
    buffer_cap: usize,
    /// Records the full buffer dropped: since the client opened / since the last take.
    dropped_total: AtomicU64,
    dropped: AtomicU64,
    pub metrics: Metrics,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("client", &self.client_id)
            .finish()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Ok(mut routes) = ROUTES.write() {
            if let Some(m) = routes.as_mut() {
                m.remove(&self.client_id);
            }
        }
        recompute_max();
    }
}

impl Telemetry {
    /// Opens the sinks of `cfg` for client `client_id` and registers them.
    pub fn open(client_id: &str, cfg: &LogConfig) -> Result<Arc<Telemetry>> {
        let file = match &cfg.file {
            Some(path) if cfg.level != "off" => {
                Some(Mutex::new(crate::files::append(path).map_err(|e| {
                    Error::invalid_field(
                        "log.file",
                        format!("cannot open log file '{}': {e}", path.display()),
                    )
                })?))
            }
            _ => None,
        };
        let buffer_cap = cfg.buffer;
        let t = Arc::new(Telemetry {
            client_id: client_id.to_owned(),
            rank: rank_of(&cfg.level),
            file,
            stderr: cfg.stderr,
            syslog: cfg.syslog,
            buffer: (buffer_cap > 0).then(|| Mutex::new(VecDeque::new())),
            buffer_cap,
            dropped_total: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            metrics: Metrics::default(),
        });
        if t.logs() {
            install();
            if t.syslog {
                open_syslog();
            }
            ROUTES
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(HashMap::new)
                .insert(client_id.to_owned(), Arc::downgrade(&t));
            recompute_max();
        }
        Ok(t)
    }

    /// A telemetry that logs nothing (for a Graph client built without one).
    pub fn detached() -> Arc<Telemetry> {
        Arc::new(Telemetry {
            client_id: String::new(),
            rank: 0,
            file: None,
            stderr: false,
            syslog: false,
            buffer: None,
            buffer_cap: 0,
            dropped_total: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            metrics: Metrics::default(),
        })
    }

    /// Whether any sink is on.
    pub fn logs(&self) -> bool {
        self.rank > 0
            && (self.file.is_some() || self.stderr || self.syslog || self.buffer.is_some())
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The root span of this client: every record inside it goes to this client's sinks.
    pub fn root_span(&self) -> tracing::Span {
        if self.logs() {
            tracing::error_span!("o365", client = %self.client_id)
        } else {
            tracing::Span::none()
        }
    }

    fn write(&self, level: &Level, record: Value) {
        let line = record.to_string();
        if let Some(f) = &self.file {
            let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
        if self.stderr {
            let _ = std::io::stderr()
                .lock()
                .write_all(format!("{line}\n").as_bytes());
        }
        if self.syslog {
            write_syslog(level, &line);
        }
        if let Some(b) = &self.buffer {
            let mut b = b.lock().unwrap_or_else(|p| p.into_inner());
            if b.len() >= self.buffer_cap {
                b.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.dropped_total.fetch_add(1, Ordering::Relaxed);
            }
            b.push_back(record);
        }
    }

    /// Removes and returns up to `max` of the oldest buffered records, and how many records
    /// the full buffer dropped since the last take.
    pub fn take(&self, max: usize) -> Result<(Vec<Value>, u64)> {
        let Some(b) = &self.buffer else {
            return Err(Error::conflict(
                "log_buffer_off",
                "this client keeps no log records to take",
            )
            .with_hint("set log.buffer (records kept, e.g. 1000) in the client config"));
        };
        let mut b = b.lock().unwrap_or_else(|p| p.into_inner());
        let n = max.min(b.len());
        let out: Vec<Value> = b.drain(..n).collect();
        Ok((out, self.dropped.swap(0, Ordering::Relaxed)))
    }

    /// Records the full pull buffer dropped since the client opened.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total.load(Ordering::Relaxed)
    }

    /// Reports one Graph request attempt (metrics always; a `debug` record per request, an
    /// `info` record for 429s and failures).
    pub fn graph_attempt(&self, a: &GraphAttempt<'_>) {
        let route = metrics::route_of(a.url, a.base);
        let status = a
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "network_error".into());
        self.metrics
            .request(&route, a.method, &status, a.duration, a.status == Some(429));
        let ms = a.duration.as_millis() as u64;
        let mailbox = a.mailbox.unwrap_or("");
        let request_id = a.request_id.unwrap_or("");
        match a.status {
            Some(429) => tracing::info!(
                mailbox, route = %route, method = a.method, status = 429, duration_ms = ms,
                attempt = a.attempt, request_id, client_request_id = a.client_request_id,
                retry_after_ms = a.retry_after.map(|d| d.as_millis() as u64),
                "graph: throttled"
            ),
            Some(s) if s < 400 => tracing::debug!(
                mailbox, route = %route, method = a.method, status = s, duration_ms = ms,
                attempt = a.attempt, request_id, client_request_id = a.client_request_id,
                "graph: request"
            ),
            other => tracing::info!(
                mailbox, route = %route, method = a.method, status = %status, duration_ms = ms,
                attempt = a.attempt, request_id, client_request_id = a.client_request_id,
                http_status = other,
                "graph: request failed"
            ),
        }
    }

    /// Reports a retry the Graph client is about to make.
    pub fn graph_retry(&self, mailbox: Option<&str>, reason: &str, attempt: u32, delay: Duration) {
        self.metrics.retry(reason);
        tracing::info!(
            mailbox = mailbox.unwrap_or(""),
            reason,
            attempt,
            delay_ms = delay.as_millis() as u64,
            "graph: retrying"
        );
    }
}

/// One Graph request attempt, as the Graph client saw it.
pub struct GraphAttempt<'a> {
    pub base: &'a str,
    pub url: &'a str,
    pub method: &'a str,
    /// `None`: no answer (connection failure, timeout).
    pub status: Option<u16>,
    pub duration: Duration,
    pub attempt: u32,
    pub mailbox: Option<&'a str>,
    /// Microsoft's `request-id` response header.
    pub request_id: Option<&'a str>,
    pub client_request_id: &'a str,
    pub retry_after: Option<Duration>,
}

// ---- process-wide caught panics --------------------------------------------------------

static PANICS: AtomicU64 = AtomicU64::new(0);

/// Counts a panic caught at the C boundary (process-wide).
pub fn panic_caught() {
    PANICS.fetch_add(1, Ordering::Relaxed);
}

pub fn panics_caught() -> u64 {
    PANICS.load(Ordering::Relaxed)
}

// ---- syslog ----------------------------------------------------------------------------

fn open_syslog() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: the ident is a static C string, as openlog requires.
        unsafe {
            libc::openlog(
                c"o365".as_ptr(),
                libc::LOG_PID | libc::LOG_NDELAY,
                libc::LOG_USER,
            )
        };
    });
}

fn write_syslog(level: &Level, line: &str) {
    let prio = match *level {
        Level::ERROR => libc::LOG_ERR,
        Level::WARN => libc::LOG_WARNING,
        Level::INFO => libc::LOG_INFO,
        _ => libc::LOG_DEBUG,
    };
    // JSON never holds a raw NUL (serde escapes it).
    if let Ok(c) = std::ffi::CString::new(line) {
        // SAFETY: constant format string, one C string argument.
        unsafe { libc::syslog(prio, c"%s".as_ptr(), c.as_ptr()) };
    }
}

// ---- the routing subscriber ------------------------------------------------------------

/// Installs the library's subscriber once per process (it only routes; see the module docs).
fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(RouteLayer);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// The fields a span carries, kept in its extensions.
struct SpanFields(Map<String, Value>);

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.into()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}

struct RouteLayer;

fn ours(target: &str) -> bool {
    target == "o365" || target.starts_with("o365::")
}

impl<S> Layer<S> for RouteLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        ours(metadata.target()) && level_rank(metadata.level()) <= MAX_RANK.load(Ordering::Relaxed)
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = Map::new();
        attrs.record(&mut JsonVisitor(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(SpanFields(f)) = ext.get_mut::<SpanFields>() {
                values.record(&mut JsonVisitor(f));
            }
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(f)) = span.extensions().get::<SpanFields>() {
                    for (k, v) in f {
                        fields.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        event.record(&mut JsonVisitor(&mut fields));
        let Some(client) = fields
            .get("client")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return;
        };
        let target = {
            let routes = ROUTES.read().unwrap_or_else(|p| p.into_inner());
            routes
                .as_ref()
                .and_then(|m| m.get(&client))
                .and_then(Weak::upgrade)
        };
        let Some(t) = target else { return };
        if level_rank(meta.level()) > t.rank {
            return;
        }
        let mut record = Map::new();
        record.insert("ts".into(), Value::String(now_rfc3339()));
        record.insert(
            "level".into(),
            Value::String(meta.level().as_str().to_ascii_lowercase()),
        );
        record.insert("target".into(), Value::String(meta.target().into()));
        let message = fields
            .remove("message")
            .unwrap_or(Value::String(String::new()));
        record.insert("message".into(), message);
        for (k, v) in fields {
            // Empty optional fields (no mailbox, no request id) are left out.
            if v.as_str() != Some("") && !v.is_null() {
                record.insert(k, v);
            }
        }
        t.write(meta.level(), Value::Object(record));
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
