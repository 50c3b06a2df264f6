//! Attachments: list, add (inline JSON), get, `$value`, delete, and upload sessions
//! (`createUploadSession` + chunked PUTs to the returned URL, which carries its own token
//! and must be used without an Authorization header).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, Response, StatusCode};
use serde_json::{json, Value};

use super::json::attachment_json;
use super::messages::{lookup, parse_file_attachment};
use super::{empty_response, json_response, Ctx, GErr, GResult, Perm};
use crate::clock::iso;
use crate::server::{AppState, RouteLabel};
use crate::state::{exchange_id, random_token, Attachment, UploadSession};

pub fn route(ctx: &Ctx, msg_id: &str, rest: &[String]) -> GResult {
    let m = &ctx.method;
    match (
        rest.len(),
        rest.first().map(|s| s.to_ascii_lowercase()).as_deref(),
        m,
    ) {
        (0, _, &Method::GET) => list(ctx, msg_id),
        (0, _, &Method::POST) => add(ctx, msg_id),
        (1, Some("createuploadsession"), &Method::POST) => create_session(ctx, msg_id),
        (1, _, &Method::GET) => get(ctx, msg_id, &rest[0], false),
        (1, _, &Method::DELETE) => delete(ctx, msg_id, &rest[0]),
        (2, _, &Method::GET) if rest[1] == "$value" => get(ctx, msg_id, &rest[0], true),
        _ => Err(super::method_not_allowed()),
    }
}

fn list(ctx: &Ctx, msg_id: &str) -> GResult {
    ctx.need(Perm::Read)?;
    let w = ctx.sim.w();
    let mb = &w.mailboxes[&ctx.target];
    let k = lookup(mb, msg_id)?;
    let v: Vec<Value> = mb.messages[&k]
        .attachments
        .iter()
        .map(|a| attachment_json(a, true))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"@odata.context": format!("{}/$metadata#users('{}')/messages('{}')/attachments", ctx.base(), ctx.target, msg_id), "value": v}),
    ))
}

fn add(ctx: &Ctx, msg_id: &str) -> GResult {
    ctx.need(Perm::Write)?;
    let v = ctx.json_body()?;
    let now = ctx.now();
    let a = parse_file_attachment(&v, now)?;
    if a.data.len() as u64 > ctx.sim.limits().inline_max_bytes {
        return Err(GErr::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ErrorAttachmentSizeLimitExceeded",
            "Attachments larger than 3 MB must be added with an upload session (createUploadSession).",
        ));
    }
    let mut w = ctx.sim.w();
    let mb = w.mailboxes.get_mut(&ctx.target).unwrap();
    let k = lookup(mb, msg_id)?;
    let out = attachment_json(&a, false);
    mb.update(k, now, |m| m.attachments.push(a));
    Ok(json_response(StatusCode::CREATED, &out))
}

fn get(ctx: &Ctx, msg_id: &str, att_id: &str, raw: bool) -> GResult {
    ctx.need(Perm::Read)?;
    let w = ctx.sim.w();
    let mb = &w.mailboxes[&ctx.target];
    let k = lookup(mb, msg_id)?;
    let a = mb.messages[&k]
        .attachments
        .iter()
        .find(|a| a.id == att_id)
        .ok_or_else(GErr::not_found)?;
    if raw {
        return Ok(Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, a.content_type.as_str())
            .body(Body::from(a.data.clone()))
            .unwrap());
    }
    let mut v = attachment_json(a, true);
    v["@odata.context"] = json!(format!(
        "{}/$metadata#users('{}')/messages('{}')/attachments/$entity",
        ctx.base(),
        ctx.target,
        msg_id
    ));
    Ok(json_response(StatusCode::OK, &v))
}

fn delete(ctx: &Ctx, msg_id: &str, att_id: &str) -> GResult {
    ctx.need(Perm::Write)?;
    let now = ctx.now();
    let mut w = ctx.sim.w();
    let mb = w.mailboxes.get_mut(&ctx.target).unwrap();
    let k = lookup(mb, msg_id)?;
    if !mb.messages[&k].attachments.iter().any(|a| a.id == att_id) {
        return Err(GErr::not_found());
    }
    mb.update(k, now, |m| m.attachments.retain(|a| a.id != att_id));
    Ok(empty_response(StatusCode::NO_CONTENT))
}

