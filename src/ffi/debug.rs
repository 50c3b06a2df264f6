//! Test-only exports, inert unless the client config says `"debug": {"test_hooks": true}`.

use super::{call, o365_client, o365_status};
use crate::error::{Error, Result};
use crate::service::contract::{
    DebugCounters, DebugCountersResult, DebugEmitEvent, DebugEmitted, DebugPanic, DebugPanicked,
};
use crate::service::Client;
use std::ffi::c_char;

fn hooks_enabled(c: &Client) -> Result<()> {
    if c.config().debug.test_hooks {
        Ok(())
    } else {
        Err(Error::forbidden(
            "test_hooks_disabled",
            "test hooks are disabled; set {\"debug\": {\"test_hooks\": true}} in the client config",
        ))
    }
}

/// Test hook: panics inside the export (request `{"message"?: "..."}`), to show that a
/// panic comes back as O365_INTERNAL and the process keeps working. With `{"job":
/// "scheduler" | "send_worker" | "device_code"}` it panics nowhere now but makes that
/// background job's next iteration panic (result `{"armed": job}`): the job is restarted
/// and the panic counted in `o365_get_mailbox` `health.background`. O365_FORBIDDEN unless
/// test hooks are enabled.
///
/// # Safety
/// As for o365_import_mailbox.
#[no_mangle]
pub unsafe extern "C" fn o365_debug_panic(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: DebugPanic| async move {
            hooks_enabled(&c)?;
            if let Some(job) = r.job {
                if !crate::service::supervisor::JOBS.contains(&job.as_str()) {
                    return Err(Error::invalid_field(
                        "job",
                        format!(
                            "unknown job '{job}': use one of {}",
                            crate::service::supervisor::JOBS.join(", ")
                        ),
                    ));
                }
                c.jobs().arm(&job);
                return Ok(DebugPanicked { armed: Some(job) });
            }
            let msg = r
                .message
                .unwrap_or_else(|| "forced panic (o365_debug_panic)".into());
            if !msg.is_empty() {
                panic!("{msg}");
            }
            Ok(DebugPanicked { armed: None })
        },
    )
}

/// Test hook: stores an event `{"type", "mailbox"?, "id"?, "payload"?: {...}}` and returns
/// `{"id", "new"}`. O365_FORBIDDEN unless test hooks are enabled.
///
/// # Safety
/// As for o365_import_mailbox.
#[no_mangle]
pub unsafe extern "C" fn o365_debug_emit_event(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: DebugEmitEvent| async move {
            hooks_enabled(&c)?;
            if r.kind.is_empty() {
                return Err(Error::invalid_field("type", "event type must not be empty"));
            }
            let (id, new) = c.publish(&r.kind, r.mailbox.as_deref(), r.id, r.payload)?;
            Ok(DebugEmitted { id, new })
        },
    )
}

/// Test hook: process-wide counters for leak tests that count instead of measuring memory:
/// `{"strings_outstanding": n, "clients_alive": n}`: strings the library handed out and the
/// host has not yet freed with o365_string_free (this result not counted), and clients whose
/// state is still alive (the calling one included). Request `{}`. O365_FORBIDDEN unless test
/// hooks are enabled.
///
/// # Safety
/// As for o365_import_mailbox.
#[no_mangle]
pub unsafe extern "C" fn o365_debug_counters(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, _r: DebugCounters| async move {
            hooks_enabled(&c)?;
            use std::sync::atomic::Ordering;
            Ok(DebugCountersResult {
                clients_alive: crate::service::LIVE_CLIENTS.load(Ordering::SeqCst),
                strings_outstanding: super::STRINGS_OUTSTANDING.load(Ordering::SeqCst),
            })
        },
    )
}
