//! The outbox state machine: one entry at a time, owned through a lease in the store.
//!
//! ```text
//! queued ──draft (our Message-ID) → attachments → pacing slot──▶ sending ──202──▶ sent
//!    ▲                                                              │
//!    └───── the send was certainly not carried out (an answer) ─────┤
//!                      doubt (lost answer, timeout, crash): look up our Message-ID first
//! ```
//!
//! Before anything is created or sent again after a doubt, the mailbox is searched for our
//! Message-ID: a sent copy means the mail went out (mark sent, never send again); a complete
//! draft that was never sent is sent as is; an incomplete one is deleted and built again.
//!
//! Exchange submits asynchronously: after the 202 the message waits in Drafts until
//! transport moves it to Sent Items, seconds or minutes later. So a draft with our Message-ID
//! after a send request whose answer was lost (`submitted_at`) may be on its way: the entry
//! waits for the sent copy (up to `send.submission_wait_ms`), and only then deletes the
//! draft (which cancels a submission still pending) and builds the mail anew. It never sends
//! a possibly submitted draft a second time.
//!
//! Sends from an alias check the From of the sent copy: Exchange may send them from the
//! primary address (SendFromAliasEnabled off); the result says which address it went out from.

use super::message::{Prepared, Spooled};
use crate::core::Core;
use crate::error::{Error, Fault, Result};
use crate::graph::{Body, MailboxGraph, Priority, Replay, Request};
use crate::store::outbox::{OutboxRecord, OutboxUpdate};
use crate::store::MailboxRecord;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// What one processing step of an entry ended with.
#[derive(Debug)]
pub enum Step {
    Sent,
    Failed(Error),
    /// Not finished; the next attempt is due at this time (ms).
    Deferred(i64),
    /// Another worker (thread or process) holds the entry.
    Busy,
}

/// Hint of `alias_send_not_enabled` (seed point 12).
pub const ALIAS_HINT: &str =
    "The Exchange / Microsoft 365 administrator must enable \"Send from alias\" \
     for the organisation (Exchange admin center: Settings > Mail flow > \"Send from alias\"), \
     or in Exchange Online PowerShell: Set-OrganizationConfig -SendFromAliasEnabled $true";

fn lease_name(send_id: &str) -> String {
    format!("outbox:{send_id}")
}

/// Processes one entry: sends it, or finds that it was sent, or defers or fails it.
/// `wait_slot` is how long to wait for a pacing slot before deferring; `inline` marks a
/// call on behalf of `o365_send` (a deferral then asks for an outcome event).
pub async fn process(c: &Core, send_id: &str, wait_slot: Duration, inline: bool) -> Result<Step> {
    let cfg = &c.config().send;
    let lease = lease_name(send_id);
    // One owner per processing task: the worker and an inline send of the same client
    // must never both hold the entry.
    let owner = format!("{}#{}", c.instance(), uuid::Uuid::new_v4().simple());
    if !c
        .store()
        .try_lease(&lease, &owner, c.now_ms(), cfg.lease_ms as i64)?
    {
        return Ok(Step::Busy);
    }
    let out = process_leased(c, send_id, wait_slot, inline, &owner).await;
    let _ = c.store().release_lease(&lease, &owner);
    out
}

