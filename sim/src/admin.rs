//! The test bench under `/_sim/` (JSON over HTTPS, no authentication: loopback only). See
//! sim/README.md for the route list.

use std::collections::BTreeSet;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};

use crate::faults::FaultSpec;
use crate::graph::json::folder_json;
use crate::graph::send::{submit, Submission};
use crate::server::AppState;
use crate::state::{
    new_guid, Addr, AliasSendMode, App, Attachment, Grant, Message, Platform, Tenant, User,
    UserKind, World,
};

/// `90.00:00:00` style (days.hours:minutes:seconds).
pub fn duration_text(secs: i64) -> String {
    format!(
        "{}.{:02}:{:02}:{:02}",
        secs / 86400,
        (secs % 86400) / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// An admin API error: status and message, answered as `{"error": "..."}`.
pub struct AdminErr(StatusCode, String);

impl IntoResponse for AdminErr {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

type R = Result<Response, AdminErr>;

fn err(status: StatusCode, msg: impl Into<String>) -> AdminErr {
    AdminErr(status, msg.into())
}

fn bad(msg: impl Into<String>) -> AdminErr {
    err(StatusCode::BAD_REQUEST, msg)
}

fn ok(v: Value) -> R {
    Ok(Json(v).into_response())
}

fn created(v: Value) -> R {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/tenants", get(list_tenants).post(create_tenant))
        .route("/tenants/{t}", get(get_tenant).patch(patch_tenant))
        .route("/tenants/{t}/consents", post(add_consent))
        .route(
            "/tenants/{t}/consents/{client}",
            axum::routing::delete(remove_consent),
        )
        .route("/apps", get(list_apps).post(register_app))
        .route("/apps/{id}", get(get_app).delete(delete_app))
        .route("/users", get(list_users).post(create_user))
        .route("/users/{u}", get(get_user).patch(patch_user))
        .route("/users/{u}/grants", post(add_grant))
        .route("/users/{u}/grants/{g}", axum::routing::delete(remove_grant))
        .route("/mailboxes/{u}", get(mailbox_state))
        .route("/mailboxes/{u}/messages", get(mailbox_messages))
        .route(
            "/mailboxes/{u}/submission-delay",
            get(get_submission_delay).put(put_submission_delay),
        )
        .route("/mailboxes/{u}/messages/{id}/outlook", post(outlook_action))
        .route("/mailboxes/{u}/folders", post(create_folder))
        .route("/mailboxes/{u}/deliver", post(deliver))
        .route("/mailboxes/{u}/outlook-send", post(outlook_send))
        .route("/mailboxes/{u}/seed", post(bulk_seed))
        .route("/mailboxes/{u}/invalidate-sync", post(invalidate_sync))
        .route("/outbound", get(outbound).delete(clear_outbound))
        .route("/tokens/revoke", post(revoke))
        .route("/tokens/expire", post(expire))
        .route("/tokens/revoke-access", post(revoke_access))
        .route("/token-lifetimes", get(get_lifetimes).put(put_lifetimes))
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/faults/{id}", axum::routing::delete(remove_fault))
        .route("/counters", get(counters))
        .route("/counters/reset", post(reset_counters))
        .route("/limits", get(get_limits).put(put_limits))
        .route("/latency", put(put_latency))
        .route("/clock", get(get_clock))
        .route("/clock/advance", post(advance_clock))
        .route("/save", post(save))
}

async fn health(State(sim): State<AppState>) -> R {
    ok(json!({"ok": true, "url": sim.base_url}))
}

fn tenant_json(t: &Tenant) -> Value {
    serde_json::to_value(t).unwrap()
}

async fn list_tenants(State(sim): State<AppState>) -> R {
    let w = sim.w();
    ok(json!({"tenants": w.tenants.iter().map(tenant_json).collect::<Vec<_>>()}))
}

async fn get_tenant(State(sim): State<AppState>, Path(t): Path<String>) -> R {
    let w = sim.w();
    let t = w
        .tenant(&t)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "no such tenant"))?;
    ok(tenant_json(t))
}

fn bool_of(v: &Value, k: &str) -> Option<bool> {
    v.get(k).and_then(Value::as_bool)
}

fn str_of(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(|s| s.to_string())
}

fn strings(v: &Value, k: &str) -> Option<Vec<String>> {
    v.get(k).and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(|s| s.to_string()))
            .collect()
    })
}

