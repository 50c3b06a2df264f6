//! The error policy of the outbox: what counts as transient, the back-off, how an entry
//! fails or is withdrawn, and errors stored with an entry and rebuilt from it.

use super::*;

/// Hint of `alias_send_not_enabled` (seed point 12).
pub const ALIAS_HINT: &str =
    "The Exchange / Microsoft 365 administrator must enable \"Send from alias\" \
     for the organisation (Exchange admin center: Settings > Mail flow > \"Send from alias\"), \
     or in Exchange Online PowerShell: Set-OrganizationConfig -SendFromAliasEnabled $true";

pub(super) fn unexpected(what: &str) -> Error {
    Error::Remote(Fault::new(
        "unexpected_response",
        format!("Microsoft Graph: {what}"),
    ))
}

pub(super) fn ignore_not_found(e: Error) -> Result<crate::graph::Response> {
    if e.status() == crate::error::status::NOT_FOUND {
        Ok(crate::graph::Response {
            status: 404,
            headers: Default::default(),
            body: Default::default(),
        })
    } else {
        Err(e)
    }
}

/// Turns Graph's refusals into errors that say what to do.
pub fn explain(e: Error, mailbox: &MailboxRecord) -> Error {
    if e.graph_code() != Some("ErrorSendAsDenied") {
        return e;
    }
    let details = e.fault().details.clone();
    let mut out = if mailbox.kind == "alias" {
        Error::forbidden(
            "alias_send_not_enabled",
            format!(
                "Microsoft 365 refused to send from the alias '{}': the organisation does not allow sending from aliases",
                mailbox.address
            ),
        )
        .with_hint(ALIAS_HINT)
    } else {
        Error::forbidden(
            "send_as_denied",
            format!(
                "the signed-in account may not send as '{}'",
                mailbox.address
            ),
        )
        .with_hint(
            "an Exchange administrator must grant the signed-in account the \"Send As\" right on this mailbox \
             (Exchange admin center: Recipients > Mailboxes > Delegation, or Add-RecipientPermission)",
        )
    };
    for (k, v) in details {
        out = out.with_detail(&k, v);
    }
    out
}

/// Errors worth another attempt later.
pub(super) fn transient(e: &Error) -> bool {
    match e {
        Error::Network(_) | Error::Timeout(_) | Error::Throttled(_) => true,
        Error::Store(f) => f.kind == "store_busy",
        Error::NotFound(f) => f.kind == "graph_not_found",
        Error::Remote(f) => f
            .details
            .get("http_status")
            .and_then(Value::as_u64)
            .map(|s| s >= 500 || s == 408 || s == 409)
            .unwrap_or(f.kind == "unexpected_response"),
        _ => false,
    }
}

pub(super) fn backoff(e: &Error, attempts: i64) -> i64 {
    if let Some(ms) = e
        .fault()
        .details
        .get("retry_after_ms")
        .and_then(Value::as_i64)
    {
        return ms.max(100);
    }
    if e.kind() == "outcome_unknown" {
        return 500;
    }
    (500i64 << attempts.clamp(0, 10) as u32).min(300_000)
}

pub(super) fn fail(c: &Core, row: &OutboxRecord, e: &Error) -> Result<()> {
    let doc = e.to_document();
    c.store().update_outbox(
        &row.send_id,
        &OutboxUpdate {
            state: Some("failed".into()),
            error: Some(doc.clone()),
            ..Default::default()
        },
        c.now_ms(),
    )?;
    cleanup_spool(c, &row.send_id);
    crate::telemetry::log::send(c, &row.mailbox_id, &row.send_id, "failed", Some(e), None);
    let notify = c
        .store()
        .get_outbox(&row.send_id)?
        .map(|r| r.notify)
        .unwrap_or(false);
    c.audit(
        Some(&row.mailbox_id),
        None,
        "send",
        "failed",
        Some(format!("{}: {}", row.send_id, e)),
    );
    if notify {
        c.publish(
            "send_failed",
            Some(&row.mailbox_id),
            Some(format!("send_failed:{}", row.send_id)),
            json!({
                "send_id": row.send_id,
                "idempotency_key": row.idempotency_key,
                "internet_message_id": row.internet_message_id,
                "error": doc,
            }),
        )?;
    }
    Ok(())
}

/// Ends an entry the host chose not to queue (`queue: false`): failed with `e`, without a
/// `send_failed` event (the host got the error from `o365_send`).
pub fn withdraw(c: &Core, row: &OutboxRecord, e: &Error) -> Result<()> {
    c.store().update_outbox(
        &row.send_id,
        &OutboxUpdate {
            notify: Some(false),
            ..Default::default()
        },
        c.now_ms(),
    )?;
    fail(c, row, e)
}

/// The error a failed entry ended with, rebuilt from its stored document.
pub fn stored_error(row: &OutboxRecord) -> Error {
    let doc = row.error.clone().unwrap_or(Value::Null);
    let mut e = error_from_document(&doc);
    e = e.with_detail("send_id", row.send_id.as_str());
    e
}

/// Rebuilds an [`Error`] from an error document.
pub fn error_from_document(doc: &Value) -> Error {
    let kind = doc
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("send_failed")
        .to_owned();
    let message = doc
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the send failed")
        .to_owned();
    let mut f = Fault::new(kind, message);
    f.hint = doc.get("hint").and_then(Value::as_str).map(str::to_owned);
    if let Some(Value::Object(d)) = doc.get("details") {
        f.details = d.clone();
    }
    use crate::error::status as s;
    match doc.get("status").and_then(Value::as_i64).unwrap_or(0) as i32 {
        s::INVALID_ARGUMENT => Error::InvalidArgument(f),
        s::NOT_FOUND => Error::NotFound(f),
        s::ALREADY_EXISTS => Error::AlreadyExists(f),
        s::FORBIDDEN => Error::Forbidden(f),
        s::AUTH_REQUIRED => Error::AuthRequired(f),
        s::CONSENT_REQUIRED => Error::ConsentRequired(f),
        s::POLICY_VIOLATION => Error::PolicyViolation(f),
        s::THROTTLED => Error::Throttled(f),
        s::NETWORK => Error::Network(f),
        s::REMOTE => Error::Remote(f),
        s::STORE => Error::Store(f),
        s::TIMEOUT => Error::Timeout(f),
        s::CONFLICT => Error::Conflict(f),
        _ => Error::Internal(f),
    }
}
