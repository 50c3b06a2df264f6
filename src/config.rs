//! Client configuration: the JSON object given to `o365_client_new`.
//!
//! Unknown fields are rejected, and every invalid value is reported with the name of the
//! field, so a typo in a host's config never silently falls back to a default.

use crate::error::{Error, Result};
use base64::Engine;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Microsoft's public-cloud sign-in host. The library's default.
pub const DEFAULT_LOGIN: &str = "https://login.microsoftonline.com";
/// Microsoft Graph v1.0 in the public cloud. The library's default.
pub const DEFAULT_GRAPH: &str = "https://graph.microsoft.com/v1.0";

/// A tag of the running machine: its boot id and pid namespace (processes that share it
/// see each other's pids). Empty where the system does not tell.
pub fn machine_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let ns = std::fs::read_link("/proc/self/ns/pid")
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if boot.is_empty() {
            String::new()
        } else {
            format!("{boot}/{ns}")
        }
    })
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// SQLite file path, or `sqlite://PATH`.
    pub store: String,
    /// Base64 of 32 bytes (AES-256-GCM key for tokens and secrets at rest).
    #[serde(default)]
    pub encryption_key: Option<String>,
    /// This host's name in lease owners (who holds a refresh, a folder sync, an outbox
    /// entry). Unique per machine; several processes of one machine share it. Default: a
    /// tag of the running machine (boot id and pid namespace).
    #[serde(default)]
    pub host_id: Option<String>,
    #[serde(default)]
    pub app: AppConfig,
    #[serde(default)]
    pub endpoints: Endpoints,
    /// An extra CA certificate (PEM) to trust, e.g. the emulator's or a corporate proxy's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Outbound HTTP(S) proxy for sign-in and Graph traffic (see [`ProxyConfig`]).
    #[serde(default)]
    pub proxy: Option<ProxyConfig>,
    #[serde(default)]
    pub timeouts: Timeouts,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub events: EventsConfig,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub graph: GraphConfig,
    #[serde(default)]
    pub send: SendConfig,
    #[serde(default)]
    pub links: LinksConfig,
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub debug: DebugConfig,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GraphConfig {
    /// Retries of one request on 429/503/504 and connection failures.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// First back-off step when Microsoft gives no Retry-After (doubles, with jitter).
    #[serde(default = "default_retry_base")]
    pub retry_base_ms: u64,
    /// Longest single wait between retries.
    #[serde(default = "default_retry_max")]
    pub retry_max_ms: u64,
    /// Requests per mailbox per 10 minutes (Outlook allows 10,000).
    #[serde(default = "default_budget")]
    pub budget_per_10min: u32,
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig {
            max_retries: default_retries(),
            retry_base_ms: default_retry_base(),
            retry_max_ms: default_retry_max(),
            budget_per_10min: default_budget(),
        }
    }
}

fn default_retries() -> u32 {
    6
}
fn default_retry_base() -> u64 {
    500
}
fn default_retry_max() -> u64 {
    60_000
}
fn default_budget() -> u32 {
    10_000
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The app registration's application (client) id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Only for confidential clients; kept in memory, never stored or logged.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Where Microsoft sends the browser back after sign-in (the CRM's callback URL).
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// `common` (default), `organizations`, `consumers`, a tenant id or a verified domain.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// Delegated scopes requested at sign-in (default: what a mail connector needs).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            client_id: None,
            client_secret: None,
            redirect_uri: None,
            tenant: default_tenant(),
            scopes: None,
        }
    }
}

fn default_tenant() -> String {
    "common".into()
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    /// Sign-in authority host, without tenant (national clouds or the emulator differ).
    #[serde(default = "default_login")]
    pub login: String,
    /// Graph base URL including the version segment.
    #[serde(default = "default_graph")]
    pub graph: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            login: default_login(),
            graph: default_graph(),
        }
    }
}

fn default_login() -> String {
    DEFAULT_LOGIN.into()
}
fn default_graph() -> String {
    DEFAULT_GRAPH.into()
}

