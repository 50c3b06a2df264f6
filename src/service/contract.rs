//! The C ABI contract in one place: every call that takes or returns JSON with its request and
//! response type, the error document a host reads on failure, and every error kind with its
//! status number. `include/o365.schema.json` is generated from here ([`schema_document`];
//! `O365_BLESS=1 cargo test --test schema` writes it, `scripts/check-schema.sh` fails when the
//! committed file is stale).
//!
//! Requests are described as they are decoded (a field with a default is optional), responses
//! as they are encoded (a field that is sometimes left out is optional, one that is `null`
//! is nullable). Response objects are strict (`additionalProperties: false`): a field the
//! contract does not name fails a host's validation, so the code, this file, the README and
//! the wrappers cannot drift apart unnoticed.
//!
//! Response fields are declared in alphabetical order: the `json!()` answers these types
//! replace had their keys sorted (serde_json's map), so most typed answers are the same bytes
//! as before. Key order is no part of the contract: types that extend another (`flatten`) and
//! events put their own fields in another order.

pub use super::auth::{
    AuditLog, AuditLogResponse, Authenticate, AuthenticateResponse, SignOut, SignOutResponse,
};
use crate::error::{status, Error};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::borrow::Cow;

// Every type of the contract is named here: `o365::service::contract::FolderList`, ...

pub use super::events::{
    check_event, AckedEvent, ActivityPayload, AuthCompletedPayload, AuthFailedPayload, Event,
    EventPayload, LinkAcceptedPayload, LinkDownloadedPayload, MoveCompletedPayload,
    NextEventFilter, ReauthRequiredPayload, SendCompletedPayload, SendFailedPayload,
    SyncCompletedPayload, SyncFailedPayload, SyncProgressPayload,
};
pub use super::link_page::{LinkPage, PageAnswer};
pub use super::links::{
    LinkAccept, LinkAccepted, LinkDownload, LinkDownloaded, LinkOpen, LinkOpened, LinksPurge,
    LinksPurged,
};
pub use super::mail_view::{
    AttachmentContent, CacheCleared, FolderList, FolderMoveResult, MarkReadResult, MessageDeleted,
    MessageDetail, MessagePage, MovedMessage, SyncReport,
};
pub use super::mailboxes::{
    GetMailbox, ImportMailbox, ListMailboxes, Mailbox, MailboxDetail, MailboxList, MailboxRemoved,
    RemoveMailbox, UpdateMailbox,
};
pub use super::maintenance::{Maintenance, MaintenanceResult};
pub use super::observe::{MetricsResult, TakeLogs, TakenLogs};
pub use super::send::{
    OutboxProcess, OutboxProcessed, SendMail, SendResult, SendState, SendStatus,
};
pub use super::setup::{CheckSetup, SetupReport};
pub use super::sync::{
    CacheClear, DeleteMessage, GetAttachment, GetMessage, ListFolders, ListMessages, MarkRead,
    MoveFolderContents, MoveMessage, SyncMailbox,
};
pub use crate::telemetry::metrics::MetricsRequest;

/// A type of the contract: its schema name and how to add its schema to a generator.
#[derive(Clone, Copy)]
pub struct TypeRef {
    name: fn() -> Cow<'static, str>,
    schema: fn(&mut SchemaGenerator) -> Schema,
}

impl TypeRef {
    pub fn of<T: JsonSchema>() -> TypeRef {
        TypeRef {
            name: T::schema_name,
            schema: SchemaGenerator::subschema_for::<T>,
        }
    }

    /// The name under `$defs`.
    pub fn name(&self) -> String {
        (self.name)().into_owned()
    }
}

/// One C function of the ABI that takes or returns JSON.
#[derive(Clone, Copy)]
pub struct Call {
    /// The exported C name, e.g. `o365_list_folders`.
    pub function: &'static str,
    /// The type of its request JSON (`request_json`, `filter_json`); `None` when it takes
    /// none.
    pub request: Option<TypeRef>,
    /// The type of `*out_json` on `O365_OK`; `None` when success carries no JSON.
    pub response: Option<TypeRef>,
}

