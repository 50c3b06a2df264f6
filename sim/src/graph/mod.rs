//! Microsoft Graph v1.0 mail: request parsing, token validation, mailbox access and
//! throttling, then routing to the resource modules.

pub mod attachments;
pub mod delta;
pub mod errors;
pub mod filter;
pub mod folders;
pub mod json;
pub mod messages;
pub mod send;
pub mod users;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use serde_json::Value;

use crate::server::{AppState, RouteLabel, Sim};
use crate::state::{User, World};

/// A Graph error on its way to becoming a response.
#[derive(Debug)]
pub struct GErr {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl GErr {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> GErr {
        GErr {
            status,
            code: code.to_string(),
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad(code: &str, message: impl Into<String>) -> GErr {
        GErr::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found() -> GErr {
        GErr::new(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }
    /// An id that is not in the store: 404 `ErrorItemNotFound` when it is well formed,
    /// 400 `ErrorInvalidIdMalformed` when it cannot be an Exchange id at all.
    pub fn unknown_id(id: &str) -> GErr {
        let well_formed = id.len() >= 16
            && id.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b'=')
            });
        if well_formed {
            GErr::not_found()
        } else {
            GErr::bad("ErrorInvalidIdMalformed", "Id is malformed.")
        }
    }

    pub fn denied() -> GErr {
        GErr::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    }
    pub fn throttled(message: &str, retry_after: u64) -> GErr {
        GErr {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "ApplicationThrottled".into(),
            message: message.into(),
            retry_after: Some(retry_after),
        }
    }
}

pub type GResult = Result<Response<Body>, GErr>;

/// Who is calling, from the validated access token.
#[derive(Clone, Debug)]
pub struct Auth {
    pub app_only: bool,
    pub user_id: Option<String>,
    pub tenant_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub roles: Vec<String>,
}

/// Mailbox permission classes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    Read,
    Write,
    Send,
    Settings,
}

/// One Graph request, parsed.
pub struct Ctx {
    pub sim: Arc<Sim>,
    pub method: Method,
    /// Path segments after the mailbox prefix (`me` or `users/{id}`), as sent.
    pub segs: Vec<String>,
    /// `me` or `users/{id}` as it should appear in links.
    pub mb_path: String,
    /// The target mailbox owner's user id.
    pub target: String,
    pub own: bool,
    pub query: HashMap<String, String>,
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub auth: Auth,
    pub immutable: bool,
    pub max_page: Option<usize>,
    /// `Prefer: outlook.body-content-type`: Some(true) = text, Some(false) = html.
    pub body_as_text: Option<bool>,
}

impl Ctx {
    pub fn seg(&self, i: usize) -> Option<String> {
        self.segs.get(i).map(|s| s.to_ascii_lowercase())
    }

    pub fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(|s| s.as_str())
    }

