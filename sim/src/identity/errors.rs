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

/// `invalid_client` (client authentication failed): Entra answers these with 401.
pub fn client_error(sim: &Sim, code: u32, description: &str) -> Response<Body> {
    aad_error(
        sim,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        code,
        description,
        None,
    )
}

/// AADSTS700016's text (as Entra words it; `directory` is the tenant's display name).
pub fn app_not_found(client_id: &str, directory: &str) -> String {
    format!("Application with identifier '{client_id}' was not found in the directory '{directory}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.")
}

/// AADSTS50011's text.
pub fn redirect_mismatch(uri: &str, client_id: &str) -> String {
    format!("The redirect URI '{uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.")
}

/// AADSTS7000218's text (a Web-platform app redeemed a code or token without its secret).
pub const SECRET_MISSING: &str =
    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.";

/// AADSTS7000215's text.
pub fn secret_invalid(client_id: &str) -> String {
    format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'.")
}
