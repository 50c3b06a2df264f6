//! `o365_send`, `o365_send_status`, `o365_outbox_process` (issue 6).

use super::contract::ErrorBody;
use super::Client;
use crate::core::spool;
use crate::error::{Error, Result};
use crate::links;
use crate::send::message::{self, MessageInput, Prepared, Spooled};
use crate::send::outbox::{self, Step};
use crate::send::{macros, worker};
use crate::store::outbox::{Insert, OutboxRecord, SerialRule};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMail {
    pub mailbox: String,
    pub user: String,
    pub message: MessageInput,
    /// The host's key for this send; the same key again returns the first result.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// The host's mass-mail feature marks its sends: refused (seed point 11).
    #[serde(default)]
    pub serial_mail: bool,
    /// Agreement the recipient must accept before downloading (`_agreementLink`).
    #[serde(default)]
    pub agreement_text: Option<String>,
    /// `true`: answer `queued` at once and send in the background (outcome by event).
    /// Absent: send now; when that cannot happen now (pacing, Microsoft throttling the
    /// mailbox), answer `queued` and send later. `false`: never queue: while Microsoft
    /// throttles the mailbox answer `O365_THROTTLED` (`details.retry_after_ms`) and keep
    /// nothing (the same key may be sent again later).
    #[serde(default)]
    pub queue: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendStatus {
    pub mailbox: String,
    pub user: String,
    #[serde(default)]
    pub send_id: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboxProcess {
    /// How long to keep sending due entries (default 10 s).
    #[serde(default)]
    pub wait_ms: Option<u64>,
}

/// Which address a sent mail went out from (`sent` answers and `send_completed`).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SentFrom {
    /// When `sent_as_requested` is false: what the Exchange administrator can do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// When `sent_as_requested` is false: the address the mail was meant to go out from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_from: Option<String>,
    pub sent_as_requested: bool,
    /// The From of the sent copy.
    pub sent_from: String,
}

impl SentFrom {
    /// For a sent row that recorded its sender.
    fn of(c: &Client, row: &OutboxRecord) -> Result<Option<SentFrom>> {
        let mut v = Value::Object(Map::new());
        outbox::describe_sent_from(c, row, &mut v)?;
        if v.as_object().is_some_and(Map::is_empty) {
            return Ok(None);
        }
        Ok(Some(serde_json::from_value(v)?))
    }
}

/// The link a mail with `_downloadLink` / `_agreementLink` carries.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SendLink {
    pub expires_at: String,
    /// `download` or `agreement`.
    pub kind: String,
    pub token: String,
    pub url: String,
}

/// `o365_send`: the mail is `sent`, or `queued` (sent by the outbox worker; see
/// `o365_send_status` and the `send_completed` / `send_failed` events).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields, transform = super::contract::strict)]
pub struct SendResult {
    /// The Message-ID the mail carries.
    pub internet_message_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<SendLink>,
    pub send_id: String,
    #[serde(flatten)]
    pub sent_from: Option<SentFrom>,
    /// `sent` or `queued`.
    pub state: String,
}

/// `o365_send_status`: the state of one send.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields, transform = super::contract::strict)]
pub struct SendState {
    pub attempts: i64,
    pub created_at: String,
    /// Why the send failed (`state` `failed`), or the last transient error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    pub idempotency_key: String,
    pub internet_message_id: String,
    pub send_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    #[serde(flatten)]
    pub sent_from: Option<SentFrom>,
    /// `queued`, `sending`, `sent` or `failed`.
    pub state: String,
}

/// `o365_outbox_process`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct OutboxProcessed {
    pub failed: u64,
    /// Entries still unfinished in the store.
    pub pending: i64,
    pub sent: u64,
}

fn answer(c: &Client, row: &OutboxRecord) -> Result<SendResult> {
    let (state, sent_from) = match row.state.as_str() {
        "sent" => ("sent", SentFrom::of(c, row)?),
        "failed" => return Err(outbox::stored_error(row)),
        _ => ("queued", None),
    };
    // A mail with _downloadLink / _agreementLink: the link it carries (for the CRM's records).
    let mut link = None;
    if let Some(id) = row.request.get("link_id").and_then(Value::as_str) {
        if let Some(l) = c.store().get_link(id)? {
            let token = links::token::token(&links::signing_key(c)?, &l.id);
            link = Some(SendLink {
                expires_at: crate::clock::rfc3339(l.expires_at),
                kind: l.kind.clone(),
                url: links::url(c, &token)?,
                token,
            });
        }
    }
    Ok(SendResult {
        internet_message_id: row.internet_message_id.clone(),
        link,
        send_id: row.send_id.clone(),
        sent_from,
        state: state.to_owned(),
    })
}

