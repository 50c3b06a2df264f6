//! Sending: `sendMail` (JSON or base64 MIME), `messages/{id}/send`, and the shared submission
//! path (also used by the test bench's "send from Outlook"): Send As / Send on Behalf and
//! alias rules, recipient and rate limits, the Sent Items copy, delivery into recipients'
//! mailboxes in the sim, and the outbound log.

use axum::http::StatusCode;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::messages::{apply_fields, lookup, too_many_recipients};
use super::{empty_response, Ctx, GErr, GResult, Perm};
use crate::counters::inc;
use crate::server::Sim;
use crate::state::{
    b64std, new_message_id, Addr, AliasSendMode, Message, OutboundAttachment, OutboundMail,
    PendingSubmission, User, World,
};

pub struct Submission {
    pub via: &'static str,
    /// The mailbox whose Sent Items get the copy.
    pub mailbox: String,
    /// Signed-in user (None: app-only or Outlook itself).
    pub actor: Option<String>,
    pub app_only: bool,
    pub msg: Message,
    pub save: bool,
    pub draft: Option<u64>,
}

pub fn send_as_denied() -> GErr {
    GErr::new(
        StatusCode::FORBIDDEN,
        "ErrorSendAsDenied",
        "The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account. Cannot submit message.",
    )
}

fn addr_of(u: &User) -> Addr {
    Addr::new(&u.display_name, &u.mail)
}

/// (send as, send on behalf) rights of `actor` on `owner`'s mailbox.
fn rights(owner: &User, actor: Option<&User>, app_only: bool) -> (bool, bool) {
    match actor {
        _ if app_only => (true, false),
        None => (true, false),
        Some(a) if a.id == owner.id => (true, false),
        Some(a) => owner
            .grant_for(&a.id)
            .map(|g| (g.send_as, g.send_on_behalf))
            .unwrap_or((false, false)),
    }
}

/// Decides `from` and `sender` for a submission from `owner`'s mailbox.
fn resolve_from(
    w: &World,
    owner: &User,
    actor: Option<&User>,
    app_only: bool,
    from: Option<&Addr>,
) -> Result<(Addr, Addr), GErr> {
    let as_owner = |name: Option<&str>| {
        let mut a = addr_of(owner);
        if let Some(n) = name.filter(|n| !n.is_empty() && !n.contains('@')) {
            a.name = n.to_string();
        }
        a
    };
    let grant = |x: &User, name: Option<&str>| -> Result<(Addr, Addr), GErr> {
        let (sa, ob) = rights(x, actor, app_only);
        let mut f = addr_of(x);
        if let Some(n) = name.filter(|n| !n.is_empty() && !n.contains('@')) {
            f.name = n.to_string();
        }
        if sa {
            Ok((f.clone(), f))
        } else if ob {
            Ok((f, actor.map(addr_of).unwrap_or_else(|| addr_of(owner))))
        } else {
            Err(send_as_denied())
        }
    };
    let Some(f) = from else {
        return grant(owner, None);
    };
    if f.address.eq_ignore_ascii_case(&owner.mail) || f.address.eq_ignore_ascii_case(&owner.upn) {
        return grant(owner, Some(&f.name)).map(|(a, s)| {
            (
                Addr {
                    name: as_owner(Some(&f.name)).name,
                    ..a
                },
                s,
            )
        });
    }
    if owner
        .aliases
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&f.address))
    {
        let (enabled, mode) = w
            .tenant(&owner.tenant_id)
            .map(|t| (t.send_from_alias_enabled, t.alias_send_mode))
            .unwrap_or((false, AliasSendMode::Error));
        let (sa, _) = rights(owner, actor, app_only);
        if !enabled && sa && mode == AliasSendMode::Rewrite {
            // The mail goes out, but from the primary address.
            let a = addr_of(owner);
            return Ok((a.clone(), a));
        }
        if enabled && sa {
            let a = Addr::new(
                if f.name.is_empty() {
                    &owner.display_name
                } else {
                    &f.name
                },
                &f.address,
            );
            return Ok((a.clone(), a));
        }
        return Err(send_as_denied());
    }
    match w.user(&f.address) {
        Some(x) if x.tenant_id == owner.tenant_id && x.mail.eq_ignore_ascii_case(&f.address) => {
            grant(x, Some(&f.name))
        }
        _ => Err(send_as_denied()),
    }
}

fn fmt_addr(a: &Addr) -> String {
    if a.name.is_empty() || a.name == a.address {
        format!("<{}>", a.address)
    } else {
        format!("\"{}\" <{}>", a.name.replace('"', "'"), a.address)
    }
}

fn fmt_list(v: &[Addr]) -> String {
    v.iter().map(fmt_addr).collect::<Vec<_>>().join(", ")
}

