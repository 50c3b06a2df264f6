//! What the admin API answers: typed bodies (`Json<T>`), `201 Created`, and errors as
//! `{"error": {"code", "message"}}`.

use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// The `code` of an admin API error, one per status the admin API answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body or query is malformed (bad JSON, a missing, misspelt or unknown field, a
    /// wrong type), or names something that does not exist inside the addressed object.
    InvalidRequest,
    /// 403: refused (an Outlook send from an address the user may not send as).
    Forbidden,
    /// 404: the tenant, user, mailbox, app, message, fault or route does not exist.
    NotFound,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 409: the object exists already, or an address is in use.
    Conflict,
    /// 413: the body is larger than the admin API reads.
    PayloadTooLarge,
    /// 415: a body that is not `Content-Type: application/json`.
    UnsupportedMediaType,
    /// 429: a limit of the sim (e.g. sends per minute for an Outlook send).
    TooManyRequests,
    /// 5xx: the sim failed (e.g. `save` could not write its state directory).
    InternalError,
}

impl ErrorCode {
    pub fn of(status: StatusCode) -> ErrorCode {
        match status.as_u16() {
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            409 => ErrorCode::Conflict,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            429 => ErrorCode::TooManyRequests,
            500.. => ErrorCode::InternalError,
            _ => ErrorCode::InvalidRequest,
        }
    }
}

/// The body of every admin API error.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

/// An admin API error: a status and a message; answered as [`ErrorBody`].
#[derive(Debug)]
pub struct AdminErr {
    pub status: StatusCode,
    pub message: String,
}

impl AdminErr {
    pub fn new(status: StatusCode, message: impl Into<String>) -> AdminErr {
        AdminErr {
            status,
            message: message.into(),
        }
    }

    /// 400 `invalid_request`.
    pub fn bad(message: impl Into<String>) -> AdminErr {
        AdminErr::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> AdminErr {
        AdminErr::new(StatusCode::NOT_FOUND, message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> AdminErr {
        AdminErr::new(StatusCode::CONFLICT, message)
    }
}

impl IntoResponse for AdminErr {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: ErrorCode::of(self.status),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// A handler's answer: `200` with a typed body, or an error.
pub type Reply<T> = Result<Json<T>, AdminErr>;

/// A handler's answer for something it created: `201` with a typed body, or an error.
pub type Created<T> = Result<(StatusCode, Json<T>), AdminErr>;

pub fn ok<T>(body: T) -> Reply<T> {
    Ok(Json(body))
}

pub fn created<T>(body: T) -> Created<T> {
    Ok((StatusCode::CREATED, Json(body)))
}

/// `{"cleared": true}`: a list was emptied.
#[derive(Debug, Serialize)]
pub struct Cleared {
    pub cleared: bool,
}

/// An unknown path under `/_sim/`.
pub async fn no_route(method: Method, uri: Uri) -> AdminErr {
    AdminErr::not_found(format!("no admin route {method} /_sim{}", uri.path()))
}

/// A known path under `/_sim/` with a method it does not have.
pub async fn wrong_method(method: Method, uri: Uri) -> AdminErr {
    AdminErr::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("/_sim{} does not take {method}", uri.path()),
    )
}