async fn process_leased(
    c: &Core,
    send_id: &str,
    wait_slot: Duration,
    inline: bool,
    owner: &str,
) -> Result<Step> {
    let Some(row) = c.store().get_outbox(send_id)? else {
        return Err(Error::not_found("send", send_id));
    };
    match row.state.as_str() {
        "sent" => return Ok(Step::Sent),
        "failed" => return Ok(Step::Failed(stored_error(&row))),
        _ => {}
    }
    let Some(mailbox) = c.store().find_mailbox(&row.mailbox_id)? else {
        let e = Error::not_found("mailbox", &row.mailbox_id);
        fail(c, &row, &e)?;
        return Ok(Step::Failed(e));
    };
    let prepared: Prepared = serde_json::from_value(row.request.clone())
        .map_err(|e| Error::internal(format!("outbox entry {send_id} cannot be read: {e}")))?;
    let prepared = c.rendered(prepared)?;
    let mut doubts = 0;
    loop {
        let row = c
            .store()
            .get_outbox(send_id)?
            .ok_or_else(|| Error::not_found("send", send_id))?;
        let result = match c.mailbox_graph(&mailbox) {
            Ok(g) => attempt(c, &g, &mailbox, &row, &prepared, wait_slot, owner).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(Attempt::Sent(from)) => {
                finish_sent(c, &row, &mailbox, &prepared, from)?;
                return Ok(Step::Sent);
            }
            Ok(Attempt::Wait(until)) => {
                c.store().update_outbox(
                    send_id,
                    &OutboxUpdate {
                        next_attempt_at: Some(until),
                        notify: inline.then_some(true),
                        ..Default::default()
                    },
                    c.now_ms(),
                )?;
                return Ok(Step::Deferred(until));
            }
            Err(e) => {
                let e = explain(e, &mailbox);
                if e.kind() == "outbox_entry_taken" {
                    return Ok(Step::Busy);
                }
                // A lost answer: look again at once (the look-up decides), a few times.
                if e.kind() == "outcome_unknown" && doubts < 2 {
                    doubts += 1;
                    continue;
                }
                let attempts = row.attempts + 1;
                if transient(&e) && attempts < cfg_attempts(c) {
                    let until = c.now_ms() + backoff(&e, attempts);
                    c.store().update_outbox(
                        send_id,
                        &OutboxUpdate {
                            next_attempt_at: Some(until),
                            add_attempt: true,
                            error: Some(e.to_document()),
                            notify: inline.then_some(true),
                            ..Default::default()
                        },
                        c.now_ms(),
                    )?;
                    tracing::info!(send_id, error = %e, "send deferred");
                    return Ok(Step::Deferred(until));
                }
                fail(c, &row, &e)?;
                if let (Some(d), Ok(g)) = (&row.draft_id, c.mailbox_graph(&mailbox)) {
                    // Best effort: do not leave the unsent draft behind.
                    let _ = g
                        .delete(&format!("/messages/{}", enc(d)), Priority::Background)
                        .await;
                }
                return Ok(Step::Failed(e));
            }
        }
    }
}

fn cfg_attempts(c: &Core) -> i64 {
    c.config().send.max_attempts as i64
}

enum Attempt {
    /// The mail went out; with the From address of the sent copy when it was looked at.
    Sent(Option<String>),
    Wait(i64),
}

/// How soon an entry looks again for the sent copy of a submission that may be pending.
const SUBMISSION_CHECK_MS: i64 = 1_000;