fn check_key(k: &str) -> Result<()> {
    if k.is_empty() || k.len() > 200 || k.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            "idempotency_key",
            "idempotency_key must be 1 to 200 characters without control characters",
        ));
    }
    Ok(())
}

impl Client {
    /// Sends one mail exactly once, under the send policy. Returns `{"send_id", "state":
    /// "sent" | "queued", "internet_message_id"}`.
    pub async fn send_mail(&self, req: SendMail) -> Result<SendResult> {
        let mailbox = req.mailbox.clone();
        let t = std::time::Instant::now();
        let r = self.send_mail_step(req).await;
        match &r {
            // `sent` is logged (and counted) where the outbox marks it sent.
            Ok(v) if v.state == "queued" => {
                let mailbox = self.find_mailbox(&mailbox).map(|m| m.id).unwrap_or(mailbox);
                crate::telemetry::log::send(
                    self,
                    &mailbox,
                    &v.send_id,
                    "queued",
                    None,
                    Some(t.elapsed()),
                );
            }
            Ok(_) => {}
            Err(e) => {
                let mailbox = self.find_mailbox(&mailbox).map(|m| m.id).unwrap_or(mailbox);
                crate::telemetry::log::send(
                    self,
                    &mailbox,
                    "",
                    "refused",
                    Some(e),
                    Some(t.elapsed()),
                );
            }
        }
        r
    }

