//! The link page behind `_downloadLink(Text)` and `_agreementLink`, served by the host's web
//! server. These calls take the link token from the URL, not a CRM user.

use super::{call, client_of, guard, o365_client, o365_status, read_str};
use crate::error::{status, Error};
use crate::service::{LinkAccept, LinkDownload, LinkOpen, LinkPage, LinksPurge};
use std::ffi::c_char;

/// The whole link page: pass the request the web server received, send back what it says.
/// Request: `{"method": "GET" | "HEAD" | "POST", "token": "<token from the link URL>",
/// "query"?: {<the URL's query parameters>}, "form"?: {<posted form fields>},
/// "cookies"?: {<request cookies>}, "accept_language"?, "range"?, "if_none_match"?,
/// "client_address"?: "<IP>", "user_agent"?}` (PHP: `$_GET`, `$_POST`, `$_COOKIE`,
/// `$_SERVER['HTTP_ACCEPT_LANGUAGE']`, `['HTTP_RANGE']`, `['REMOTE_ADDR']`, ...).
/// Result: `{"status": <HTTP status>, "headers": {"Name": "value", ...}, "body"?: "<html>",
/// "stream"?: {"id", "offset", "length", "size"}}`: send the status and headers, then the
/// body, or `stream.length` bytes read with o365_link_read(stream.id, pos, ...) for pos from 0.
/// Pages: the overview (sender name and address, subject, files, expiry; for an agreement
/// link the agreement and an accept form first); friendly pages for invalid (400/404),
/// expired and purged (410) links, a file before acceptance (403), a stale form (403).
/// Files: 200 or 206 (`Range`), 416 when unsatisfiable, 304 for a matching `If-None-Match`.
/// The page's own URLs add `f` (file) and `a` (acceptance receipt) to `links.base_url`.
/// German or English from `accept_language`, else `links.language`.
/// Errors (not pages): O365_INVALID_ARGUMENT for a malformed request; O365_STORE.
///
/// # Safety
/// `client` is NULL or a live handle; `request_json` is NULL or a NUL-terminated string;
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn o365_link_page(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: LinkPage| async move { c.link_page(r).await },
    )
}

/// Reads file bytes of a stream that o365_link_page answered with: up to `cap` bytes from
/// position `pos` (0 = the first byte of the answer's range) into `buf`; `*out_n` receives
/// how many (0 once `pos` reaches `stream.length`). Memory stays bounded by `cap` whatever
/// the file size: call it in a loop with e.g. 1 MiB. When a read delivers the last byte of
/// an answer whose range reaches the end of the file, the download counts as completed and
/// one `link_downloaded` event is published for that answer (never per chunk; a repeated
/// last read does not publish again).
/// On O365_OK `*out_json` (if not NULL) is set to NULL: nothing to free. Otherwise it holds
/// the error document. Errors: O365_INVALID_ARGUMENT `stream_invalid` (not an id from
/// o365_link_page), `null_argument`; O365_NOT_FOUND `link_expired` (expired meanwhile);
/// O365_STORE `link_file_damaged` (`blob_damaged` for a file kept in a PostgreSQL store).
///
/// # Safety
/// `client` is NULL or a live handle; `stream` is NULL or a NUL-terminated string; `buf` is
/// NULL (only with `cap` 0) or writable for `cap` bytes; `out_n` is NULL or writable;
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn o365_link_read(
    client: *mut o365_client,
    stream: *const c_char,
    pos: u64,
    buf: *mut u8,
    cap: usize,
    out_n: *mut usize,
    out_json: *mut *mut c_char,
) -> o365_status {
    let mut doc: *mut c_char = std::ptr::null_mut();
    let st = guard(&mut doc, || {
        let c = client_of(client)?;
        let s = read_str(stream, "stream", 4096)?;
        if out_n.is_null() {
            return Err(
                Error::invalid("null_argument", "out_n is NULL").with_detail("argument", "out_n")
            );
        }
        if buf.is_null() && cap > 0 {
            return Err(
                Error::invalid("null_argument", "buf is NULL").with_detail("argument", "buf")
            );
        }
        let out: &mut [u8] = if cap == 0 {
            &mut []
        } else {
            std::slice::from_raw_parts_mut(buf, cap)
        };
        let n = c.link_read(s, pos, out)?;
        *out_n = n;
        Ok(String::new())
    });
    if st == status::OK {
        super::client::o365_string_free(doc);
        doc = std::ptr::null_mut();
    }
    if out_json.is_null() {
        super::client::o365_string_free(doc);
    } else {
        *out_json = doc;
    }
    st
}

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
