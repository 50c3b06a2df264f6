//! Sign-in (seed points 4, 6, 7).

use super::{call, o365_client, o365_status};
use crate::service::{AuditLog, Authenticate, SignOut};
use std::ffi::c_char;

/// Starts or completes the Microsoft sign-in of a mailbox. Every assigned CRM user can then
/// use the mailbox; nobody else can.
///
/// Start: `{"mailbox", "user", "redirect_uri"?, "prompt"?, "flow"?: "code" | "device_code",
/// "force"?: bool}`. Results:
/// - `{"status": "authenticated", "account": {...}}` when a usable token exists;
/// - `{"status": "authorization_required", "flow": "code", "authorize_url", "state",
///   "expires_at"}`: send the user's browser to authorize_url (PKCE S256; the state is single
///   use, bound to mailbox and user, valid 10 minutes, completable from any process);
/// - `{"status": "device_code_pending", "user_code", "verification_uri", "message",
///   "expires_at"}` for the device flow; its end is reported by an `auth_completed` or
///   `auth_failed` event, and by the next o365_authenticate call.
///
/// Complete: `{"callback_url": "<the full redirect URL>"}` or `{"code", "state"}` (plus
/// optional "mailbox"/"user", checked against the state). Result: `{"status":
/// "authenticated", "account": {"id", "display_name", "address", "tenant_id", "personal",
/// "signed_in_at"}}`; after an admin-consent callback, a new `authorization_required`.
///
/// Errors: O365_FORBIDDEN `account_mismatch` (signed in with an account that is not the
/// mailbox's) or `user_not_assigned`; O365_CONSENT_REQUIRED with
/// `details.admin_consent_url`; O365_INVALID_ARGUMENT `invalid_state`, `state_expired`,
/// `state_already_used`; O365_AUTH_REQUIRED `sign_in_refused`, `access_denied`.
///
/// # Safety
/// `client` is NULL or a live handle; `request_json` is NULL or a NUL-terminated string;
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn o365_authenticate(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: Authenticate| async move { c.authenticate(r).await },
    )
}

/// Forgets a mailbox's tokens. Request: `{"mailbox", "user"}`. Result:
/// `{"status": "not_authenticated", "tokens_removed": bool}`.
///
/// # Safety
/// As for o365_authenticate.
#[no_mangle]
pub unsafe extern "C" fn o365_sign_out(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(client, request_json, out_json, |c, r: SignOut| async move {
        c.sign_out(r).await
    })
}

/// Who signed the mailbox in or out, and refused attempts, newest first.
/// Request: `{"mailbox", "user", "limit"?: 100}`. Result: `{"entries": [{"at", "user",
/// "action", "outcome", "detail"}]}`.
///
/// # Safety
/// As for o365_authenticate.
#[no_mangle]
pub unsafe extern "C" fn o365_audit_log(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: AuditLog| async move { c.audit_log(r).await },
    )
}
