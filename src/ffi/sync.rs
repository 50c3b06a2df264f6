//! Folders, messages, sync, cache (issue 5; seed points 8 and 9).
//!
//! Every request names the mailbox (id or address) and the acting CRM `user`, who must be
//! assigned to it (else O365_FORBIDDEN). Message ids are Graph immutable ids: they survive
//! moves, so the CRM can keep them.

use super::{call, call_warm, o365_client, o365_status};
use crate::service::{
    CacheClear, DeleteMessage, GetAttachment, GetMessage, ListFolders, ListMessages, MarkRead,
    MoveFolderContents, MoveMessage, SyncMailbox,
};
use std::ffi::c_char;

/// The mailbox's folder tree.
///
/// Request: `{"mailbox", "user", "max_age_ms"?: 60000, "include_hidden"?: false}`.
/// Result: `{"mailbox", "synced_at", "folders": [{"id", "parent_id" (null at top level),
/// "display_name" (as the mailbox shows it, e.g. "Posteingang"), "well_known" (role:
/// "inbox", "sentitems", "drafts", "deleteditems", "junkemail", "archive", "outbox", ... or
/// null; from Microsoft's well-known folder names, never from display names),
/// "unread_count", "total_count", "child_count", "hidden"}]}`.
/// Answered from the local cache when it was refreshed within `max_age_ms` (default
/// `sync.max_age_ms`), without any network request; else refreshed with `mailFolders/delta`.
/// When the refresh fails but a cached tree exists, that tree comes back with
/// `"stale": true` and `"refresh_error"`. While Microsoft throttles the mailbox for longer
/// than a call waits (a 429 with a long `Retry-After`, learned by every process on the
/// store), no request is sent: the cached tree comes back stale at once, or O365_THROTTLED
/// with `details.retry_after_ms` when nothing is cached.
/// Errors: O365_AUTH_REQUIRED (sign the mailbox in), O365_THROTTLED, O365_NETWORK,
/// O365_REMOTE.
///
/// # Safety
/// `client` is NULL or a live handle; `request_json` is NULL or a NUL-terminated string;
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn o365_list_folders(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    // Warm path: a fresh cache is answered right here on the calling thread, without the
    // runtime: an answer kept serialized while the store's change counter of the mailbox
    // stays the same (one indexed read), else a few SQLite reads.
    call_warm(
        client,
        request_json,
        out_json,
        |c, r: &ListFolders| c.list_folders_warm(r),
        |c, r: ListFolders| async move { c.list_folders(r).await },
    )
}

/// A page of one folder's messages, newest first.
///
/// Request: `{"mailbox", "user", "folder": "<id, role such as inbox, or display name>",
/// "cursor"?: "<next_cursor of the previous page>", "limit"?: 50 (1..500),
/// "sort"?: "newest" | "oldest", "unread_only"?: false, "search"?: "<substring of subject,
/// sender name or address>", "max_age_ms"?}`.
/// Result: `{"mailbox", "folder": {...}, "messages": [{"id", "folder_id",
/// "internet_message_id", "conversation_id", "subject", "from": {"name", "address"}, "to",
/// "cc", "bcc", "reply_to", "received_at", "sent_at", "is_read", "is_draft",
/// "has_attachments", "importance", "flag", "categories", "body_preview"}],
/// "next_cursor": "..." | null}`. The folder is delta-synced first when its last sync is
/// older than `max_age_ms`.
/// Errors: O365_NOT_FOUND (no such folder), O365_INVALID_ARGUMENT (bad cursor, limit, sort).
///
/// # Safety
/// As for o365_list_folders.
#[no_mangle]
pub unsafe extern "C" fn o365_list_messages(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    // Warm path: a first page kept serialized while the mailbox is unchanged.
    call_warm(
        client,
        request_json,
        out_json,
        |c, r: &ListMessages| c.list_messages_warm(r),
        |c, r: ListMessages| async move { c.list_messages(r).await },
    )
}

/// One message with headers, body and attachment list.
///
/// Request: `{"mailbox", "user", "id", "refresh"?: false}`. Result: the message fields of
/// o365_list_messages plus `"body": {"content_type": "html" | "text", "content"}`,
/// `"attachments": [{"id", "name", "content_type", "size", "is_inline", "content_id",
/// "kind"}]` and `"from_cache"`. The body is fetched once and then kept in the cache until
/// the message changes. Errors: O365_NOT_FOUND.
///
/// # Safety
/// As for o365_list_folders.
#[no_mangle]
pub unsafe extern "C" fn o365_get_message(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: GetMessage| async move { c.get_message(r).await },
    )
}

