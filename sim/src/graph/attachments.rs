use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Response, StatusCode};

use crate::server::AppState;

pub async fn upload_chunk(State(sim): State<AppState>, req: Request) -> Response<Body> {
    let _ = req;
    super::errors::graph_error(&sim, StatusCode::NOT_FOUND, "BadRequest", "not yet", None)
}
