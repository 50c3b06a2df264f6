//! Mailbox records (seed points 2, 3, 5).

use super::{call, o365_client, o365_status};
use crate::service::{GetMailbox, ImportMailbox, ListMailboxes, RemoveMailbox, UpdateMailbox};
use std::ffi::c_char;

/// Imports a mailbox by its full address and assigns CRM users.
///
/// Request: `{"address": "anna@contoso.com", "users": ["u1", "u2"], "main_user"?: "u1",
/// "kind"?: "user" | "alias" | "shared", "alias_of"?: "owner@contoso.com" (alias only),
/// "settings"?: {"book_external_sent"?: bool, "background_sync"?: bool}}`.
/// Result: the mailbox `{"id", "address", "kind", "alias_of", "users", "main_user",
/// "auth_state": "not_authenticated", "settings", "account", "created_at", "updated_at"}`.
/// Errors: O365_ALREADY_EXISTS for an address imported before; O365_INVALID_ARGUMENT for a
/// bad address, no users, or a main user not among the users.
///
/// # Safety
/// `client` is NULL or a live handle; `request_json` is NULL or a NUL-terminated string;
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn o365_import_mailbox(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: ImportMailbox| async move { c.import_mailbox(r).await },
    )
}

/// Lists mailboxes. Request: `{}` for all, or `{"user": "u1"}` for those u1 is assigned to.
/// Result: `{"mailboxes": [mailbox, ...]}` ordered by address.
///
/// # Safety
/// As for o365_import_mailbox.
#[no_mangle]
pub unsafe extern "C" fn o365_list_mailboxes(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: ListMailboxes| async move { c.list_mailboxes(r).await },
    )
}

/// One mailbox. Request: `{"mailbox": "<id or address>", "user"?: "u1"}`; with `user`, that
/// user must be assigned (else O365_FORBIDDEN). Result: the mailbox.
///
/// # Safety
/// As for o365_import_mailbox.
#[no_mangle]
pub unsafe extern "C" fn o365_get_mailbox(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: GetMailbox| async move { c.get_mailbox(r).await },
    )
}

/// Changes users, main user or settings. Request: `{"mailbox", "user"?, "users"?: [...],
/// "main_user"?: "...", "settings"?: {...}}` (settings are merged). Result: the mailbox.
///
/// # Safety
/// As for o365_import_mailbox.
#[no_mangle]
pub unsafe extern "C" fn o365_update_mailbox(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: UpdateMailbox| async move { c.update_mailbox(r).await },
    )
}

/// Removes a mailbox with its tokens, cache and pending sign-ins.
/// Request: `{"mailbox", "user"?}`. Result: `{"removed": true, "id", "address"}`.
///
/// # Safety
/// As for o365_import_mailbox.
#[no_mangle]
pub unsafe extern "C" fn o365_remove_mailbox(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: RemoveMailbox| async move { c.remove_mailbox(r).await },
    )
}
