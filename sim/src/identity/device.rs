//! The device-code page (`/devicelogin`): the user enters the code shown by the app, then
//! signs in through the same forms.

use axum::body::Body;
use axum::extract::State;
use axum::http::Response;
use axum::Form;

use super::authorize::Params;
use super::forms::login_page;
use super::pages;
use crate::server::AppState;
use crate::state::{random_token, DeviceState, Flow, FlowKind};

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