/// One pass through the state machine.
async fn attempt(
    c: &Core,
    g: &MailboxGraph,
    mailbox: &MailboxRecord,
    row: &OutboxRecord,
    p: &Prepared,
    wait_slot: Duration,
    owner: &str,
) -> Result<Attempt> {
    let send_id = row.send_id.as_str();
    let mut draft_id = row.draft_id.clone();
    let mut ready = row.draft_ready;
    let in_doubt = row.state == "sending" || row.attempts > 0 || row.draft_id.is_some();
    if in_doubt {
        // Whatever happened before, Microsoft's copy decides.
        let found = find_by_message_id(g, &row.internet_message_id).await?;
        if let Some(sent) = found.iter().find(|m| !m.is_draft) {
            tracing::info!(send_id, "found our Message-ID in the mailbox: already sent");
            let from = sent.from.clone();
            for m in found.iter().filter(|m| m.is_draft) {
                // A stray second draft (e.g. from a lost answer): never sent, remove it.
                let _ = g
                    .delete(&format!("/messages/{}", enc(&m.id)), Priority::Interactive)
                    .await;
            }
            return Ok(Attempt::Sent(from));
        }
        // A send request may have been accepted: Exchange submits asynchronously and keeps
        // the message in Drafts until transport moves it to Sent Items, so a draft with our
        // Message-ID is no proof that nothing went out. Wait for the sent copy; only after
        // `submission_wait_ms` is the draft taken as never submitted.
        // (A row from before submitted_at was recorded: `sending` since its last update.)
        let submitted = row
            .submitted_at
            .or((row.state == "sending").then_some(row.updated_at));
        if let Some(at) = submitted {
            let now = c.now_ms();
            if found.iter().any(|m| m.is_draft)
                && now < at + c.config().send.submission_wait_ms as i64
            {
                return Ok(Attempt::Wait(now + SUBMISSION_CHECK_MS));
            }
        }
        renew(c, send_id, owner)?;
        // A draft that may have been submitted is never sent again as is: deleting it
        // cancels a submission still pending, then the mail is built anew.
        let keep = if ready && submitted.is_none() {
            draft_id.clone()
        } else {
            None
        };
        let mut kept = None;
        for m in found {
            if Some(&m.id) == keep.as_ref() && kept.is_none() {
                kept = Some(m.id);
            } else {
                let gone = g
                    .delete(&format!("/messages/{}", enc(&m.id)), Priority::Interactive)
                    .await
                    .or_else(ignore_not_found)?;
                if gone.status == 404 && submitted.is_some() {
                    // It left Drafts between the look-up and the delete: look again.
                    return Ok(Attempt::Wait(c.now_ms()));
                }
            }
        }
        if kept.is_none() {
            draft_id = None;
            ready = false;
        }
        if row.state == "sending" || kept != row.draft_id || submitted.is_some() {
            c.store().update_outbox(
                send_id,
                &OutboxUpdate {
                    state: Some("queued".into()),
                    draft_id: Some(kept.clone()),
                    draft_ready: Some(ready),
                    submitted_at: Some(None),
                    ..Default::default()
                },
                c.now_ms(),
            )?;
        }
    }
    let id = match draft_id {
        Some(d) => d,
        None => {
            c.store().update_outbox(
                send_id,
                &OutboxUpdate {
                    add_attempt: true,
                    ..Default::default()
                },
                c.now_ms(),
            )?;
            renew(c, send_id, owner)?;
            let body = draft_json(p, &row.internet_message_id, mailbox);
            let created = g
                .post_json(
                    "/messages",
                    body,
                    Priority::Interactive,
                    Replay::NotAfterSend,
                )
                .await?;
            let v: Value = created.json()?;
            let id = v
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| unexpected("the created draft has no id"))?
                .to_owned();
            c.store().update_outbox(
                send_id,
                &OutboxUpdate {
                    draft_id: Some(Some(id.clone())),
                    draft_ready: Some(false),
                    ..Default::default()
                },
                c.now_ms(),
            )?;
            ready = false;
            id
        }
    };
    if !ready {
        for a in &p.attachments {
            attach(c, g, &id, a, send_id, owner).await?;
        }
        c.store().update_outbox(
            send_id,
            &OutboxUpdate {
                draft_ready: Some(true),
                ..Default::default()
            },
            c.now_ms(),
        )?;
    }
    // Pacing: Exchange allows 30 messages per minute and mailbox; every process on this
    // store shares the slots.
    let slot = match reserve_slot(c, &row.mailbox_id, wait_slot).await? {
        Ok(at) => at,
        Err(until) => return Ok(Attempt::Wait(until)),
    };
    renew(c, send_id, owner)?;
    c.store().update_outbox(
        send_id,
        &OutboxUpdate {
            state: Some("sending".into()),
            submitted_at: Some(Some(c.now_ms())),
            ..Default::default()
        },
        c.now_ms(),
    )?;
    let sent = g
        .call(
            Request::new(Method::POST, format!("/messages/{}/send", enc(&id)))
                .priority(Priority::Interactive)
                .replay(Replay::NotAfterSend),
        )
        .await;
    match sent {
        Ok(_) if checks_from(mailbox, p) => {
            // From an alias, Exchange may send from the primary address instead: report
            // what the sent copy shows. It may still wait in Drafts (asynchronous
            // submission); then the entry stays `sending` and looks again.
            let found = find_by_message_id(g, &row.internet_message_id).await?;
            match found.into_iter().find(|m| !m.is_draft) {
                Some(m) => Ok(Attempt::Sent(m.from)),
                None => Ok(Attempt::Wait(c.now_ms() + SUBMISSION_CHECK_MS)),
            }
        }
        Ok(_) => Ok(Attempt::Sent(None)),
        // Microsoft answered (or the throttling window kept the request back): not sent.
        Err(e)
            if e.fault().details.contains_key("http_status")
                || matches!(e, Error::Throttled(_)) =>
        {
            // Microsoft answered: the send was not carried out.
            let _ = c.store().release_send_slot(&row.mailbox_id, slot);
            c.store().update_outbox(
                send_id,
                &OutboxUpdate {
                    state: Some("queued".into()),
                    submitted_at: Some(None),
                    ..Default::default()
                },
                c.now_ms(),
            )?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Takes a pacing slot, waiting up to `wait`. `Ok(Ok(slot time))`, or `Ok(Err(when))` when
/// the next slot frees later than the wait allows.
async fn reserve_slot(
    c: &Core,
    mailbox_id: &str,
    wait: Duration,
) -> Result<std::result::Result<i64, i64>> {
    let s = &c.config().send;
    let window = (s.pace_window_ms + s.pace_margin_ms) as i64;
    let give_up = c.now_ms() + wait.as_millis() as i64;
    loop {
        let now = c.now_ms();
        match c
            .store()
            .reserve_send_slot(mailbox_id, now, now - window, s.pace_max as i64)?
        {
            None => return Ok(Ok(now)),
            Some(oldest) => {
                let free_at = oldest + window + 1;
                if free_at > give_up {
                    return Ok(Err(free_at));
                }
                let jitter = (rand::random::<u8>() % 20) as i64;
                let ms = (free_at - now).max(1) + jitter;
                tokio::time::sleep(Duration::from_millis(ms as u64)).await;
            }
        }
    }
}

/// The draft's JSON: our Message-ID, recipients, body, headers and the sender.
pub fn draft_json(p: &Prepared, imid: &str, mailbox: &MailboxRecord) -> Value {
    let list = |v: &[super::message::Addr]| v.iter().map(|a| a.graph()).collect::<Vec<_>>();
    let mut m = json!({
        "subject": p.subject,
        "body": {
            "contentType": if p.body_type == "html" { "HTML" } else { "Text" },
            "content": p.body,
        },
        "toRecipients": list(&p.to),
        "ccRecipients": list(&p.cc),
        "bccRecipients": list(&p.bcc),
        "replyTo": list(&p.reply_to),
        "internetMessageId": imid,
    });
    if let Some(i) = &p.importance {
        m["importance"] = json!(i);
    }
    if !p.headers.is_empty() {
        m["internetMessageHeaders"] = Value::Array(
            p.headers
                .iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect(),
        );
    }
    // Alias and shared mailboxes send as themselves.
    let from = p.from.clone().or_else(|| {
        (mailbox.kind != "user").then(|| super::message::Addr {
            address: mailbox.address.clone(),
            name: None,
        })
    });
    if let Some(f) = from {
        m["from"] = f.graph();
    }
    m
}

struct Found {
    id: String,
    is_draft: bool,
    /// The From address.
    from: Option<String>,
}

/// Whether the From of the sent copy is checked after sending: a send from an alias (Exchange
/// may send it from the primary address when SendFromAliasEnabled is off).
fn checks_from(mailbox: &MailboxRecord, p: &Prepared) -> bool {
    mailbox.kind == "alias" || p.from.is_some()
}

/// The address a mail of this entry asks to be sent from.
fn requested_from(mailbox: &MailboxRecord, p: &Prepared) -> String {
    p.from
        .as_ref()
        .map(|a| a.address.clone())
        .unwrap_or_else(|| mailbox.address.clone())
}

/// Every message in the mailbox carrying our Message-ID (the draft, or the sent copy).
async fn find_by_message_id(g: &MailboxGraph, imid: &str) -> Result<Vec<Found>> {
    let filter = format!("internetMessageId eq '{}'", imid.replace('\'', "''"));
    let mut url = format!(
        "/messages?$filter={}&$select=id,isDraft,parentFolderId,from&$top=50",
        enc(&filter)
    );
    let mut out = Vec::new();
    loop {
        let v: Value = g.get_json(&url, Priority::Interactive).await?;
        for m in v
            .get("value")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = m.get("id").and_then(Value::as_str) {
                out.push(Found {
                    id: id.to_owned(),
                    is_draft: m.get("isDraft").and_then(Value::as_bool).unwrap_or(false),
                    from: m
                        .pointer("/from/emailAddress/address")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                });
            }
        }
        match v.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) => url = next.to_owned(),
            None => return Ok(out),
        }
    }
}

