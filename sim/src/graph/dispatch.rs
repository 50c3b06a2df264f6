//! The way of every Graph request: body limit, token, mailbox access, throttling, latency,
//! then the resource modules; and the answer's headers and route label.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use super::auth::{authenticate, Auth};
use super::errors::{self, method_not_allowed, GErr, GResult};
use super::request::{parse_query, split_segments, Ctx};
use super::{folders, messages, send, users};
use crate::server::{AppState, RouteLabel, Sim};
use crate::state::{User, World};

fn client_request_id(h: &HeaderMap) -> Option<String> {
    h.get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.to_string())
}

pub fn finish(sim: &Sim, r: GResult, crid: Option<&str>, label: String) -> Response<Body> {
    let mut resp = match r {
        Ok(r) => r,
        Err(e) => {
            let mut resp = errors::graph_error(sim, e.status, &e.code, &e.message, crid);
            if let Some(ra) = e.retry_after {
                resp.headers_mut()
                    .insert("Retry-After", HeaderValue::from(ra));
            }
            resp
        }
    };
    if !resp.headers().contains_key("request-id") {
        let rid = crate::state::new_guid();
        let h = resp.headers_mut();
        h.insert("request-id", rid.parse().unwrap());
        h.insert(
            "client-request-id",
            crid.unwrap_or(&rid)
                .parse()
                .unwrap_or(HeaderValue::from_static("")),
        );
    }
    resp.headers_mut().insert(
        "x-ms-ags-diagnostic",
        HeaderValue::from_static("{\"ServerInfo\":{\"DataCenter\":\"o365-sim\"}}"),
    );
    resp.extensions_mut().insert(RouteLabel(label));
    resp
}

/// Route label for counters: ids replaced by placeholders.
fn label(segs: &[String], mailbox_form: &str) -> String {
    let mut out = vec![String::from("/v1.0"), mailbox_form.to_string()];
    let mut prev = String::new();
    for s in segs {
        let l = s.to_ascii_lowercase();
        let keep = matches!(
            l.as_str(),
            "mailfolders"
                | "childfolders"
                | "messages"
                | "attachments"
                | "delta"
                | "move"
                | "copy"
                | "send"
                | "sendmail"
                | "createuploadsession"
                | "mailboxsettings"
                | "$value"
        ) || (prev == "mailfolders"
            && crate::state::WELL_KNOWN.iter().any(|w| w.0 == l));
        out.push(if keep { s.clone() } else { "{id}".into() });
        prev = l;
    }
    out.join("/")
}

pub async fn dispatch(State(sim): State<AppState>, req: Request) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let crid = client_request_id(&parts.headers);
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let limits = sim.limits();
    let segs_all = split_segments(path.strip_prefix("/v1.0").unwrap_or(&path));
    let body = match axum::body::to_bytes(body, limits.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return finish(
                &sim,
                Err(GErr::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLarge",
                    format!(
                        "The request body exceeds the maximum size of {} bytes.",
                        limits.max_body_bytes
                    ),
                )),
                crid.as_deref(),
                format!("/v1.0/{}", segs_all.first().cloned().unwrap_or_default()),
            )
        }
    };
    if segs_all.first().map(|s| s.as_str()) == Some("$batch") {
        let r = match authenticate(&sim, &parts.headers) {
            Ok(_) if parts.method == Method::POST => {
                crate::batch::handle(sim.clone(), &parts.headers, body).await
            }
            Ok(_) => Err(GErr::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "BadRequest",
                "Only POST is supported for $batch.",
            )),
            Err(e) => Err(e),
        };
        return finish(&sim, r, crid.as_deref(), "/v1.0/$batch".into());
    }
    let auth = match authenticate(&sim, &parts.headers) {
        Ok(a) => a,
        Err(e) => {
            return finish(
                &sim,
                Err(e),
                crid.as_deref(),
                "/v1.0/(unauthenticated)".into(),
            )
        }
    };
    // Mailbox prefix.
    let first = segs_all
        .first()
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let (target_ref, rest, mb_form): (Option<String>, Vec<String>, &str) = match first.as_str() {
        "me" => (None, segs_all[1..].to_vec(), "me"),
        "users" if segs_all.len() >= 2 => (
            Some(segs_all[1].clone()),
            segs_all[2..].to_vec(),
            "users/{id}",
        ),
        _ => {
            return finish(
                &sim,
                Err(GErr::bad(
                    "BadRequest",
                    format!(
                        "Resource not found for the segment '{}'.",
                        segs_all.first().cloned().unwrap_or_default()
                    ),
                )),
                crid.as_deref(),
                format!("/v1.0/{first}"),
            )
        }
    };
    let lbl = label(&rest, mb_form);
    let resolved = {
        let w = sim.w();
        resolve_target(&w, &auth, target_ref.as_deref(), &rest)
    };
    let (target, own, mb_path) = match resolved {
        Ok(x) => x,
        Err(e) => return finish(&sim, Err(e), crid.as_deref(), lbl),
    };
    // `Prefer` preferences, one per item of every `Prefer` header.
    let prefer: Vec<&str> = parts
        .headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let immutable = prefer.iter().any(|p| {
        p.to_ascii_lowercase()
            .replace(' ', "")
            .contains("idtype=\"immutableid\"")
    });
    let max_page = prefer.iter().find_map(|p| {
        p.strip_prefix("odata.maxpagesize=")
            .and_then(|n| n.trim().parse().ok())
    });
    let body_as_text = prefer.iter().find_map(|p| {
        let p = p.to_ascii_lowercase().replace(' ', "");
        match p
            .strip_prefix("outlook.body-content-type=")?
            .trim_matches('"')
        {
            "text" => Some(true),
            "html" => Some(false),
            _ => None,
        }
    });
    let query = parse_query(&raw_query);
    if let Some(bad) = query.keys().find(|k| {
        k.starts_with('$')
            && ![
                "$select",
                "$top",
                "$skip",
                "$filter",
                "$orderby",
                "$search",
                "$count",
                "$expand",
                "$skiptoken",
                "$deltatoken",
            ]
            .contains(&k.as_str())
    }) {
        let e = GErr::bad(
            "BadRequest",
            format!("Query option '{bad}' is not supported."),
        );
        return finish(&sim, Err(e), crid.as_deref(), lbl);
    }
    if let Some(e) = query.get("$expand") {
        if e.split(',')
            .any(|x| !x.trim().eq_ignore_ascii_case("attachments"))
        {
            let e = GErr::bad("BadRequest", format!("Parsing OData Select and Expand failed: $expand={e} is not supported (only attachments)."));
            return finish(&sim, Err(e), crid.as_deref(), lbl);
        }
    }
    let ctx = Ctx {
        sim: sim.clone(),
        method: parts.method.clone(),
        segs: rest,
        mb_path,
        target: target.clone(),
        own,
        query,
        raw_query,
        headers: parts.headers.clone(),
        body,
        auth: auth.clone(),
        immutable,
        max_page,
        body_as_text,
    };
    // The user object itself is a directory resource: no mailbox throttling.
    let is_mailbox = !ctx.segs.is_empty();
    let _slot = if is_mailbox {
        match sim.throttle.enter(&auth.client_id, &target, sim.clock.now_ms(), &limits) {
            Ok(s) => Some(s),
            Err(crate::limits::Refused::Concurrency) => {
                return finish(&sim, Err(GErr::throttled("Application is over its MailboxConcurrency limit.", limits.retry_after_secs)), crid.as_deref(), lbl)
            }
            Err(crate::limits::Refused::Rate(wait)) => {
                return finish(&sim, Err(GErr::throttled("Application is over its MailboxRequestLimit (too many requests for this mailbox in the current period).", wait)), crid.as_deref(), lbl)
            }
        }
    } else {
        None
    };
    let lat = sim.latency();
    if lat > 0 {
        tokio::time::sleep(Duration::from_millis(lat)).await;
    }
    let r = route(&ctx).map(|mut resp| {
        let mut applied = vec![];
        if ctx.immutable {
            applied.push("IdType=\"ImmutableId\"".to_string());
        }
        match ctx.body_as_text {
            Some(true) => applied.push("outlook.body-content-type=\"text\"".to_string()),
            Some(false) => applied.push("outlook.body-content-type=\"html\"".to_string()),
            None => {}
        }
        if let Some(n) = ctx.max_page {
            if ctx
                .segs
                .last()
                .is_some_and(|s| s.eq_ignore_ascii_case("delta"))
            {
                applied.push(format!("odata.maxpagesize={n}"));
            }
        }
        if !applied.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&applied.join(", ")) {
                resp.headers_mut().insert("Preference-Applied", v);
            }
        }
        resp
    });
    finish(&sim, r, crid.as_deref(), lbl)
}