/// `aliasSendMode`: `"error"` | `"rewrite"`.
fn alias_mode_of(v: &Value) -> Result<Option<AliasSendMode>, AdminErr> {
    match v.get("aliasSendMode") {
        None | Some(Value::Null) => Ok(None),
        Some(m) => m
            .as_str()
            .and_then(AliasSendMode::parse)
            .map(Some)
            .ok_or_else(|| bad("aliasSendMode must be \"error\" or \"rewrite\"")),
    }
}

async fn create_tenant(State(sim): State<AppState>, Json(v): Json<Value>) -> R {
    let mut domains = strings(&v, "domains").unwrap_or_default();
    if let Some(d) = str_of(&v, "domain") {
        domains.insert(0, d);
    }
    if domains.is_empty() {
        return Err(bad("domain or domains is required"));
    }
    let t = Tenant {
        id: str_of(&v, "id").unwrap_or_else(new_guid),
        display_name: str_of(&v, "displayName").unwrap_or_else(|| domains[0].clone()),
        domains,
        locale: str_of(&v, "locale").unwrap_or_else(|| "en-US".into()),
        send_from_alias_enabled: bool_of(&v, "sendFromAliasEnabled").unwrap_or(false),
        alias_send_mode: alias_mode_of(&v)?.unwrap_or_default(),
        admin_consent_required: bool_of(&v, "adminConsentRequired").unwrap_or(false),
        consented_apps: BTreeSet::new(),
        consumers: false,
    };
    let mut w = sim.w();
    w.add_tenant(t.clone())
        .map_err(|e| err(StatusCode::CONFLICT, e))?;
    created(tenant_json(&t))
}

async fn patch_tenant(
    State(sim): State<AppState>,
    Path(t): Path<String>,
    Json(v): Json<Value>,
) -> R {
    let mode = alias_mode_of(&v)?;
    let mut w = sim.w();
    let t = w
        .tenant_mut(&t)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "no such tenant"))?;
    if let Some(b) = bool_of(&v, "sendFromAliasEnabled") {
        t.send_from_alias_enabled = b;
    }
    if let Some(m) = mode {
        t.alias_send_mode = m;
    }
    if let Some(b) = bool_of(&v, "adminConsentRequired") {
        t.admin_consent_required = b;
    }
    if let Some(l) = str_of(&v, "locale") {
        t.locale = l;
    }
    if let Some(n) = str_of(&v, "displayName") {
        t.display_name = n;
    }
    if let Some(d) = strings(&v, "domains") {
        t.domains = d;
    }
    ok(tenant_json(t))
}

async fn add_consent(
    State(sim): State<AppState>,
    Path(t): Path<String>,
    Json(v): Json<Value>,
) -> R {
    let client = str_of(&v, "clientId").ok_or_else(|| bad("clientId is required"))?;
    let mut w = sim.w();
    let t = w
        .tenant_mut(&t)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "no such tenant"))?;
    t.consented_apps.insert(client);
    ok(tenant_json(t))
}

async fn remove_consent(
    State(sim): State<AppState>,
    Path((t, client)): Path<(String, String)>,
) -> R {
    let mut w = sim.w();
    let t = w
        .tenant_mut(&t)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "no such tenant"))?;
    t.consented_apps.remove(&client);
    ok(tenant_json(t))
}

/// `POST /_sim/apps`: an app registration (unknown fields are refused).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RegisterApp {
    /// The application (client) id; a new GUID when absent.
    #[serde(default)]
    client_id: Option<String>,
    /// Shown on the sign-in and consent pages; the client id when absent.
    #[serde(default)]
    display_name: Option<String>,
    /// A verified publisher domain; absent: the consent page says "unverified".
    #[serde(default)]
    publisher_domain: Option<String>,
    /// `web` (confidential, needs its secret) or `public`; absent: `web` with a secret,
    /// else `public`.
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    client_secret: Option<String>,
}

fn app_json(a: &App) -> Value {
    json!({
        "clientId": a.client_id,
        "displayName": a.display_name,
        "publisherDomain": a.publisher_domain,
        "platform": a.platform,
        "redirectUris": a.redirect_uris,
        "hasSecret": a.client_secret.is_some(),
        "confidential": a.platform == Platform::Web,
    })
}

/// Entra's rules for a redirect URI of `platform`: an absolute http(s) URL without a
/// fragment; `https` unless the host is `localhost` / `127.0.0.1` / `[::1]`.
fn check_redirect(platform: Platform, uri: &str) -> Result<(), AdminErr> {
    let u = url::Url::parse(uri)
        .map_err(|e| bad(format!("redirectUris: '{uri}' is not an absolute URL: {e}")))?;
    let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(bad(format!(
                "redirectUris: '{uri}' must use https (http is only allowed for localhost)"
            )))
        }
        other
            if platform == Platform::Public && !matches!(other, "javascript" | "data" | "file") => {
        }
        other => {
            return Err(bad(format!(
                "redirectUris: scheme '{other}' is not allowed for the {platform:?} platform"
            )))
        }
    }
    if u.fragment().is_some() {
        return Err(bad(format!(
            "redirectUris: '{uri}' must not contain a fragment"
        )));
    }
    Ok(())
}

