//! Limits and latency: `GET/PUT /_sim/limits`, `PUT /_sim/latency`.

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::extract::{patched, Body};
use super::reply::{ok, Reply};
use crate::limits::Limits;
use crate::server::AppState;

pub async fn get(State(sim): State<AppState>) -> Reply<Limits> {
    ok(sim.limits())
}

/// `PUT /_sim/limits`: any subset of [`Limits`]' fields (camelCase); an unknown one is a 400.
pub async fn put(
    State(sim): State<AppState>,
    Body(patch): Body<serde_json::Map<String, serde_json::Value>>,
) -> Reply<Limits> {
    let new = patched(&sim.limits(), patch)?;
    *sim.limits.write().unwrap() = new.clone();
    ok(new)
}

/// `PUT /_sim/latency` (request and answer).
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Latency {
    /// Added to every request, in milliseconds.
    pub ms: u64,
}

pub async fn put_latency(State(sim): State<AppState>, Body(r): Body<Latency>) -> Reply<Latency> {
    sim.latency_ms
        .store(r.ms, std::sync::atomic::Ordering::Relaxed);
    ok(r)
}