/// The outbound proxy: `"proxy": "http://proxy.corp:3128"`, or
/// `{"url": "http://user:pass@proxy.corp:3128", "no_proxy": "localhost,.corp.example"}`
/// (`no_proxy` may also be a list), or `"none"` to connect directly even when the process
/// environment sets `HTTPS_PROXY`. Without `proxy` the library follows the environment
/// (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`), like curl. HTTPS requests go
/// through the proxy as CONNECT tunnels, so TLS stays end to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyConfig {
    /// `"none"`: never use a proxy.
    Direct,
    Url {
        url: String,
        /// Hosts reached directly (curl's NO_PROXY syntax: `host`, `.domain`, `10.0.0.0/8`, `*`).
        no_proxy: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProxyObject {
    url: String,
    #[serde(default)]
    no_proxy: Option<NoProxyList>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NoProxyList {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for ProxyConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ProxyConfig;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"a proxy URL, "none", or {"url": ..., "no_proxy": ...}"#)
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<ProxyConfig, E> {
                Ok(if v.trim().eq_ignore_ascii_case("none") {
                    ProxyConfig::Direct
                } else {
                    ProxyConfig::Url {
                        url: v.to_owned(),
                        no_proxy: None,
                    }
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<ProxyConfig, A::Error> {
                let o =
                    ProxyObject::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                let no_proxy = o.no_proxy.map(|l| match l {
                    NoProxyList::One(s) => s,
                    NoProxyList::Many(v) => v.join(","),
                });
                Ok(ProxyConfig::Url {
                    url: o.url,
                    no_proxy,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl schemars::JsonSchema for ProxyConfig {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ProxyConfig".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A proxy URL, \"none\" (connect directly), or {\"url\", \"no_proxy\"}.",
            "anyOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "properties": {
                        "url": {"type": "string"},
                        "no_proxy": {"anyOf": [
                            {"type": "string"},
                            {"type": "array", "items": {"type": "string"}},
                            {"type": "null"}
                        ]}
                    },
                    "required": ["url"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

impl ProxyConfig {
    /// The proxy URL without user and password, for messages and logs.
    pub fn display_url(&self) -> Option<String> {
        match self {
            ProxyConfig::Direct => None,
            ProxyConfig::Url { url, .. } => Some(match url::Url::parse(url) {
                Ok(mut u) => {
                    let _ = u.set_username("");
                    let _ = u.set_password(None);
                    u.to_string().trim_end_matches('/').to_owned()
                }
                // never show what may be a password before an '@'
                Err(_) => url.rsplit('@').next().unwrap_or_default().to_owned(),
            }),
        }
    }

    fn validate(&self) -> Result<()> {
        let ProxyConfig::Url { url, .. } = self else {
            return Ok(());
        };
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::invalid_field(
                "proxy.url",
                format!(
                    "'{}' is not a URL: {e}",
                    self.display_url().unwrap_or_default()
                ),
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(Error::invalid_field(
                "proxy.url",
                format!(
                    "'{}' is not an http:// or https:// proxy URL with a host (SOCKS is not supported)",
                    self.display_url().unwrap_or_default()
                ),
            )
            .with_hint(r#"write it like "http://proxy.corp.example:3128""#));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Longest time one blocking C call may take.
    #[serde(default = "default_call_ms")]
    pub call_ms: u64,
    #[serde(default = "default_connect_ms")]
    pub connect_ms: u64,
    /// Longest time one HTTP request may take.
    #[serde(default = "default_request_ms")]
    pub request_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            call_ms: default_call_ms(),
            connect_ms: default_connect_ms(),
            request_ms: default_request_ms(),
        }
    }
}

fn default_call_ms() -> u64 {
    120_000
}
fn default_connect_ms() -> u64 {
    10_000
}
fn default_request_ms() -> u64 {
    60_000
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Worker threads of the process-wide runtime. The first client of a process decides.
    #[serde(default = "default_workers")]
    pub worker_threads: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            worker_threads: default_workers(),
        }
    }
}

fn default_workers() -> usize {
    2
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `off`, `error`, `warn`, `info`, `debug`, `trace`.
    #[serde(default = "default_level")]
    pub level: String,
    /// Log file (appended), one JSON object per line.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Also write each record to stderr (off by default: the library never writes to
    /// stderr unless asked).
    #[serde(default)]
    pub stderr: bool,
    /// Also send each record to syslog (`openlog("o365", LOG_PID, LOG_USER)`).
    #[serde(default)]
    pub syslog: bool,
    /// Keep up to this many records in memory for the host to pull with `o365_take_logs`
    /// (0: off). When full, the oldest record is dropped (and counted).
    #[serde(default)]
    pub buffer: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: default_level(),
            file: None,
            stderr: false,
            syslog: false,
            buffer: 0,
        }
    }
}

fn default_level() -> String {
    "info".into()
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// How long an event handed out by `o365_next_event` stays reserved for that client
    /// before it is handed out again (when the host neither acked it nor closed the client).
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
    /// How often a waiting `o365_next_event` looks at the store again in case it missed a
    /// wake-up (events published by another process on SQLite; a lost notification on
    /// PostgreSQL, which wakes waiters on every host through LISTEN/NOTIFY).
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            lease_ms: default_lease_ms(),
            poll_ms: default_poll_ms(),
        }
    }
}

fn default_poll_ms() -> u64 {
    200
}

fn default_lease_ms() -> u64 {
    30_000
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest request JSON accepted through the C ABI, in bytes.
    #[serde(default = "default_max_request")]
    pub max_request_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: default_max_request(),
        }
    }
}

/// 8 MiB. Larger payloads (attachments) are passed by file path.
pub(crate) const DEFAULT_MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;

fn default_max_request() -> usize {
    DEFAULT_MAX_REQUEST_BYTES
}

/// Sending (issue 6): policy, pacing, outbox.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendConfig {
    /// Recipients (To + Cc + Bcc) per mail; more is refused (seed point 11: 10).
    #[serde(default = "default_max_recipients")]
    pub max_recipients: usize,
    /// Sends per mailbox per pacing window (Exchange Online: 30 per minute).
    #[serde(default = "default_pace_max")]
    pub pace_max: u32,
    #[serde(default = "default_pace_window")]
    pub pace_window_ms: u64,
    /// Added to the window, so clock skew and latency never make Microsoft count one more.
    #[serde(default = "default_pace_margin")]
    pub pace_margin_ms: u64,
    /// The same subject and body to other recipients within this window counts as serial mail.
    #[serde(default = "default_serial_window")]
    pub serial_window_ms: u64,
    /// How many different recipient sets may get the same content within the window; one
    /// more is refused as serial mail.
    #[serde(default = "default_serial_copies")]
    pub serial_max_copies: u32,
    /// How long one process owns an outbox entry while sending it (renewed while working).
    #[serde(default = "default_outbox_lease")]
    pub lease_ms: u64,
    /// How long `o365_send` waits for a free pacing slot before answering `queued`.
    #[serde(default = "default_send_wait")]
    pub wait_ms: u64,
    /// Attempts of one outbox entry before it fails (throttling, network, server errors).
    #[serde(default = "default_send_attempts")]
    pub max_attempts: u32,
    /// Attachments from this size on go through an upload session (Graph: 3 MB).
    #[serde(default = "default_inline_max")]
    pub upload_session_from_bytes: u64,
    /// Largest attachment and largest mail (Graph upload sessions: 150 MB).
    #[serde(default = "default_attachment_max")]
    pub max_message_bytes: u64,
    /// Bytes per upload-session PUT (Graph: at most 4 MB).
    #[serde(default = "default_chunk")]
    pub chunk_bytes: usize,
    /// Background sending of queued mail in this process.
    #[serde(default = "default_true")]
    pub background: bool,
    /// After a send request whose answer was lost, how long the message may wait in Drafts
    /// for Exchange's asynchronous submission before the library concludes it was not
    /// submitted, deletes it and sends it anew (never before: that could send it twice).
    #[serde(default = "default_submission_wait")]
    pub submission_wait_ms: u64,
}

impl Default for SendConfig {
    fn default() -> Self {
        SendConfig {
            max_recipients: default_max_recipients(),
            pace_max: default_pace_max(),
            pace_window_ms: default_pace_window(),
            pace_margin_ms: default_pace_margin(),
            serial_window_ms: default_serial_window(),
            serial_max_copies: default_serial_copies(),
            lease_ms: default_outbox_lease(),
            wait_ms: default_send_wait(),
            max_attempts: default_send_attempts(),
            upload_session_from_bytes: default_inline_max(),
            max_message_bytes: default_attachment_max(),
            chunk_bytes: default_chunk(),
            background: true,
            submission_wait_ms: default_submission_wait(),
        }
    }
}

fn default_max_recipients() -> usize {
    10
}
fn default_pace_max() -> u32 {
    30
}
fn default_pace_window() -> u64 {
    60_000
}
fn default_pace_margin() -> u64 {
    1_000
}
fn default_serial_window() -> u64 {
    3_600_000
}
fn default_serial_copies() -> u32 {
    2
}
fn default_outbox_lease() -> u64 {
    120_000
}
fn default_send_wait() -> u64 {
    5_000
}
fn default_submission_wait() -> u64 {
    600_000
}
fn default_send_attempts() -> u32 {
    8
}
fn default_inline_max() -> u64 {
    3 * 1024 * 1024
}
fn default_attachment_max() -> u64 {
    150 * 1024 * 1024
}
fn default_chunk() -> usize {
    4 * 1024 * 1024
}
fn default_true() -> bool {
    true
}

/// Download and agreement links (`_downloadLink(Text)`, `_agreementLink`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinksConfig {
    /// Days a link works (seed point 11: 14).
    #[serde(default = "default_link_days")]
    pub ttl_days: u32,
    /// The host's link page, e.g. `https://crm.example.com/o365/link?t={token}`; without
    /// `{token}` the token is appended as a path segment. Required to use the macros.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Where the files behind links are kept until expiry (default: `<store>.links/`).
    #[serde(default)]
    pub directory: Option<PathBuf>,
    /// Base64 of 32 bytes to sign link tokens; default: a random key kept sealed in the store.
    #[serde(default)]
    pub signing_key: Option<String>,
    /// Agreement text for `_agreementLink` when the send request gives none.
    #[serde(default)]
    pub agreement_text: Option<String>,
    /// Language of the link page when the browser's `Accept-Language` names neither German
    /// nor English: `de` (default) or `en`.
    #[serde(default = "default_link_language")]
    pub language: String,
    /// An HTML template file for the link page with the placeholders `{{lang}}`, `{{title}}`,
    /// `{{head}}` (the style element; required), `{{logo}}`, `{{content}}`, `{{footer}}`.
    #[serde(default)]
    pub template: Option<PathBuf>,
    /// Extra CSS appended to the page's own style (restyle without a template).
    #[serde(default)]
    pub css: Option<String>,
    /// The host's logo on the link page: an https URL or a `data:image/...` URL.
    #[serde(default)]
    pub logo_url: Option<String>,
}

impl Default for LinksConfig {
    fn default() -> Self {
        LinksConfig {
            ttl_days: default_link_days(),
            base_url: None,
            directory: None,
            signing_key: None,
            agreement_text: None,
            language: default_link_language(),
            template: None,
            css: None,
            logo_url: None,
        }
    }
}

fn default_link_days() -> u32 {
    14
}

fn default_link_language() -> String {
    "de".into()
}

impl Config {
    fn validate_send_and_links(&self) -> Result<()> {
        let s = &self.send;
        if s.max_recipients == 0 {
            return Err(Error::invalid_field(
                "send.max_recipients",
                "max_recipients must be at least 1",
            ));
        }
        if s.pace_max == 0 || s.pace_window_ms == 0 {
            return Err(Error::invalid_field(
                "send.pace_max",
                "pace_max and pace_window_ms must be above zero",
            ));
        }
        if s.chunk_bytes == 0 || s.chunk_bytes > 4 * 1024 * 1024 {
            return Err(Error::invalid_field(
                "send.chunk_bytes",
                "chunk_bytes must be between 1 and 4194304 (Graph's largest upload chunk)",
            ));
        }
        if s.serial_max_copies == 0 {
            return Err(Error::invalid_field(
                "send.serial_max_copies",
                "serial_max_copies must be at least 1",
            ));
        }
        if s.lease_ms < 1000 || s.max_attempts == 0 {
            return Err(Error::invalid_field(
                "send.lease_ms",
                "lease_ms must be at least 1000 and max_attempts at least 1",
            ));
        }
        let l = &self.links;
        if l.ttl_days == 0 {
            return Err(Error::invalid_field(
                "links.ttl_days",
                "ttl_days must be at least 1",
            ));
        }
        if let Some(u) = &l.base_url {
            let probe = u.replace("{token}", "t");
            let parsed = url::Url::parse(&probe).map_err(|e| {
                Error::invalid_field("links.base_url", format!("'{u}' is not a URL: {e}"))
            })?;
            if !matches!(parsed.scheme(), "https" | "http") {
                return Err(Error::invalid_field(
                    "links.base_url",
                    format!("'{u}' must be an http(s) URL"),
                ));
            }
        }
        if let Some(k) = &l.signing_key {
            decode_key(k).map_err(|m| Error::invalid_field("links.signing_key", m))?;
        }
        if !matches!(l.language.as_str(), "de" | "en") {
            return Err(Error::invalid_field(
                "links.language",
                format!("'{}' is not a page language: use de or en", l.language),
            ));
        }
        if let Some(u) = &l.logo_url {
            let ok = u.starts_with("https://") && url::Url::parse(u).is_ok()
                || u.starts_with("data:image/")
                || u.starts_with("http://127.0.0.1")
                || u.starts_with("http://localhost");
            if !ok || u.contains(['"', '\'', '<', '>', ' ']) {
                return Err(Error::invalid_field(
                    "links.logo_url",
                    "logo_url must be an https URL or a data:image/... URL",
                ));
            }
        }
        if let Some(css) = &l.css {
            if css.to_ascii_lowercase().contains("</style") {
                return Err(Error::invalid_field(
                    "links.css",
                    "links.css must not contain </style",
                ));
            }
        }
        if let Some(t) = &l.template {
            let text = std::fs::read_to_string(t).map_err(|e| {
                Error::invalid_field(
                    "links.template",
                    format!("cannot read template '{}': {e}", t.display()),
                )
            })?;
            if !text.contains("{{head}}") || !text.contains("{{content}}") {
                return Err(Error::invalid_field(
                    "links.template",
                    "the template must contain {{head}} and {{content}}",
                ));
            }
        }
        Ok(())
    }
}

/// Folder and message sync (issue 5).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// Run the background scheduler in this process (off for hosts that drive `o365_sync`
    /// themselves, e.g. from cron).
    #[serde(default = "default_scheduler")]
    pub scheduler: bool,
    /// Time between two scheduler passes over the authenticated mailboxes.
    #[serde(default = "default_sync_interval")]
    pub interval_ms: u64,
    /// Reads (folders, messages) answer from the cache when it is at most this old.
    #[serde(default = "default_sync_max_age")]
    pub max_age_ms: u64,
    /// Messages per delta page asked for (`Prefer: odata.maxpagesize`; Graph allows 1,000).
    #[serde(default = "default_sync_page_size")]
    pub page_size: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            scheduler: default_scheduler(),
            interval_ms: default_sync_interval(),
            max_age_ms: default_sync_max_age(),
            page_size: default_sync_page_size(),
        }
    }
}

