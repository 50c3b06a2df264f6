//! Logs the host pulls (`o365_take_logs`) and metrics (`o365_metrics`).

use super::Client;
use crate::error::{Error, Result};
use crate::telemetry::metrics::{self, Gauges, MetricsRequest, ResultFormat};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `o365_take_logs` request: `{"max"?: 100}` (1..=10000).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TakeLogs {
    #[serde(default)]
    pub max: Option<usize>,
}

/// `o365_take_logs`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct TakenLogs {
    /// Oldest first: `{"ts", "level", "target", "message", "client", ...fields}`.
    #[schemars(with = "Vec<LogRecord>")]
    pub records: Vec<Value>,
    /// Records dropped because the buffer was full since the previous take.
    pub dropped: u64,
}

/// One log record: these fields, plus the structured fields of the record (`mailbox`,
/// `send_id`, `duration_ms`, ...), which vary by message.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LogRecord {
    /// RFC 3339 time.
    pub ts: String,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: String,
    pub target: String,
    pub message: String,
    /// The client instance that logged it.
    pub client: String,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// `o365_metrics`: JSON families, or Prometheus text.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
#[schemars(deny_unknown_fields)]
pub enum MetricsResult {
    Json {
        client: String,
        #[schemars(with = "Vec<MetricFamily>")]
        metrics: Vec<metrics::Family>,
    },
    Prometheus {
        format: &'static str,
        content_type: &'static str,
        text: String,
    },
}

/// One metric of `o365_metrics` (`format` `json`): the schema of
/// [`crate::telemetry::metrics::Family`].
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
pub struct MetricFamily {
    pub help: String,
    pub name: String,
    pub samples: Vec<MetricSample>,
    /// `counter`, `gauge` or `histogram`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// One sample of a metric: a value, or a histogram's cumulative buckets.
#[derive(JsonSchema)]
#[serde(untagged)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
pub enum MetricSample {
    Value {
        labels: std::collections::BTreeMap<String, String>,
        value: f64,
    },
    Histogram {
        /// `[upper bound, cumulative count]` per bucket, without +Inf (that is `count`).
        buckets: Vec<(f64, u64)>,
        count: u64,
        labels: std::collections::BTreeMap<String, String>,
        sum: f64,
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
