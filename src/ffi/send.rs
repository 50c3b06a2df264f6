//! Sending (seed points 9, 11, 12).

use super::{call, o365_client, o365_status};
use crate::service::{OutboxProcess, SendMail, SendStatus};
use std::ffi::c_char;

/// Sends one mail exactly once, under Microsoft's limits.
///
/// Request: `{"mailbox": "<id or address>", "user": "<CRM user>", "message": {"to": [addr],
/// "cc"?: [addr], "bcc"?: [addr], "reply_to"?: [addr], "subject": "...", "body_html" | "body_text":
/// "...", "attachments"?: [{"name", "content_type"?, "path" | "base64", "content_id"?}],
/// "importance"?: "low" | "normal" | "high", "headers"?: {"X-...": "..."}, "from"?: addr},
/// "idempotency_key"?: "...", "serial_mail"?: bool, "agreement_text"?: "...", "queue"?: bool}`
/// where addr is `"a@b.c"` or `{"address": "a@b.c", "name": "..."}`.
/// `_downloadLink(Text)` / `_agreementLink` in the body become a link to the attachments
/// (valid links.ttl_days, default 14), which are then not attached.
/// Result: `{"send_id", "state": "sent" | "queued", "internet_message_id", "link"?: {"url",
/// "token", "kind": "download" | "agreement", "expires_at"}}` (link: when the body used a
/// macro; the token opens the page with o365_link_open); a queued send
/// reports its outcome with a `send_completed` or `send_failed` event. `queue`: true answers
/// `queued` at once and sends in the background; absent, the mail is sent now, or queued
/// when it cannot go now (pacing, or Microsoft throttling the mailbox: then it goes out when
/// the window ends); false never queues: while Microsoft throttles the mailbox the answer is
/// O365_THROTTLED with `details.retry_after_ms` and nothing is kept. The same
/// idempotency_key with the same mail returns the first result; if that send failed, the mail
/// is tried again under the same send_id and Message-ID (never sent twice).
/// Errors: O365_POLICY_VIOLATION `too_many_recipients` (more than 10 in to+cc+bcc;
/// config send.max_recipients) or `serial_mail_not_allowed`: the request says
/// `"serial_mail": true` (the host's mass-mail feature declares its sends), or the same
/// subject and text already went to other recipients `send.serial_max_copies` times (default
/// 2, so the third is refused) within `send.serial_window_ms` (default 3,600,000 = 60
/// minutes; both set in the client config); O365_INVALID_ARGUMENT `header_injection`, `no_recipients`,
/// `message_too_large`, `invalid_field`, `links_not_configured`; O365_FORBIDDEN
/// `alias_send_not_enabled` (hint: "Send from alias" / Set-OrganizationConfig
/// -SendFromAliasEnabled $true) or `send_as_denied`; O365_CONFLICT `idempotency_key_reused`;
/// O365_THROTTLED (only with `"queue": false`).
///
/// # Safety
/// `client` is NULL or a live handle; `request_json` is NULL or a NUL-terminated string;
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn o365_send(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: SendMail| async move { c.send_mail(r).await },
    )
}

/// The state of one send. Request: `{"mailbox", "user", "send_id" | "idempotency_key"}`.
/// Result: `{"send_id", "state": "queued" | "sending" | "sent" | "failed",
/// "internet_message_id", "idempotency_key", "attempts", "created_at", "sent_at"?, "error"?}`.
///
/// # Safety
/// As for o365_send.
#[no_mangle]
pub unsafe extern "C" fn o365_send_status(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: SendStatus| async move { c.send_status(r).await },
    )
}

/// Sends what is due in the outbox now: paced or retried entries, and entries a crashed
/// process left behind (once their lease expired). For hosts without long-lived processes
/// (call it from a cron job). Request: `{"wait_ms"?: 10000}`.
/// Result: `{"sent": n, "failed": n, "pending": n}`.
///
/// # Safety
/// As for o365_send.
#[no_mangle]
pub unsafe extern "C" fn o365_outbox_process(
    client: *mut o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> o365_status {
    call(
        client,
        request_json,
        out_json,
        |c, r: OutboxProcess| async move { c.outbox_process(r).await },
    )
}
