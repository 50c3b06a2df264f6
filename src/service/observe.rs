//! Logs the host pulls (`o365_take_logs`) and metrics (`o365_metrics`).

use super::Client;
use crate::error::{Error, Result};
use crate::telemetry::metrics::{self, Gauges, MetricsRequest, ResultFormat};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `o365_take_logs` request: `{"max"?: 100}` (1..=10000).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TakeLogs {
    #[serde(default)]
    pub max: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct TakenLogs {
    /// Oldest first: `{"ts", "level", "target", "message", "client", ...fields}`.
    pub records: Vec<Value>,
    /// Records dropped because the buffer was full since the previous take.
    pub dropped: u64,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum MetricsResult {
    Json {
        client: String,
        metrics: Vec<metrics::Family>,
    },
    Prometheus {
        format: &'static str,
        content_type: &'static str,
        text: String,
    },
}

pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Client {
    /// Removes and returns up to `max` buffered log records (config `log.buffer`).
    pub fn take_logs(&self, req: TakeLogs) -> Result<TakenLogs> {
        let max = req.max.unwrap_or(100);
        if !(1..=10_000).contains(&max) {
            return Err(Error::invalid_field(
                "max",
                "max must be between 1 and 10000",
            ));
        }
        let (records, dropped) = self.telemetry().take(max)?;
        Ok(TakenLogs { records, dropped })
    }

    /// Counters of this client and queue depths of the store, as JSON or Prometheus text.
    pub fn metrics(&self, req: MetricsRequest) -> Result<MetricsResult> {
        let now = self.now_ms();
        let store = self.store();
        let gauges = Gauges {
            outbox: store.outbox_by_state()?,
            events_unacked: store.pending_events()?,
            sync_lag: store
                .last_sync_success()?
                .into_iter()
                .filter_map(|(id, addr, at)| at.map(|t| (id, addr, (now - t).max(0))))
                .collect(),
            panics_caught: crate::telemetry::panics_caught(),
            log_dropped: self.telemetry().dropped_total(),
        };
        let families = self.telemetry().metrics.families(&gauges);
        Ok(match req.format {
            ResultFormat::Json => MetricsResult::Json {
                client: self.instance().to_owned(),
                metrics: families,
            },
            ResultFormat::Prometheus => MetricsResult::Prometheus {
                format: "prometheus",
                content_type: PROMETHEUS_CONTENT_TYPE,
                text: metrics::prometheus(&families),
            },
        })
    }
}