macro_rules! calls {
    ($($function:literal: $req:tt -> $res:tt;)*) => {
        /// Every C ABI call that takes or returns JSON.
        pub fn calls() -> Vec<Call> {
            vec![$(Call {
                function: $function,
                request: calls!(@ty $req),
                response: calls!(@ty $res),
            }),*]
        }
    };
    (@ty none) => { None };
    (@ty $t:ty) => { Some(TypeRef::of::<$t>()) };
}

calls! {
    "o365_authenticate": Authenticate -> AuthenticateResponse;
    "o365_sign_out": SignOut -> SignOutResponse;
    "o365_audit_log": AuditLog -> AuditLogResponse;
    "o365_client_new": ClientConfig -> ClientInfo;
    "o365_import_mailbox": ImportMailbox -> Mailbox;
    "o365_list_mailboxes": ListMailboxes -> MailboxList;
    "o365_get_mailbox": GetMailbox -> MailboxDetail;
    "o365_update_mailbox": UpdateMailbox -> Mailbox;
    "o365_remove_mailbox": RemoveMailbox -> MailboxRemoved;
    "o365_list_folders": ListFolders -> FolderList;
    "o365_list_messages": ListMessages -> MessagePage;
    "o365_get_message": GetMessage -> MessageDetail;
    "o365_get_attachment": GetAttachment -> AttachmentContent;
    "o365_mark_read": MarkRead -> MarkReadResult;
    "o365_move_message": MoveMessage -> MovedMessage;
    "o365_delete_message": DeleteMessage -> MessageDeleted;
    "o365_sync": SyncMailbox -> SyncReport;
    "o365_cache_clear": CacheClear -> CacheCleared;
    "o365_move_folder_contents": MoveFolderContents -> FolderMoveResult;
    "o365_send": SendMail -> SendResult;
    "o365_send_status": SendStatus -> SendState;
    "o365_outbox_process": OutboxProcess -> OutboxProcessed;
    "o365_link_page": LinkPage -> PageAnswer;
    "o365_link_read": none -> none;
    "o365_link_open": LinkOpen -> LinkOpened;
    "o365_link_accept": LinkAccept -> LinkAccepted;
    "o365_link_download": LinkDownload -> LinkDownloaded;
    "o365_links_purge": LinksPurge -> LinksPurged;
    "o365_maintenance": Maintenance -> MaintenanceResult;
    "o365_check_setup": CheckSetup -> SetupReport;
    "o365_next_event": none -> Event;
    "o365_next_event_filtered": NextEventFilter -> Event;
    "o365_ack_event": none -> AckedEvent;
    "o365_metrics": MetricsRequest -> MetricsResult;
    "o365_take_logs": TakeLogs -> TakenLogs;
    "o365_debug_panic": DebugPanic -> DebugPanicked;
    "o365_debug_emit_event": DebugEmitEvent -> DebugEmitted;
    "o365_debug_counters": DebugCounters -> DebugCountersResult;
}

// ---- o365_client_new and the test hooks (answered in src/ffi) -----------------------------

/// `o365_client_new` request: the client configuration (README "Configuration").
pub type ClientConfig = crate::config::Config;

/// `o365_client_new`: what the new client runs with.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ClientInfo {
    /// `O365_ABI_VERSION` of the library.
    pub abi_version: u32,
    /// The SQLite file the client opened.
    pub store: String,
    /// The library version (`o365_version()`).
    pub version: String,
    /// Configuration warnings (e.g. the encryption key lives beside the store).
    pub warnings: Vec<String>,
}

/// `o365_debug_panic` request: `{"job"}` arms a panic in a background job, else the call
/// itself panics with `message` (an empty message: no panic).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DebugPanic {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub job: Option<String>,
}

/// `o365_debug_panic` answer: `{"armed": job}`, or `{}` when `message` was empty.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct DebugPanicked {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub armed: Option<String>,
}

/// `o365_debug_emit_event` request: publishes an event of any type.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DebugEmitEvent {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub mailbox: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub payload: Value,
}

