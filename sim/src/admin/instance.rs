//! The sim itself: `GET /_sim/health`, `POST /_sim/save`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::extract::NoFields;
use super::reply::{ok, AdminErr, Reply};
use crate::server::AppState;

#[derive(Debug, Serialize)]
pub struct Health {
    pub ok: bool,
    pub url: String,
}

pub async fn health(State(sim): State<AppState>) -> Reply<Health> {
    ok(Health {
        ok: true,
        url: sim.base_url.clone(),
    })
}

#[derive(Debug, Serialize)]
pub struct Saved {
    /// False without a state directory (nothing to write).
    pub saved: bool,
}

pub async fn save(State(sim): State<AppState>, _: NoFields) -> Reply<Saved> {
    sim.save()
        .map_err(|e| AdminErr::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    ok(Saved {
        saved: sim.state_dir.is_some(),
    })
}