/// An attachment's content.
///
/// Request: `{"mailbox", "user", "message": "<message id>", "attachment": "<attachment id>",
/// "path"?: "/file/to/write"}`. Result: the attachment's metadata plus
/// `"content_base64"`, or, with `path`, `"path"` and `"bytes_written"` (the file is
/// overwritten). Errors: O365_NOT_FOUND; O365_INVALID_ARGUMENT for an item or reference
/// attachment (no bytes) or an unwritable path.
///
/// # Safety
/// As for o365_list_folders.
#[no_mangle]
pub unsafe extern "C" fn o365_get_attachment(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: GetAttachment| async move { c.get_attachment(r).await },
    )
}

/// Marks messages read (or unread with `"read": false`).
///
/// Request: `{"mailbox", "user", "id": "..." | "ids": ["...", ...] (up to 1000; sent 20 per
/// `$batch`), "read"?: true}`. Result: `{"read", "changed": [ids], "failed": [{"id",
/// "status", "error"}]}`. The cache and the folder's unread count change at once.
///
/// # Safety
/// As for o365_list_folders.
#[no_mangle]
pub unsafe extern "C" fn o365_mark_read(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: MarkRead| async move { c.mark_read(r).await },
    )
}

/// Moves a message to another folder.
///
/// Request: `{"mailbox", "user", "id", "to": "<folder id, role or display name>"}`.
/// Result: the message in its new folder, plus `"previous_id"` (equal to `id`: immutable ids
/// survive moves). Errors: O365_NOT_FOUND for an unknown message or folder.
///
/// # Safety
/// As for o365_list_folders.
#[no_mangle]
pub unsafe extern "C" fn o365_move_message(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: MoveMessage| async move { c.move_message(r).await },
    )
}

/// Deletes a message (Graph DELETE). Request: `{"mailbox", "user", "id"}`.
/// Result: `{"deleted": true, "id"}`. Errors: O365_NOT_FOUND.
///
/// # Safety
/// As for o365_list_folders.
#[no_mangle]
pub unsafe extern "C" fn o365_delete_message(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: DeleteMessage| async move { c.delete_message(r).await },
    )
}

/// Brings the cache up to date with the server: folder tree, then per-folder
/// `messages/delta` rounds (delta links kept in the store; an expired token recovers with a
/// full resync of that folder), then counts.
///
/// Request: `{"mailbox", "user", "folders"?: ["inbox", "<id>", "<display name>", ...]}`.
/// Result: `{"run", "status": "ok" | "partial", "upserted", "removed", "duration_ms",
/// "folders": [{"folder_id", "display_name", "well_known", "status": "ok" | "busy" |
/// "failed", "upserted", "removed", "swept", "pages", "full", "recovered_expired_token",
/// "error"?}]}`. Publishes `sync_progress` events (`folder`, `done`, `total`) for folders
/// with more than one page, and `sync_completed` or `sync_failed` (with the reason).
/// Errors: when every folder failed, the first folder's error (e.g. O365_AUTH_REQUIRED).
///
/// # Safety
/// As for o365_list_folders.
#[no_mangle]
pub unsafe extern "C" fn o365_sync(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: SyncMailbox| async move { c.sync(r).await },
    )
}

/// Wipes the mailbox's cached folders, messages and delta links; the next read or sync
/// starts over from the server. Request: `{"mailbox", "user"}`.
/// Result: `{"cleared": true, "mailbox"}`.
///
/// # Safety
/// As for o365_list_folders.
#[no_mangle]
pub unsafe extern "C" fn o365_cache_clear(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: CacheClear| async move { c.cache_clear(r).await },
    )
}

/// Moves every message of one folder into another, then clears the cache (seed point 9:
/// `{"from": "Gesendete Objekte", "to": "sentitems"}`).
///
/// Request: `{"mailbox", "user", "from": "<folder id, role or display name>", "to": ...}`.
/// Result: the job `{"id", "from_id", "from_name", "to_id", "to_name", "state": "done" |
/// "running", "moved", "total", "last_error", "created_at", "updated_at"}` (plus
/// `"busy": true` when another process is running it). The job is durable: after a crash,
/// the same call (or the background scheduler) resumes it, and no message moves twice.
///
/// # Safety
/// As for o365_list_folders.
#[no_mangle]
pub unsafe extern "C" fn o365_move_folder_contents(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: MoveFolderContents| async move { c.move_folder_contents(r).await },
    )
}
