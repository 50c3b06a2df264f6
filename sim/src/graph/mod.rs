//! Microsoft Graph v1.0 mail.

pub mod attachments;
pub mod errors;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Response, StatusCode};

use crate::server::AppState;

pub async fn dispatch(State(sim): State<AppState>, req: Request) -> Response<Body> {
    let _ = req;
    errors::graph_error(&sim, StatusCode::NOT_FOUND, "BadRequest", "not yet", None)
}
