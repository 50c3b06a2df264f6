//! Messages: list (with `$select`, `$top`/`$skip`, `$orderby`, `$filter`, `$search`,
//! `$count`, `$expand=attachments`), get, create (draft), update, delete, move, copy, `$value`.

use axum::body::Body;
use axum::http::{header, Method, Response, StatusCode};
use base64::Engine;
use serde_json::{json, Value};

use super::filter;
use super::json::{check_message_select, collection_bytes, message_json, MessageView};
use super::{empty_response, json_response, next_link, paging, select, Ctx, GErr, GResult, Perm};
use crate::state::{Addr, Attachment, Mailbox, Message};

pub fn route(ctx: &Ctx, rest: &[String], folder: Option<(u32, String)>) -> GResult {
    let m = &ctx.method;
    let l = |i: usize| rest.get(i).map(|s| s.to_ascii_lowercase());
    match rest.len() {
        0 => match *m {
            Method::GET => list(ctx, folder),
            Method::POST => create(ctx, folder.map(|f| f.0)),
            _ => Err(super::method_not_allowed()),
        },
        1 if l(0).as_deref() == Some("delta") => {
            ctx.need(Perm::Read)?;
            match folder {
                Some((k, r)) => super::delta::messages(ctx, k, &r),
                None => Err(GErr::bad("BadRequest", "Change tracking is supported per folder: use /mailFolders/{id}/messages/delta.")),
            }
        }
        1 => match *m {
            Method::GET => get(ctx, &rest[0]),
            Method::PATCH => update(ctx, &rest[0]),
            Method::DELETE => delete(ctx, &rest[0]),
            _ => Err(super::method_not_allowed()),
        },
        _ => match (l(1).as_deref(), rest.len(), m) {
            (Some("move"), 2, &Method::POST) => move_copy(ctx, &rest[0], false),
            (Some("copy"), 2, &Method::POST) => move_copy(ctx, &rest[0], true),
            (Some("send"), 2, &Method::POST) => super::send::send_draft(ctx, &rest[0]),
            (Some("$value"), 2, &Method::GET) => mime(ctx, &rest[0]),
            (Some("attachments"), _, _) => super::attachments::route(ctx, &rest[0], &rest[2..]),
            _ => Err(GErr::bad(
                "BadRequest",
                format!("Resource not found for the segment '{}'.", rest[1]),
            )),
        },
    }
}

pub fn lookup(mb: &Mailbox, id: &str) -> Result<u64, GErr> {
    mb.lookup(id).ok_or_else(|| GErr::unknown_id(id))
}

fn expand_attachments(ctx: &Ctx) -> bool {
    ctx.q("$expand")
        .map(|e| {
            e.split(',')
                .any(|x| x.trim().eq_ignore_ascii_case("attachments"))
        })
        .unwrap_or(false)
}

