//! Fault injection: `GET/POST/DELETE /_sim/faults`, `DELETE /_sim/faults/{id}`.

use axum::extract::{Path, State};
use serde::Serialize;

use super::extract::{Body, NoFields};
use super::reply::{created, ok, AdminErr, Cleared, Created, Reply};
use crate::faults::{FaultRule, FaultSpec};
use crate::server::AppState;

#[derive(Debug, Serialize)]
pub struct FaultList {
    pub faults: Vec<FaultRule>,
}

pub async fn list(State(sim): State<AppState>) -> Reply<FaultList> {
    ok(FaultList {
        faults: sim.faults.list(),
    })
}

pub async fn add(State(sim): State<AppState>, Body(spec): Body<FaultSpec>) -> Created<FaultRule> {
    if spec.path.is_empty() {
        return Err(AdminErr::bad("path is required"));
    }
    if spec.status.is_none() && spec.latency_ms.is_none() && !spec.drop_connection {
        return Err(AdminErr::bad(
            "a fault needs status, latencyMs or dropConnection",
        ));
    }
    created(sim.faults.add(spec))
}

pub async fn clear(State(sim): State<AppState>, _: NoFields) -> Reply<Cleared> {
    sim.faults.clear();
    ok(Cleared { cleared: true })
}

#[derive(Debug, Serialize)]
pub struct Removed {
    pub removed: u64,
}

pub async fn remove(
    State(sim): State<AppState>,
    Path(id): Path<u64>,
    _: NoFields,
) -> Reply<Removed> {
    if sim.faults.remove(id) {
        ok(Removed { removed: id })
    } else {
        Err(AdminErr::not_found("no such fault"))
    }
}
