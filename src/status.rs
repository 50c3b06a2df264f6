//! The status numbers of the C ABI: defined once, here, fixed forever (a number is never
//! reused). [`crate::error`] maps each error category to one of them; [`crate::ffi`] exports
//! them in the header.

/// Status code returned by every fallible function. `O365_OK` (0) is success.
#[allow(non_camel_case_types)]
pub type o365_status = i32;

/// Success.
pub const O365_OK: o365_status = 0;
/// NULL argument, invalid UTF-8, malformed JSON, unknown field, schema violation, oversize.
pub const O365_INVALID_ARGUMENT: o365_status = 1;
/// The named mailbox, message, event or link does not exist.
pub const O365_NOT_FOUND: o365_status = 2;
/// The thing to create exists already.
pub const O365_ALREADY_EXISTS: o365_status = 3;
/// The acting CRM user may not do this (e.g. not assigned to the mailbox).
pub const O365_FORBIDDEN: o365_status = 4;
/// The mailbox needs a (new) Microsoft sign-in.
pub const O365_AUTH_REQUIRED: o365_status = 5;
/// The tenant needs an administrator's consent; details.admin_consent_url says where.
pub const O365_CONSENT_REQUIRED: o365_status = 6;
/// Refused by the sending policy (recipient limit, serial mail, ...).
pub const O365_POLICY_VIOLATION: o365_status = 7;
/// Microsoft throttled the mailbox; details.retry_after_ms says when to try again.
pub const O365_THROTTLED: o365_status = 8;
/// Microsoft could not be reached.
pub const O365_NETWORK: o365_status = 9;
/// Graph or Entra ID answered with an error; details.code holds Microsoft's code.
pub const O365_REMOTE: o365_status = 10;
/// The local store failed.
pub const O365_STORE: o365_status = 11;
/// The call did not finish in time, or o365_next_event found no event.
pub const O365_TIMEOUT: o365_status = 12;
/// A client created before fork() was used in the child; create a new client there.
pub const O365_FORKED: o365_status = 13;
/// A bug inside the library (a caught panic). The process keeps working.
pub const O365_INTERNAL: o365_status = 14;
/// Called from one of the library's own runtime threads.
pub const O365_WRONG_THREAD: o365_status = 15;
/// The request conflicts with the current state.
pub const O365_CONFLICT: o365_status = 16;