    pub fn json_body(&self) -> Result<Value, GErr> {
        if self.body.is_empty() {
            return Err(GErr::bad(
                "BadRequest",
                "Empty Payload. JSON content expected.",
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            GErr::bad(
                "RequestBodyRead",
                format!("Invalid JSON. An unexpected error occurred while reading the request body: {e}"),
            )
        })
    }

    /// Requires a delegated or application permission for `perm` on the target mailbox.
    pub fn need(&self, perm: Perm) -> Result<(), GErr> {
        let has = |names: &[&str]| {
            if self.auth.app_only {
                names.iter().any(|n| self.auth.roles.iter().any(|r| r == n))
            } else {
                names
                    .iter()
                    .any(|n| self.auth.scopes.iter().any(|s| s == n))
            }
        };
        let ok = if self.auth.app_only {
            match perm {
                Perm::Read => has(&[
                    "Mail.Read",
                    "Mail.ReadWrite",
                    "Mail.ReadBasic.All",
                    "Mail.ReadBasic",
                ]),
                Perm::Write => has(&["Mail.ReadWrite"]),
                Perm::Send => has(&["Mail.Send"]),
                Perm::Settings => has(&["MailboxSettings.Read", "MailboxSettings.ReadWrite"]),
            }
        } else if self.own {
            match perm {
                Perm::Read => has(&["Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"]),
                Perm::Write => has(&["Mail.ReadWrite"]),
                Perm::Send => has(&["Mail.Send"]),
                Perm::Settings => has(&["MailboxSettings.Read", "MailboxSettings.ReadWrite"]),
            }
        } else {
            match perm {
                Perm::Read => has(&[
                    "Mail.ReadBasic.Shared",
                    "Mail.Read.Shared",
                    "Mail.ReadWrite.Shared",
                ]),
                Perm::Write => has(&["Mail.ReadWrite.Shared"]),
                Perm::Send => has(&["Mail.Send.Shared"]),
                Perm::Settings => has(&["MailboxSettings.Read", "MailboxSettings.ReadWrite"]),
            }
        };
        if ok {
            Ok(())
        } else {
            Err(GErr::denied())
        }
    }

    pub fn base(&self) -> String {
        format!("{}/v1.0", self.sim.base_url)
    }

    pub fn now(&self) -> i64 {
        self.sim.clock.now()
    }
}

fn decode_seg(s: &str) -> String {
    percent_decode(s)
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The documented spellings of the delta function (`delta`, `delta()`,
/// `microsoft.graph.delta`, `microsoft.graph.delta()`): Microsoft documents `/delta` as the
/// short form of the fully qualified name, and its generated SDKs call `delta()`.
fn function_name(s: String) -> String {
    let l = s.to_ascii_lowercase();
    let l = l.strip_suffix("()").unwrap_or(&l);
    if l == "delta" || l == "microsoft.graph.delta" {
        "delta".into()
    } else {
        s
    }
}

/// Splits `name('value')` segments into `name`, `value`.
fn split_segments(path: &str) -> Vec<String> {
    let mut out = vec![];
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let s = decode_seg(raw);
        if let Some(open) = s.find("('") {
            if s.ends_with("')") {
                out.push(s[..open].to_string());
                out.push(s[open + 2..s.len() - 2].replace("''", "'"));
                continue;
            }
        }
        out.push(function_name(s));
    }
    out
}

pub fn parse_query(q: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .map(|(k, v)| {
            let k = if k.starts_with('$') {
                k.to_ascii_lowercase()
            } else {
                k
            };
            (k, v)
        })
        .collect()
}

/// Validates the bearer token (signature, audience, lifetime, revocation).
pub fn authenticate(sim: &Sim, headers: &HeaderMap) -> Result<Auth, GErr> {
    let unauth = |m: &str| GErr::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", m);
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
        .unwrap_or("")
        .trim();
    if token.is_empty() {
        return Err(unauth("Access token is empty."));
    }
    if token.split('.').count() != 3 {
        return Err(unauth(
            "IDX14100: JWT is not well formed, there are no dots (.).",
        ));
    }
    let claims = sim.keys.verify(token).map_err(unauth)?;
    let s = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let n = |k: &str| claims.get(k).and_then(Value::as_i64).unwrap_or(0);
    let aud = s("aud");
    if aud != "https://graph.microsoft.com" && aud != "00000003-0000-0000-c000-000000000000" {
        return Err(unauth("Access token validation failure. Invalid audience."));
    }
    let tid = s("tid");
    if s("iss") != crate::identity::token::graph_issuer(&tid) {
        return Err(unauth("Access token validation failure. Invalid issuer."));
    }
    let now = sim.clock.now();
    if n("exp") <= now || n("nbf") > now + 300 {
        return Err(unauth("Lifetime validation failed, the token is expired."));
    }
    let uti = s("uti");
    let issued_ms = crate::identity::token::uti_time_ms(&uti).unwrap_or(n("iat") * 1000);
    let app_only = s("idtyp") == "app";
    let w = sim.w();
    if w.revoked_utis.contains(&uti) {
        return Err(unauth("Access token has been revoked."));
    }
    let user_id = if app_only {
        None
    } else {
        let oid = s("oid");
        let u = w
            .user_by_id(&oid)
            .ok_or_else(|| unauth("Access token validation failure. User not found."))?;
        if issued_ms < u.revoked_before {
            return Err(unauth("Access token has been revoked."));
        }
        if issued_ms < u.access_not_before {
            return Err(unauth("Lifetime validation failed, the token is expired."));
        }
        Some(oid)
    };
    Ok(Auth {
        app_only,
        user_id,
        tenant_id: tid,
        client_id: s("appid"),
        scopes: s("scp").split_whitespace().map(|x| x.to_string()).collect(),
        roles: claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(|s| s.to_string()))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

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
    let immutable = parts
        .headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.to_ascii_lowercase()
                .replace(' ', "")
                .contains("idtype=\"immutableid\"")
        });
    let max_page = parts
        .headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| {
            p.trim()
                .strip_prefix("odata.maxpagesize=")
                .and_then(|n| n.trim().parse().ok())
        });
    let body_as_text = parts
        .headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| {
            let p = p.trim().to_ascii_lowercase().replace(' ', "");
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

fn method_not_allowed() -> GErr {
    GErr::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "ErrorInvalidRequest",
        "The OData request is not supported.",
    )
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

pub const JSON_CT: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

pub fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, JSON_CT)
        .header("OData-Version", "4.0")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from(serde_json::to_vec(v).unwrap()))
        .unwrap()
}

/// A JSON answer from already serialised bytes.
pub fn bytes_response(status: StatusCode, bytes: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, JSON_CT)
        .header("OData-Version", "4.0")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from(bytes))
        .unwrap()
}

pub fn empty_response(status: StatusCode) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::empty())
        .unwrap()
}

/// `$top` (default 10, at most the configured maximum) and `$skip`.
pub fn paging(ctx: &Ctx, default: usize) -> Result<(usize, usize), GErr> {
    let max = ctx.sim.limits().max_top;
    let top = match ctx.q("$top") {
        Some(t) => {
            let n: usize = t.parse().map_err(|_| {
                GErr::bad(
                    "BadRequest",
                    format!("Invalid value '{t}' for $top query option."),
                )
            })?;
            if n == 0 || n > max {
                return Err(GErr::bad(
                    "ErrorInvalidArgument",
                    format!("The value of $top must be between 1 and {max}."),
                ));
            }
            n
        }
        None => ctx.max_page.unwrap_or(default).clamp(1, max),
    };
    let skip = match ctx.q("$skip") {
        Some(s) => s.parse().map_err(|_| {
            GErr::bad(
                "BadRequest",
                format!("Invalid value '{s}' for $skip query option."),
            )
        })?,
        None => 0,
    };
    Ok((top, skip))
}

/// The request URL with `$skip` set to `skip` (other options kept).
pub fn next_link(ctx: &Ctx, path: &str, skip: usize) -> String {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(ctx.raw_query.as_bytes())
        .into_owned()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("$skip"))
        .collect();
    if !pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case("$top")) {
        if let Some(n) = ctx.max_page {
            pairs.push(("$top".into(), n.to_string()));
        }
    }
    pairs.push(("$skip".into(), skip.to_string()));
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter())
        .finish();
    format!("{}/{}/{path}?{q}", ctx.base(), ctx.mb_path)
}

/// Parses `$select` into property names (None: default property set).
pub fn select(ctx: &Ctx) -> Option<Vec<String>> {
    ctx.q("$select").map(|s| {
        s.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    })
}