/// Carries out a submission at once. Returns what the recipients see.
pub fn submit(sim: &Sim, w: &mut World, mut s: Submission) -> Result<OutboundMail, GErr> {
    prepare(sim, w, &mut s)?;
    Ok(complete(sim, w, s))
}

/// Accepts a submission from Graph (`sendMail`, `send`). Without a submission delay on the
/// mailbox it goes out at once; with one, the message waits in Drafts (as Microsoft describes:
/// the message is created in Drafts, and transport moves it to Sent Items after the 202) until
/// the delay has passed on the sim clock.
pub fn accept(sim: &Sim, w: &mut World, mut s: Submission) -> Result<(), GErr> {
    let requested = s.msg.clone();
    prepare(sim, w, &mut s)?;
    let (lo, hi) = w
        .mailboxes
        .get(&s.mailbox)
        .map(|mb| mb.submission_delay_ms)
        .unwrap_or((0, 0));
    let delay = if hi > lo {
        use rand::Rng;
        rand::thread_rng().gen_range(lo..=hi)
    } else {
        lo
    };
    if delay == 0 {
        complete(sim, w, s);
        return Ok(());
    }
    let mb = w.mailboxes.get_mut(&s.mailbox).unwrap();
    let draft = match s.draft {
        Some(k) => k,
        None => {
            let mut m = requested;
            m.is_draft = true;
            let drafts = mb.well_known("drafts");
            mb.insert(m, drafts)
        }
    };
    w.pending_submissions.push(PendingSubmission {
        due_ms: sim.clock.now_ms() + delay as i64,
        mailbox: s.mailbox,
        draft,
        via: s.via.to_string(),
        actor: s.actor,
        app_only: s.app_only,
        save: s.save,
        msg: s.msg,
    });
    Ok(())
}

/// Sends every pending submission whose delay has passed on the sim clock (called before
/// each request is served). A submission whose Drafts item was deleted meanwhile is gone.
pub fn flush_due(sim: &Sim) {
    let now = sim.clock.now_ms();
    let mut w = sim.w();
    if !w.pending_submissions.iter().any(|p| p.due_ms <= now) {
        return;
    }
    let all = std::mem::take(&mut w.pending_submissions);
    let (mut due, rest): (Vec<_>, Vec<_>) = all.into_iter().partition(|p| p.due_ms <= now);
    w.pending_submissions = rest;
    due.sort_by_key(|p| p.due_ms);
    for p in due {
        let still_there = w
            .mailboxes
            .get(&p.mailbox)
            .is_some_and(|mb| mb.messages.contains_key(&p.draft));
        let via = match p.via.as_str() {
            "send" => "send",
            "outlook" => "outlook",
            _ => "sendMail",
        };
        complete(
            sim,
            &mut w,
            Submission {
                via,
                mailbox: p.mailbox,
                actor: p.actor,
                app_only: p.app_only,
                msg: p.msg,
                save: p.save,
                draft: still_there.then_some(p.draft),
            },
        );
    }
}

/// Deleting a message that waits for submission cancels the submission (as deleting a message
/// from the Outbox does in Outlook).
pub fn cancel_pending(w: &mut World, mailbox: &str, key: u64) {
    w.pending_submissions
        .retain(|p| !(p.mailbox == mailbox && p.draft == key));
}

/// Checks a submission (recipients, limits, From/Sender rights) and fills in what Exchange
/// sets on submission (From, Sender, Message-ID, dates).
fn prepare(sim: &Sim, w: &mut World, s: &mut Submission) -> Result<(), GErr> {
    let limits = sim.limits();
    let now = sim.clock.now();
    let owner = w.user_by_id(&s.mailbox).cloned().ok_or_else(|| {
        GErr::new(
            StatusCode::NOT_FOUND,
            "ErrorInvalidUser",
            "Mailbox not found.",
        )
    })?;
    let actor = s.actor.as_deref().and_then(|a| w.user_by_id(a)).cloned();
    let m = &mut s.msg;
    let n = m.recipient_count();
    if n == 0 {
        return Err(GErr::bad("ErrorInvalidRecipients", "At least one recipient is not valid., A message can't be sent because it contains no recipients."));
    }
    if n > limits.max_recipients {
        return Err(too_many_recipients(limits.max_recipients));
    }
    for a in m.to.iter().chain(&m.cc).chain(&m.bcc) {
        let ok = a
            .address
            .split_once('@')
            .map(|(l, d)| !l.is_empty() && d.contains('.'))
            .unwrap_or(false);
        if !ok {
            return Err(GErr::bad("ErrorInvalidRecipients", format!("At least one recipient isn't valid., Recipient '{}' is not resolved. All recipients must be resolved before a message can be submitted.", a.address)));
        }
    }
    let (from, sender) = resolve_from(w, &owner, actor.as_ref(), s.app_only, m.from.as_ref())?;
    if !sim
        .throttle
        .try_send(&owner.id, sim.clock.now_ms(), &limits)
    {
        return Err(GErr::throttled(
            &format!("Message submission rate limit exceeded: at most {} messages per minute per mailbox.", limits.sends_per_minute),
            60,
        ));
    }
    m.from = Some(from);
    m.sender = Some(sender);
    if m.internet_message_id.is_empty() {
        m.internet_message_id = new_message_id();
    }
    m.is_draft = false;
    m.is_read = true;
    m.sent = Some(now);
    m.received = now;
    m.last_modified = now;
    Ok(())
}

