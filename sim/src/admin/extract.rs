//! What the admin API reads: a JSON body ([`Body`]) or a query string ([`Params`]) into a typed
//! request struct. The structs refuse unknown fields (`deny_unknown_fields`), so a misspelt
//! field is a 400 naming it and the fields it expected, not a silently ignored setting.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::reply::AdminErr;

/// A JSON object request body (`Content-Type: application/json`) read into `T`. Malformed
/// JSON, a body that is not an object, a missing, unknown or mistyped field: 400
/// `invalid_request` with serde's account of it (``unknown field `delya_ms`, expected one of
/// `ms`, `minMs`, `maxMs` ``, with the path for nested fields); another content type: 415; too
/// large: 413.
pub struct Body<T>(pub T);

impl<T, S> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AdminErr;

    async fn from_request(req: Request, state: &S) -> Result<Self, AdminErr> {
        let headers = req.headers().clone();
        let bytes = body_bytes(req, state).await?;
        read_object(&headers, &bytes).map(Body)
    }
}

/// The body of a request that takes no fields (`POST .../reset`, `DELETE ...`): none, or an
/// empty JSON object (`{}`); a field is refused like any unknown field, not ignored.
pub struct NoFields;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

impl<S> FromRequest<S> for NoFields
where
    S: Send + Sync,
{
    type Rejection = AdminErr;

    async fn from_request(req: Request, state: &S) -> Result<Self, AdminErr> {
        let headers = req.headers().clone();
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(NoFields);
        }
        read_object::<Empty>(&headers, &bytes).map(|_| NoFields)
    }
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, AdminErr> {
    Bytes::from_request(req, state)
        .await
        .map_err(|e| AdminErr::new(e.status(), e.body_text()))
}

/// A JSON object body read into `T` (see [`Body`]).
fn read_object<T: DeserializeOwned>(headers: &HeaderMap, bytes: &[u8]) -> Result<T, AdminErr> {
    if !json_content_type(headers) {
        return Err(AdminErr::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected a request with Content-Type: application/json",
        ));
    }
    // Serde would also read a JSON array into a struct (field by position): the admin API
    // takes objects only.
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(AdminErr::bad("a JSON object body is required")),
        Some(b'{') => {}
        Some(_) => return Err(AdminErr::bad("the body must be a JSON object")),
    }
    Json::<T>::from_bytes(bytes)
        .map(|Json(v)| v)
        .map_err(|e: JsonRejection| AdminErr::bad(e.body_text()))
}

/// `application/json`, or `application/<anything>+json`, parameters (`; charset=...`)
/// ignored.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A query string read into `T` (400 `invalid_request` for an unknown or malformed
/// parameter).
pub struct Params<T>(pub T);

impl<T, S> FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AdminErr;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AdminErr> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(v)| Params(v))
            .map_err(|e: QueryRejection| AdminErr::bad(e.body_text()))
    }
}

/// Applies a partial JSON object to `current`: the fields it names replace the current
/// values, the result is read back as `T` (whose `deny_unknown_fields` refuses a field `T`
/// does not have). For `PUT /_sim/limits` and `PUT /_sim/token-lifetimes`.
pub fn patched<T>(
    current: &T,
    patch: serde_json::Map<String, serde_json::Value>,
) -> Result<T, AdminErr>
where
    T: serde::Serialize + DeserializeOwned,
{
    let mut base = match serde_json::to_value(current) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => {
            return Err(AdminErr::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "not an object",
            ))
        }
    };
    base.extend(patch);
    serde_json::from_value(serde_json::Value::Object(base))
        .map_err(|e| AdminErr::bad(e.to_string()))
}
