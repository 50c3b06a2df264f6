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

mod draft;
mod errors;
mod recovery;
mod upload;

pub use draft::{add_sent_from, describe_sent_from, draft_json, ALIAS_REWRITE_HINT};
use draft::{checks_from, requested_from};
use errors::*;
pub use errors::{error_from_document, explain, stored_error, withdraw, ALIAS_HINT};
pub use recovery::enc;
use recovery::*;
use upload::*;

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
    // must never both hold the entry. A holder whose process died (on any host, with
    // PostgreSQL) is taken over at once: what it did is found out from Graph as after an
    // expired lease.
    let owner = crate::core::lease::owner(c, &format!("send#{}", uuid::Uuid::new_v4().simple()));
    if !crate::core::lease::take(
        c.store(),
        c.host_id(),
        &lease,
        &owner,
        c.now_ms(),
        cfg.lease_ms as i64,
    )? {
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

fn cleanup_spool(c: &Core, send_id: &str) {
    let dir = crate::core::spool::spool_dir(&c.config().store_path()).join(send_id);
    crate::core::spool::remove_dir(&dir);
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