async fn register_app(State(sim): State<AppState>, Json(v): Json<Value>) -> R {
    let r: RegisterApp = serde_json::from_value(v).map_err(|e| bad(e.to_string()))?;
    let platform = r.platform.unwrap_or(if r.client_secret.is_some() {
        Platform::Web
    } else {
        Platform::Public
    });
    if platform == Platform::Public && r.client_secret.is_some() {
        return Err(bad(
            "a public client has no clientSecret (use platform \"web\")",
        ));
    }
    for u in &r.redirect_uris {
        check_redirect(platform, u)?;
    }
    let client_id = r
        .client_id
        .filter(|c| !c.is_empty())
        .unwrap_or_else(new_guid);
    let app = App {
        display_name: r.display_name.unwrap_or_else(|| client_id.clone()),
        client_id: client_id.clone(),
        publisher_domain: r.publisher_domain,
        platform,
        redirect_uris: r.redirect_uris,
        client_secret: r.client_secret,
    };
    let body = app_json(&app);
    sim.w().apps.insert(client_id, app);
    created(body)
}

async fn list_apps(State(sim): State<AppState>) -> R {
    let w = sim.w();
    let mut apps: Vec<&App> = w.apps.values().collect();
    apps.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    ok(json!({"apps": apps.into_iter().map(app_json).collect::<Vec<_>>()}))
}

async fn get_app(State(sim): State<AppState>, Path(id): Path<String>) -> R {
    let w = sim.w();
    let a = w
        .apps
        .get(&id)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "no such app"))?;
    ok(app_json(a))
}

async fn delete_app(State(sim): State<AppState>, Path(id): Path<String>) -> R {
    sim.w()
        .apps
        .remove(&id)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "no such app"))?;
    ok(json!({"deleted": id}))
}

fn user_json(u: &User) -> Value {
    json!({
        "id": u.id,
        "tenantId": u.tenant_id,
        "userPrincipalName": u.upn,
        "displayName": u.display_name,
        "mail": u.mail,
        "aliases": u.aliases,
        "proxyAddresses": u.proxy_addresses(),
        "locale": u.locale,
        "kind": if u.kind == UserKind::Shared { "shared" } else { "member" },
        "isAdmin": u.is_admin,
        "canSignIn": u.password.is_some(),
        "grants": u.grants,
        "consents": u.consents,
    })
}

async fn list_users(State(sim): State<AppState>) -> R {
    let w = sim.w();
    ok(json!({"users": w.users.iter().map(user_json).collect::<Vec<_>>()}))
}

async fn get_user(State(sim): State<AppState>, Path(u): Path<String>) -> R {
    let w = sim.w();
    let u = w
        .user(&u)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "no such user"))?;
    ok(user_json(u))
}

async fn create_user(State(sim): State<AppState>, Json(v): Json<Value>) -> R {
    let upn =
        str_of(&v, "userPrincipalName").ok_or_else(|| bad("userPrincipalName is required"))?;
    let domain = upn
        .split_once('@')
        .map(|x| x.1.to_string())
        .ok_or_else(|| bad("userPrincipalName needs a domain"))?;
    let mut w = sim.w();
    let t = w
        .tenant(&domain)
        .cloned()
        .ok_or_else(|| bad(format!("no tenant has the domain {domain}")))?;
    let shared = bool_of(&v, "shared").unwrap_or(false);
    let local = upn.split('@').next().unwrap_or("").to_string();
    let u = User {
        id: str_of(&v, "id").unwrap_or_else(new_guid),
        tenant_id: t.id.clone(),
        upn: upn.clone(),
        display_name: str_of(&v, "displayName").unwrap_or(local),
        given_name: str_of(&v, "givenName"),
        surname: str_of(&v, "surname"),
        job_title: str_of(&v, "jobTitle"),
        password: if shared { None } else { str_of(&v, "password") },
        mail: str_of(&v, "mail").unwrap_or(upn),
        aliases: strings(&v, "aliases").unwrap_or_default(),
        locale: str_of(&v, "locale").unwrap_or(t.locale.clone()),
        kind: if shared {
            UserKind::Shared
        } else {
            UserKind::Member
        },
        is_admin: bool_of(&v, "admin").unwrap_or(false),
        grants: vec![],
        consents: Default::default(),
        revoked_before: 0,
        access_not_before: 0,
        rt_revoked_before: 0,
    };
    let j = user_json(&u);
    w.add_user(u).map_err(|e| err(StatusCode::CONFLICT, e))?;
    created(j)
}

