//! What the sim counted: `GET /_sim/counters`, `POST /_sim/counters/reset`.

use std::collections::HashMap;

use axum::extract::State;
use serde::Serialize;

use super::extract::NoFields;
use super::reply::{ok, Reply};
use crate::counters::CountersView;
use crate::server::AppState;

pub async fn get(State(sim): State<AppState>) -> Reply<CountersView<HashMap<String, usize>>> {
    ok(sim.counters.view(sim.throttle.max_concurrency()))
}

#[derive(Debug, Serialize)]
pub struct Reset {
    pub reset: bool,
}

/// Zeroes the counters and clears the throttling windows.
pub async fn reset(State(sim): State<AppState>, _: NoFields) -> Reply<Reset> {
    sim.counters.reset();
    sim.throttle.reset();
    ok(Reset { reset: true })
}
