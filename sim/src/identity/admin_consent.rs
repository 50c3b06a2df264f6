//! `GET /{tenant}/v2.0/adminconsent` (and the legacy `/{tenant}/adminconsent`): an
//! administrator grants an app for the whole tenant.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::Response;

use super::authorize::{app_and_redirect, Params};
use super::forms::login_page;
use super::pages::error_page;
use super::{parse_scopes, TenantPath};
use crate::server::AppState;
use crate::state::{random_token, Flow, FlowKind};

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
    let (client_id, redirect_uri) = match app_and_redirect(&w, &tp, &q) {
        Ok(v) => v,
        Err(page) => return *page,
    };
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
    login_page(&w, &tenant, &ctx, &client_id, &hint, None)
}