/// `o365_debug_emit_event` answer.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct DebugEmitted {
    pub id: String,
    /// False when an event with this id existed already.
    pub new: bool,
}

/// `o365_debug_counters` request (no fields).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DebugCounters {}

/// `o365_debug_counters` answer (process-wide).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct DebugCountersResult {
    /// Clients whose state is still alive in this process.
    pub clients_alive: i64,
    /// Strings handed to the host and not yet given back to `o365_string_free`.
    pub strings_outstanding: i64,
}

// ---- errors -------------------------------------------------------------------------------

/// The error document: `*out_json` of every call that did not return `O365_OK`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Structured details (`field`, `retry_after_ms`, `code`, `admin_consent_url`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Map<String, Value>>,
    /// The snake_case error kind a host switches on (`x-o365-error-kinds`).
    pub error: String,
    /// What to do about it, for the CRM user or developer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// What went wrong, in words.
    pub message: String,
    /// The status number the call returned (see `x-o365-error-kinds`).
    #[schemars(range(min = 1, max = 16))]
    pub status: i32,
}

impl From<&Error> for ErrorBody {
    fn from(e: &Error) -> ErrorBody {
        let f = e.fault();
        ErrorBody {
            status: e.status(),
            error: f.kind.to_string(),
            message: f.message.clone(),
            hint: f.hint.clone(),
            details: (!f.details.is_empty()).then(|| f.details.clone()),
        }
    }
}

impl ErrorBody {
    /// An error document kept as JSON (outbox entries) read back as a type.
    pub fn from_document(doc: &Value) -> crate::error::Result<ErrorBody> {
        stored(doc)
    }
}

/// A document the domain keeps as JSON (error documents of outbox entries and sync rounds),
/// read back as its contract type.
pub fn stored<T: serde::de::DeserializeOwned>(doc: &Value) -> crate::error::Result<T> {
    serde_json::from_value(doc.clone()).map_err(|e| {
        Error::internal(format!(
            "a stored {} does not fit the contract: {e}",
            std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("document")
        ))
    })
}

/// One error kind: the `error` string of an error document and the status it comes with.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ErrorKind {
    pub kind: &'static str,
    pub status: i32,
    pub description: &'static str,
}

/// The C name of a status number.
pub fn status_name(n: i32) -> &'static str {
    STATUS_NAMES
        .iter()
        .find(|(s, _)| *s == n)
        .map(|(_, name)| *name)
        .unwrap_or("O365_UNKNOWN")
}

/// Every status number with its C name.
pub const STATUS_NAMES: &[(i32, &str)] = &[
    (status::OK, "O365_OK"),
    (status::INVALID_ARGUMENT, "O365_INVALID_ARGUMENT"),
    (status::NOT_FOUND, "O365_NOT_FOUND"),
    (status::ALREADY_EXISTS, "O365_ALREADY_EXISTS"),
    (status::FORBIDDEN, "O365_FORBIDDEN"),
    (status::AUTH_REQUIRED, "O365_AUTH_REQUIRED"),
    (status::CONSENT_REQUIRED, "O365_CONSENT_REQUIRED"),
    (status::POLICY_VIOLATION, "O365_POLICY_VIOLATION"),
    (status::THROTTLED, "O365_THROTTLED"),
    (status::NETWORK, "O365_NETWORK"),
    (status::REMOTE, "O365_REMOTE"),
    (status::STORE, "O365_STORE"),
    (status::TIMEOUT, "O365_TIMEOUT"),
    (status::FORKED, "O365_FORKED"),
    (status::INTERNAL, "O365_INTERNAL"),
    (status::WRONG_THREAD, "O365_WRONG_THREAD"),
    (status::CONFLICT, "O365_CONFLICT"),
];

macro_rules! kinds {
    ($($kind:literal $status:ident $desc:literal;)*) => {
        /// Every error kind the library produces, with its status (README "Error kinds").
        /// A kind may come with more than one status (`sign_in_refused`).
        pub const ERROR_KINDS: &[ErrorKind] = &[
            $(ErrorKind { kind: $kind, status: status::$status, description: $desc }),*
        ];
    };
}