/// Graph refuses request bodies above about 4 MB (413); decimal megabytes, to be safe.
const MAX_INLINE_REQUEST_BYTES: u64 = 4_000_000;

/// Whether the inline attachment request (base64 content plus the JSON around it) stays under
/// Graph's request size limit. A file just under 3 MiB grows past 4 MB once base64-encoded, so
/// the upload-session size alone is not enough.
fn inline_request_fits(a: &Spooled) -> bool {
    let encoded = a.size.div_ceil(3) * 4;
    let names =
        (a.name.len() + a.content_type.len() + a.content_id.as_ref().map_or(0, String::len)) as u64;
    // JSON keys and quotes; a \uXXXX escape makes one byte at most six.
    encoded + 6 * names + 256 <= MAX_INLINE_REQUEST_BYTES
}

/// Puts one attachment on the draft: inline below the upload-session size, else through an
/// upload session in chunks.
async fn attach(
    c: &Core,
    g: &MailboxGraph,
    draft: &str,
    a: &Spooled,
    send_id: &str,
    owner: &str,
) -> Result<()> {
    let s = &c.config().send;
    let path = format!("/messages/{}/attachments", enc(draft));
    if a.size < s.upload_session_from_bytes && inline_request_fits(a) {
        let data = tokio::fs::read(&a.path)
            .await
            .map_err(|e| spool_gone(&a.path, e))?;
        let mut body = json!({
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": a.name,
            "contentType": a.content_type,
            "contentBytes": base64::engine::general_purpose::STANDARD.encode(&data),
        });
        if let Some(cid) = &a.content_id {
            body["isInline"] = json!(true);
            body["contentId"] = json!(cid);
        }
        g.post_json(&path, body, Priority::Interactive, Replay::NotAfterSend)
            .await?;
        return Ok(());
    }
    let mut item = json!({
        "attachmentType": "file",
        "name": a.name,
        "size": a.size,
        "contentType": a.content_type,
    });
    if let Some(cid) = &a.content_id {
        item["isInline"] = json!(true);
        item["contentId"] = json!(cid);
    }
    let session: Value = g
        .post_json(
            &format!("{path}/createUploadSession"),
            json!({ "AttachmentItem": item }),
            Priority::Interactive,
            Replay::NotAfterSend,
        )
        .await?
        .json()?;
    let upload_url = session
        .get("uploadUrl")
        .and_then(Value::as_str)
        .ok_or_else(|| unexpected("the upload session has no uploadUrl"))?
        .to_owned();
    use tokio::io::AsyncReadExt;
    let mut f = tokio::fs::File::open(&a.path)
        .await
        .map_err(|e| spool_gone(&a.path, e))?;
    let mut start = 0u64;
    let chunk = s.chunk_bytes as u64;
    while start < a.size {
        let len = chunk.min(a.size - start);
        let mut buf = vec![0u8; len as usize];
        f.read_exact(&mut buf)
            .await
            .map_err(|e| spool_gone(&a.path, e))?;
        let end = start + len - 1;
        let req = Request::new(Method::PUT, upload_url.clone())
            .without_auth()
            .header("Content-Range", format!("bytes {start}-{end}/{}", a.size))
            .priority(Priority::Interactive)
            .replay(Replay::NotAfterSend);
        let req = Request {
            body: Some(Body::Bytes {
                content_type: "application/octet-stream".into(),
                data: buf.into(),
            }),
            ..req
        };
        g.call(req).await?;
        start = end + 1;
        // Long uploads keep the entry ours.
        renew(c, send_id, owner)?;
    }
    Ok(())
}

