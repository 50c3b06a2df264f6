//! Checking a deployment before anyone signs in.

use super::{call, o365_client, o365_status};
use crate::service::CheckSetup;
use std::ffi::c_char;

/// Checks what can be checked without a user (docs/going-live.md): the configuration, the
/// store (reachable, migrated), the sign-in and Graph endpoints (reachable with the
/// configured trust, `ca_file`), and whether Entra ID knows the app and accepts its
/// credentials - by redeeming a code that cannot exist: a known app with valid credentials
/// gets `invalid_grant`, an unknown app AADSTS700016, a wrong secret AADSTS7000215, a "Web"
/// app without its secret AADSTS7000218 - and whether the sign-in page opens for
/// `app.redirect_uri` (AADSTS50011 when it is not registered).
/// Request: `{}` or `{"tenant"?: "<tenant id or domain>"}` (default `app.tenant`).
/// Result: `{"ok": bool, "items": [{"name", "verdict": "ok"|"warning"|"failed", "message",
/// "hint"?, "code"?}]}` with items `config`, `store`, `sign_in_endpoint`, `graph_endpoint`,
/// `app_registration`, `redirect_uri`. A failed check is a verdict, not an error status.
///
/// # Safety
/// `client` is NULL or a live handle; `request_json` is NULL or a NUL-terminated string;
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn o365_check_setup(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: CheckSetup| async move { c.check_setup(r).await },
    )
}
