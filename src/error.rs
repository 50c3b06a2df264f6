//! The one error type of the library and the one table that maps it to C status numbers.
//!
//! Every fallible function in the core returns [`Result`]. An [`Error`] names a category
//! (which decides the status number the host sees) and carries a [`Fault`]: a stable
//! snake_case `kind` the host can switch on, a human message, an optional hint for the CRM
//! user or developer and optional structured details. The FFI layer turns it into the error
//! document `{"status", "error", "message", "hint", "details"}`.

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// Status numbers of the C ABI (defined once, in [`crate::status`]; fixed forever).
pub mod status {
    pub use crate::status::{
        O365_ALREADY_EXISTS as ALREADY_EXISTS, O365_AUTH_REQUIRED as AUTH_REQUIRED,
        O365_CONFLICT as CONFLICT, O365_CONSENT_REQUIRED as CONSENT_REQUIRED,
        O365_FORBIDDEN as FORBIDDEN, O365_FORKED as FORKED, O365_INTERNAL as INTERNAL,
        O365_INVALID_ARGUMENT as INVALID_ARGUMENT, O365_NETWORK as NETWORK,
        O365_NOT_FOUND as NOT_FOUND, O365_OK as OK, O365_POLICY_VIOLATION as POLICY_VIOLATION,
        O365_REMOTE as REMOTE, O365_STORE as STORE, O365_THROTTLED as THROTTLED,
        O365_TIMEOUT as TIMEOUT, O365_WRONG_THREAD as WRONG_THREAD,
    };
}

/// What went wrong, in words the host can show and switch on.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Stable snake_case kind, e.g. `unknown_field`, `account_mismatch`.
    pub kind: Cow<'static, str>,
    pub message: String,
    pub hint: Option<String>,
    pub details: Map<String, Value>,
}

impl Fault {
    pub fn new(kind: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Fault {
            kind: kind.into(),
            message: message.into(),
            hint: None,
            details: Map::new(),
        }
    }
}

/// The library's error: a category (→ status number) and a [`Fault`].
#[derive(Debug, Clone)]
pub enum Error {
    InvalidArgument(Fault),
    NotFound(Fault),
    AlreadyExists(Fault),
    Forbidden(Fault),
    AuthRequired(Fault),
    ConsentRequired(Fault),
    PolicyViolation(Fault),
    Throttled(Fault),
    Network(Fault),
    Remote(Fault),
    Store(Fault),
    Timeout(Fault),
    Forked(Fault),
    Internal(Fault),
    WrongThread(Fault),
    Conflict(Fault),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The status number of this error: the one place where categories meet numbers.
    pub fn status(&self) -> i32 {
        use status::*;
        match self {
            Error::InvalidArgument(_) => INVALID_ARGUMENT,
            Error::NotFound(_) => NOT_FOUND,
            Error::AlreadyExists(_) => ALREADY_EXISTS,
            Error::Forbidden(_) => FORBIDDEN,
            Error::AuthRequired(_) => AUTH_REQUIRED,
            Error::ConsentRequired(_) => CONSENT_REQUIRED,
            Error::PolicyViolation(_) => POLICY_VIOLATION,
            Error::Throttled(_) => THROTTLED,
            Error::Network(_) => NETWORK,
            Error::Remote(_) => REMOTE,
            Error::Store(_) => STORE,
            Error::Timeout(_) => TIMEOUT,
            Error::Forked(_) => FORKED,
            Error::Internal(_) => INTERNAL,
            Error::WrongThread(_) => WRONG_THREAD,
            Error::Conflict(_) => CONFLICT,
        }
    }

    pub fn fault(&self) -> &Fault {
        match self {
            Error::InvalidArgument(f)
            | Error::NotFound(f)
            | Error::AlreadyExists(f)
            | Error::Forbidden(f)
            | Error::AuthRequired(f)
            | Error::ConsentRequired(f)
            | Error::PolicyViolation(f)
            | Error::Throttled(f)
            | Error::Network(f)
            | Error::Remote(f)
            | Error::Store(f)
            | Error::Timeout(f)
            | Error::Forked(f)
            | Error::Internal(f)
            | Error::WrongThread(f)
            | Error::Conflict(f) => f,
        }
    }

