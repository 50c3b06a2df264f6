//! The event queue (pulled by the host; the library never calls back into it).

use super::{client_of, guard, o365_client, o365_status, read_str};
use crate::runtime;
use crate::service::NextEventFilter;
use std::ffi::c_char;
use std::time::Duration;

/// Takes the next pending event, waiting up to `timeout_ms` (0: do not wait).
///
/// On O365_OK `*out_json` is the event: `{"id", "type", "mailbox", "created_at",
/// "redelivered", ...fields of the type}`. O365_TIMEOUT (error `no_event`) when none came.
/// An event stays reserved for this client for `events.lease_ms`; confirm it with
/// o365_ack_event, or it is handed out again after the lease, after o365_client_free, or
/// after a restart. Events from every process sharing the store are seen: with PostgreSQL a
/// waiting call wakes as soon as any process on any host commits one (LISTEN/NOTIFY);
/// otherwise others' events are looked for every `events.poll_ms`.
///
/// # Safety
/// `client` is NULL or a live handle; `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn o365_next_event(
    client: *mut o365_client,
    timeout_ms: u32,
    out_json: *mut *mut c_char,
) -> o365_status {
    take_event(client, None, timeout_ms, out_json)
}

/// Both event takers: `filter_json` NULL takes any event.
///
/// # Safety
/// As for o365_next_event_filtered (`filter_json` may be NULL here).
unsafe fn take_event(
    client: *mut o365_client,
    filter_json: Option<*const c_char>,
    timeout_ms: u32,
    out_json: *mut *mut c_char,
) -> o365_status {
    guard(out_json, || {
        let c = client_of(client)?;
        let _in_client = c.span().enter();
        let filter: NextEventFilter = match filter_json {
            Some(p) => crate::json::from_str(read_str(p, "filter_json", 64 * 1024)?)?,
            None => NextEventFilter::default(),
        };
        let wait = Duration::from_millis(timeout_ms as u64);
        let ev = runtime::block_on(
            c.worker_threads(),
            wait + Duration::from_secs(30),
            c.next_event_filtered(wait, filter),
        )?;
        Ok(serde_json::to_string(&ev)?)
    })
}

/// Like o365_next_event, but takes only events matching `filter_json`:
/// `{"types"?: ["activity", "sync_progress", ...], "mailbox"?: "<id or address>"}` (absent
/// or empty parts match everything). Events that do not match stay in the queue for other
/// consumers, untouched (not reserved, not counted as delivered), so independent workers
/// (an activity worker, a progress poller, a link-event consumer) each take their own kinds;
/// every event is still handed to one consumer at a time and stays until acked.
/// Errors: O365_INVALID_ARGUMENT (unknown type or field), O365_NOT_FOUND (unknown
/// mailbox), O365_TIMEOUT (`no_event`).
///
/// # Safety
/// `client` is NULL or a live handle; `filter_json` is NULL or a NUL-terminated string;
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn o365_next_event_filtered(
    client: *mut o365_client,
    filter_json: *const c_char,
    timeout_ms: u32,
    out_json: *mut *mut c_char,
) -> o365_status {
    take_event(client, Some(filter_json), timeout_ms, out_json)
}

/// Confirms an event by id: it is never handed out again. Acking twice is O365_OK; an
/// unknown id is O365_NOT_FOUND. `out_json` may be NULL.
///
/// # Safety
/// `client` is NULL or a live handle; `event_id` is NULL or a NUL-terminated string;
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn o365_ack_event(
    client: *mut o365_client,
    event_id: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    guard(out_json, || {
        let c = client_of(client)?;
        let _in_client = c.span().enter();
        let id = read_str(event_id, "event_id", 1024)?;
        Ok(serde_json::to_string(&c.ack_event(id)?)?)
    })
}