/// Resolves `me` / `users/{id}` to a mailbox and checks the caller may use it.
fn resolve_target(
    w: &World,
    auth: &Auth,
    r: Option<&str>,
    rest: &[String],
) -> Result<(String, bool, String), GErr> {
    let Some(r) = r else {
        let Some(uid) = &auth.user_id else {
            return Err(GErr::bad(
                "BadRequest",
                "/me request is only valid with delegated authentication flow.",
            ));
        };
        return Ok((uid.clone(), true, "me".into()));
    };
    let user: Option<&User> = w.user(r).filter(|u| u.tenant_id == auth.tenant_id);
    let Some(user) = user else {
        return Err(if rest.is_empty() {
            GErr::new(StatusCode::NOT_FOUND, "Request_ResourceNotFound", format!("Resource '{r}' does not exist or one of its queried reference-property objects are not present."))
        } else {
            GErr::new(
                StatusCode::NOT_FOUND,
                "ErrorInvalidUser",
                format!("The requested user '{r}' is invalid."),
            )
        });
    };
    let own = auth.user_id.as_deref() == Some(user.id.as_str());
    if !own && !auth.app_only && !rest.is_empty() {
        let me = auth.user_id.clone().unwrap_or_default();
        // Other mailboxes (shared, delegated) need a FullAccess grant, sendMail included.
        let granted = user.grant_for(&me).map(|g| g.full_access).unwrap_or(false);
        if !granted {
            return Err(GErr::denied());
        }
    }
    Ok((user.id.clone(), own, format!("users/{}", user.id)))
}

fn route(ctx: &Ctx) -> GResult {
    let s0 = ctx.seg(0);
    let m = &ctx.method;
    match (s0.as_deref(), ctx.segs.len()) {
        (None, _) => match *m {
            Method::GET => users::get_user(ctx),
            _ => Err(method_not_allowed()),
        },
        (Some("mailboxsettings"), 1) => match *m {
            Method::GET => users::mailbox_settings(ctx),
            _ => Err(method_not_allowed()),
        },
        (Some("sendmail"), 1) => match *m {
            Method::POST => send::send_mail(ctx),
            _ => Err(method_not_allowed()),
        },
        (Some("mailfolders"), _) => folders::route(ctx, &ctx.segs[1..]),
        (Some("messages"), _) => messages::route(ctx, &ctx.segs[1..], None),
        _ => Err(GErr::bad(
            "BadRequest",
            format!("Resource not found for the segment '{}'.", ctx.segs[0]),
        )),
    }
}
