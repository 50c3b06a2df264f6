//! Operating the library: metrics and the host-pulled log buffer.

use super::{call_here, o365_client, o365_status};
use crate::service::TakeLogs;
use crate::telemetry::metrics::MetricsRequest;
use std::ffi::c_char;

/// Counters and histograms of this client, and queue depths of its store.
///
/// Request: `{"format"?: "json" | "prometheus"}`.
/// Result (json): `{"client", "metrics": [{"name", "type": "counter" | "gauge" |
/// "histogram", "help", "samples": [{"labels": {...}, "value"} | {"labels", "buckets":
/// [[le, cumulative count], ...], "sum", "count"}]}]}`.
/// Result (prometheus): `{"format": "prometheus", "content_type": "text/plain;
/// version=0.0.4; charset=utf-8", "text": "<Prometheus text exposition>"}`: serve `text`
/// with that content type on the host's `/metrics`.
/// Families: o365_graph_requests_total{route,method,status},
/// o365_graph_request_duration_seconds (histogram), o365_graph_retries_total{reason},
/// o365_graph_throttled_total, o365_token_refreshes_total{outcome},
/// o365_sign_ins_total{phase,outcome}, o365_sends_total{outcome},
/// o365_sync_rounds_total{status}, o365_sync_messages_total, o365_outbox_entries{state},
/// o365_events_unacked, o365_sync_lag_seconds{mailbox,address},
/// o365_panics_caught_total (process), o365_log_records_dropped_total. Counters count
/// this client's work since it was opened; gauges are read from the store (every process).
/// Needs no runtime and no network.
///
/// # Safety
/// `client` is NULL or a live handle; `request_json` is NULL or a NUL-terminated string;
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn o365_metrics(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call_here(client, request_json, out_json, |c, r: MetricsRequest| {
        c.metrics(r)
    })
}

/// Removes and returns the oldest log records this client buffered (config `log.buffer`),
/// for the host to hand to its own logger (e.g. PSR-3). The library never calls back.
///
/// Request: `{"max"?: 100}` (1..10000).
/// Result: `{"records": [{"ts", "level", "target", "message", "client", "mailbox"?,
/// "request_id"?, "route"?, "status"?, "duration_ms"?, "attempt"?, ...}], "dropped": n}`
/// (`dropped`: records lost because the buffer was full since the previous take).
/// Errors: O365_CONFLICT `log_buffer_off` when `log.buffer` is 0.
///
/// # Safety
/// As for o365_metrics.
#[no_mangle]
pub unsafe extern "C" fn o365_take_logs(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call_here(client, request_json, out_json, |c, r: TakeLogs| {
        c.take_logs(r)
    })
}
