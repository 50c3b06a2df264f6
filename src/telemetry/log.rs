//! The `info` records of the main operations (one function per kind, so the field names
//! stay the same everywhere) and their counters.

use super::Telemetry;
use crate::error::{Error, Result};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Whatever carries a client's telemetry (the core, the client).
pub trait Observed {
    fn telemetry(&self) -> &Arc<Telemetry>;
}

/// What a sync round reports to the log.
pub trait RoundSummary {
    fn status(&self) -> &str;
    /// Messages stored or removed.
    fn messages(&self) -> u64;
    fn folders(&self) -> usize;
    fn sync_id(&self) -> &str;
}

/// Microsoft's `request-id` of the answer an error came from (empty when none).
fn request_id(e: &Error) -> &str {
    e.fault()
        .details
        .get("request_id")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// A token refresh that this process carried out (`Ok(None)`: another process was faster).
pub fn refresh(c: &impl Observed, mailbox: &str, r: &Result<Option<String>>, took: Duration) {
    match r {
        Ok(Some(_)) => {
            c.telemetry().metrics.refresh("ok");
            tracing::info!(mailbox, duration_ms = ms(took), "token refreshed");
        }
        Ok(None) => {}
        Err(e) => {
            c.telemetry().metrics.refresh("failed");
            tracing::warn!(
                mailbox,
                duration_ms = ms(took),
                error = e.kind(),
                request_id = request_id(e),
                "token refresh failed: {}",
                e.message()
            );
        }
    }
}

/// A sign-in step: `start` (authorize URL or device code handed out) or `complete`.
pub fn sign_in(
    c: &impl Observed,
    complete: bool,
    mailbox: Option<&str>,
    r: &Result<Value>,
    took: Option<Duration>,
) {
    let phase = if complete { "complete" } else { "start" };
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    match r {
        Ok(v) => {
            c.telemetry().metrics.sign_in(phase, "ok");
            let mailbox = mailbox
                .map(str::to_owned)
                .or_else(|| field(v, "mailbox"))
                .unwrap_or_default();
            let status = field(v, "status").unwrap_or_default();
            let flow = field(v, "flow").unwrap_or_default();
            tracing::info!(
                mailbox = mailbox.as_str(),
                phase,
                status = status.as_str(),
                flow = flow.as_str(),
                duration_ms = took.map(ms),
                "sign-in {}",
                if complete { "completed" } else { "started" }
            );
        }
        Err(e) => {
            c.telemetry().metrics.sign_in(phase, "failed");
            sign_in_failed(mailbox, phase, e, took);
        }
    }
}

fn sign_in_failed(mailbox: Option<&str>, phase: &str, e: &Error, took: Option<Duration>) {
    let code = e.graph_code().unwrap_or("");
    tracing::warn!(
        mailbox = mailbox.unwrap_or(""),
        phase,
        error = e.kind(),
        request_id = request_id(e),
        code,
        status = e.status(),
        duration_ms = took.map(ms),
        "sign-in failed: {}",
        e.message()
    );
}

/// An `o365_send` call, or a queued send the outbox finished.
pub fn send(
    c: &impl Observed,
    mailbox: &str,
    send_id: &str,
    outcome: &str,
    error: Option<&Error>,
    took: Option<Duration>,
) {
    c.telemetry().metrics.send(outcome);
    let duration_ms = took.map(ms);
    match error {
        None => tracing::info!(mailbox, send_id, outcome, duration_ms, "send {outcome}"),
        Some(e) => tracing::warn!(
            mailbox,
            send_id,
            outcome,
            duration_ms,
            error = e.kind(),
            request_id = request_id(e),
            status = e.status(),
            "send failed: {}",
            e.message()
        ),
    }
}

/// One mailbox sync round.
pub fn sync_round(c: &impl Observed, mailbox: &str, r: &Result<impl RoundSummary>, took: Duration) {
    match r {
        Ok(rep) => {
            let messages = rep.messages();
            c.telemetry().metrics.sync_round(rep.status(), messages);
            tracing::info!(
                mailbox,
                sync_id = rep.sync_id(),
                status = rep.status(),
                folders = rep.folders(),
                messages,
                duration_ms = ms(took),
                "sync round finished"
            );
        }
        Err(e) => {
            c.telemetry().metrics.sync_round("failed", 0);
            tracing::warn!(
                mailbox,
                status = "failed",
                duration_ms = ms(took),
                error = e.kind(),
                request_id = request_id(e),
                "sync round failed: {}",
                e.message()
            );
        }
    }
}
