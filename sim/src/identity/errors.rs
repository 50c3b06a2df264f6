//! Entra ID error bodies (contract section 1.12) and error redirects.

use axum::body::Body;
use axum::http::{header, Response, StatusCode};
use serde_json::json;

use crate::clock::aad_timestamp;
use crate::server::Sim;
use crate::state::new_guid;

/// `{"error", "error_description": "AADSTSnnnn: ...", "error_codes", "timestamp", "trace_id",
/// "correlation_id", "error_uri"}` with the given status (400 for most token errors).
pub fn aad_error(
    sim: &Sim,
    status: StatusCode,
    error: &str,
    code: u32,
    description: &str,
    suberror: Option<&str>,
) -> Response<Body> {
    let ts = aad_timestamp(sim.clock.now());
    let trace = new_guid();
    let corr = new_guid();
    let mut body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {description}\r\nTrace ID: {trace}\r\nCorrelation ID: {corr}\r\nTimestamp: {ts}"
        ),
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": corr,
        "error_uri": format!("{}/error?code={code}", sim.base_url),
    });
    if let Some(s) = suberror {
        body["suberror"] = json!(s);
    }
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store, no-cache")
        .header("x-ms-request-id", trace)
        .body(Body::from(body.to_string()))
        .unwrap()
}

pub fn token_error(sim: &Sim, error: &str, code: u32, description: &str) -> Response<Body> {
    aad_error(sim, StatusCode::BAD_REQUEST, error, code, description, None)
}
