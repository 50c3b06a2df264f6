//! Counters and histograms of one client, and their two renderings: JSON and Prometheus'
//! text exposition format (version 0.0.4).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the request latency histogram.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    /// (route, method, status) -> count
    requests: BTreeMap<(String, String, String), u64>,
    latency_counts: [u64; LATENCY_BUCKETS.len()],
    latency_sum: f64,
    latency_count: u64,
    retries: BTreeMap<String, u64>,
    throttled: u64,
    refreshes: BTreeMap<String, u64>,
    sign_ins: BTreeMap<(String, String), u64>,
    sends: BTreeMap<String, u64>,
    sync_rounds: BTreeMap<String, u64>,
    sync_messages: u64,
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Counters)) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut c)
    }

    pub fn request(
        &self,
        route: &str,
        method: &str,
        status: &str,
        took: Duration,
        throttled: bool,
    ) {
        let secs = took.as_secs_f64();
        self.with(|c| {
            *c.requests
                .entry((route.to_owned(), method.to_owned(), status.to_owned()))
                .or_default() += 1;
            for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
                if secs <= *le {
                    c.latency_counts[i] += 1;
                }
            }
            c.latency_sum += secs;
            c.latency_count += 1;
            if throttled {
                c.throttled += 1;
            }
        })
    }

    pub fn retry(&self, reason: &str) {
        self.with(|c| *c.retries.entry(reason.to_owned()).or_default() += 1)
    }

    pub fn refresh(&self, outcome: &str) {
        self.with(|c| *c.refreshes.entry(outcome.to_owned()).or_default() += 1)
    }

    pub fn sign_in(&self, phase: &str, outcome: &str) {
        self.with(|c| {
            *c.sign_ins
                .entry((phase.to_owned(), outcome.to_owned()))
                .or_default() += 1
        })
    }

    pub fn send(&self, outcome: &str) {
        self.with(|c| *c.sends.entry(outcome.to_owned()).or_default() += 1)
    }

    pub fn sync_round(&self, status: &str, messages: u64) {
        self.with(|c| {
            *c.sync_rounds.entry(status.to_owned()).or_default() += 1;
            c.sync_messages += messages;
        })
    }

    /// Every family: this client's counters plus the `gauges` read from the store now.
    pub fn families(&self, g: &Gauges) -> Vec<Family> {
        let c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        out.push(Family::new(
            "o365_graph_requests_total",
            "counter",
            "Graph request attempts by route, method and HTTP status (network_error: no answer)",
            c.requests
                .iter()
                .map(|((r, m, s), n)| {
                    Sample::value(&[("route", r), ("method", m), ("status", s)], *n as f64)
                })
                .collect(),
        ));
        let mut cumulative = Vec::new();
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative.push((*le, c.latency_counts[i]));
        }
        out.push(Family::new(
            "o365_graph_request_duration_seconds",
            "histogram",
            "Graph request latency (one observation per attempt)",
            vec![Sample {
                labels: Vec::new(),
                value: SampleValue::Histogram {
                    buckets: cumulative,
                    sum: c.latency_sum,
                    count: c.latency_count,
                },
            }],
        ));
        out.push(Family::new(
            "o365_graph_retries_total",
            "counter",
            "Graph requests sent again, by reason (429, 503, 504, network)",
            labelled(&c.retries, "reason"),
        ));
        out.push(Family::new(
            "o365_graph_throttled_total",
            "counter",
            "Graph answers with status 429",
            vec![Sample::value(&[], c.throttled as f64)],
        ));
        out.push(Family::new(
            "o365_token_refreshes_total",
            "counter",
            "Access token refreshes by outcome (ok, failed)",
            labelled(&c.refreshes, "outcome"),
        ));
        out.push(Family::new(
            "o365_sign_ins_total",
            "counter",
            "Sign-ins by phase (start, complete) and outcome (ok, failed)",
            c.sign_ins
                .iter()
                .map(|((p, o), n)| Sample::value(&[("phase", p), ("outcome", o)], *n as f64))
                .collect(),
        ));
        out.push(Family::new(
            "o365_sends_total",
            "counter",
            "o365_send calls and queued sends by outcome (sent, queued, failed)",
            labelled(&c.sends, "outcome"),
        ));
        out.push(Family::new(
            "o365_sync_rounds_total",
            "counter",
            "Mailbox sync rounds by status (ok, partial, failed)",
            labelled(&c.sync_rounds, "status"),
        ));
        out.push(Family::new(
            "o365_sync_messages_total",
            "counter",
            "Messages stored or removed by sync rounds",
            vec![Sample::value(&[], c.sync_messages as f64)],
        ));
        out.push(Family::new(
            "o365_outbox_entries",
            "gauge",
            "Outbox entries in the store by state (queued, sending, sent, failed)",
            g.outbox
                .iter()
                .map(|(s, n)| Sample::value(&[("state", s)], *n as f64))
                .collect(),
        ));
        out.push(Family::new(
            "o365_events_unacked",
            "gauge",
            "Events in the store not yet acked (all processes)",
            vec![Sample::value(&[], g.events_unacked as f64)],
        ));
        out.push(Family::new(
            "o365_sync_lag_seconds",
            "gauge",
            "Seconds since the stalest folder of the mailbox last synced successfully",
            g.sync_lag
                .iter()
                .map(|(id, addr, ms)| {
                    Sample::value(&[("mailbox", id), ("address", addr)], *ms as f64 / 1000.0)
                })
                .collect(),
        ));
        out.push(Family::new(
            "o365_panics_caught_total",
            "counter",
            "Panics caught at the C boundary (whole process)",
            vec![Sample::value(&[], g.panics_caught as f64)],
        ));
        out.push(Family::new(
            "o365_log_records_dropped_total",
            "counter",
            "Log records the full pull buffer dropped since the last o365_take_logs",
            vec![Sample::value(&[], g.log_dropped as f64)],
        ));
        out
    }
}