async fn patch_user(State(sim): State<AppState>, Path(u): Path<String>, Json(v): Json<Value>) -> R {
    let now_ms = sim.clock.now_ms();
    let mut w = sim.w();
    if let Some(aliases) = strings(&v, "aliases") {
        for a in &aliases {
            if let Some(o) = w.user(a) {
                if !o.has_address(&u) && o.id != u {
                    return Err(err(StatusCode::CONFLICT, format!("address {a} is in use")));
                }
            }
        }
    }
    let user = w
        .user_mut(&u)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "no such user"))?;
    let mut signed_out = None;
    if let Some(p) = str_of(&v, "password") {
        // A password change revokes the user's refresh tokens (AADSTS50173) and browser
        // sessions (the account picker no longer offers the account).
        user.password = Some(p);
        user.rt_revoked_before = now_ms;
        signed_out = Some(user.id.clone());
    }
    if let Some(a) = strings(&v, "aliases") {
        user.aliases = a;
    }
    if let Some(l) = str_of(&v, "locale") {
        user.locale = l;
    }
    if let Some(n) = str_of(&v, "displayName") {
        user.display_name = n;
    }
    if let Some(b) = bool_of(&v, "admin") {
        user.is_admin = b;
    }
    let body = user_json(user);
    if let Some(id) = signed_out {
        w.sessions.retain(|_, (uid, _)| *uid != id);
    }
    ok(body)
}

async fn add_grant(State(sim): State<AppState>, Path(u): Path<String>, Json(v): Json<Value>) -> R {
    let mut w = sim.w();
    let grantee = str_of(&v, "user").ok_or_else(|| bad("user is required"))?;
    let gid = w
        .user(&grantee)
        .map(|g| g.id.clone())
        .ok_or_else(|| bad("no such grantee"))?;
    let user = w
        .user_mut(&u)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "no such mailbox"))?;
    user.grants.retain(|g| g.user_id != gid);
    user.grants.push(Grant {
        user_id: gid,
        full_access: bool_of(&v, "fullAccess").unwrap_or(true),
        send_as: bool_of(&v, "sendAs").unwrap_or(false),
        send_on_behalf: bool_of(&v, "sendOnBehalf").unwrap_or(false),
    });
    ok(user_json(user))
}

async fn remove_grant(State(sim): State<AppState>, Path((u, g)): Path<(String, String)>) -> R {
    let mut w = sim.w();
    let gid = w
        .user(&g)
        .map(|x| x.id.clone())
        .ok_or_else(|| bad("no such grantee"))?;
    let user = w
        .user_mut(&u)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "no such mailbox"))?;
    user.grants.retain(|x| x.user_id != gid);
    ok(user_json(user))
}

fn owner_id(w: &World, u: &str) -> Result<String, AdminErr> {
    w.user(u)
        .map(|x| x.id.clone())
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "no such mailbox"))
}

async fn mailbox_state(State(sim): State<AppState>, Path(u): Path<String>) -> R {
    let w = sim.w();
    let id = owner_id(&w, &u)?;
    let user = w.user_by_id(&id).unwrap();
    let mb = &w.mailboxes[&id];
    let folders: Vec<Value> = mb
        .folders
        .iter()
        .filter(|f| !f.deleted)
        .map(|f| {
            let mut v = folder_json(mb, f, None);
            v["wellKnownName"] = json!(f.well_known);
            v["path"] = json!(mb.folder_path(f.key));
            v
        })
        .collect();
    ok(json!({
        "id": id,
        "userPrincipalName": user.upn,
        "messageCount": mb.messages.len(),
        "unreadCount": mb.messages.values().filter(|m| !m.is_read).count(),
        "syncEpoch": mb.sync_epoch,
        "submissionDelay": delay_json(mb.submission_delay_ms),
        "pendingSubmissions": w.pending_submissions.iter().filter(|p| p.mailbox == id).count(),
        "folders": folders,
    }))
}

fn delay_json((lo, hi): (u64, u64)) -> Value {
    json!({"minMs": lo, "maxMs": hi})
}

/// `GET /_sim/mailboxes/{u}/submission-delay`.
async fn get_submission_delay(State(sim): State<AppState>, Path(u): Path<String>) -> R {
    let w = sim.w();
    let id = owner_id(&w, &u)?;
    ok(delay_json(w.mailboxes[&id].submission_delay_ms))
}