/// Extends the entry's lease before the next step that reaches Microsoft; refuses to go on
/// when another worker took the entry over (the lease had expired).
fn renew(c: &Core, send_id: &str, owner: &str) -> Result<()> {
    let ttl = c.config().send.lease_ms as i64;
    if c.store()
        .try_lease(&lease_name(send_id), owner, c.now_ms(), ttl)?
    {
        Ok(())
    } else {
        Err(Error::conflict(
            "outbox_entry_taken",
            "another worker took over this outbox entry (its lease had expired)",
        ))
    }
}

fn spool_gone(p: &std::path::Path, e: std::io::Error) -> Error {
    Error::store(format!(
        "the outbox copy of an attachment ('{}') cannot be read: {e}",
        p.display()
    ))
}

fn unexpected(what: &str) -> Error {
    Error::Remote(Fault::new(
        "unexpected_response",
        format!("Microsoft Graph: {what}"),
    ))
}

fn ignore_not_found(e: Error) -> Result<crate::graph::Response> {
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
fn transient(e: &Error) -> bool {
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

fn backoff(e: &Error, attempts: i64) -> i64 {
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

fn fail(c: &Core, row: &OutboxRecord, e: &Error) -> Result<()> {
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

fn finish_sent(
    c: &Core,
    row: &OutboxRecord,
    mailbox: &MailboxRecord,
    p: &Prepared,
    from: Option<String>,
) -> Result<()> {
    let requested = requested_from(mailbox, p);
    // Only a checked copy can say otherwise; other mailboxes send as themselves.
    let sent_from = from.unwrap_or_else(|| requested.clone());
    c.store().update_outbox(
        &row.send_id,
        &OutboxUpdate {
            sent_from: Some(sent_from.clone()),
            ..Default::default()
        },
        c.now_ms(),
    )?;
    c.store().mark_sent(&row.send_id, c.now_ms())?;
    cleanup_spool(c, &row.send_id);
    crate::telemetry::log::send(c, &row.mailbox_id, &row.send_id, "sent", None, None);
    let as_requested = sent_from.eq_ignore_ascii_case(&requested);
    c.audit(
        Some(&row.mailbox_id),
        None,
        "send",
        "ok",
        Some(if as_requested {
            row.send_id.clone()
        } else {
            format!(
                "{}: sent from {sent_from}, not from {requested}",
                row.send_id
            )
        }),
    );
    let notify = c
        .store()
        .get_outbox(&row.send_id)?
        .map(|r| r.notify)
        .unwrap_or(false);
    if notify {
        let mut v = json!({
            "send_id": row.send_id,
            "idempotency_key": row.idempotency_key,
            "internet_message_id": row.internet_message_id,
            "address": mailbox.address,
        });
        add_sent_from(&mut v, &sent_from, &requested);
        c.publish(
            "send_completed",
            Some(&row.mailbox_id),
            Some(format!("send_completed:{}", row.send_id)),
            v,
        )?;
    }
    Ok(())
}

/// Hint when Exchange sent a mail from the primary address instead of the alias.
pub const ALIAS_REWRITE_HINT: &str =
    "Microsoft 365 sent this mail from the mailbox's primary address, not from the alias: \
     the organisation does not allow sending from aliases. The Exchange administrator can \
     enable it (Exchange admin center: Settings > Mail flow > \"Send from alias\"), or in \
     Exchange Online PowerShell: Set-OrganizationConfig -SendFromAliasEnabled $true";

/// `sent_from`, `sent_as_requested` (and the hint when they differ) on a send's answer,
/// status or event.
pub fn add_sent_from(v: &mut Value, sent_from: &str, requested: &str) {
    let same = sent_from.eq_ignore_ascii_case(requested);
    v["sent_from"] = json!(sent_from);
    v["sent_as_requested"] = json!(same);
    if !same {
        v["requested_from"] = json!(requested);
        v["hint"] = json!(ALIAS_REWRITE_HINT);
    }
}

/// `sent_from` etc. for a sent row (the answer of `o365_send` and `o365_send_status`).
pub fn describe_sent_from(c: &Core, row: &OutboxRecord, v: &mut Value) -> Result<()> {
    let Some(sent_from) = &row.sent_from else {
        return Ok(());
    };
    let requested = match (
        c.store().find_mailbox(&row.mailbox_id)?,
        serde_json::from_value::<Prepared>(row.request.clone()),
    ) {
        (Some(m), Ok(p)) => requested_from(&m, &p),
        _ => sent_from.clone(),
    };
    add_sent_from(v, sent_from, &requested);
    Ok(())
}

fn cleanup_spool(c: &Core, send_id: &str) {
    let dir = crate::core::spool::spool_dir(&c.config().store_path()).join(send_id);
    crate::core::spool::remove_dir(&dir);
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

/// Percent-encodes a Graph id or query value.
pub fn enc(s: &str) -> String {
    crate::encoding::encode(s, crate::encoding::UNRESERVED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip_to_errors() {
        let e = Error::forbidden("alias_send_not_enabled", "no").with_hint(ALIAS_HINT);
        let back = error_from_document(&e.to_document());
        assert_eq!(back.status(), e.status());
        assert_eq!(back.kind(), "alias_send_not_enabled");
        assert!(back
            .fault()
            .hint
            .as_deref()
            .unwrap()
            .contains("SendFromAliasEnabled $true"));
    }

    #[test]
    fn send_as_denied_is_explained_per_mailbox_kind() {
        let graph = Error::Remote(Fault::new("graph_error", "403"))
            .with_detail("code", "ErrorSendAsDenied")
            .with_detail("http_status", 403);
        let mut m = MailboxRecord {
            id: "m".into(),
            address: "info@contoso.example".into(),
            kind: "alias".into(),
            alias_of: Some("anna@contoso.example".into()),
            users: vec![],
            main_user: "u".into(),
            auth_state: "authenticated".into(),
            settings: json!({}),
            account: None,
            created_at: 0,
            updated_at: 0,
        };
        let e = explain(graph.clone(), &m);
        assert_eq!(e.kind(), "alias_send_not_enabled");
        let h = e.fault().hint.clone().unwrap();
        assert!(
            h.contains("Send from alias")
                && h.contains("Set-OrganizationConfig -SendFromAliasEnabled $true")
        );
        assert_eq!(e.graph_code(), Some("ErrorSendAsDenied"));
        m.kind = "shared".into();
        assert_eq!(explain(graph, &m).kind(), "send_as_denied");
    }

    #[test]
    fn sent_from_says_when_exchange_used_another_address() {
        let mut v = json!({});
        add_sent_from(&mut v, "info@contoso.example", "INFO@contoso.example");
        assert_eq!(v["sent_as_requested"], true);
        assert!(v.get("hint").is_none() && v.get("requested_from").is_none());
        let mut v = json!({});
        add_sent_from(&mut v, "anna@contoso.example", "info@contoso.example");
        assert_eq!(v["sent_from"], "anna@contoso.example");
        assert_eq!(v["sent_as_requested"], false);
        assert_eq!(v["requested_from"], "info@contoso.example");
        assert!(v["hint"]
            .as_str()
            .unwrap()
            .contains("Set-OrganizationConfig -SendFromAliasEnabled $true"));
    }

    #[test]
    fn transient_errors() {
        assert!(transient(&Error::Network(Fault::new(
            "outcome_unknown",
            ""
        ))));
        assert!(transient(&Error::Throttled(Fault::new("throttled", ""))));
        assert!(transient(
            &Error::Remote(Fault::new("graph_error", "")).with_detail("http_status", 503)
        ));
        assert!(!transient(
            &Error::Remote(Fault::new("graph_error", "")).with_detail("http_status", 400)
        ));
        assert!(!transient(&Error::forbidden("x", "")));
        assert_eq!(
            enc("internetMessageId eq '<a@b.c>'"),
            "internetMessageId%20eq%20%27%3Ca%40b.c%3E%27"
        );
    }
}

impl Core {
    /// The outbox entry's message as it goes to Microsoft: link macros expanded with the
    /// link's URL (the token is derived from the link id and the signing key, never stored).
    pub(crate) fn rendered(&self, mut p: Prepared) -> Result<Prepared> {
        if !p.link_macros {
            return Ok(p);
        }
        let id = p
            .link_id
            .as_deref()
            .ok_or_else(|| Error::internal("an outbox entry with link macros has no link"))?;
        let token = crate::links::token::token(&crate::links::signing_key(self)?, id);
        p.body = super::macros::expand(
            &p.body,
            p.body_type == "html",
            &crate::links::url(self, &token)?,
        );
        p.link_macros = false;
        Ok(p)
    }
}