/// Sends a prepared submission: the outbound log, the Sent Items copy (the draft goes away)
/// and delivery into the recipients' mailboxes in the sim.
fn complete(sim: &Sim, w: &mut World, s: Submission) -> OutboundMail {
    let now = sim.clock.now();
    let owner = w
        .user_by_id(&s.mailbox)
        .cloned()
        .expect("a prepared submission has a mailbox");
    let actor = s.actor.as_deref().and_then(|a| w.user_by_id(a)).cloned();
    let m = s.msg.clone();
    let from = m.from.clone().unwrap_or_else(|| addr_of(&owner));
    let sender = m.sender.clone().unwrap_or_else(|| from.clone());

    // What goes over the wire.
    let mut headers: Vec<(String, String)> = vec![("From".into(), fmt_addr(&from))];
    if sender.address != from.address {
        headers.push(("Sender".into(), fmt_addr(&sender)));
    }
    if !m.to.is_empty() {
        headers.push(("To".into(), fmt_list(&m.to)));
    }
    if !m.cc.is_empty() {
        headers.push(("Cc".into(), fmt_list(&m.cc)));
    }
    if !m.reply_to.is_empty() {
        headers.push(("Reply-To".into(), fmt_list(&m.reply_to)));
    }
    headers.push(("Subject".into(), m.subject.clone()));
    headers.push(("Date".into(), crate::clock::rfc2822(now)));
    headers.push(("Message-ID".into(), m.internet_message_id.clone()));
    if m.importance != "normal" {
        headers.push(("Importance".into(), m.importance.clone()));
    }
    if m.read_receipt {
        headers.push(("Disposition-Notification-To".into(), fmt_addr(&from)));
    }
    for (k, v) in &m.headers {
        headers.push((k.clone(), v.clone()));
    }
    headers.push(("MIME-Version".into(), "1.0".into()));
    let body_type = if m.body_html {
        "text/html"
    } else {
        "text/plain"
    };
    headers.push((
        "Content-Type".into(),
        if m.attachments.is_empty() {
            format!("{body_type}; charset=\"utf-8\"")
        } else {
            "multipart/mixed".into()
        },
    ));
    let out = OutboundMail {
        seq: w.outbound.len() as u64 + 1,
        mailbox: owner.mail.clone(),
        via: s.via.to_string(),
        submitted_by: actor.as_ref().map(|a| a.upn.clone()).unwrap_or_else(|| {
            if s.app_only {
                "app".into()
            } else {
                owner.upn.clone()
            }
        }),
        internet_message_id: m.internet_message_id.clone(),
        from: from.clone(),
        sender: sender.clone(),
        to: m.to.clone(),
        cc: m.cc.clone(),
        bcc: m.bcc.clone(),
        reply_to: m.reply_to.clone(),
        subject: m.subject.clone(),
        body_content_type: if m.body_html { "html" } else { "text" }.into(),
        body: m.body.clone(),
        headers,
        attachments: m
            .attachments
            .iter()
            .map(|a| OutboundAttachment {
                name: a.name.clone(),
                content_type: a.content_type.clone(),
                size: a.data.len(),
                is_inline: a.is_inline,
                content_id: a.content_id.clone(),
                sha256: Sha256::digest(&a.data)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
                content_bytes: b64std(&a.data),
            })
            .collect(),
        sent_date_time: crate::clock::iso(now),
    };

    // Sent Items copy (the draft itself goes away).
    let mb = w.mailboxes.get_mut(&owner.id).unwrap();
    if let Some(dk) = s.draft {
        mb.delete(dk);
    }
    if s.save {
        let sent = mb.well_known("sentitems");
        let mut copy = m.clone();
        copy.created = now;
        mb.insert(copy, sent);
    }
    // Delivery to mailboxes in the sim.
    let mut delivered: Vec<String> = vec![];
    for a in m.to.iter().chain(&m.cc).chain(&m.bcc) {
        if let Some(r) = w.user(&a.address) {
            if delivered.contains(&r.id) {
                continue;
            }
            delivered.push(r.id.clone());
            let mut inbound = m.clone();
            inbound.bcc = vec![];
            inbound.is_read = false;
            inbound.categories = vec![];
            inbound.flag = "notFlagged".into();
            let rid = r.id.clone();
            let mbx = w.mailboxes.get_mut(&rid).unwrap();
            let inbox = mbx.well_known("inbox");
            mbx.insert(inbound, inbox);
        }
    }
    inc(&sim.counters.messages_sent);
    w.outbound.push(out.clone());
    out
}

