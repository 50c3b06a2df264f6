//! The browser side of sign-in: `authorize`, the sign-in and consent forms, the device-code
//! page and admin consent.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Response, StatusCode};
use axum::Form;

use super::errors::redirect_mismatch;
use super::pages::{self, error_page, AppView};
use super::{graph_scopes, parse_scopes, registered_app, TenantPath};
use crate::server::{AppState, Sim};
use crate::state::{random_token, App, CodeGrant, DeviceState, Flow, FlowKind, UserKind, World};

type Params = HashMap<String, String>;

fn valid_redirect(uri: &str) -> bool {
    url::Url::parse(uri)
        .map(|u| (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some())
        .unwrap_or(false)
}

/// The error Entra shows on its own page (never redirected: the redirect URI is not trusted
/// yet) when `client_id` is not a registered app (AADSTS700016) or `redirect_uri` is not one
/// of its registered redirect URIs (AADSTS50011); None when both are fine.
fn app_and_redirect_error(
    w: &World,
    tp: &TenantPath,
    client_id: &str,
    redirect_uri: &str,
) -> Option<Response<Body>> {
    let app = match registered_app(w, tp, client_id) {
        Ok(a) => a,
        Err(m) => return Some(error_page(700016, &m)),
    };
    if !valid_redirect(redirect_uri) || !app.redirect_registered(redirect_uri) {
        return Some(error_page(
            50011,
            &redirect_mismatch(redirect_uri, client_id),
        ));
    }
    None
}

/// What the pages show of the app behind `client_id` (its id when it is not registered).
fn view(app: Option<&App>, client_id: &str) -> (String, Option<String>) {
    match app {
        Some(a) => (a.display_name.clone(), a.publisher_domain.clone()),
        None => (client_id.to_string(), None),
    }
}

fn login_page(
    w: &World,
    tenant: &str,
    ctx: &str,
    client_id: &str,
    hint: &str,
    error: Option<(u32, &str)>,
) -> Response<Body> {
    let (name, publisher) = view(w.apps.get(client_id), client_id);
    pages::login_page(
        tenant,
        ctx,
        &AppView {
            name: &name,
            publisher: publisher.as_deref(),
        },
        hint,
        error,
    )
}

fn consent_page(
    w: &World,
    tenant: &str,
    ctx: &str,
    client_id: &str,
    user: &str,
    scopes: &[String],
    for_org: bool,
) -> Response<Body> {
    let (name, publisher) = view(w.apps.get(client_id), client_id);
    pages::consent_page(
        tenant,
        ctx,
        &AppView {
            name: &name,
            publisher: publisher.as_deref(),
        },
        user,
        scopes,
        for_org,
    )
}

/// Builds the redirect back to the app for `flow` with `params` (+ `state`).
pub fn redirect(flow: &Flow, mut params: Vec<(String, String)>) -> Response<Body> {
    if let Some(s) = &flow.state {
        params.push(("state".into(), s.clone()));
    }
    match flow.response_mode.as_str() {
        "form_post" => pages::form_post_page(&flow.redirect_uri, &params),
        mode => {
            let mut u = url::Url::parse(&flow.redirect_uri).expect("validated redirect_uri");
            if mode == "fragment" {
                let frag = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params.iter())
                    .finish();
                u.set_fragment(Some(&frag));
            } else {
                u.query_pairs_mut().extend_pairs(params.iter());
            }
            Response::builder()
                .status(StatusCode::FOUND)
                .header(header::LOCATION, u.as_str())
                .header(header::CACHE_CONTROL, "no-store, no-cache")
                .body(Body::empty())
                .unwrap()
        }
    }
}

fn error_redirect(flow: &Flow, error: &str, code: u32, desc: &str, sim: &Sim) -> Response<Body> {
    let ts = crate::clock::aad_timestamp(sim.clock.now());
    let mut p = vec![];
    if flow.kind == FlowKind::AdminConsent {
        p.push(("admin_consent".to_string(), "True".to_string()));
    }
    p.push(("error".to_string(), error.to_string()));
    p.push((
        "error_description".to_string(),
        format!(
            "AADSTS{code}: {desc}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {ts}",
            crate::state::new_guid(),
            crate::state::new_guid()
        ),
    ));
    if flow.kind == FlowKind::AdminConsent {
        p.push((
            "error_uri".into(),
            format!("{}/error?code={code}", sim.base_url),
        ));
    }
    redirect(flow, p)
}

