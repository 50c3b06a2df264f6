//! What the admin API reads: a JSON body ([`Body`]) or a query string ([`Params`]) into a typed
//! request struct. The structs refuse unknown fields (`deny_unknown_fields`), so a misspelt
//! field is a 400 naming it and the fields it expected, not a silently ignored setting.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;

use super::reply::AdminErr;

/// A JSON request body (`Content-Type: application/json`) read into `T`. Malformed JSON, a
/// missing, unknown or mistyped field: 400 `invalid_request` with serde's account of it
/// (`unknown field `delya_ms`, expected one of `ms`, `minMs`, `maxMs``); another content
/// type: 415; too large: 413.
pub struct Body<T>(pub T);

impl<T, S> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AdminErr;

    async fn from_request(req: Request, state: &S) -> Result<Self, AdminErr> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => Err(body_rejected(e)),
        }
    }
}

fn body_rejected(e: JsonRejection) -> AdminErr {
    let status = match &e {
        JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_) => {
            StatusCode::BAD_REQUEST
        }
        other => other.status(),
    };
    AdminErr::new(status, e.body_text())
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