fn create_session(ctx: &Ctx, msg_id: &str) -> GResult {
    ctx.need(Perm::Write)?;
    let v = ctx.json_body()?;
    let item = v
        .get("AttachmentItem")
        .or_else(|| v.get("attachmentItem"))
        .ok_or_else(|| {
            GErr::bad(
                "ErrorInvalidParameter",
                "The AttachmentItem parameter is required.",
            )
        })?;
    let ty = item
        .get("attachmentType")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !ty.eq_ignore_ascii_case("file") {
        return Err(GErr::bad(
            "ErrorInvalidParameter",
            format!("attachmentType '{ty}' is not supported; use 'file'."),
        ));
    }
    let name = item
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
    let size = item
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| GErr::bad("ErrorInvalidParameter", "The attachment size is required."))?;
    let l = ctx.sim.limits();
    if size < l.upload_min_bytes {
        return Err(GErr::bad(
            "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
            "Attachment size must be greater than the minimum size.",
        ));
    }
    if size > l.upload_max_bytes {
        return Err(GErr::bad(
            "ErrorAttachmentSizeLimitExceeded",
            format!(
                "The attachment size exceeds the maximum of {} bytes.",
                l.upload_max_bytes
            ),
        ));
    }
    let now = ctx.now();
    let mut w = ctx.sim.w();
    let mb = &w.mailboxes[&ctx.target];
    let k = lookup(mb, msg_id)?;
    let rest_id = mb.messages[&k].rest_id.clone();
    let token = random_token(48);
    let sid = exchange_id("AAMkAD", 24);
    let expires = now + 15 * 60;
    w.uploads.insert(
        token.clone(),
        UploadSession {
            mailbox: ctx.target.clone(),
            message_key: k,
            name,
            content_type: item
                .get("contentType")
                .and_then(Value::as_str)
                .unwrap_or("application/octet-stream")
                .to_string(),
            size,
            is_inline: item
                .get("isInline")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            content_id: item
                .get("contentId")
                .and_then(Value::as_str)
                .map(|s| s.to_string()),
            expires,
            data: Vec::new(),
        },
    );
    let url = format!(
        "{}/api/v2.0/Users('{}')/Messages('{}')/AttachmentSessions('{}')?authtoken={}",
        ctx.sim.base_url, ctx.target, rest_id, sid, token
    );
    Ok(json_response(
        StatusCode::CREATED,
        &json!({
            "@odata.context": format!("{}/$metadata#microsoft.graph.uploadSession", ctx.base()),
            "uploadUrl": url,
            "expirationDateTime": iso(expires),
            "nextExpectedRanges": ["0-"],
        }),
    ))
}

fn err(sim: &crate::server::Sim, e: GErr) -> Response<Body> {
    super::finish(sim, Err(e), None, "/api/v2.0/AttachmentSessions".into())
}

/// An `Authorization` header on the pre-authenticated upload URL: Outlook checks that bearer
/// token (audience `https://graph.microsoft.com`) instead of the URL's own and refuses it with
/// 401 `InvalidAudience` (body as reported in microsoftgraph/msgraph-sdk-java-core#445).
fn invalid_audience(sim: &crate::server::Sim) -> Response<Body> {
    let rid = crate::state::new_guid();
    let body = serde_json::json!({"error": {
        "code": "InvalidAudience",
        "message": "The audience claim value is invalid 'aud'.",
        "innerError": {
            "oAuthEventOperationId": crate::state::new_guid(),
            "oAuthEventcV": "o365sim.1.1",
            "errorUrl": "https://aka.ms/autherrors#error-InvalidResource",
            "requestId": rid,
            "date": crate::clock::iso_nozone(sim.clock.now()),
        }
    }});
    let mut r = Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(header::CONTENT_TYPE, "application/json")
        .header("request-id", rid.as_str())
        .header(
            header::WWW_AUTHENTICATE,
            "Bearer client_id=\"00000002-0000-0ff1-ce00-000000000000\", trusted_issuers=\"00000001-0000-0000-c000-000000000000@*\", error=\"invalid_token\"",
        )
        .body(Body::from(body.to_string()))
        .unwrap();
    r.extensions_mut().insert(crate::server::RouteLabel(
        "/api/v2.0/AttachmentSessions".into(),
    ));
    r
}