fn sso_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("ESTSAUTH=").map(|s| s.to_string()))
        .filter(|s| !s.is_empty())
}

pub async fn authorize(
    State(sim): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<Params>,
    headers: HeaderMap,
) -> Response<Body> {
    let now = sim.clock.now();
    let mut w = sim.w();
    let Some(tp) = TenantPath::resolve(&w, &tenant) else {
        return error_page(90002, &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."));
    };
    let Some(client_id) = q.get("client_id").filter(|c| !c.is_empty()) else {
        return error_page(
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    if let Some(page) = app_and_redirect_error(&w, &tp, client_id, &redirect_uri) {
        return page;
    }
    let mut flow = Flow {
        kind: FlowKind::Authorize,
        tenant: tenant.clone(),
        client_id: client_id.clone(),
        redirect_uri,
        response_mode: q
            .get("response_mode")
            .cloned()
            .unwrap_or_else(|| "query".into()),
        state: q.get("state").cloned(),
        scopes: vec![],
        code_challenge: q.get("code_challenge").cloned(),
        code_challenge_method: q
            .get("code_challenge_method")
            .cloned()
            .unwrap_or_else(|| "plain".into()),
        nonce: q.get("nonce").cloned(),
        login_hint: q.get("login_hint").cloned(),
        force_consent: false,
        user_id: None,
        device_code: None,
        expires: now + 3600,
        client_info: q.get("client_info").map(|v| v == "1").unwrap_or(false),
    };
    if !["query", "fragment", "form_post"].contains(&flow.response_mode.as_str()) {
        flow.response_mode = "query".into();
        return error_redirect(
            &flow,
            "invalid_request",
            900144,
            "The provided value for the input parameter 'response_mode' is not valid.",
            &sim,
        );
    }
    let rt = q.get("response_type").cloned().unwrap_or_default();
    if !rt.split_whitespace().any(|t| t == "code") {
        return error_redirect(
            &flow,
            "unsupported_response_type",
            700054,
            "response_type must include 'code' in this emulator.",
            &sim,
        );
    }
    let Some(scope) = q.get("scope").filter(|s| !s.trim().is_empty()) else {
        return error_redirect(
            &flow,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
            &sim,
        );
    };
    flow.scopes = match parse_scopes(scope) {
        Ok(s) => s,
        Err(bad) => {
            return error_redirect(&flow, "invalid_scope", 70011, &format!("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {bad} is not valid."), &sim)
        }
    };
    if let Some(ch) = &flow.code_challenge {
        let m = flow.code_challenge_method.as_str();
        if m != "S256" && m != "plain" {
            return error_redirect(
                &flow,
                "invalid_request",
                501491,
                "Invalid code_challenge_method.",
                &sim,
            );
        }
        if ch.len() < 43 || ch.len() > 128 {
            return error_redirect(
                &flow,
                "invalid_request",
                501491,
                "Invalid size of Code_Challenge parameter.",
                &sim,
            );
        }
    }
    let prompt = q.get("prompt").cloned().unwrap_or_default();
    flow.force_consent = prompt == "consent";
    if prompt == "none" {
        // Silent: only an SSO session can complete it.
        let session = sso_cookie(&headers)
            .and_then(|c| w.sessions.get(&c).cloned())
            .filter(|(_, exp)| *exp > now);
        let Some((uid, _)) = session else {
            return error_redirect(
                &flow,
                "login_required",
                50058,
                "A silent sign-in request was sent but no user is signed in.",
                &sim,
            );
        };
        flow.user_id = Some(uid.clone());
        return match after_login(&sim, &mut w, &tp, flow, &uid) {
            Next::Consent(flow, _) => error_redirect(&flow, "consent_required", 65001, &format!("The user or administrator has not consented to use the application with ID '{}'. Send an interactive authorization request for this user and resource.", flow.client_id), &sim),
            Next::Done(r) => r,
        };
    }
    // The browser's SSO session knows an account: Microsoft's "Pick an account" (unless the
    // app asked for a fresh sign-in).
    let session = sso_cookie(&headers)
        .and_then(|c| w.sessions.get(&c).cloned())
        .filter(|(_, exp)| *exp > now)
        .and_then(|(uid, _)| w.user_by_id(&uid).cloned());
    let ctx = random_token(24);
    let hint = flow.login_hint.clone().unwrap_or_default();
    let client_id = flow.client_id.clone();
    w.flows.insert(ctx.clone(), flow);
    if let Some(u) = session.filter(|_| prompt != "login") {
        let (name, publisher) = view(w.apps.get(&client_id), &client_id);
        return pages::picker_page(
            &tenant,
            &ctx,
            &AppView {
                name: &name,
                publisher: publisher.as_deref(),
            },
            &[(u.upn.clone(), u.display_name.clone())],
        );
    }
    login_page(&w, &tenant, &ctx, &client_id, &hint, None)
}

enum Next {
    Consent(Flow, bool),
    Done(Response<Body>),
}

/// After the password was checked: decide between the consent page and finishing.
fn after_login(sim: &Sim, w: &mut World, _tp: &TenantPath, flow: Flow, uid: &str) -> Next {
    let user = w.user_by_id(uid).cloned().expect("user exists");
    let tenant = w.tenant(&user.tenant_id).cloned().expect("tenant exists");
    let tenant_consented = tenant.consented_apps.contains(&flow.client_id);
    match flow.kind {
        FlowKind::AdminConsent => {
            if !user.is_admin {
                return Next::Done(error_redirect(&flow, "access_denied", 90094, "Admin consent is required for the permissions requested by this application. Only an administrator can grant it.", sim));
            }
            Next::Consent(flow, true)
        }
        FlowKind::Authorize | FlowKind::Device => {
            if tenant.admin_consent_required && !tenant_consented {
                if user.is_admin {
                    return Next::Consent(flow, true);
                }
                if flow.kind == FlowKind::Device {
                    if let Some(dc) = &flow.device_code {
                        if let Some(d) = w.devices.get_mut(dc) {
                            d.state = DeviceState::ConsentRequired;
                        }
                    }
                    return Next::Done(error_page(65001, &format!("The user or administrator has not consented to use the application with ID '{}'. An administrator must grant consent (Need admin approval).", flow.client_id)));
                }
                return Next::Done(error_redirect(&flow, "consent_required", 65001, &format!("The user or administrator has not consented to use the application with ID '{}'. Send an interactive authorization request for this user and resource.", flow.client_id), sim));
            }
            let wanted = graph_scopes(&flow.scopes);
            let have = user.consents.get(&flow.client_id);
            let consented =
                tenant_consented || have.is_some_and(|h| wanted.iter().all(|s| h.contains(s)));
            if consented && !flow.force_consent {
                Next::Done(finish(sim, w, flow, uid))
            } else {
                Next::Consent(flow, false)
            }
        }
    }
}

/// Completes a flow for `uid`: issues the code (authorize), approves the device code, or
/// records admin consent.
fn finish(sim: &Sim, w: &mut World, flow: Flow, uid: &str) -> Response<Body> {
    let now = sim.clock.now();
    match flow.kind {
        FlowKind::Authorize => {
            let code = format!("1.A{}", random_token(96));
            w.codes.insert(
                code.clone(),
                CodeGrant {
                    client_id: flow.client_id.clone(),
                    redirect_uri: flow.redirect_uri.clone(),
                    user_id: uid.to_string(),
                    scopes: flow.scopes.clone(),
                    code_challenge: flow.code_challenge.clone(),
                    code_challenge_method: flow.code_challenge_method.clone(),
                    nonce: flow.nonce.clone(),
                    expires: now + w.lifetimes.code_secs,
                    redeemed: false,
                },
            );
            let mut params = vec![("code".to_string(), code)];
            if flow.client_info {
                if let Some(u) = w.user_by_id(uid) {
                    let ci = serde_json::json!({"uid": u.id, "utid": u.tenant_id}).to_string();
                    params.push(("client_info".into(), crate::state::b64url(ci.as_bytes())));
                }
            }
            params.push(("session_state".into(), crate::state::new_guid()));
            redirect(&flow, params)
        }
        FlowKind::Device => {
            if let Some(d) = flow
                .device_code
                .as_ref()
                .and_then(|dc| w.devices.get_mut(dc))
            {
                d.state = DeviceState::Approved;
                d.user_id = Some(uid.to_string());
            }
            pages::device_done_page(true)
        }
        FlowKind::AdminConsent => {
            let tid = w
                .user_by_id(uid)
                .map(|u| u.tenant_id.clone())
                .unwrap_or_default();
            if let Some(t) = w.tenant_mut(&tid) {
                t.consented_apps.insert(flow.client_id.clone());
            }
            let scope = if flow.scopes.is_empty() {
                "https://graph.microsoft.com/.default".to_string()
            } else {
                flow.scopes
                    .iter()
                    .map(|s| {
                        if super::OIDC_SCOPES.contains(&s.as_str()) {
                            s.clone()
                        } else {
                            format!("https://graph.microsoft.com/{s}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            redirect(
                &flow,
                vec![
                    ("admin_consent".into(), "True".into()),
                    ("tenant".into(), tid),
                    ("scope".into(), scope),
                ],
            )
        }
    }
}

pub async fn login_post(
    State(sim): State<AppState>,
    Path(tenant): Path<String>,
    Form(f): Form<Params>,
) -> Response<Body> {
    let now = sim.clock.now();
    let ctx = f.get("ctx").cloned().unwrap_or_default();
    let login = f.get("login").cloned().unwrap_or_default();
    let passwd = f.get("passwd").cloned().unwrap_or_default();
    let mut w = sim.w();
    let Some(mut flow) = w.flows.get(&ctx).cloned().filter(|fl| fl.expires > now) else {
        return error_page(
            50058,
            "The sign-in session is invalid or has expired. Start the sign-in again.",
        );
    };
    let Some(tp) = TenantPath::resolve(&w, &flow.tenant) else {
        return error_page(90002, "Tenant not found.");
    };
    let app = flow.client_id.clone();
    let retry = |w: &World, code: u32, msg: &str| {
        login_page(w, &tenant, &ctx, &app, &login, Some((code, msg)))
    };
    let Some(user) = w.user(login.trim()).cloned() else {
        return retry(&w, 50034, &format!("The user account {} does not exist in the directory. To sign into this application, the account must be added to the directory.", login.trim()));
    };
    let ut = w.tenant(&user.tenant_id).cloned().expect("tenant");
    if !tp.admits(&ut) {
        let msg = if matches!(tp, TenantPath::Organizations) && ut.consumers {
            "You can't sign in here with a personal account. Use your work or school account instead.".to_string()
        } else {
            format!("User account '{}' from identity provider does not exist in tenant '{}' and cannot access the application '{}' in that tenant.", user.upn, flow.tenant, flow.client_id)
        };
        return retry(&w, 50020, &msg);
    }
    if user.kind == UserKind::Shared || user.password.is_none() {
        return retry(&w, 50057, "The user account is disabled.");
    }
    if user.password.as_deref() != Some(passwd.as_str()) {
        return retry(
            &w,
            50126,
            "Error validating credentials due to invalid username or password.",
        );
    }
    flow.user_id = Some(user.id.clone());
    let cookie = random_token(32);
    let sso_secs = w.lifetimes.sso_session_secs;
    w.sessions
        .insert(cookie.clone(), (user.id.clone(), now + sso_secs));
    let mut resp = continue_as(&sim, &mut w, &tp, &tenant, &ctx, flow, &user);
    resp.headers_mut().append(
        header::SET_COOKIE,
        format!("ESTSAUTH={cookie}; Path=/; Secure; HttpOnly; SameSite=None")
            .parse()
            .unwrap(),
    );
    resp
}

/// The user is known (password checked, or picked from the SSO session): the consent page,
/// or the end of the flow.
fn continue_as(
    sim: &Sim,
    w: &mut World,
    tp: &TenantPath,
    tenant: &str,
    ctx: &str,
    mut flow: Flow,
    user: &crate::state::User,
) -> Response<Body> {
    flow.user_id = Some(user.id.clone());
    match after_login(sim, w, tp, flow, &user.id) {
        Next::Consent(flow, for_org) => {
            let scopes = if flow.kind == FlowKind::AdminConsent && flow.scopes.is_empty() {
                super::APP_ROLES.iter().map(|s| s.to_string()).collect()
            } else {
                flow.scopes.clone()
            };
            let page = consent_page(w, tenant, ctx, &flow.client_id, &user.upn, &scopes, for_org);
            w.flows.insert(ctx.to_string(), flow);
            page
        }
        Next::Done(r) => {
            w.flows.remove(ctx);
            r
        }
    }
}

/// The account picker's answer: `account=<upn>` continues as the session's account,
/// `account=` (empty, "Use another account") shows the sign-in form.
pub async fn pick_post(
    State(sim): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(f): Form<Params>,
) -> Response<Body> {
    let now = sim.clock.now();
    let ctx = f.get("ctx").cloned().unwrap_or_default();
    let account = f.get("account").cloned().unwrap_or_default();
    let mut w = sim.w();
    let Some(flow) = w.flows.get(&ctx).cloned().filter(|fl| fl.expires > now) else {
        return error_page(
            50058,
            "The sign-in session is invalid or has expired. Start the sign-in again.",
        );
    };
    let Some(tp) = TenantPath::resolve(&w, &flow.tenant) else {
        return error_page(90002, "Tenant not found.");
    };
    let session_user = sso_cookie(&headers)
        .and_then(|c| w.sessions.get(&c).cloned())
        .filter(|(_, exp)| *exp > now)
        .and_then(|(uid, _)| w.user_by_id(&uid).cloned());
    match session_user {
        Some(u) if !account.is_empty() && u.upn.eq_ignore_ascii_case(&account) => {
            let ut = w.tenant(&u.tenant_id).cloned().expect("tenant");
            if !tp.admits(&ut) {
                let hint = u.upn.clone();
                return login_page(&w, &tenant, &ctx, &flow.client_id, &hint, Some((50020, &format!("User account '{}' from identity provider does not exist in tenant '{}' and cannot access the application '{}' in that tenant.", u.upn, flow.tenant, flow.client_id))));
            }
            continue_as(&sim, &mut w, &tp, &tenant, &ctx, flow, &u)
        }
        _ => {
            let hint = if account.is_empty() {
                String::new()
            } else {
                account.clone()
            };
            login_page(&w, &tenant, &ctx, &flow.client_id, &hint, None)
        }
    }
}

pub async fn consent_post(
    State(sim): State<AppState>,
    Path(_tenant): Path<String>,
    Form(f): Form<Params>,
) -> Response<Body> {
    let now = sim.clock.now();
    let ctx = f.get("ctx").cloned().unwrap_or_default();
    let accept = f.get("accept").map(|s| s == "yes").unwrap_or(false);
    let mut w = sim.w();
    let Some(flow) = w.flows.remove(&ctx).filter(|fl| fl.expires > now) else {
        return error_page(
            50058,
            "The sign-in session is invalid or has expired. Start the sign-in again.",
        );
    };
    let Some(uid) = flow.user_id.clone() else {
        return error_page(50058, "No user signed in for this request.");
    };
    if !accept {
        return match flow.kind {
            FlowKind::Device => {
                if let Some(d) = flow
                    .device_code
                    .as_ref()
                    .and_then(|dc| w.devices.get_mut(dc))
                {
                    d.state = DeviceState::Declined;
                }
                pages::device_done_page(false)
            }
            FlowKind::AdminConsent => error_redirect(
                &flow,
                "access_denied",
                65004,
                "User declined to consent to access the app.",
                &sim,
            ),
            FlowKind::Authorize => error_redirect(
                &flow,
                "access_denied",
                65004,
                "User declined to consent to access the app.",
                &sim,
            ),
        };
    }
    // Record consent.
    let is_admin = w.user_by_id(&uid).map(|u| u.is_admin).unwrap_or(false);
    let tid = w
        .user_by_id(&uid)
        .map(|u| u.tenant_id.clone())
        .unwrap_or_default();
    let admin_required = w
        .tenant(&tid)
        .map(|t| t.admin_consent_required)
        .unwrap_or(false);
    if flow.kind != FlowKind::AdminConsent {
        let scopes = graph_scopes(&flow.scopes);
        if let Some(u) = w.users.iter_mut().find(|u| u.id == uid) {
            u.consents
                .entry(flow.client_id.clone())
                .or_default()
                .extend(scopes);
        }
        if admin_required && is_admin {
            if let Some(t) = w.tenant_mut(&tid) {
                t.consented_apps.insert(flow.client_id.clone());
            }
        }
    }
    finish(&sim, &mut w, flow, &uid)
}

pub async fn device_page() -> Response<Body> {
    pages::device_code_page(None)
}

pub async fn device_post(State(sim): State<AppState>, Form(f): Form<Params>) -> Response<Body> {
    let now = sim.clock.now();
    let otc = f
        .get("otc")
        .map(|s| s.trim().to_ascii_uppercase())
        .unwrap_or_default();
    let mut w = sim.w();
    let Some(d) = w
        .devices
        .values()
        .find(|d| d.user_code == otc && d.state == DeviceState::Pending)
        .cloned()
    else {
        return pages::device_code_page(Some((
            70018,
            "That code didn't work. Check the code and try again.",
        )));
    };
    if d.expires <= now {
        return pages::device_code_page(Some((
            70019,
            "That code has expired. Get a new code from the app and try again.",
        )));
    }
    let flow = Flow {
        kind: FlowKind::Device,
        tenant: d.tenant.clone(),
        client_id: d.client_id.clone(),
        redirect_uri: String::new(),
        response_mode: "query".into(),
        state: None,
        scopes: d.scopes.clone(),
        code_challenge: None,
        code_challenge_method: "plain".into(),
        nonce: None,
        login_hint: None,
        force_consent: false,
        user_id: None,
        device_code: Some(d.device_code.clone()),
        expires: d.expires,
        client_info: false,
    };
    let ctx = random_token(24);
    w.flows.insert(ctx.clone(), flow);
    login_page(&w, &d.tenant, &ctx, &d.client_id, "", None)
}

pub async fn adminconsent(
    State(sim): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<Params>,
) -> Response<Body> {
    let now = sim.clock.now();
    let mut w = sim.w();
    let Some(tp) = TenantPath::resolve(&w, &tenant) else {
        return error_page(90002, &format!("Tenant '{tenant}' not found."));
    };
    if matches!(tp, TenantPath::Common | TenantPath::Consumers) {
        return error_page(90130, "Admin consent is not supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.");
    }
    let Some(client_id) = q.get("client_id").filter(|c| !c.is_empty()) else {
        return error_page(
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    if let Some(page) = app_and_redirect_error(&w, &tp, client_id, &redirect_uri) {
        return page;
    }
    let scopes = match q.get("scope") {
        Some(s) if s.to_ascii_lowercase().ends_with("/.default") && !s.contains(' ') => vec![],
        Some(s) => match parse_scopes(s) {
            Ok(v) => v,
            Err(bad) => return error_page(70011, &format!("The provided value for the input parameter 'scope' is not valid. The scope {bad} is not valid.")),
        },
        None => vec![],
    };
    let flow = Flow {
        kind: FlowKind::AdminConsent,
        tenant: tenant.clone(),
        client_id: client_id.clone(),
        redirect_uri,
        response_mode: "query".into(),
        state: q.get("state").cloned(),
        scopes,
        code_challenge: None,
        code_challenge_method: "plain".into(),
        nonce: None,
        login_hint: q.get("login_hint").cloned(),
        force_consent: true,
        user_id: None,
        device_code: None,
        expires: now + 3600,
        client_info: q.get("client_info").map(|v| v == "1").unwrap_or(false),
    };
    let ctx = random_token(24);
    let hint = flow.login_hint.clone().unwrap_or_default();
    w.flows.insert(ctx.clone(), flow);
    login_page(&w, &tenant, &ctx, client_id, &hint, None)
}