/// `PUT /_sim/mailboxes/{u}/submission-delay`: `{"ms"}` (fixed) or `{"minMs", "maxMs"}`
/// (random in the range), on the sim clock; `{"ms": 0}` sends at once again.
async fn put_submission_delay(
    State(sim): State<AppState>,
    Path(u): Path<String>,
    Json(v): Json<Value>,
) -> R {
    let n = |k: &str| -> Result<Option<u64>, AdminErr> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => x
                .as_u64()
                .map(Some)
                .ok_or_else(|| bad(format!("{k} must be a whole number of milliseconds"))),
        }
    };
    let range = match (n("ms")?, n("minMs")?, n("maxMs")?) {
        (Some(ms), None, None) => (ms, ms),
        (None, Some(lo), Some(hi)) if lo <= hi => (lo, hi),
        (None, Some(_), Some(_)) => return Err(bad("minMs must not exceed maxMs")),
        _ => return Err(bad("give either ms, or minMs and maxMs")),
    };
    if range.1 > 86_400_000 {
        return Err(bad("the submission delay is at most one day"));
    }
    let mut w = sim.w();
    let id = owner_id(&w, &u)?;
    w.mailboxes.get_mut(&id).unwrap().submission_delay_ms = range;
    ok(delay_json(range))
}

async fn mailbox_messages(
    State(sim): State<AppState>,
    Path(u): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> R {
    let w = sim.w();
    let id = owner_id(&w, &u)?;
    let mb = &w.mailboxes[&id];
    let folder = match q.get("folder") {
        Some(f) => Some(mb.folder_lookup(f).ok_or_else(|| bad("no such folder"))?),
        None => None,
    };
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(usize::MAX);
    let mut v: Vec<&Message> = mb
        .messages
        .values()
        .filter(|m| folder.map(|f| m.folder == f).unwrap_or(true))
        .collect();
    v.sort_by_key(|m| (-m.received, m.key));
    let list: Vec<Value> = v
        .into_iter()
        .take(limit)
        .map(|m| {
            json!({
                "id": m.rest_id,
                "immutableId": m.immutable_id,
                "internetMessageId": m.internet_message_id,
                "parentFolderId": mb.folders[m.folder as usize].id,
                "folder": mb.folders[m.folder as usize].display_name,
                "subject": m.subject,
                "from": m.from.as_ref().map(|a| a.address.clone()),
                "isRead": m.is_read,
                "isDraft": m.is_draft,
                "hasAttachments": m.has_attachments(),
                "receivedDateTime": crate::clock::iso(m.received),
                "headers": m.headers,
            })
        })
        .collect();
    ok(json!({"messages": list}))
}

async fn create_folder(
    State(sim): State<AppState>,
    Path(u): Path<String>,
    Json(v): Json<Value>,
) -> R {
    let mut w = sim.w();
    let id = owner_id(&w, &u)?;
    let mb = w.mailboxes.get_mut(&id).unwrap();
    let name = str_of(&v, "displayName").ok_or_else(|| bad("displayName is required"))?;
    let parent = match str_of(&v, "parent") {
        Some(p) => mb
            .folder_lookup(&p)
            .ok_or_else(|| bad("no such parent folder"))?,
        None => crate::state::ROOT,
    };
    let k = mb
        .add_folder(&name, parent, bool_of(&v, "isHidden").unwrap_or(false))
        .map_err(|e| err(StatusCode::CONFLICT, e))?;
    created(folder_json(mb, &mb.folders[k as usize], None))
}

fn addr_value(v: &Value) -> Option<Addr> {
    match v {
        Value::String(s) => Some(Addr::new(s, s)),
        Value::Object(_) => {
            let ea = v.get("emailAddress").unwrap_or(v);
            let a = ea.get("address").and_then(Value::as_str)?;
            Some(Addr::new(
                ea.get("name").and_then(Value::as_str).unwrap_or(a),
                a,
            ))
        }
        _ => None,
    }
}

fn addrs(v: &Value, k: &str) -> Vec<Addr> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(addr_value).collect())
        .unwrap_or_default()
}