fn list(ctx: &Ctx, folder: Option<(u32, String)>) -> GResult {
    ctx.need(Perm::Read)?;
    let sel = select(ctx);
    check_message_select(&sel)?;
    let expand = expand_attachments(ctx);
    let flt = ctx.q("$filter").map(filter::parse).transpose()?;
    let order = ctx.q("$orderby").map(filter::parse_orderby).transpose()?;
    let search = ctx.q("$search").map(|s| s.to_string());
    if search.is_some() {
        filter::check_search_alone(flt.is_some(), order.is_some())?;
    }
    if let (Some(f), Some(o)) = (&flt, &order) {
        filter::check_filter_with_orderby(f, o)?;
    }
    let (top, skip) = paging(ctx, 10)?;
    let w = ctx.sim.w();
    let mb = &w.mailboxes[&ctx.target];
    let keys: Box<dyn Iterator<Item = u64>> = match &folder {
        Some((k, _)) => Box::new(mb.folders[*k as usize].items.iter().map(|x| x.1)),
        None => {
            let mut all: Vec<(i64, u64)> =
                mb.messages.values().map(|m| (-m.received, m.key)).collect();
            all.sort_unstable();
            Box::new(all.into_iter().map(|x| x.1))
        }
    };
    let simple = flt.is_none() && order.is_none() && search.is_none();
    let mut total = None;
    let page: Vec<&Message>;
    let more;
    if simple {
        let n = match &folder {
            Some((k, _)) => mb.folders[*k as usize].items.len(),
            None => mb.messages.len(),
        };
        total = Some(n);
        page = keys
            .skip(skip)
            .take(top)
            .map(|k| &mb.messages[&k])
            .collect();
        more = skip + top < n;
    } else {
        let mut v: Vec<&Message> = vec![];
        for k in keys {
            let m = &mb.messages[&k];
            if let Some(f) = &flt {
                if !filter::eval(mb, m, f)? {
                    continue;
                }
            }
            if let Some(s) = &search {
                if !filter::search_matches(m, s) {
                    continue;
                }
            }
            v.push(m);
        }
        if let Some(o) = &order {
            filter::sort(mb, &mut v, o)?;
        }
        total = total.or(Some(v.len()));
        more = skip + top < v.len();
        page = v.into_iter().skip(skip).take(top).collect();
    }
    let path = match &folder {
        Some((_, r)) => format!("mailFolders/{r}/messages"),
        None => "messages".to_string(),
    };
    let context = format!(
        "{}/$metadata#users('{}')/{}",
        ctx.base(),
        ctx.target,
        if folder.is_some() {
            "mailFolders('…')/messages"
        } else {
            "messages"
        }
    );
    let mut extra: Vec<(&str, Value)> = vec![];
    if ctx.q("$count").map(|c| c == "true").unwrap_or(false) {
        extra.push(("@odata.count", json!(total.unwrap_or(0))));
    }
    if more {
        extra.push(("@odata.nextLink", json!(next_link(ctx, &path, skip + top))));
    }
    let views = page.iter().map(|m| MessageView {
        mb,
        m,
        immutable: ctx.immutable,
        sel: sel.as_deref(),
        expand_attachments: expand,
        odata_type: false,
        body_as_text: ctx.body_as_text,
    });
    let bytes = collection_bytes(&context, views, &extra, page.len() * 1024);
    drop(w);
    Ok(super::bytes_response(StatusCode::OK, bytes))
}

fn get(ctx: &Ctx, id: &str) -> GResult {
    ctx.need(Perm::Read)?;
    let sel = select(ctx);
    check_message_select(&sel)?;
    let w = ctx.sim.w();
    let mb = &w.mailboxes[&ctx.target];
    let k = lookup(mb, id)?;
    let mut v = MessageView {
        mb,
        m: &mb.messages[&k],
        immutable: ctx.immutable,
        sel: sel.as_deref(),
        expand_attachments: expand_attachments(ctx),
        odata_type: false,
        body_as_text: ctx.body_as_text,
    }
    .to_value();
    v["@odata.context"] = json!(format!(
        "{}/$metadata#users('{}')/messages/$entity",
        ctx.base(),
        ctx.target
    ));
    Ok(json_response(StatusCode::OK, &v))
}

pub fn parse_recipients(v: &Value, field: &str) -> Result<Vec<Addr>, GErr> {
    let bad = || {
        GErr::bad("ErrorInvalidRecipients", format!("At least one recipient isn't valid in '{field}'. Each recipient needs emailAddress.address."))
    };
    match v {
        Value::Null => Ok(vec![]),
        Value::Array(a) => a
            .iter()
            .map(|r| {
                let ea = r.get("emailAddress").ok_or_else(bad)?;
                let address = ea.get("address").and_then(Value::as_str).ok_or_else(bad)?;
                Ok(Addr {
                    name: ea
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or(address)
                        .to_string(),
                    address: address.to_string(),
                })
            })
            .collect(),
        _ => Err(bad()),
    }
}

