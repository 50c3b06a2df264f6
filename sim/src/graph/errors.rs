//! Graph error bodies (contract section 3.1).

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use serde_json::json;

use crate::clock::iso_nozone;
use crate::server::Sim;
use crate::state::new_guid;

pub fn graph_error(
    sim: &Sim,
    status: StatusCode,
    code: &str,
    message: &str,
    client_request_id: Option<&str>,
) -> Response<Body> {
    let rid = new_guid();
    let crid = client_request_id
        .map(|s| s.to_string())
        .unwrap_or_else(|| rid.clone());
    let body = json!({"error": {
        "code": code,
        "message": message,
        "innerError": {
            "date": iso_nozone(sim.clock.now()),
            "request-id": rid,
            "client-request-id": crid,
        }
    }});
    let mut r = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header("request-id", rid.as_str())
        .header("client-request-id", crid.as_str())
        .body(Body::from(body.to_string()))
        .unwrap();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\""),
        );
    }
    r
}
