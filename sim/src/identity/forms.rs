//! The sign-in pages' forms: the password form, the account picker and the consent page, and
//! the step between them (consent needed, or the flow is done).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Response};
use axum::Form;

use super::authorize::{sso_cookie, Params};
use super::complete::{error_redirect, finish};
use super::pages::{self, error_page, AppView};
use super::{graph_scopes, TenantPath};
use crate::server::{AppState, Sim};
use crate::state::{random_token, App, DeviceState, Flow, FlowKind, UserKind, World};

/// What the pages show of the app behind `client_id` (its id when it is not registered).
pub(super) fn view(app: Option<&App>, client_id: &str) -> (String, Option<String>) {
    match app {
        Some(a) => (a.display_name.clone(), a.publisher_domain.clone()),
        None => (client_id.to_string(), None),
    }
}

pub(super) fn login_page(
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

pub(super) fn consent_page(
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

pub(super) enum Next {
    Consent(Flow, bool),
    Done(Response<Body>),
}

/// After the password was checked: decide between the consent page and finishing.
pub(super) fn after_login(
    sim: &Sim,
    w: &mut World,
    _tp: &TenantPath,
    flow: Flow,
    uid: &str,
) -> Next {
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