kinds! {
    // 1 O365_INVALID_ARGUMENT
    "null_argument" INVALID_ARGUMENT "a pointer argument is NULL (details.argument)";
    "invalid_utf8" INVALID_ARGUMENT "a string argument is not UTF-8 (details.argument)";
    "request_too_large" INVALID_ARGUMENT "the request is larger than limits.max_request_bytes (details.limit_bytes)";
    "malformed_json" INVALID_ARGUMENT "the request is not JSON";
    "not_an_object" INVALID_ARGUMENT "the request is JSON but not an object";
    "unknown_field" INVALID_ARGUMENT "the request names a field the call does not know (details.field)";
    "missing_field" INVALID_ARGUMENT "a required field is missing (details.field)";
    "invalid_field" INVALID_ARGUMENT "a field has a wrong type or value (details.field)";
    "nothing_to_update" INVALID_ARGUMENT "o365_update_mailbox without users, main_user or settings";
    "no_recipients" INVALID_ARGUMENT "a mail without any recipient";
    "message_too_large" INVALID_ARGUMENT "the mail or an attachment is larger than send.max_message_bytes";
    "header_injection" INVALID_ARGUMENT "a header value or address contains line breaks";
    "not_a_file_attachment" INVALID_ARGUMENT "the attachment is an item or reference attachment without bytes";
    "no_agreement" INVALID_ARGUMENT "o365_link_accept on a download link (it has no agreement)";
    "links_not_configured" INVALID_ARGUMENT "a link macro is used but links.base_url is not configured";
    "link_invalid" INVALID_ARGUMENT "the link token is malformed or its signature is wrong";
    "stream_invalid" INVALID_ARGUMENT "o365_link_read with a stream id this library did not hand out";
    "invalid_state" INVALID_ARGUMENT "the sign-in callback's state is unknown";
    "missing_state" INVALID_ARGUMENT "the sign-in callback has no state";
    "missing_code" INVALID_ARGUMENT "the sign-in callback has neither code nor error";
    "state_expired" INVALID_ARGUMENT "the sign-in took too long; start it again";
    "state_already_used" INVALID_ARGUMENT "the sign-in callback was completed before";
    "blob_incomplete" INVALID_ARGUMENT "a file kept in a shared store lacks chunks when finished (a bug)";
    // 2 O365_NOT_FOUND
    "mailbox_not_found" NOT_FOUND "no mailbox with this id or address (details.mailbox)";
    "message_not_found" NOT_FOUND "no message with this id in the mailbox (details.message)";
    "attachment_not_found" NOT_FOUND "no attachment with this id (details.attachment)";
    "folder_not_found" NOT_FOUND "no folder with this id, role or name (details.field)";
    "send_not_found" NOT_FOUND "no send with this send_id or idempotency_key (details.send)";
    "event_not_found" NOT_FOUND "no event with this id (details.event)";
    "link_not_found" NOT_FOUND "the link does not exist (any more)";
    "link_expired" NOT_FOUND "the link has expired; its files are deleted";
    "file_not_found" NOT_FOUND "the link has no file with this index";
    "graph_not_found" NOT_FOUND "Microsoft Graph answered 404 (details.code)";
    "blob_not_found" NOT_FOUND "a file kept in a shared store was deleted while it was written";
    // 3 O365_ALREADY_EXISTS
    "mailbox_exists" ALREADY_EXISTS "a mailbox with this address is imported already";
    "blob_exists" ALREADY_EXISTS "a file kept in a shared store was written twice under one id (a bug)";
    // 4 O365_FORBIDDEN
    "user_not_assigned" FORBIDDEN "the acting CRM user is not assigned to the mailbox (audited)";
    "account_mismatch" FORBIDDEN "the Microsoft account signed in is not the mailbox's";
    "foreign_state" FORBIDDEN "the sign-in was started for another mailbox or user";
    "alias_send_not_enabled" FORBIDDEN "Exchange refused sending from the alias (Set-OrganizationConfig -SendFromAliasEnabled $true)";
    "send_as_denied" FORBIDDEN "the account may not send as this mailbox";
    "agreement_required" FORBIDDEN "o365_link_download of an agreement link without a valid acceptance";
    "test_hooks_disabled" FORBIDDEN "a debug call without debug.test_hooks";
    // 5 O365_AUTH_REQUIRED
    "not_authenticated" AUTH_REQUIRED "the mailbox has never been signed in";
    "reauth_required" AUTH_REQUIRED "Microsoft no longer accepts the mailbox's refresh token";
    "token_rejected" AUTH_REQUIRED "Microsoft rejected the mailbox's access token (401)";
    "sign_in_refused" AUTH_REQUIRED "Microsoft refused the sign-in (details.code)";
    "access_denied" AUTH_REQUIRED "the user declined the sign-in";
    "expired_token" AUTH_REQUIRED "the device code expired before the user signed in";
    // 6 O365_CONSENT_REQUIRED
    "consent_required" CONSENT_REQUIRED "an administrator must consent (details.admin_consent_url)";
    "admin_consent_declined" CONSENT_REQUIRED "the administrator declined the consent";
    // 7 O365_POLICY_VIOLATION
    "too_many_recipients" POLICY_VIOLATION "more than send.max_recipients addresses in To, Cc and Bcc";
    "serial_mail_not_allowed" POLICY_VIOLATION "a serial mail (marked, or the same text to too many recipients)";
    // 8 O365_THROTTLED
    "throttled" THROTTLED "Microsoft throttled the mailbox (details.retry_after_ms)";
    // 9 O365_NETWORK
    "network" NETWORK "Microsoft could not be reached";
    "outcome_unknown" NETWORK "the connection broke after the request was sent: a send may have happened";
    // 10 O365_REMOTE
    "graph_error" REMOTE "Microsoft Graph answered with an error (details.code, details.http_status)";
    "unexpected_response" REMOTE "Microsoft answered with something this library does not understand";
    "sign_in_refused" REMOTE "Entra ID refused a token request (details.code)";
    "sign_in_service_error" REMOTE "the sign-in service failed";
    "slow_down" REMOTE "the device-code endpoint asks to poll less often";
    "app_registration_rejected" REMOTE "Entra ID refused the app registration";
    "app_not_registered" REMOTE "AADSTS700016: app.client_id is not an app of this tenant";
    "redirect_uri_not_registered" REMOTE "AADSTS50011: app.redirect_uri is not registered";
    "client_secret_missing" REMOTE "AADSTS7000218: a Web app needs app.client_secret";
    "client_secret_invalid" REMOTE "AADSTS7000215: app.client_secret is not a valid secret";
    "client_secret_not_allowed" REMOTE "AADSTS700025: a public client must not send a secret";
    "app_not_multitenant" REMOTE "AADSTS50194: the app is single-tenant";
    "move_failed" REMOTE "a folder move failed at Microsoft";
    "move_stalled" REMOTE "a folder move makes no progress";
    // 11 O365_STORE
    "store_error" STORE "the local store failed";
    "store_busy" STORE "another process holds the store's write lock for too long";
    "store_unreachable" STORE "the store's database server cannot be reached (PostgreSQL)";
    "wrong_encryption_key" STORE "the store's tokens were sealed with another encryption key";
    "sealed_data_damaged" STORE "sealed data in the store cannot be opened";
    "link_file_damaged" STORE "a link file on disk is damaged";
    "blob_damaged" STORE "a file kept in a shared store is missing or damaged";
    // 12 O365_TIMEOUT
    "timeout" TIMEOUT "the call exceeded timeouts.call_ms";
    "no_event" TIMEOUT "o365_next_event found no event within the wait";
    // 13 O365_FORKED
    "forked" FORKED "a client created before fork() used in the child";
    // 14 O365_INTERNAL
    "internal" INTERNAL "a bug (a caught panic); the process keeps working";
    // 15 O365_WRONG_THREAD
    "wrong_thread" WRONG_THREAD "called from one of the library's runtime threads";
    // 16 O365_CONFLICT
    "idempotency_key_reused" CONFLICT "the idempotency key was used before for another mail";
    "outbox_entry_taken" CONFLICT "another process is sending this outbox entry";
    "sync_state_moved" CONFLICT "another process changed the sync state meanwhile";
    "log_buffer_off" CONFLICT "o365_take_logs without log.buffer in the config";
}

