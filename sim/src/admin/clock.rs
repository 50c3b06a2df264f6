//! The test clock: `GET /_sim/clock`, `POST /_sim/clock/advance`.

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::extract::Body;
use super::reply::{ok, Reply};
use crate::server::{AppState, Sim};

/// `POST /_sim/clock/advance`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Advance {
    /// Seconds to move the clock forward (negative: back).
    pub seconds: i64,
}

/// The sim's time.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClockState {
    /// ISO 8601, UTC, whole seconds.
    pub now: String,
    /// How far the sim clock is ahead of the wall clock.
    pub offset_seconds: i64,
}

fn state(sim: &Sim) -> ClockState {
    ClockState {
        now: crate::clock::iso(sim.clock.now()),
        offset_seconds: sim.clock.offset_ms() / 1000,
    }
}

pub async fn get(State(sim): State<AppState>) -> Reply<ClockState> {
    ok(state(&sim))
}

pub async fn advance(State(sim): State<AppState>, Body(r): Body<Advance>) -> Reply<ClockState> {
    sim.clock.advance(r.seconds);
    ok(state(&sim))
}