pub fn parse_recipient(v: &Value, field: &str) -> Result<Option<Addr>, GErr> {
    if v.is_null() {
        return Ok(None);
    }
    Ok(parse_recipients(&Value::Array(vec![v.clone()]), field)?.pop())
}

pub fn parse_file_attachment(a: &Value, now: i64) -> Result<Attachment, GErr> {
    let ty = a.get("@odata.type").and_then(Value::as_str).unwrap_or("");
    if !ty.eq_ignore_ascii_case("#microsoft.graph.fileAttachment")
        && !ty.eq_ignore_ascii_case("microsoft.graph.fileAttachment")
    {
        return Err(GErr::bad("ErrorInvalidParameter", format!("Attachment type '{ty}' is not supported by o365-sim (use #microsoft.graph.fileAttachment).")));
    }
    let name = a
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        return Err(GErr::bad(
            "ErrorInvalidParameter",
            "The attachment name is required.",
        ));
    }
    let b64 = a.get("contentBytes").and_then(Value::as_str).unwrap_or("");
    let data = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| {
            GErr::bad(
                "RequestBodyRead",
                "Cannot convert the literal to the expected type 'Edm.Binary'.",
            )
        })?;
    Ok(Attachment {
        id: crate::state::exchange_id("AAMkAD", 40),
        content_type: a
            .get("contentType")
            .and_then(Value::as_str)
            .unwrap_or("application/octet-stream")
            .to_string(),
        name,
        is_inline: a.get("isInline").and_then(Value::as_bool).unwrap_or(false),
        content_id: a
            .get("contentId")
            .and_then(Value::as_str)
            .map(|s| s.to_string()),
        data,
        last_modified: now,
    })
}

/// Applies message JSON (create or PATCH) to `m`.
pub fn apply_fields(m: &mut Message, v: &Value, creating: bool, now: i64) -> Result<(), GErr> {
    let Some(o) = v.as_object() else {
        return Err(GErr::bad(
            "RequestBodyRead",
            "A message object is expected.",
        ));
    };
    let draft_only = [
        "subject",
        "body",
        "internetMessageId",
        "replyTo",
        "from",
        "internetMessageHeaders",
    ];
    for (k, val) in o {
        if !creating && !m.is_draft && draft_only.contains(&k.as_str()) {
            return Err(GErr::bad("ErrorInvalidPropertyUpdateSentMessage", format!("Update operation is not supported for property '{k}' on a message that is not a draft.")));
        }
        match k.as_str() {
            "subject" => m.subject = val.as_str().unwrap_or("").to_string(),
            "body" => {
                let ct = val
                    .get("contentType")
                    .and_then(Value::as_str)
                    .unwrap_or("text");
                m.body_html = ct.eq_ignore_ascii_case("html");
                m.body = val
                    .get("content")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
            }
            "toRecipients" => m.to = parse_recipients(val, k)?,
            "ccRecipients" => m.cc = parse_recipients(val, k)?,
            "bccRecipients" => m.bcc = parse_recipients(val, k)?,
            "replyTo" => m.reply_to = parse_recipients(val, k)?,
            "from" => m.from = parse_recipient(val, k)?,
            "sender" => m.sender = parse_recipient(val, k)?,
            "isRead" => {
                m.is_read = val
                    .as_bool()
                    .ok_or_else(|| GErr::bad("RequestBodyRead", "isRead must be a Boolean."))?
            }
            "importance" => {
                let i = val.as_str().unwrap_or("").to_ascii_lowercase();
                if !["low", "normal", "high"].contains(&i.as_str()) {
                    return Err(GErr::bad(
                        "RequestBodyRead",
                        format!("Invalid importance '{i}'."),
                    ));
                }
                m.importance = i;
            }
            "inferenceClassification" => {
                let i = val.as_str().unwrap_or("").to_ascii_lowercase();
                if !["focused", "other"].contains(&i.as_str()) {
                    return Err(GErr::bad(
                        "RequestBodyRead",
                        format!("Invalid inferenceClassification '{i}'."),
                    ));
                }
                m.inference = i;
            }
            "categories" => {
                m.categories = val
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(|s| s.to_string()))
                            .collect()
                    })
                    .unwrap_or_default()
            }
            "flag" => {
                if let Some(s) = val.get("flagStatus").and_then(Value::as_str) {
                    if !["notFlagged", "flagged", "complete"].contains(&s) {
                        return Err(GErr::bad(
                            "RequestBodyRead",
                            format!("Invalid flagStatus '{s}'."),
                        ));
                    }
                    m.flag = s.to_string();
                }
            }
            "internetMessageId" => {
                let s = val.as_str().unwrap_or("").trim().to_string();
                if !(s.starts_with('<') && s.ends_with('>') && s.contains('@')) {
                    return Err(GErr::bad(
                        "ErrorInvalidInternetMessageId",
                        "The internetMessageId must look like <local@domain>.",
                    ));
                }
                m.internet_message_id = s;
            }
            "internetMessageHeaders" => {
                let mut hs = vec![];
                for h in val.as_array().cloned().unwrap_or_default() {
                    let n = h
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let vv = h
                        .get("value")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    if !n.to_ascii_lowercase().starts_with("x-") {
                        return Err(GErr::bad("InvalidInternetMessageHeader", format!("The internet message header name '{n}' should start with 'x-' or 'X-'.")));
                    }
                    hs.push((n, vv));
                }
                m.headers = hs;
            }
            "isDeliveryReceiptRequested" => m.delivery_receipt = val.as_bool().unwrap_or(false),
            "isReadReceiptRequested" => m.read_receipt = val.as_bool().unwrap_or(false),
            "attachments" if creating => {
                for a in val.as_array().cloned().unwrap_or_default() {
                    m.attachments.push(parse_file_attachment(&a, now)?);
                }
            }
            // Open type: other properties are accepted and ignored.
            _ => {}
        }
    }
    Ok(())
}