/// `PUT {uploadUrl}` with `Content-Range: bytes start-end/total` (and `DELETE` to cancel).
pub async fn upload_chunk(State(sim): State<AppState>, req: Request) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let q = super::parse_query(parts.uri.query().unwrap_or(""));
    let token = q.get("authtoken").cloned().unwrap_or_default();
    let l = sim.limits();
    if parts.headers.contains_key(header::AUTHORIZATION) {
        return invalid_audience(&sim);
    }
    let body = match axum::body::to_bytes(body, l.upload_chunk_max).await {
        Ok(b) => b,
        Err(_) => {
            return err(
                &sim,
                GErr::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLarge",
                    format!("A chunk may be at most {} bytes.", l.upload_chunk_max),
                ),
            )
        }
    };
    let now = sim.clock.now();
    let mut w = sim.w();
    let Some(sess) = w.uploads.get(&token).cloned() else {
        return err(
            &sim,
            GErr::new(
                StatusCode::NOT_FOUND,
                "ErrorItemNotFound",
                "The upload session was not found or has expired.",
            ),
        );
    };
    if sess.expires <= now {
        w.uploads.remove(&token);
        return err(
            &sim,
            GErr::new(
                StatusCode::NOT_FOUND,
                "ErrorItemNotFound",
                "The upload session has expired.",
            ),
        );
    }
    if parts.method == Method::DELETE {
        w.uploads.remove(&token);
        let mut r = empty_response(StatusCode::NO_CONTENT);
        r.extensions_mut()
            .insert(RouteLabel("/api/v2.0/AttachmentSessions".into()));
        return r;
    }
    if parts.method != Method::PUT {
        return err(
            &sim,
            GErr::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "ErrorInvalidRequest",
                "Use PUT to upload chunks.",
            ),
        );
    }
    let range = parts
        .headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let parsed = range.strip_prefix("bytes ").and_then(|r| {
        let (se, total) = r.split_once('/')?;
        let (s, e) = se.split_once('-')?;
        Some((
            s.trim().parse::<u64>().ok()?,
            e.trim().parse::<u64>().ok()?,
            total.trim().parse::<u64>().ok()?,
        ))
    });
    let Some((start, end, total)) = parsed else {
        return err(
            &sim,
            GErr::bad(
                "InvalidContentRange",
                "A Content-Range header 'bytes start-end/total' is required.",
            ),
        );
    };
    if total != sess.size {
        return err(
            &sim,
            GErr::bad(
                "InvalidContentRange",
                format!(
                    "The total size {total} does not match the session size {}.",
                    sess.size
                ),
            ),
        );
    }
    if start != sess.data.len() as u64 || end < start || end >= total {
        return err(
            &sim,
            GErr::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                format!(
                    "The range {start}-{end} is not the next expected range {}-.",
                    sess.data.len()
                ),
            ),
        );
    }
    if body.len() as u64 != end - start + 1 {
        return err(
            &sim,
            GErr::bad(
                "fragmentLengthMismatch",
                format!(
                    "The Content-Range declares {} bytes but the body has {}.",
                    end - start + 1,
                    body.len()
                ),
            ),
        );
    }
    let s = w.uploads.get_mut(&token).unwrap();
    s.data.extend_from_slice(&body);
    let got = s.data.len() as u64;
    let label = RouteLabel("/api/v2.0/AttachmentSessions".into());
    if got < total {
        let mut r = Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({
                    "@odata.context": format!("{}/api/v2.0/$metadata#Users('{}')/Messages/AttachmentSessions/$entity", sim.base_url, s.mailbox),
                    "ExpirationDateTime": iso(s.expires),
                    "nextExpectedRanges": [format!("{got}")],
                })
                .to_string(),
            ))
            .unwrap();
        r.extensions_mut().insert(label);
        return r;
    }
    let s = w.uploads.remove(&token).unwrap();
    let att = Attachment {
        id: exchange_id("AAMkAD", 40),
        name: s.name,
        content_type: s.content_type,
        is_inline: s.is_inline,
        content_id: s.content_id,
        data: s.data,
        last_modified: now,
    };
    let aid = att.id.clone();
    let Some(mb) = w.mailboxes.get_mut(&s.mailbox) else {
        return err(&sim, GErr::not_found());
    };
    let Some(rest_id) = mb.messages.get(&s.message_key).map(|m| m.rest_id.clone()) else {
        return err(&sim, GErr::not_found());
    };
    mb.update(s.message_key, now, |m| m.attachments.push(att));
    let mut r = Response::builder()
        .status(StatusCode::CREATED)
        .header(
            header::LOCATION,
            format!(
                "{}/api/v2.0/Users('{}')/Messages('{}')/Attachments('{}')",
                sim.base_url, s.mailbox, rest_id, aid
            ),
        )
        .body(Body::empty())
        .unwrap();
    r.extensions_mut().insert(label);
    r
}