fn attachments(v: &Value, now: i64) -> Result<Vec<Attachment>, AdminErr> {
    let mut out = vec![];
    for a in v
        .get("attachments")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let data = match (
            a.get("contentBytes").and_then(Value::as_str),
            a.get("size").and_then(Value::as_u64),
        ) {
            (Some(b), _) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| bad("contentBytes is not base64"))?,
            (None, Some(n)) => (0..n).map(|i| (i % 251) as u8).collect(),
            _ => return Err(bad("an attachment needs contentBytes or size")),
        };
        out.push(Attachment {
            id: crate::state::exchange_id("AAMkAD", 40),
            name: str_of(&a, "name").unwrap_or_else(|| "attachment.bin".into()),
            content_type: str_of(&a, "contentType")
                .unwrap_or_else(|| "application/octet-stream".into()),
            is_inline: bool_of(&a, "isInline").unwrap_or(false),
            content_id: str_of(&a, "contentId"),
            data,
            last_modified: now,
        });
    }
    Ok(out)
}

fn message_from(v: &Value, now: i64) -> Result<Message, AdminErr> {
    let mut m = Message::blank(now);
    m.subject = str_of(v, "subject").unwrap_or_default();
    m.body = str_of(v, "body").unwrap_or_default();
    m.body_html = str_of(v, "bodyType")
        .map(|t| t.eq_ignore_ascii_case("html"))
        .unwrap_or(false);
    m.from = v.get("from").and_then(addr_value);
    m.sender = m.from.clone();
    m.to = addrs(v, "to");
    m.cc = addrs(v, "cc");
    m.bcc = addrs(v, "bcc");
    m.reply_to = addrs(v, "replyTo");
    if let Some(r) = str_of(v, "receivedDateTime") {
        m.received = crate::clock::parse_iso(&r).ok_or_else(|| bad("bad receivedDateTime"))?;
        m.created = m.received;
        m.last_modified = m.received;
    }
    m.sent = Some(m.received);
    m.internet_message_id = str_of(v, "internetMessageId").unwrap_or_default();
    m.is_read = bool_of(v, "isRead").unwrap_or(false);
    if let Some(i) = str_of(v, "importance") {
        m.importance = i;
    }
    m.categories = strings(v, "categories").unwrap_or_default();
    if let Some(hs) = v.get("headers").and_then(Value::as_array) {
        for h in hs {
            if let (Some(n), Some(val)) = (str_of(h, "name"), str_of(h, "value")) {
                m.headers.push((n, val));
            }
        }
    }
    m.attachments = attachments(v, now)?;
    Ok(m)
}

async fn deliver(State(sim): State<AppState>, Path(u): Path<String>, Json(v): Json<Value>) -> R {
    let now = sim.clock.now();
    let mut m = message_from(&v, now)?;
    let mut w = sim.w();
    let id = owner_id(&w, &u)?;
    let owner = w.user_by_id(&id).unwrap().clone();
    if m.to.is_empty() {
        m.to = vec![Addr::new(&owner.display_name, &owner.mail)];
    }
    if m.from.is_none() {
        let a = Addr::new("External Sender", "sender@external.example");
        m.from = Some(a.clone());
        m.sender = Some(a);
    }
    let mb = w.mailboxes.get_mut(&id).unwrap();
    let folder = mb
        .folder_lookup(&str_of(&v, "folder").unwrap_or_else(|| "inbox".into()))
        .ok_or_else(|| bad("no such folder"))?;
    let k = mb.insert(m, folder);
    let m = &mb.messages[&k];
    created(json!({
        "id": m.rest_id,
        "immutableId": m.immutable_id,
        "internetMessageId": m.internet_message_id,
        "parentFolderId": mb.folders[folder as usize].id,
    }))
}

async fn outlook_send(
    State(sim): State<AppState>,
    Path(u): Path<String>,
    Json(v): Json<Value>,
) -> R {
    let now = sim.clock.now();
    let m = message_from(&v, now)?;
    let mut w = sim.w();
    let id = owner_id(&w, &u)?;
    let save = bool_of(&v, "saveToSentItems").unwrap_or(true);
    let out = submit(
        &sim,
        &mut w,
        Submission {
            via: "outlook",
            mailbox: id.clone(),
            actor: None,
            app_only: false,
            msg: m,
            save,
            draft: None,
        },
    )
    .map_err(|e| err(e.status, format!("{}: {}", e.code, e.message)))?;
    let mb = &w.mailboxes[&id];
    let sent = mb.well_known("sentitems");
    let copy = mb.folders[sent as usize]
        .items
        .iter()
        .map(|x| &mb.messages[&x.1])
        .find(|m| m.internet_message_id == out.internet_message_id);
    created(json!({
        "internetMessageId": out.internet_message_id,
        "id": copy.map(|m| m.rest_id.clone()),
        "immutableId": copy.map(|m| m.immutable_id.clone()),
        "outbound": out,
    }))
}