fn create(ctx: &Ctx, folder: Option<u32>) -> GResult {
    ctx.need(Perm::Write)?;
    let v = ctx.json_body()?;
    let now = ctx.now();
    let mut m = Message::blank(now);
    m.is_draft = true;
    m.is_read = true;
    m.sent = None;
    apply_fields(&mut m, &v, true, now)?;
    let max = ctx.sim.limits().max_recipients;
    if m.recipient_count() > max {
        return Err(too_many_recipients(max));
    }
    let mut w = ctx.sim.w();
    let mb = w.mailboxes.get_mut(&ctx.target).unwrap();
    let f = folder.unwrap_or_else(|| mb.well_known("drafts"));
    let k = mb.insert(m, f);
    let v = message_json(mb, &mb.messages[&k], ctx.immutable, None, false);
    Ok(json_response(StatusCode::CREATED, &v))
}

pub fn too_many_recipients(max: usize) -> GErr {
    GErr::bad("ErrorTooManyRecipients", format!("The message has too many recipients. The maximum number of recipients (To, Cc and Bcc) per message is {max}."))
}

fn update(ctx: &Ctx, id: &str) -> GResult {
    ctx.need(Perm::Write)?;
    let v = ctx.json_body()?;
    let now = ctx.now();
    let max = ctx.sim.limits().max_recipients;
    let mut w = ctx.sim.w();
    let mb = w.mailboxes.get_mut(&ctx.target).unwrap();
    let k = lookup(mb, id)?;
    // Validate on a copy, then apply.
    let mut copy = mb.messages[&k].clone();
    apply_fields(&mut copy, &v, false, now)?;
    if copy.recipient_count() > max {
        return Err(too_many_recipients(max));
    }
    mb.update(k, now, |m| {
        let (key, rest_id, imm, folder, version, changed, att) = (
            m.key,
            m.rest_id.clone(),
            m.immutable_id.clone(),
            m.folder,
            m.version,
            m.changed_seq,
            m.attachments.clone(),
        );
        *m = copy;
        m.key = key;
        m.rest_id = rest_id;
        m.immutable_id = imm;
        m.folder = folder;
        m.version = version;
        m.changed_seq = changed;
        m.attachments = att;
    });
    let v = message_json(mb, &mb.messages[&k], ctx.immutable, None, false);
    Ok(json_response(StatusCode::OK, &v))
}

