//! The link page behind `_downloadLink(Text)` and `_agreementLink`, served by the host's web
//! server. These calls take the link token from the URL, not a CRM user.

use super::{call, o365_client, o365_status};
use crate::service::{LinkAccept, LinkDownload, LinkOpen, LinksPurge};
use std::ffi::c_char;

/// What the link page shows. Request: `{"token": "<token from the link URL>"}`.
/// Result: `{"kind": "download" | "agreement", "state": "ready" | "agreement_required",
/// "agreement_text", "files": [{"index", "name", "content_type", "size", "sha256"}],
/// "expires_at", "sender"}`.
/// Errors: O365_INVALID_ARGUMENT `link_invalid` (changed or cut token); O365_NOT_FOUND
/// `link_expired` (details.expired_at) or `link_not_found`.
///
/// # Safety
/// `client` is NULL or a live handle; `request_json` is NULL or a NUL-terminated string;
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn o365_link_open(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: LinkOpen| async move { c.link_open(r).await },
    )
}

/// Records that the recipient accepted the agreement of an `_agreementLink`, with time and
/// client address, and publishes a `link_accepted` event.
/// Request: `{"token", "client_address": "<IP>", "user_agent"?}`.
/// Result: `{"accepted": true, "accepted_at", "acceptance": "<receipt for o365_link_download>",
/// "files": [...]}`. Errors as for o365_link_open; O365_INVALID_ARGUMENT `no_agreement` for a
/// plain download link.
///
/// # Safety
/// As for o365_link_open.
#[no_mangle]
pub unsafe extern "C" fn o365_link_accept(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: LinkAccept| async move { c.link_accept(r).await },
    )
}

/// Writes one file of a link to a path (the host streams it to the recipient) and publishes
/// a `link_downloaded` event.
/// Request: `{"token", "file": <index>, "path": "/tmp/...", "acceptance"?: "<receipt>",
/// "client_address"?, "user_agent"?}`; agreement links need the receipt of o365_link_accept.
/// Result: `{"name", "content_type", "size", "sha256", "path"}`.
/// Errors as for o365_link_open; O365_FORBIDDEN `agreement_required`; O365_NOT_FOUND
/// `file_not_found`.
///
/// # Safety
/// As for o365_link_open.
#[no_mangle]
pub unsafe extern "C" fn o365_link_download(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: LinkDownload| async move { c.link_download(r).await },
    )
}

/// Deletes the kept files of expired links now (also done during sends and link calls).
/// Request: `{}`. Result: `{"purged": n}`.
///
/// # Safety
/// As for o365_link_open.
#[no_mangle]
pub unsafe extern "C" fn o365_links_purge(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: LinksPurge| async move { c.links_purge(r).await },
    )
}