fn parse_bool(v: Option<&Value>) -> Option<bool> {
    match v {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

/// Minimal RFC 5322 parsing for the MIME form of sendMail.
fn parse_mime(text: &str, now: i64) -> Result<Message, GErr> {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .unwrap_or((text, ""));
    let mut m = Message::blank(now);
    let mut unfolded: Vec<String> = vec![];
    for line in head.lines() {
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(l) = unfolded.last_mut() {
                l.push_str(line.trim_start());
            }
        } else {
            unfolded.push(line.to_string());
        }
    }
    let addrs = |v: &str| -> Vec<Addr> {
        v.split(',')
            .filter_map(|p| {
                let p = p.trim();
                if p.is_empty() {
                    return None;
                }
                match (p.find('<'), p.find('>')) {
                    (Some(a), Some(b)) if b > a => {
                        Some(Addr::new(p[..a].trim().trim_matches('"'), &p[a + 1..b]))
                    }
                    _ => Some(Addr::new(p, p)),
                }
            })
            .collect()
    };
    for l in unfolded {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "from" => m.from = addrs(v).pop(),
            "to" => m.to = addrs(v),
            "cc" => m.cc = addrs(v),
            "bcc" => m.bcc = addrs(v),
            "reply-to" => m.reply_to = addrs(v),
            "subject" => m.subject = v.to_string(),
            "message-id" => m.internet_message_id = v.to_string(),
            "content-type" => m.body_html = v.to_ascii_lowercase().starts_with("text/html"),
            k if k.starts_with("x-") => m.headers.push((
                l.split_once(':').unwrap().0.trim().to_string(),
                v.to_string(),
            )),
            _ => {}
        }
    }
    m.body = body.to_string();
    Ok(m)
}

pub fn send_mail(ctx: &Ctx) -> GResult {
    ctx.need(Perm::Send)?;
    let now = ctx.now();
    let ct = ctx
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    let (msg, save) = if ct.starts_with("text/plain") {
        let raw: String = std::str::from_utf8(&ctx.body)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let dec = base64::engine::general_purpose::STANDARD
            .decode(raw.as_bytes())
            .map_err(|_| {
                GErr::bad(
                    "ErrorMimeContentInvalidBase64String",
                    "Invalid base64 string for MIME content.",
                )
            })?;
        (parse_mime(&String::from_utf8_lossy(&dec), now)?, true)
    } else {
        let v = ctx.json_body()?;
        let mv = v
            .get("message")
            .or_else(|| v.get("Message"))
            .ok_or_else(|| {
                GErr::bad(
                    "ErrorInvalidParameter",
                    "The 'message' parameter is required.",
                )
            })?;
        let save = parse_bool(
            v.get("saveToSentItems")
                .or_else(|| v.get("SaveToSentItems")),
        )
        .unwrap_or(true);
        let mut m = Message::blank(now);
        apply_fields(&mut m, mv, true, now)?;
        (m, save)
    };
    let mut w = ctx.sim.w();
    accept(
        &ctx.sim,
        &mut w,
        Submission {
            via: "sendMail",
            mailbox: ctx.target.clone(),
            actor: ctx.auth.user_id.clone(),
            app_only: ctx.auth.app_only,
            msg,
            save,
            draft: None,
        },
    )?;
    Ok(empty_response(StatusCode::ACCEPTED))
}

pub fn send_draft(ctx: &Ctx, id: &str) -> GResult {
    ctx.need(Perm::Send)?;
    let mut w = ctx.sim.w();
    let mb = &w.mailboxes[&ctx.target];
    let k = lookup(mb, id)?;
    let m = mb.messages[&k].clone();
    if !m.is_draft {
        return Err(GErr::bad(
            "ErrorInvalidOperation",
            "Only draft messages can be sent.",
        ));
    }
    accept(
        &ctx.sim,
        &mut w,
        Submission {
            via: "send",
            mailbox: ctx.target.clone(),
            actor: ctx.auth.user_id.clone(),
            app_only: ctx.auth.app_only,
            msg: m,
            save: true,
            draft: Some(k),
        },
    )?;
    Ok(empty_response(StatusCode::ACCEPTED))
}
