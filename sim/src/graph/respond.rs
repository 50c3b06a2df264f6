//! Graph's answers: JSON with OData headers, pre-serialised JSON, empty bodies.

use axum::body::Body;
use axum::http::{header, Response, StatusCode};
use serde_json::Value;

pub const JSON_CT: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

pub fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, JSON_CT)
        .header("OData-Version", "4.0")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from(serde_json::to_vec(v).unwrap()))
        .unwrap()
}

/// A JSON answer from already serialised bytes.
pub fn bytes_response(status: StatusCode, bytes: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, JSON_CT)
        .header("OData-Version", "4.0")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from(bytes))
        .unwrap()
}

pub fn empty_response(status: StatusCode) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::empty())
        .unwrap()
}