fn labelled(m: &BTreeMap<String, u64>, label: &str) -> Vec<Sample> {
    m.iter()
        .map(|(k, n)| Sample::value(&[(label, k)], *n as f64))
        .collect()
}

/// Values read from the store (shared by every process) when metrics are asked for.
#[derive(Debug, Default)]
pub struct Gauges {
    pub outbox: Vec<(String, i64)>,
    pub events_unacked: i64,
    /// (mailbox id, address, ms since the last successful sync); mailboxes never synced are
    /// left out.
    pub sync_lag: Vec<(String, String, i64)>,
    pub panics_caught: u64,
    pub log_dropped: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Family {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub help: &'static str,
    pub samples: Vec<Sample>,
}

impl Family {
    fn new(
        name: &'static str,
        kind: &'static str,
        help: &'static str,
        samples: Vec<Sample>,
    ) -> Family {
        Family {
            name,
            kind,
            help,
            samples,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    #[serde(serialize_with = "labels_as_object")]
    pub labels: Vec<(String, String)>,
    #[serde(flatten)]
    pub value: SampleValue,
}

impl Sample {
    fn value(labels: &[(&str, &String)], v: f64) -> Sample {
        Sample {
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).clone()))
                .collect(),
            value: SampleValue::Value { value: v },
        }
    }
}

fn labels_as_object<S: serde::Serializer>(l: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(l.len()))?;
    for (k, v) in l {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum SampleValue {
    Value {
        value: f64,
    },
    /// Cumulative counts per upper bound (without +Inf, which is `count`).
    Histogram {
        buckets: Vec<(f64, u64)>,
        sum: f64,
        count: u64,
    },
}

/// `o365_metrics` request.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsRequest {
    #[serde(default)]
    pub format: ResultFormat,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResultFormat {
    #[default]
    Json,
    Prometheus,
}

/// Prometheus text exposition format 0.0.4.
pub fn prometheus(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families {
        let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help));
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for s in &f.samples {
            match &s.value {
                SampleValue::Value { value } => {
                    let _ = writeln!(out, "{}{} {}", f.name, labels(&s.labels, None), num(*value));
                }
                SampleValue::Histogram {
                    buckets,
                    sum,
                    count,
                } => {
                    for (le, n) in buckets {
                        let _ = writeln!(
                            out,
                            "{}_bucket{} {n}",
                            f.name,
                            labels(&s.labels, Some(&num(*le)))
                        );
                    }
                    let _ = writeln!(
                        out,
                        "{}_bucket{} {count}",
                        f.name,
                        labels(&s.labels, Some("+Inf"))
                    );
                    let _ = writeln!(
                        out,
                        "{}_sum{} {}",
                        f.name,
                        labels(&s.labels, None),
                        num(*sum)
                    );
                    let _ = writeln!(out, "{}_count{} {count}", f.name, labels(&s.labels, None));
                }
            }
        }
    }
    out
}

fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn labels(l: &[(String, String)], le: Option<&str>) -> String {
    if l.is_empty() && le.is_none() {
        return String::new();
    }
    let mut parts: Vec<String> = l
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}=\"{}\"",
                v.replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
            )
        })
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    format!("{{{}}}", parts.join(","))
}

/// The route of a Graph URL for metrics and logs: the path below the Graph base without the
/// query, ids replaced by `{id}` and user names by `{user}`
/// (`/me/mailFolders/{id}/messages/delta`, `/users/{user}/sendMail`).
pub fn route_of(url: &str, base: &str) -> String {
    let rest = match url.strip_prefix(base) {
        Some(r) => r.to_owned(),
        None => match url::Url::parse(url) {
            Ok(u) => {
                let p = u.path();
                let version = base.rsplit('/').next().unwrap_or("");
                if !version.is_empty() {
                    p.strip_prefix(&format!("/{version}"))
                        .unwrap_or(p)
                        .to_owned()
                } else {
                    p.to_owned()
                }
            }
            Err(_) => return "unknown".into(),
        },
    };
    let path = rest.split(['?', '#']).next().unwrap_or("");
    let mut out = Vec::new();
    let mut after_users = false;
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        let name = if after_users {
            "{user}".to_owned()
        } else if looks_like_id(seg) {
            "{id}".to_owned()
        } else {
            seg.to_owned()
        };
        after_users = seg == "users";
        out.push(name);
    }
    format!("/{}", out.join("/"))
}

/// Graph names are short camelCase words (`mailFolders`, `sendMail`, `$batch`,
/// `createUploadSession`); ids are long, or hold digits, `=`, `-`, `@` or `%`.
fn looks_like_id(seg: &str) -> bool {
    seg.len() > 32
        || seg
            .chars()
            .any(|c| c.is_ascii_digit() || matches!(c, '=' | '-' | '@' | '%' | '+' | '_' | '('))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_hide_ids() {
        let b = "https://g.example/v1.0";
        assert_eq!(
            route_of(
                "https://g.example/v1.0/me/mailFolders/AAMkAD12==/messages/delta?$top=5",
                b
            ),
            "/me/mailFolders/{id}/messages/delta"
        );
        assert_eq!(
            route_of(
                "https://g.example/v1.0/users/vertrieb@contoso.example/sendMail",
                b
            ),
            "/users/{user}/sendMail"
        );
        assert_eq!(route_of("https://g.example/v1.0/$batch", b), "/$batch");
        assert_eq!(
            route_of("https://other.example/v1.0/me/mailFolders/inbox", b),
            "/me/mailFolders/inbox"
        );
    }

    #[test]
    fn prometheus_text_has_histogram_and_escaped_labels() {
        let m = Metrics::default();
        m.request("/me", "GET", "200", Duration::from_millis(20), false);
        m.request("/me", "GET", "429", Duration::from_millis(2), true);
        let g = Gauges {
            sync_lag: vec![("mb\"1".into(), "a@b".into(), 1500)],
            ..Gauges::default()
        };
        let text = prometheus(&m.families(&g));
        assert!(text.contains(
            "o365_graph_requests_total{route=\"/me\",method=\"GET\",status=\"429\"} 1\n"
        ));
        assert!(text.contains("o365_graph_request_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("o365_graph_request_duration_seconds_bucket{le=\"0.025\"} 2\n"));
        assert!(text.contains("o365_graph_request_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("o365_graph_throttled_total 1\n"));
        assert!(text.contains("o365_sync_lag_seconds{mailbox=\"mb\\\"1\",address=\"a@b\"} 1.5\n"));
    }
}