async fn bulk_seed(State(sim): State<AppState>, Path(u): Path<String>, Json(v): Json<Value>) -> R {
    let count = v
        .get("count")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("count is required"))? as usize;
    let started = std::time::Instant::now();
    let now = sim.clock.now();
    let mut w = sim.w();
    let id = owner_id(&w, &u)?;
    let owner = w.user_by_id(&id).unwrap().clone();
    let mb = w.mailboxes.get_mut(&id).unwrap();
    let refs = strings(&v, "folders").unwrap_or_else(|| vec!["inbox".into()]);
    let mut folders = vec![];
    for r in refs {
        folders.push(
            mb.folder_lookup(&r)
                .ok_or_else(|| bad(format!("no such folder {r}")))?,
        );
    }
    let n = crate::seed::bulk(
        mb,
        &Addr::new(&owner.display_name, &owner.mail),
        &folders,
        count,
        v.get("unreadRatio").and_then(Value::as_f64).unwrap_or(0.2),
        now,
        v.get("seed").and_then(Value::as_u64).unwrap_or(7),
    );
    created(
        json!({"created": n, "millis": started.elapsed().as_millis() as u64, "totalMessages": mb.messages.len()}),
    )
}

async fn outlook_action(
    State(sim): State<AppState>,
    Path((u, mid)): Path<(String, String)>,
    Json(v): Json<Value>,
) -> R {
    let now = sim.clock.now();
    let mut w = sim.w();
    let id = owner_id(&w, &u)?;
    let mb = w.mailboxes.get_mut(&id).unwrap();
    let k = mb
        .lookup(&mid)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "no such message"))?;
    let action = str_of(&v, "action").unwrap_or_default();
    let nk = match action.as_str() {
        "markRead" | "markUnread" => {
            mb.update(k, now, |m| m.is_read = action == "markRead");
            k
        }
        "flag" => {
            mb.update(k, now, |m| m.flag = "flagged".into());
            k
        }
        "move" => {
            let f = mb
                .folder_lookup(&str_of(&v, "folder").unwrap_or_default())
                .ok_or_else(|| bad("no such folder"))?;
            mb.move_to(k, f).unwrap()
        }
        "delete" => {
            mb.delete(k);
            crate::graph::send::cancel_pending(&mut w, &id, k);
            return ok(json!({"deleted": true}));
        }
        _ => {
            return Err(bad(
                "action must be markRead, markUnread, flag, move or delete",
            ))
        }
    };
    let m = &mb.messages[&nk];
    ok(
        json!({"id": m.rest_id, "immutableId": m.immutable_id, "parentFolderId": mb.folders[m.folder as usize].id}),
    )
}

async fn invalidate_sync(State(sim): State<AppState>, Path(u): Path<String>) -> R {
    let mut w = sim.w();
    let id = owner_id(&w, &u)?;
    let mb = w.mailboxes.get_mut(&id).unwrap();
    mb.sync_epoch += 1;
    ok(json!({"syncEpoch": mb.sync_epoch}))
}

async fn outbound(
    State(sim): State<AppState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> R {
    let w = sim.w();
    let since: u64 = q.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    let list: Vec<&crate::state::OutboundMail> = w
        .outbound
        .iter()
        .filter(|o| o.seq > since)
        .filter(|o| {
            q.get("mailbox")
                .map(|m| {
                    o.mailbox.eq_ignore_ascii_case(m) || o.from.address.eq_ignore_ascii_case(m)
                })
                .unwrap_or(true)
        })
        .collect();
    ok(json!({"messages": list}))
}

async fn clear_outbound(State(sim): State<AppState>) -> R {
    sim.w().outbound.clear();
    ok(json!({"cleared": true}))
}

fn for_users(
    w: &mut World,
    user: Option<String>,
    f: impl Fn(&mut User),
) -> Result<Vec<String>, AdminErr> {
    let ids: Vec<String> = match user {
        Some(u) => vec![owner_id(w, &u)?],
        None => w.users.iter().map(|u| u.id.clone()).collect(),
    };
    for u in w.users.iter_mut().filter(|u| ids.contains(&u.id)) {
        f(u);
    }
    Ok(ids)
}

async fn revoke(State(sim): State<AppState>, Json(v): Json<Value>) -> R {
    let now_ms = sim.clock.now_ms();
    let mut w = sim.w();
    let ids = for_users(&mut w, str_of(&v, "user"), |u| u.revoked_before = now_ms)?;
    for g in w.refresh.values_mut().filter(|g| ids.contains(&g.user_id)) {
        g.revoked = true;
    }
    ok(json!({"revoked": ids}))
}

async fn expire(State(sim): State<AppState>, Json(v): Json<Value>) -> R {
    let now_ms = sim.clock.now_ms();
    let access = bool_of(&v, "access").unwrap_or(true);
    let refresh = bool_of(&v, "refresh").unwrap_or(false);
    let mut w = sim.w();
    let ids = for_users(&mut w, str_of(&v, "user"), |u| {
        if access {
            u.access_not_before = now_ms;
        }
    })?;
    if refresh {
        for g in w.refresh.values_mut().filter(|g| ids.contains(&g.user_id)) {
            g.expired = true;
        }
    }
    ok(json!({"expired": ids, "access": access, "refresh": refresh}))
}

async fn revoke_access(State(sim): State<AppState>, Json(v): Json<Value>) -> R {
    let t = str_of(&v, "accessToken").ok_or_else(|| bad("accessToken is required"))?;
    let claims = sim.keys.verify(&t).map_err(bad)?;
    let uti = claims
        .get("uti")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    sim.w().revoked_utis.insert(uti.clone());
    ok(json!({"revoked": uti}))
}

async fn get_lifetimes(State(sim): State<AppState>) -> R {
    ok(serde_json::to_value(&sim.w().lifetimes).unwrap())
}

fn merge<T: serde::Serialize + serde::de::DeserializeOwned>(
    cur: &T,
    patch: &Value,
) -> Result<T, AdminErr> {
    let mut base = serde_json::to_value(cur).unwrap();
    let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) else {
        return Err(bad("a JSON object is expected"));
    };
    for (k, v) in p {
        if !b.contains_key(k) {
            return Err(bad(format!("unknown field {k}")));
        }
        b.insert(k.clone(), v.clone());
    }
    serde_json::from_value(base).map_err(|e| bad(e.to_string()))
}

