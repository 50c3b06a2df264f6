//! The end of a sign-in flow: the code issued and the redirect back to the app (query,
//! fragment or form_post), the device code approved, or admin consent recorded; and the error
//! redirect.

use axum::body::Body;
use axum::http::{header, Response, StatusCode};

use super::pages;
use crate::server::Sim;
use crate::state::{random_token, CodeGrant, DeviceState, Flow, FlowKind, World};

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

pub(super) fn error_redirect(
    flow: &Flow,
    error: &str,
    code: u32,
    desc: &str,
    sim: &Sim,
) -> Response<Body> {
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

/// Completes a flow for `uid`: issues the code (authorize), approves the device code, or
/// records admin consent.
pub(super) fn finish(sim: &Sim, w: &mut World, flow: Flow, uid: &str) -> Response<Body> {
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