// ---- the schema document ------------------------------------------------------------------

/// `additionalProperties: false` on an object schema: for response types that flatten
/// another one in (schemars leaves them open).
pub fn strict(schema: &mut Schema) {
    if let Some(o) = schema.as_object_mut() {
        if o.contains_key("properties") {
            o.insert("additionalProperties".into(), Value::Bool(false));
        }
    }
}

/// In an answer, a field that is sometimes left out (`skip_serializing_if`) is never `null`
/// when present: its schema loses the `null` schemars gives every `Option`.
fn absent_is_never_null(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(alts)) = obj.get_mut(key) {
            alts.iter_mut().for_each(absent_is_never_null);
        }
    }
    let required: Vec<String> = obj
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let Some(Value::Object(props)) = obj.get_mut("properties") else {
        return;
    };
    for (name, p) in props.iter_mut() {
        if required.contains(name) {
            continue;
        }
        let Some(p) = p.as_object_mut() else { continue };
        if let Some(Value::Array(types)) = p.get_mut("type") {
            types.retain(|t| t != "null");
            if types.len() == 1 {
                let only = types[0].clone();
                p.insert("type".into(), only);
            }
        }
        if let Some(Value::Array(alts)) = p.get("anyOf") {
            let rest: Vec<Value> = alts
                .iter()
                .filter(|a| a.get("type") != Some(&Value::from("null")))
                .cloned()
                .collect();
            if rest.len() == 1 && alts.len() == 2 {
                p.remove("anyOf");
                if let Value::Object(one) = &rest[0] {
                    for (k, v) in one {
                        p.insert(k.clone(), v.clone());
                    }
                }
            }
        }
    }
}