async fn put_lifetimes(State(sim): State<AppState>, Json(v): Json<Value>) -> R {
    let mut w = sim.w();
    w.lifetimes = merge(&w.lifetimes, &v)?;
    ok(serde_json::to_value(&w.lifetimes).unwrap())
}

async fn list_faults(State(sim): State<AppState>) -> R {
    ok(json!({"faults": sim.faults.list()}))
}

async fn add_fault(State(sim): State<AppState>, Json(spec): Json<FaultSpec>) -> R {
    if spec.path.is_empty() {
        return Err(bad("path is required"));
    }
    if spec.status.is_none() && spec.latency_ms.is_none() && !spec.drop_connection {
        return Err(bad("a fault needs status, latencyMs or dropConnection"));
    }
    created(serde_json::to_value(sim.faults.add(spec)).unwrap())
}

async fn clear_faults(State(sim): State<AppState>) -> R {
    sim.faults.clear();
    ok(json!({"cleared": true}))
}

async fn remove_fault(State(sim): State<AppState>, Path(id): Path<u64>) -> R {
    if sim.faults.remove(id) {
        ok(json!({"removed": id}))
    } else {
        Err(err(StatusCode::NOT_FOUND, "no such fault"))
    }
}

async fn counters(State(sim): State<AppState>) -> R {
    ok(sim.counters.snapshot(sim.throttle.max_concurrency()))
}

async fn reset_counters(State(sim): State<AppState>) -> R {
    sim.counters.reset();
    sim.throttle.reset();
    ok(json!({"reset": true}))
}

async fn get_limits(State(sim): State<AppState>) -> R {
    ok(serde_json::to_value(sim.limits()).unwrap())
}

async fn put_limits(State(sim): State<AppState>, Json(v): Json<Value>) -> R {
    let cur = sim.limits();
    let new = merge(&cur, &v)?;
    *sim.limits.write().unwrap() = new.clone();
    ok(serde_json::to_value(new).unwrap())
}

async fn put_latency(State(sim): State<AppState>, Json(v): Json<Value>) -> R {
    let ms = v
        .get("ms")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("ms is required"))?;
    sim.latency_ms
        .store(ms, std::sync::atomic::Ordering::Relaxed);
    ok(json!({"ms": ms}))
}

async fn get_clock(State(sim): State<AppState>) -> R {
    ok(
        json!({"now": crate::clock::iso(sim.clock.now()), "offsetSeconds": sim.clock.offset_ms() / 1000}),
    )
}

async fn advance_clock(State(sim): State<AppState>, Json(v): Json<Value>) -> R {
    let s = v
        .get("seconds")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("seconds is required"))?;
    sim.clock.advance(s);
    ok(
        json!({"now": crate::clock::iso(sim.clock.now()), "offsetSeconds": sim.clock.offset_ms() / 1000}),
    )
}

async fn save(State(sim): State<AppState>) -> R {
    sim.save()
        .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    ok(json!({"saved": sim.state_dir.is_some()}))
}
