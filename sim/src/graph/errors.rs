//! Graph errors: [`GErr`] on its way to a response, and the error body (contract section 3.1).

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

/// A Graph error on its way to becoming a response.
#[derive(Debug)]
pub struct GErr {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl GErr {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> GErr {
        GErr {
            status,
            code: code.to_string(),
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad(code: &str, message: impl Into<String>) -> GErr {
        GErr::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found() -> GErr {
        GErr::new(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }
    /// An id that is not in the store: 404 `ErrorItemNotFound` when it is well formed,
    /// 400 `ErrorInvalidIdMalformed` when it cannot be an Exchange id at all.
    pub fn unknown_id(id: &str) -> GErr {
        let well_formed = id.len() >= 16
            && id.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b'=')
            });
        if well_formed {
            GErr::not_found()
        } else {
            GErr::bad("ErrorInvalidIdMalformed", "Id is malformed.")
        }
    }

    pub fn denied() -> GErr {
        GErr::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    }
    pub fn throttled(message: &str, retry_after: u64) -> GErr {
        GErr {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "ApplicationThrottled".into(),
            message: message.into(),
            retry_after: Some(retry_after),
        }
    }
}

pub type GResult = Result<Response<Body>, GErr>;

pub fn method_not_allowed() -> GErr {
    GErr::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "ErrorInvalidRequest",
        "The OData request is not supported.",
    )
}