    fn fault_mut(&mut self) -> &mut Fault {
        match self {
            Error::InvalidArgument(f)
            | Error::NotFound(f)
            | Error::AlreadyExists(f)
            | Error::Forbidden(f)
            | Error::AuthRequired(f)
            | Error::ConsentRequired(f)
            | Error::PolicyViolation(f)
            | Error::Throttled(f)
            | Error::Network(f)
            | Error::Remote(f)
            | Error::Store(f)
            | Error::Timeout(f)
            | Error::Forked(f)
            | Error::Internal(f)
            | Error::WrongThread(f)
            | Error::Conflict(f) => f,
        }
    }

    /// The snake_case kind (`error` field of the error document).
    pub fn kind(&self) -> &str {
        &self.fault().kind
    }

    pub fn message(&self) -> &str {
        &self.fault().message
    }

    pub fn hint(&self) -> Option<&str> {
        self.fault().hint.as_deref()
    }

    /// Adds a hint for the person who has to act on the error.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.fault_mut().hint = Some(hint.into());
        self
    }

    /// Adds one entry to `details`.
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fault_mut()
            .details
            .insert(key.to_owned(), value.into());
        self
    }

    /// The error document handed to the host.
    pub fn to_document(&self) -> Value {
        let f = self.fault();
        let mut doc = Map::new();
        doc.insert("status".into(), self.status().into());
        doc.insert("error".into(), Value::String(f.kind.to_string()));
        doc.insert("message".into(), Value::String(f.message.clone()));
        if let Some(h) = &f.hint {
            doc.insert("hint".into(), Value::String(h.clone()));
        }
        if !f.details.is_empty() {
            doc.insert("details".into(), Value::Object(f.details.clone()));
        }
        Value::Object(doc)
    }

    // ---- constructors for the common cases -------------------------------------------

    pub fn invalid(kind: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Error::InvalidArgument(Fault::new(kind, message))
    }

    /// A request field is wrong; `details.field` names it.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Error::invalid("invalid_field", message).with_detail("field", field)
    }

    pub fn not_found(what: &'static str, key: &str) -> Self {
        Error::NotFound(Fault::new(
            format!("{what}_not_found"),
            format!("no {} '{key}'", what.replace('_', " ")),
        ))
        .with_detail(what, key)
    }

    pub fn forbidden(kind: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Error::Forbidden(Fault::new(kind, message))
    }

    pub fn store(message: impl Into<String>) -> Self {
        Error::Store(Fault::new("store_error", message))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal(Fault::new("internal", message))
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Error::Timeout(Fault::new("timeout", message))
    }

    pub fn conflict(kind: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Error::Conflict(Fault::new(kind, message))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match &e {
            rusqlite::Error::SqliteFailure(code, _)
                if matches!(
                    code.code,
                    ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked
                ) =>
            {
                Error::Store(Fault::new("store_busy", format!("store busy: {e}")))
                    .with_hint("another process holds the store's write lock for too long; retry")
            }
            _ => Error::store(format!("store error: {e}")),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::internal(format!("JSON encoding failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_has_status_kind_message_hint_details() {
        let e = Error::invalid_field("address", "not an e-mail address").with_hint("use a@b.c");
        let d = e.to_document();
        assert_eq!(d["status"], 1);
        assert_eq!(d["error"], "invalid_field");
        assert_eq!(d["message"], "not an e-mail address");
        assert_eq!(d["hint"], "use a@b.c");
        assert_eq!(d["details"]["field"], "address");
    }

    #[test]
    fn status_numbers_are_fixed() {
        // These numbers are part of the ABI. Changing one breaks every host.
        let expected = [
            (Error::invalid("x", ""), 1),
            (Error::not_found("mailbox", "x"), 2),
            (Error::AlreadyExists(Fault::new("x", "")), 3),
            (Error::forbidden("x", ""), 4),
            (Error::AuthRequired(Fault::new("x", "")), 5),
            (Error::ConsentRequired(Fault::new("x", "")), 6),
            (Error::PolicyViolation(Fault::new("x", "")), 7),
            (Error::Throttled(Fault::new("x", "")), 8),
            (Error::Network(Fault::new("x", "")), 9),
            (Error::Remote(Fault::new("x", "")), 10),
            (Error::store(""), 11),
            (Error::timeout(""), 12),
            (Error::Forked(Fault::new("x", "")), 13),
            (Error::internal(""), 14),
            (Error::WrongThread(Fault::new("x", "")), 15),
            (Error::conflict("x", ""), 16),
        ];
        for (e, n) in expected {
            assert_eq!(e.status(), n, "{e}");
        }
    }
}