    async fn send_mail_step(&self, req: SendMail) -> Result<SendResult> {
        let m = self.mailbox_for_user(&req.mailbox, &req.user, "send")?;
        let cfg = &self.config().send;
        if let Some(k) = &req.idempotency_key {
            check_key(k)?;
        }
        let checked = message::check(&req.message, cfg)?;
        let serial_denied = || {
            self.audit(
                Some(&m.id),
                Some(&req.user),
                "send",
                "denied",
                Some("serial mail".into()),
            )
        };
        if req.serial_mail {
            serial_denied();
            return Err(message::serial_mail(
                "the request is marked as part of a serial mail",
            ));
        }
        if let Some(f) = &checked.from {
            if f.address != m.address {
                return Err(Error::invalid_field(
                    "message.from",
                    format!(
                        "a mail from mailbox '{}' is sent from that address, not from '{}'",
                        m.address, f.address
                    ),
                )
                .with_hint("import the other address as its own (alias or shared) mailbox and send from it"));
            }
        }
        let request_hash = message::sha256_hex(&[
            &serde_json::to_vec(&req.message)?,
            req.agreement_text.as_deref().unwrap_or("").as_bytes(),
        ]);
        let key = req
            .idempotency_key
            .clone()
            .unwrap_or_else(|| format!("auto:{}", uuid::Uuid::new_v4().simple()));
        // The same mail again under a key whose send failed (say, after the admin allowed
        // sending from aliases): try once more under the same send id and Message-ID, so the
        // first attempt looks for a copy that did go out before sending anything.
        let retry = match self.store().find_outbox(&m.id, &key)? {
            Some(e) if e.state == "failed" && e.request_hash == request_hash => Some(e),
            Some(e) => return self.repeat(&e, &request_hash),
            None => None,
        };
        if req.queue == Some(false) {
            if let Some(until) = self.throttled_until(&m)? {
                let left = (until - self.now_ms()).max(0) as u64;
                return Err(crate::graph::throttled_until(until, left));
            }
        }
        let send_id = match &retry {
            Some(r) => r.send_id.clone(),
            None => format!("snd_{}", uuid::Uuid::new_v4().simple()),
        };
        let domain = m
            .address
            .rsplit_once('@')
            .map(|x| x.1)
            .unwrap_or("o365.invalid");
        let imid = match &retry {
            Some(r) => r.internet_message_id.clone(),
            None => format!("<{}.o365@{domain}>", &send_id[4..]),
        };
        let uses = macros::scan(&checked.body);
        // A retry gets a folder of its own (the failed attempt's copies were removed when it
        // failed): a concurrent retry of the same key that loses the race removes only its own.
        let mut spool_to = spool::SpoolTarget::new(self, &send_id, retry.is_some());
        let mut link_id = None;
        let mut attachments = Vec::new();
        let body;
        if uses.any() {
            if req.message.attachments.is_empty() {
                return Err(Error::invalid_field(
                    "message.attachments",
                    "the body uses _downloadLink / _agreementLink, but the mail has no attachments to link to",
                ));
            }
            let agreement = if uses.agreement {
                let text = req
                    .agreement_text
                    .clone()
                    .or_else(|| self.config().links.agreement_text.clone())
                    .filter(|t| !t.trim().is_empty());
                Some(text.ok_or_else(|| {
                    Error::invalid_field(
                        "agreement_text",
                        "the body uses _agreementLink: give the agreement text (agreement_text, or links.agreement_text in the config)",
                    )
                })?)
            } else {
                None
            };
            // Check the URL can be built before copying files.
            links::url(self, "t")?;
            let (link, _token) = links::create(
                self,
                &m.id,
                &send_id,
                Some(checked.subject.clone()),
                agreement,
                &req.message.attachments,
            )?;
            // Kept with the macros: expanded just before sending (no token in the store).
            body = checked.body.clone();
            link_id = Some(link.id);
        } else {
            body = checked.body.clone();
            let max = cfg.max_message_bytes;
            let mut total = body.len() as u64;
            for (i, a) in req.message.attachments.iter().enumerate() {
                let field = format!("message.attachments[{i}]");
                let size = spool::size_of(a, &field)?;
                if size > max {
                    return Err(spool::too_large(
                        &field,
                        size,
                        max,
                        &format!("attachment '{}'", a.name),
                    ));
                }
                total += size;
            }
            if total > max {
                return Err(spool::too_large(
                    "message.attachments",
                    total,
                    max,
                    "the mail",
                ));
            }
            for (i, a) in req.message.attachments.iter().enumerate() {
                let field = format!("message.attachments[{i}]");
                let kept = match spool_to.keep(self, a, &field, i) {
                    Ok(x) => x,
                    Err(e) => {
                        spool_to.discard(self);
                        return Err(e);
                    }
                };
                let size = kept.size;
                if size > max {
                    spool_to.discard(self);
                    return Err(spool::too_large(
                        &field,
                        size,
                        max,
                        &format!("attachment '{}'", a.name),
                    ));
                }
                attachments.push(Spooled {
                    name: a.name.clone(),
                    content_type: kept.content_type,
                    size,
                    sha256: kept.sha256,
                    path: kept.path,
                    content_id: a.content_id.clone(),
                    blob: kept.blob,
                });
            }
        }
        let prepared = Prepared {
            to: checked.to.clone(),
            cc: checked.cc.clone(),
            bcc: checked.bcc.clone(),
            reply_to: checked.reply_to.clone(),
            subject: checked.subject.clone(),
            body_type: if checked.html { "html" } else { "text" }.into(),
            body,
            importance: checked.importance.clone(),
            headers: checked.headers.clone(),
            from: checked.from.clone(),
            attachments,
            link_macros: link_id.is_some(),
            link_id: link_id.clone(),
        };
        let now = self.now_ms();
        let mut row = OutboxRecord {
            send_id: send_id.clone(),
            mailbox_id: m.id.clone(),
            idempotency_key: key,
            state: "queued".into(),
            internet_message_id: imid,
            request: serde_json::to_value(&prepared)?,
            request_hash: request_hash.clone(),
            fingerprint: message::fingerprint(&checked),
            recipients_hash: message::recipients_hash(&checked),
            draft_id: None,
            draft_ready: false,
            error: None,
            attempts: 0,
            next_attempt_at: now,
            notify: req.queue == Some(true),
            created_at: now,
            updated_at: now,
            sent_at: None,
            submitted_at: None,
            sent_from: None,
        };
        let rule = SerialRule {
            since: now - cfg.serial_window_ms as i64,
            max_other_copies: cfg.serial_max_copies.saturating_sub(1) as i64,
        };
        let discard = |c: &Client| {
            spool_to.discard(c);
            if let Some(l) = &link_id {
                links::discard(c, l);
            }
        };
        if let Some(prev) = &retry {
            // Counted as in doubt (one attempt made): the worker looks for the Message-ID first.
            row.attempts = 1;
            row.created_at = prev.created_at;
            if !self.store().retry_outbox(&row)? {
                discard(self);
                return self.repeat(&self.outbox_row(&send_id)?, &request_hash);
            }
            if let Some(old) = prev
                .request
                .get("link_id")
                .and_then(Value::as_str)
                .filter(|old| link_id.as_deref() != Some(*old))
            {
                links::discard(self, old);
            }
        } else {
            match self.store().insert_outbox(&row, Some(rule)) {
                Ok(Insert::Inserted) => {}
                Ok(Insert::Existing(e)) => {
                    discard(self);
                    return self.repeat(&e, &request_hash);
                }
                Ok(Insert::Serial { copies }) => {
                    discard(self);
                    serial_denied();
                    return Err(message::serial_mail(&format!(
                    "the same subject and text went to {copies} other recipient(s) within {} minutes",
                    cfg.serial_window_ms / 60_000
                ))
                .with_detail("copies", copies));
                }
                Err(e) => {
                    discard(self);
                    return Err(e);
                }
            }
        }
        let outcome = if retry.is_some() { "retried" } else { "queued" };
        self.audit(
            Some(&m.id),
            Some(&req.user),
            "send",
            outcome,
            Some(send_id.clone()),
        );
        // Tidy up expired links now and then (cheap when there is nothing to do).
        if let Err(e) = links::purge(self) {
            tracing::warn!("link purge: {e}");
        }
        if req.queue == Some(true) {
            worker::ensure(self);
            return answer(self, &row);
        }
        let wait = Duration::from_millis(cfg.wait_ms);
        match outbox::process(self, &send_id, wait, true).await {
            Ok(Step::Sent) => answer(self, &self.outbox_row(&send_id)?),
            Ok(Step::Failed(e)) => Err(e.with_detail("send_id", send_id.as_str())),
            Ok(Step::Deferred(_)) if req.queue == Some(false) => {
                let row = self.outbox_row(&send_id)?;
                match row.error.as_ref().map(outbox::error_from_document) {
                    Some(e @ Error::Throttled(_)) => {
                        // Not queued: the entry fails quietly, the host has the answer.
                        outbox::withdraw(self, &row, &e)?;
                        Err(e.with_detail("send_id", send_id.as_str()))
                    }
                    _ => {
                        worker::ensure(self);
                        answer(self, &row)
                    }
                }
            }
            Ok(Step::Deferred(_)) | Ok(Step::Busy) => {
                worker::ensure(self);
                answer(self, &self.outbox_row(&send_id)?)
            }
            Err(e) => {
                // The entry stays in the outbox; the worker finishes it.
                let _ = self.store().update_outbox(
                    &send_id,
                    &crate::store::outbox::OutboxUpdate {
                        notify: Some(true),
                        ..Default::default()
                    },
                    self.now_ms(),
                );
                worker::ensure(self);
                tracing::warn!(send_id, "send left in the outbox: {e}");
                answer(self, &self.outbox_row(&send_id)?)
            }
        }
    }