/// `include/o365.schema.json`: `$defs` of every type, the calls, the error document and the
/// error kinds.
pub fn schema_document() -> Value {
    let mut requests = SchemaSettings::draft2020_12()
        .for_deserialize()
        .with(|s| s.meta_schema = None)
        .into_generator();
    let mut responses = SchemaSettings::draft2020_12()
        .for_serialize()
        .with(|s| s.meta_schema = None)
        .into_generator();
    let refer = |g: &mut SchemaGenerator, t: &Option<TypeRef>| -> Value {
        match t {
            Some(t) => (t.schema)(g).to_value(),
            None => Value::Null,
        }
    };
    let mut rows = Map::new();
    for c in calls() {
        let req = refer(&mut requests, &c.request);
        let res = refer(&mut responses, &c.response);
        rows.insert(
            c.function.to_owned(),
            json!({"request": req, "response": res}),
        );
    }
    let error = responses.subschema_for::<ErrorBody>().to_value();
    let mut defs = requests.take_definitions(true);
    for (name, mut schema) in responses.take_definitions(true) {
        absent_is_never_null(&mut schema);
        match defs.get(&name) {
            Some(existing) if *existing != schema => {
                panic!("type {name} has different request and response schemas: give one of them its own name")
            }
            _ => {
                defs.insert(name, schema);
            }
        }
    }
    let kinds: Vec<Value> = ERROR_KINDS
        .iter()
        .map(|k| {
            json!({
                "kind": k.kind,
                "status": k.status,
                "status_name": status_name(k.status),
                "description": k.description,
            })
        })
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "$schema".into(),
        "https://json-schema.org/draft/2020-12/schema".into(),
    );
    doc.insert("title".into(), "o365 C ABI contract".into());
    doc.insert("$defs".into(), Value::Object(defs));
    doc.insert("x-o365-calls".into(), Value::Object(rows));
    doc.insert("x-o365-error".into(), error);
    doc.insert("x-o365-error-kinds".into(), Value::Array(kinds));
    Value::Object(doc)
}

/// The schema document as committed: pretty-printed, ending with a newline.
pub fn schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&schema_document()).expect("a JSON value prints");
    s.push('\n');
    s
}
