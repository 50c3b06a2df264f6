//! Housekeeping.

use super::{call, o365_client, o365_status};
use crate::service::Maintenance;
use std::ffi::c_char;

/// Refreshes tokens of mailboxes idle for `idle_refresh_days` (default 30), so no mailbox
/// reaches Microsoft's 90-day inactivity limit, and forgets acked events older than
/// `keep_acked_events_days` (default 30), and purges download links past their expiry with
/// their files. Request: `{}` or `{"idle_refresh_days"?, "keep_acked_events_days"?}`.
/// Result: `{"tokens_refreshed": n, "events_purged": n, "links_purged": n}`.
/// The background scheduler runs it hourly; hosts without it call it from cron.
///
/// # Safety
/// `client` is NULL or a live handle; `request_json` is NULL or a NUL-terminated string;
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn o365_maintenance(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: Maintenance| async move { c.maintenance(r).await },
    )
}
