//! `GET /{tenant}/oauth2/v2.0/authorize`: the request checked (app, redirect URI, response
//! mode and type, scopes, PKCE), a sign-in flow started, and the first page: the sign-in form,
//! the account picker for an SSO session, or (`prompt=none`) the silent answer. The forms that
//! follow are in `forms.rs`, the end of the flow in `complete.rs`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Response};

use super::complete::error_redirect;
use super::errors::redirect_mismatch;
use super::forms::{after_login, login_page, view, Next};
use super::pages::{self, error_page, AppView};
use super::{parse_scopes, registered_app, TenantPath};
use crate::server::AppState;
use crate::state::{random_token, Flow, FlowKind, World};

pub(super) type Params = HashMap<String, String>;

fn valid_redirect(uri: &str) -> bool {
    url::Url::parse(uri)
        .map(|u| (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some())
        .unwrap_or(false)
}

/// The `client_id` and `redirect_uri` of a browser request, checked; else the error Entra
/// shows on its own page (never redirected: the redirect URI is not trusted yet): no
/// `client_id` (AADSTS900144), not a registered app (AADSTS700016), or `redirect_uri` not one
/// of its registered redirect URIs (AADSTS50011).
pub(super) fn app_and_redirect(
    w: &World,
    tp: &TenantPath,
    q: &Params,
) -> Result<(String, String), Box<Response<Body>>> {
    let Some(client_id) = q.get("client_id").filter(|c| !c.is_empty()) else {
        return Err(Box::new(error_page(
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        )));
    };
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    let app = registered_app(w, tp, client_id).map_err(|m| Box::new(error_page(700016, &m)))?;
    if !valid_redirect(&redirect_uri) || !app.redirect_registered(&redirect_uri) {
        return Err(Box::new(error_page(
            50011,
            &redirect_mismatch(&redirect_uri, client_id),
        )));
    }
    Ok((client_id.clone(), redirect_uri))
}

pub(super) fn sso_cookie(headers: &HeaderMap) -> Option<String> {
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
    let (client_id, redirect_uri) = match app_and_redirect(&w, &tp, &q) {
        Ok(v) => v,
        Err(page) => return *page,
    };
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