fn default_scheduler() -> bool {
    true
}
fn default_sync_interval() -> u64 {
    300_000
}
fn default_sync_max_age() -> u64 {
    60_000
}
fn default_sync_page_size() -> usize {
    1000
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DebugConfig {
    /// Enables the test-only exports (`o365_debug_panic`, `o365_debug_emit_event`,
    /// `o365_debug_counters`).
    #[serde(default)]
    pub test_hooks: bool,
    /// Shifts the library's clock (milliseconds), so tests can check expiry without waiting.
    #[serde(default)]
    pub clock_offset_ms: i64,
}

impl Config {
    /// Parses and validates the config JSON.
    pub fn from_json(json: &str) -> Result<Config> {
        let cfg: Config = crate::json::from_str(json)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The store as it may be shown or logged: a SQLite store's path, or the URL with its
    /// password masked.
    pub fn store_display(&self) -> String {
        match self.store.split_once("://") {
            Some((scheme, _)) if !scheme.eq_ignore_ascii_case("sqlite") => {
                match url::Url::parse(&self.store) {
                    Ok(mut u) => {
                        if u.password().is_some() {
                            let _ = u.set_password(Some("***"));
                        }
                        u.to_string()
                    }
                    Err(_) => format!("{scheme}://…"),
                }
            }
            _ => self.store_path().display().to_string(),
        }
    }

    /// The SQLite file this config points to.
    /// This host's name in lease owners: `host_id`, or the machine's tag.
    pub fn host_id(&self) -> String {
        match &self.host_id {
            Some(h) => h.clone(),
            None => machine_tag().to_owned(),
        }
    }

    pub fn store_path(&self) -> PathBuf {
        match self.store.split_once("://") {
            Some((scheme, path)) if scheme.eq_ignore_ascii_case("sqlite") => PathBuf::from(path),
            _ => PathBuf::from(&self.store),
        }
    }

    fn validate(&self) -> Result<()> {
        self.validate_send_and_links()?;
        if let Some(h) = &self.host_id {
            if h.is_empty() || h.len() > 200 || h.contains('|') || h.chars().any(char::is_control) {
                return Err(Error::invalid_field(
                    "host_id",
                    "host_id must be 1 to 200 characters, without '|' or control characters",
                ));
            }
        }
        if self.events.poll_ms == 0 {
            return Err(Error::invalid_field(
                "events.poll_ms",
                "events.poll_ms must be at least 1",
            ));
        }
        if self.store.trim().is_empty() {
            return Err(Error::invalid_field(
                "store",
                "store must name a SQLite file",
            ));
        }
        // Which URL schemes name a backend is the store factory's business
        // (`crate::store::open`).
        if let Some(k) = &self.encryption_key {
            decode_key(k).map_err(|m| Error::invalid_field("encryption_key", m))?;
        }
        // A database store has no folder beside it for a key file, and every host needs the
        // same key: it comes from the config (or O365_ENCRYPTION_KEY).
        let remote = self.store.split_once("://").is_some_and(|(s, _)| {
            s.eq_ignore_ascii_case("postgres") || s.eq_ignore_ascii_case("postgresql")
        });
        if remote
            && self.encryption_key.is_none()
            && std::env::var_os("O365_ENCRYPTION_KEY").is_none()
        {
            return Err(Error::invalid_field(
                "encryption_key",
                "a PostgreSQL store needs encryption_key (or O365_ENCRYPTION_KEY), the same on every host",
            ));
        }
        for (field, url) in [
            ("endpoints.login", &self.endpoints.login),
            ("endpoints.graph", &self.endpoints.graph),
        ] {
            let parsed = url::Url::parse(url)
                .map_err(|e| Error::invalid_field(field, format!("'{url}' is not a URL: {e}")))?;
            if parsed.scheme() != "https" {
                return Err(Error::invalid_field(
                    field,
                    format!(
                        "'{url}' must use https (Microsoft and the emulator both speak HTTPS only)"
                    ),
                ));
            }
        }
        if let Some(r) = &self.app.redirect_uri {
            url::Url::parse(r).map_err(|e| {
                Error::invalid_field("app.redirect_uri", format!("'{r}' is not a URL: {e}"))
            })?;
        }
        if self.app.tenant.trim().is_empty() {
            return Err(Error::invalid_field(
                "app.tenant",
                "tenant must not be empty",
            ));
        }
        if let Some(ca) = &self.ca_file {
            if !ca.is_file() {
                return Err(Error::invalid_field(
                    "ca_file",
                    format!("CA file '{}' does not exist", ca.display()),
                ));
            }
        }
        if let Some(p) = &self.proxy {
            p.validate()?;
        }
        if self.runtime.worker_threads == 0 || self.runtime.worker_threads > 64 {
            return Err(Error::invalid_field(
                "runtime.worker_threads",
                "worker_threads must be between 1 and 64",
            ));
        }
        if self.timeouts.call_ms == 0
            || self.timeouts.request_ms == 0
            || self.timeouts.connect_ms == 0
        {
            return Err(Error::invalid_field(
                "timeouts",
                "timeouts must be above zero",
            ));
        }
        if !matches!(
            self.log.level.as_str(),
            "off" | "error" | "warn" | "info" | "debug" | "trace"
        ) {
            return Err(Error::invalid_field(
                "log.level",
                format!("unknown log level '{}'", self.log.level),
            ));
        }
        if self.log.buffer > 1_000_000 {
            return Err(Error::invalid_field(
                "log.buffer",
                "log.buffer keeps at most 1000000 records",
            ));
        }
        if self.limits.max_request_bytes < 1024 {
            return Err(Error::invalid_field(
                "limits.max_request_bytes",
                "max_request_bytes must be at least 1024",
            ));
        }
        if self.sync.interval_ms < 100 {
            return Err(Error::invalid_field(
                "sync.interval_ms",
                "interval_ms must be at least 100",
            ));
        }
        if !(1..=1000).contains(&self.sync.page_size) {
            return Err(Error::invalid_field(
                "sync.page_size",
                "page_size must be between 1 and 1000",
            ));
        }
        Ok(())
    }
}

/// Decodes a base64 key of exactly 32 bytes.
pub fn decode_key(b64: &str) -> std::result::Result<[u8; 32], String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("encryption key is not base64: {e}"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("encryption key must be 32 bytes, got {}", bytes.len()))
}

/// The key file used when neither the config nor `O365_ENCRYPTION_KEY` gives a key.
pub fn key_file_for(store: &Path) -> PathBuf {
    let mut name = store
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "o365.db".into());
    name.push(".key");
    store.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_gets_microsoft_defaults() {
        let c = Config::from_json(r#"{"store": "/tmp/x.db"}"#).unwrap();
        assert_eq!(c.endpoints.login, DEFAULT_LOGIN);
        assert_eq!(c.endpoints.graph, DEFAULT_GRAPH);
        assert_eq!(c.app.tenant, "common");
        assert_eq!(c.runtime.worker_threads, 2);
    }

    #[test]
    fn unknown_field_is_named() {
        let e = Config::from_json(r#"{"store": "/tmp/x.db", "stroe": 1}"#).unwrap_err();
        assert_eq!(e.kind(), "unknown_field");
        assert!(e.message().contains("stroe"), "{}", e.message());
    }

    #[test]
    fn bad_values_name_their_field() {
        for (json, field) in [
            (r#"{"store": ""}"#, "store"),
            (
                r#"{"store": "x.db", "encryption_key": "abc"}"#,
                "encryption_key",
            ),
            (
                r#"{"store": "x.db", "endpoints": {"graph": "http://x"}}"#,
                "endpoints.graph",
            ),
            (
                r#"{"store": "x.db", "log": {"level": "loud"}}"#,
                "log.level",
            ),
            (
                r#"{"store": "x.db", "runtime": {"worker_threads": 0}}"#,
                "runtime.worker_threads",
            ),
        ] {
            let e = Config::from_json(json).unwrap_err();
            assert_eq!(e.status(), 1, "{json}");
            assert_eq!(e.fault().details["field"], field, "{json}");
        }
    }

    #[test]
    fn proxy_is_a_url_an_object_or_none() {
        let c = Config::from_json(r#"{"store": "x.db", "proxy": "http://p.corp:3128"}"#).unwrap();
        assert_eq!(
            c.proxy,
            Some(ProxyConfig::Url {
                url: "http://p.corp:3128".into(),
                no_proxy: None
            })
        );
        let c = Config::from_json(
            r#"{"store": "x.db", "proxy": {"url": "http://u:secret@p:8080", "no_proxy": ["localhost", ".corp"]}}"#,
        )
        .unwrap();
        let p = c.proxy.unwrap();
        assert_eq!(p.display_url().unwrap(), "http://p:8080");
        assert!(
            matches!(p, ProxyConfig::Url { no_proxy: Some(ref n), .. } if n == "localhost,.corp")
        );
        let c = Config::from_json(r#"{"store": "x.db", "proxy": "none"}"#).unwrap();
        assert_eq!(c.proxy, Some(ProxyConfig::Direct));
        for (json, field) in [
            (
                r#"{"store": "x.db", "proxy": "socks5://p:1080"}"#,
                "proxy.url",
            ),
            (r#"{"store": "x.db", "proxy": "not a url"}"#, "proxy.url"),
            (
                r#"{"store": "x.db", "proxy": {"url": "ftp://p"}}"#,
                "proxy.url",
            ),
            (
                r#"{"store": "x.db", "proxy": {"url": "http://p", "noproxy": "x"}}"#,
                "proxy.noproxy",
            ),
            (r#"{"store": "x.db", "proxy": 3128}"#, "proxy"),
        ] {
            let e = Config::from_json(json).unwrap_err();
            assert_eq!(e.status(), 1, "{json}");
            assert_eq!(e.fault().details["field"], field, "{json}: {}", e.message());
        }
        // the password never appears in an error message
        let e = Config::from_json(r#"{"store": "x.db", "proxy": "socks5://u:hunter2@p:1"}"#)
            .unwrap_err();
        assert!(!e.message().contains("hunter2"), "{}", e.message());
    }

    #[test]
    fn wrong_types_name_their_field() {
        for (json, field) in [
            (r#"{"store": 42}"#, "store"),
            (
                r#"{"store": "x.db", "runtime": {"worker_threads": "two"}}"#,
                "runtime.worker_threads",
            ),
            (
                r#"{"store": "x.db", "app": {"client_idd": "x"}}"#,
                "app.client_idd",
            ),
        ] {
            let e = Config::from_json(json).unwrap_err();
            assert_eq!(
                e.fault().details.get("field").and_then(|v| v.as_str()),
                Some(field),
                "{json}: {e}"
            );
            assert!(e.message().contains(field), "{}", e.message());
        }
    }

    #[test]
    fn store_display_masks_a_url_password() {
        let show = |store: &str| {
            Config::from_json(
                &serde_json::json!({"store": store, "encryption_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})
                    .to_string(),
            )
            .unwrap()
            .store_display()
        };
        assert_eq!(show("/var/lib/crm/o365.db"), "/var/lib/crm/o365.db");
        assert_eq!(
            show("sqlite:///var/lib/crm/o365.db"),
            "/var/lib/crm/o365.db"
        );
        let pg = show("postgres://crm:hunter2@db.internal:5432/crm?schema=crm1");
        assert!(!pg.contains("hunter2"), "{pg}");
        assert!(pg.contains("crm:***@db.internal"), "{pg}");
    }

    #[test]
    fn key_file_sits_beside_store() {
        assert_eq!(
            key_file_for(Path::new("/var/lib/crm/o365.db")),
            PathBuf::from("/var/lib/crm/o365.db.key")
        );
    }
}