    fn outbox_row(&self, send_id: &str) -> Result<OutboxRecord> {
        self.store()
            .get_outbox(send_id)?
            .ok_or_else(|| Error::not_found("send", send_id))
    }

    /// The first result for a key used again (if the content is the same).
    fn repeat(&self, row: &OutboxRecord, request_hash: &str) -> Result<SendResult> {
        if row.request_hash != request_hash {
            return Err(Error::conflict(
                "idempotency_key_reused",
                format!(
                    "idempotency key '{}' was used before for another mail",
                    row.idempotency_key
                ),
            )
            .with_detail("send_id", row.send_id.as_str())
            .with_hint("use a new idempotency key for every different mail"));
        }
        if row.state != "sent" && row.state != "failed" {
            // Left behind (e.g. by a process that died): make sure someone finishes it.
            worker::ensure(self);
        }
        answer(self, row)
    }

    /// The state of one send: `{"send_id", "state", "internet_message_id", "attempts",
    /// "sent_at"?, "error"?}`.
    pub async fn send_status(&self, req: SendStatus) -> Result<SendState> {
        let m = self.mailbox_for_user(&req.mailbox, &req.user, "send_status")?;
        let row = match (&req.send_id, &req.idempotency_key) {
            (Some(id), None) => self
                .store()
                .get_outbox(id)?
                .filter(|r| r.mailbox_id == m.id),
            (None, Some(k)) => self.store().find_outbox(&m.id, k)?,
            _ => {
                return Err(Error::invalid_field(
                    "send_id",
                    "give send_id or idempotency_key",
                ))
            }
        };
        let key = req.send_id.or(req.idempotency_key).unwrap_or_default();
        let row = row.ok_or_else(|| Error::not_found("send", &key))?;
        if row.state != "sent" && row.state != "failed" {
            worker::ensure(self);
        }
        Ok(SendState {
            attempts: row.attempts,
            created_at: crate::clock::rfc3339(row.created_at),
            error: row
                .error
                .as_ref()
                .map(ErrorBody::from_document)
                .transpose()?,
            idempotency_key: row.idempotency_key.clone(),
            internet_message_id: row.internet_message_id.clone(),
            send_id: row.send_id.clone(),
            sent_at: row.sent_at.map(crate::clock::rfc3339),
            sent_from: if row.state == "sent" {
                SentFrom::of(self, &row)?
            } else {
                None
            },
            state: row.state.clone(),
        })
    }

    /// Sends what is due in the outbox now (entries queued by pacing, retries, and entries
    /// a crashed process left behind once their lease expired). Returns `{"sent", "failed",
    /// "pending"}`.
    pub async fn outbox_process(&self, req: OutboxProcess) -> Result<OutboxProcessed> {
        let budget = Duration::from_millis(req.wait_ms.unwrap_or(10_000));
        let (sent, failed) = worker::drain(self, budget).await;
        let pending = self.store().unfinished_outbox()?;
        if pending > 0 {
            worker::ensure(self);
        }
        Ok(OutboxProcessed {
            failed,
            pending,
            sent,
        })
    }
}