fn delete(ctx: &Ctx, id: &str) -> GResult {
    ctx.need(Perm::Write)?;
    let mut w = ctx.sim.w();
    let mb = w.mailboxes.get_mut(&ctx.target).unwrap();
    let k = lookup(mb, id)?;
    mb.delete(k);
    super::send::cancel_pending(&mut w, &ctx.target, k);
    Ok(empty_response(StatusCode::NO_CONTENT))
}

fn move_copy(ctx: &Ctx, id: &str, copy: bool) -> GResult {
    ctx.need(Perm::Write)?;
    let v = ctx.json_body()?;
    let dest = v
        .get("destinationId")
        .or_else(|| v.get("DestinationId"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            GErr::bad(
                "ErrorInvalidParameter",
                "The destinationId parameter is required.",
            )
        })?
        .to_string();
    let now = ctx.now();
    let mut w = ctx.sim.w();
    let mb = w.mailboxes.get_mut(&ctx.target).unwrap();
    let k = lookup(mb, id)?;
    let d = mb.folder_ref(&dest).ok_or_else(|| {
        GErr::bad(
            "ErrorInvalidIdMalformed",
            format!("Id is malformed or the destination folder '{dest}' does not exist."),
        )
    })?;
    let nk = if copy {
        mb.copy_to(k, d, now).ok_or_else(GErr::not_found)?
    } else {
        mb.move_to(k, d).ok_or_else(GErr::not_found)?
    };
    let v = message_json(mb, &mb.messages[&nk], ctx.immutable, None, false);
    Ok(json_response(StatusCode::CREATED, &v))
}

/// RFC 5322 rendering of a stored message (`GET .../messages/{id}/$value`).
pub fn render_mime(m: &Message) -> String {
    let fmt = |a: &Addr| format!("{} <{}>", a.name, a.address);
    let list = |v: &[Addr]| v.iter().map(fmt).collect::<Vec<_>>().join(", ");
    let mut s = String::new();
    if let Some(f) = &m.from {
        s.push_str(&format!("From: {}\r\n", fmt(f)));
    }
    if !m.to.is_empty() {
        s.push_str(&format!("To: {}\r\n", list(&m.to)));
    }
    if !m.cc.is_empty() {
        s.push_str(&format!("Cc: {}\r\n", list(&m.cc)));
    }
    s.push_str(&format!("Subject: {}\r\n", m.subject));
    s.push_str(&format!(
        "Date: {}\r\n",
        crate::clock::rfc2822(m.sent.unwrap_or(m.received))
    ));
    s.push_str(&format!("Message-ID: {}\r\n", m.internet_message_id));
    for (n, v) in &m.headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("MIME-Version: 1.0\r\n");
    s.push_str(&format!(
        "Content-Type: {}; charset=\"utf-8\"\r\n\r\n",
        if m.body_html {
            "text/html"
        } else {
            "text/plain"
        }
    ));
    s.push_str(&m.body);
    s
}

fn mime(ctx: &Ctx, id: &str) -> GResult {
    ctx.need(Perm::Read)?;
    let w = ctx.sim.w();
    let mb = &w.mailboxes[&ctx.target];
    let k = lookup(mb, id)?;
    let text = render_mime(&mb.messages[&k]);
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(text))
        .unwrap())
}
