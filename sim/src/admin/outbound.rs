//! The outbound log (mail as its recipients see it): `GET/DELETE /_sim/outbound`.

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::extract::{NoFields, Params};
use super::reply::{ok, Cleared, Reply};
use crate::server::AppState;
use crate::state::OutboundMail;

/// `GET /_sim/outbound?mailbox=&since=`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutboundQuery {
    /// Only mail submitted by this mailbox or sent from this address.
    pub mailbox: Option<String>,
    /// Only entries with a larger `seq`.
    pub since: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct OutboundList {
    pub messages: Vec<OutboundMail>,
}

pub async fn list(
    State(sim): State<AppState>,
    Params(q): Params<OutboundQuery>,
) -> Reply<OutboundList> {
    let w = sim.w();
    let since = q.since.unwrap_or(0);
    let messages = w
        .outbound
        .iter()
        .filter(|o| o.seq > since)
        .filter(|o| {
            q.mailbox
                .as_deref()
                .map(|m| {
                    o.mailbox.eq_ignore_ascii_case(m) || o.from.address.eq_ignore_ascii_case(m)
                })
                .unwrap_or(true)
        })
        .cloned()
        .collect();
    ok(OutboundList { messages })
}

pub async fn clear(State(sim): State<AppState>, _: NoFields) -> Reply<Cleared> {
    sim.w().outbound.clear();
    ok(Cleared { cleared: true })
}
