//! Logs, metrics and filtered event streams (issue 15 items 4-6) through the C ABI against
//! o365-sim: a demo-like run leaves JSON-line records with the expected events in its own
//! client's sinks (file and pull buffer), never a secret; the Prometheus text parses and
//! its counts match the sim's own counters; filtered consumers leave other kinds alone.

mod common;
use common::*;
use o365::ffi::*;
use o365_sim::faults::FaultSpec;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::ffi::{c_char, CString};

const BASE: &str = "https://crm.example/o365/link?t={token}";

fn records(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line {l:?}: {e}")))
        .collect()
}

fn with<'a>(recs: &'a [Value], message: &str) -> Vec<&'a Value> {
    recs.iter().filter(|r| r["message"] == message).collect()
}

/// A minimal parser of Prometheus' text exposition format: `(name, labels) -> value`, and
/// the declared type of every family. Panics on a line it cannot read.
fn parse_prometheus(text: &str) -> (BTreeMap<(String, String), f64>, BTreeMap<String, String>) {
    let mut samples = BTreeMap::new();
    let mut types = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line");
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line:?}");
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.find('{') {
            Some(i) => {
                assert!(series.ends_with('}'), "{line:?}");
                (&series[..i], &series[i + 1..series.len() - 1])
            }
            None => (series, ""),
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name {name:?}"
        );
        samples.insert((name.to_owned(), labels.to_owned()), value);
    }
    (samples, types)
}

fn sum_of(samples: &BTreeMap<(String, String), f64>, name: &str, label_part: &str) -> f64 {
    samples
        .iter()
        .filter(|((n, l), _)| n == name && l.contains(label_part))
        .map(|(_, v)| *v)
        .sum()
}

fn take_logs(lib: &Lib, max: usize) -> Value {
    lib.ok(o365_take_logs, json!({ "max": max }))
}

#[test]
fn a_demo_run_logs_every_step_as_json_lines_per_client_and_metrics_match_the_sim() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let log_a = dir.path().join("a.log");
    let mut cfg = config(&sim, dir.path());
    cfg["links"] = json!({ "base_url": BASE });
    cfg["sync"] = json!({ "scheduler": false });
    cfg["log"] = json!({"level": "debug", "file": log_a.to_str().unwrap(), "buffer": 5000});
    let lib = Lib::open(cfg.clone());

    // Another client of the same process, with its own sink.
    let other_dir = tempfile::tempdir().unwrap();
    let log_b = other_dir.path().join("b.log");
    let mut cfg_b = config(&sim, other_dir.path());
    cfg_b["log"] = json!({"level": "info", "file": log_b.to_str().unwrap()});
    cfg_b["sync"] = json!({ "scheduler": false });
    let other = Lib::open(cfg_b);
    let other_id = import(&other, BEN, &["x"], json!({}));
    let (st, v) = other.call(o365_authenticate, json!({"mailbox": other_id, "user": "x"}));
    assert_eq!(st, O365_OK, "{v}");

    // Sign-in, sync (one folder answers 429 once), three sends, a link opened.
    let id = import(&lib, ANNA, &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &lib, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");
    sim.sim().faults.add(FaultSpec {
        method: Some("GET".into()),
        path: "/v1.0/me/mailFolders/delta".into(),
        status: Some(429),
        retry_after: Some(1),
        count: Some(1),
        ..Default::default()
    });
    let synced = lib.ok(o365_sync, json!({"mailbox": id, "user": "u1"}));
    let sync_id = synced["sync_id"].as_str().unwrap().to_owned();
    assert_eq!(synced["run"], sync_id.as_str());
    let mut token = String::new();
    for i in 0..3 {
        let mut msg = json!({"to": ["kunde@kunden.example"], "subject": format!("Angebot {i}"),
                             "body_html": "<p>Hallo</p>"});
        if i == 0 {
            msg["body_html"] = json!("<p>_downloadLink(Exposé)</p>");
            msg["attachments"] = json!([{"name": "expose.pdf", "base64": "SGFsbG8="}]);
        }
        let r = lib.ok(
            o365_send,
            json!({"mailbox": id, "user": "u1", "message": msg}),
        );
        assert_eq!(r["state"], "sent", "{r}");
        if i == 0 {
            token = r["link"]["token"].as_str().unwrap().to_owned();
        }
    }
    lib.ok(o365_link_open, json!({ "token": token }));

    // Metrics, compared with the sim's own counters (nothing else talks to this sim's Graph).
    let prom = lib.ok(o365_metrics, json!({"format": "prometheus"}));
    assert_eq!(prom["format"], "prometheus");
    assert!(prom["content_type"]
        .as_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let (samples, types) = parse_prometheus(prom["text"].as_str().unwrap());
    let counters = sim.sim().counters.snapshot(json!(null));
    let sim_graph: u64 = counters["requestsPerRoute"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.contains(" /v1.0/"))
        .map(|(_, v)| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        sum_of(&samples, "o365_graph_requests_total", "") as u64,
        sim_graph,
        "every Graph request the sim saw is counted once: {counters}"
    );
    assert_eq!(
        samples[&("o365_graph_throttled_total".into(), String::new())] as u64,
        counters["throttled429"].as_u64().unwrap(),
    );
    assert_eq!(
        samples[&("o365_graph_throttled_total".into(), String::new())],
        1.0
    );
    assert_eq!(
        samples[&(
            "o365_graph_requests_total".into(),
            "route=\"/me/mailFolders/delta\",method=\"GET\",status=\"429\"".into()
        )],
        1.0
    );
    assert_eq!(
        samples[&("o365_graph_retries_total".into(), "reason=\"429\"".into())],
        1.0
    );
    assert_eq!(
        sum_of(
            &samples,
            "o365_graph_requests_total",
            "route=\"/me/messages/{id}/send\""
        ),
        3.0,
        "three sends"
    );
    assert_eq!(
        samples[&(
            "o365_graph_request_duration_seconds_count".into(),
            String::new()
        )],
        sim_graph as f64
    );
    assert_eq!(
        samples[&(
            "o365_graph_request_duration_seconds_bucket".into(),
            "le=\"+Inf\"".into()
        )],
        sim_graph as f64
    );
    assert_eq!(types["o365_graph_request_duration_seconds"], "histogram");
    assert_eq!(
        samples[&("o365_sends_total".into(), "outcome=\"sent\"".into())],
        3.0
    );
    assert_eq!(
        samples[&("o365_outbox_entries".into(), "state=\"sent\"".into())],
        3.0
    );
    assert_eq!(
        samples[&("o365_sync_rounds_total".into(), "status=\"ok\"".into())],
        1.0
    );
    assert_eq!(
        samples[&(
            "o365_sign_ins_total".into(),
            "phase=\"complete\",outcome=\"ok\"".into()
        )],
        1.0
    );
    let lag_key = (
        "o365_sync_lag_seconds".to_string(),
        format!("mailbox=\"{id}\",address=\"{ANNA}\""),
    );
    assert!(samples[&lag_key] >= 0.0, "{samples:?}");
    assert!(samples.contains_key(&("o365_events_unacked".into(), String::new())));
    assert!(samples.contains_key(&("o365_panics_caught_total".into(), String::new())));
    let json_metrics = lib.ok(o365_metrics, json!({}));
    let fam = json_metrics["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "o365_graph_throttled_total")
        .unwrap();
    assert_eq!(fam["type"], "counter");
    assert_eq!(fam["samples"][0]["value"], 1.0);
    let (st, e) = lib.call(o365_metrics, json!({"format": "xml"}));
    assert_eq!(st, O365_INVALID_ARGUMENT, "{e}");

    // A refresh, two hours later, in a third client on the same store (pull buffer only).
    let mut later_cfg = cfg.clone();
    later_cfg["log"] = json!({"level": "info", "buffer": 100});
    later_cfg["debug"]["clock_offset_ms"] = json!(2 * 3600 * 1000);
    let later = Lib::open(later_cfg);
    later.ok(
        o365_list_folders,
        json!({"mailbox": id, "user": "u1", "max_age_ms": 0}),
    );
    let pulled = take_logs(&later, 100);
    let pulled: Vec<Value> = pulled["records"].as_array().unwrap().clone();
    let refreshed = with(&pulled, "token refreshed");
    assert_eq!(refreshed.len(), 1, "{pulled:?}");
    assert_eq!(refreshed[0]["mailbox"], id.as_str());
    assert!(refreshed[0]["duration_ms"].is_u64());
    assert_eq!(refreshed[0]["level"], "info");
    assert!(
        take_logs(&later, 100)["records"]
            .as_array()
            .unwrap()
            .is_empty(),
        "taken once"
    );
    drop(later);

    // The records of client A, from its file.
    let recs = records(&log_a);
    let client_a = recs[0]["client"].as_str().unwrap().to_owned();
    for r in &recs {
        for k in ["ts", "level", "target", "message", "client"] {
            assert!(r.get(k).is_some(), "{k} missing in {r}");
        }
        assert_eq!(
            r["client"],
            client_a.as_str(),
            "only this client's records: {r}"
        );
    }
    let started = with(&recs, "sign-in started");
    assert_eq!(started.len(), 1, "{recs:?}");
    assert_eq!(started[0]["mailbox"], id.as_str());
    let completed = with(&recs, "sign-in completed");
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0]["mailbox"], id.as_str());
    assert!(completed[0]["duration_ms"].is_u64());
    let rounds = with(&recs, "sync round finished");
    assert_eq!(rounds.len(), 1);
    assert_eq!(rounds[0]["sync_id"], sync_id.as_str());
    assert_eq!(rounds[0]["mailbox"], id.as_str());
    assert!(rounds[0]["folders"].as_u64().unwrap() > 3, "{}", rounds[0]);
    assert!(rounds[0]["messages"].as_u64().unwrap() > 0);
    let throttled = with(&recs, "graph: throttled");
    assert_eq!(throttled.len(), 1);
    assert_eq!(throttled[0]["retry_after_ms"], 1000);
    assert_eq!(throttled[0]["mailbox"], id.as_str());
    assert!(throttled[0]["request_id"].as_str().unwrap().len() > 10);
    let retry = with(&recs, "graph: retrying");
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0]["attempt"], 1);
    let requests = with(&recs, "graph: request");
    assert_eq!(
        requests.len() as u64 + 1,
        sim_graph,
        "one debug record per request"
    );
    for r in &requests {
        assert_eq!(r["level"], "debug");
        assert!(
            r["request_id"].as_str().is_some_and(|s| !s.is_empty()),
            "{r}"
        );
        assert!(r["route"].as_str().unwrap().starts_with('/'));
        assert!(r["status"].as_u64().is_some() && r["duration_ms"].is_u64());
    }
    assert_eq!(with(&recs, "send sent").len(), 3);
    assert!(with(&recs, "send sent")
        .iter()
        .all(|r| r["mailbox"] == id.as_str() && r["send_id"].is_string()));
    let opened = with(&recs, "link opened");
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0]["mailbox"], id.as_str());
    // The same records reached A's pull buffer.
    let buffered = take_logs(&lib, 10_000);
    assert_eq!(buffered["records"].as_array().unwrap().len(), recs.len());
    assert_eq!(buffered["dropped"], 0);

    // Client B's file holds only B's records.
    let recs_b = records(&log_b);
    assert!(!recs_b.is_empty());
    assert!(recs_b.iter().all(|r| r["client"] != client_a.as_str()));
    assert_eq!(
        with(&recs_b, "sign-in started")[0]["mailbox"],
        other_id.as_str()
    );
    assert!(
        with(&recs_b, "graph: request").is_empty(),
        "B logs at info only"
    );
}

#[test]
fn take_logs_needs_a_buffer_and_keeps_the_newest_records() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&sim, dir.path());
    cfg["sync"] = json!({ "scheduler": false });
    let plain = Lib::open(cfg.clone());
    let (st, e) = plain.call(o365_take_logs, json!({}));
    assert_eq!(st, O365_CONFLICT, "{e}");
    assert_eq!(e["error"], "log_buffer_off");
    drop(plain);
    cfg["log"] = json!({"level": "info", "buffer": 2});
    let lib = Lib::open(cfg);
    let (st, e) = lib.call(o365_take_logs, json!({"max": 0}));
    assert_eq!(st, O365_INVALID_ARGUMENT, "{e}");
    let (st, e) = lib.call(o365_take_logs, json!({"limit": 1}));
    assert_eq!(st, O365_INVALID_ARGUMENT, "{e}");
    for u in ["a", "b", "c"] {
        let id = import(&lib, &format!("{u}@contoso.example"), &["u1"], json!({}));
        lib.ok(o365_authenticate, json!({"mailbox": id, "user": "u1"}));
    }
    let got = lib.ok(o365_take_logs, json!({"max": 10}));
    let recs = got["records"].as_array().unwrap();
    assert_eq!(recs.len(), 2, "{got}");
    assert_eq!(got["dropped"], 1);
    assert!(recs.iter().all(|r| r["message"] == "sign-in started"));
    let panics = |lib: &Lib| {
        let m = lib.ok(o365_metrics, json!({"format": "prometheus"}));
        let (samples, _) = parse_prometheus(m["text"].as_str().unwrap());
        assert_eq!(
            samples[&("o365_log_records_dropped_total".into(), String::new())],
            1.0
        );
        samples[&("o365_panics_caught_total".into(), String::new())]
    };
    let before = panics(&lib);
    let (st, _) = lib.call(o365_debug_panic, json!({}));
    assert_eq!(st, O365_INTERNAL);
    assert!(panics(&lib) >= before + 1.0, "the caught panic is counted");
}

fn next_filtered(lib: &Lib, filter: Value, timeout_ms: u32) -> (o365_status, Value) {
    let f = CString::new(filter.to_string()).unwrap();
    let mut out: *mut c_char = std::ptr::null_mut();
    let st = unsafe { o365_next_event_filtered(lib.handle, f.as_ptr(), timeout_ms, &mut out) };
    (st, take(out))
}

fn emit(lib: &Lib, kind: &str, mailbox: Option<&str>, payload: Value) -> String {
    lib.ok(
        o365_debug_emit_event,
        json!({"type": kind, "mailbox": mailbox, "payload": payload}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn filtered_consumers_take_only_their_kinds_and_leave_the_rest() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&sim, dir.path());
    cfg["sync"] = json!({ "scheduler": false });
    let lib = Lib::open(cfg.clone());
    let a = import(&lib, ANNA, &["u1"], json!({}));
    let b = import(&lib, BEN, &["u1"], json!({}));
    let act_a = emit(&lib, "activity", Some(&a), json!({"subject": "x"}));
    let prog_a = emit(&lib, "sync_progress", Some(&a), json!({"done": 1}));
    let act_b = emit(&lib, "activity", Some(&b), json!({"subject": "y"}));
    let failed = emit(&lib, "send_failed", Some(&b), json!({}));

    // Another client (another consumer) on the same store.
    let other = Lib::open(cfg);
    let (st, ev) = next_filtered(&other, json!({"types": ["activity"], "mailbox": ANNA}), 0);
    assert_eq!(st, O365_OK, "{ev}");
    assert_eq!(ev["id"], act_a.as_str());
    let (st, ev) = next_filtered(&other, json!({"types": ["activity"], "mailbox": ANNA}), 0);
    assert_eq!(st, O365_TIMEOUT, "A's only activity is reserved: {ev}");
    let (st, ev) = next_filtered(&lib, json!({"types": ["activity"]}), 0);
    assert_eq!(st, O365_OK);
    assert_eq!(ev["id"], act_b.as_str(), "the reserved one is skipped");
    let (st, ev) = next_filtered(&lib, json!({"types": ["sync_progress", "send_failed"]}), 0);
    assert_eq!(st, O365_OK);
    assert_eq!(ev["id"], prog_a.as_str());
    assert_eq!(ev["redelivered"], false);
    let (st, ev) = next_filtered(&lib, json!({"mailbox": b}), 0);
    assert_eq!(st, O365_OK);
    assert_eq!(ev["id"], failed.as_str());
    assert_eq!(
        ev["redelivered"], false,
        "never handed out before: filters do not touch others"
    );
    let (st, _) = next_filtered(&lib, json!({}), 0);
    assert_eq!(st, O365_TIMEOUT, "all four are reserved");

    // Bad filters.
    for (bad, field) in [
        (json!({"types": ["activities"]}), "types"),
        (json!({"kinds": ["activity"]}), "kinds"),
        (json!({"types": "activity"}), "types"),
    ] {
        let (st, e) = next_filtered(&lib, bad.clone(), 0);
        assert_eq!(st, O365_INVALID_ARGUMENT, "{bad}: {e}");
        assert!(e.to_string().contains(field), "{e}");
    }
    let (st, e) = next_filtered(&lib, json!({"mailbox": "nobody@contoso.example"}), 0);
    assert_eq!(st, O365_NOT_FOUND, "{e}");
}

/// Child process for `stderr_sink_writes_json_lines_and_no_secret`: a client logging to
/// stderr starts a sign-in and prints the authorize URL on stdout.
#[test]
fn stderr_child() {
    let Ok(cfg) = std::env::var("O365_TEST_STDERR_CONFIG") else {
        return;
    };
    let lib = Lib::open(serde_json::from_str(&cfg).unwrap());
    let id = import(&lib, ANNA, &["u1"], json!({}));
    let start = lib.ok(o365_authenticate, json!({"mailbox": id, "user": "u1"}));
    println!("AUTHORIZE {}", start["authorize_url"].as_str().unwrap());
}

#[test]
fn stderr_sink_writes_json_lines_and_no_secret() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&sim, dir.path());
    cfg["sync"] = json!({ "scheduler": false });
    cfg["log"] = json!({"level": "trace", "stderr": true});
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["stderr_child", "--exact", "--nocapture", "--test-threads=1"])
        .env("O365_TEST_STDERR_CONFIG", cfg.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let url = stdout
        .lines()
        .find_map(|l| l.split_once("AUTHORIZE ").map(|(_, u)| u.trim()))
        .expect("the child printed the authorize URL");
    let url = url::Url::parse(url).unwrap();
    let q = |k: &str| {
        url.query_pairs()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let stderr = String::from_utf8(out.stderr).unwrap();
    let recs: Vec<Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(with(&recs, "sign-in started").len(), 1, "{stderr}");
    for secret in [q("state"), q("code_challenge")] {
        assert!(!stderr.contains(&secret), "a sign-in secret reached stderr");
    }
}

#[test]
fn sync_progress_names_folder_role_and_the_sync_it_belongs_to() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&sim, dir.path());
    cfg["sync"] = json!({"scheduler": false, "page_size": 2});
    let lib = Lib::open(cfg);
    let id = import(&lib, ANNA, &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &lib, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");
    let r = lib.ok(o365_sync, json!({"mailbox": id, "user": "u1"}));
    let sync_id = r["sync_id"].as_str().unwrap().to_owned();
    let folders: BTreeMap<String, Value> = r["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["folder_id"].as_str().unwrap().to_owned(), f.clone()))
        .collect();
    let mut progress = Vec::new();
    let filter = json!({"types": ["sync_progress", "sync_completed"], "mailbox": id});
    while let (O365_OK, ev) = next_filtered(&lib, filter.clone(), 0) {
        lib.ack(ev["id"].as_str().unwrap());
        progress.push(ev);
    }
    let pages: Vec<&Value> = progress
        .iter()
        .filter(|e| e["type"] == "sync_progress")
        .collect();
    assert!(
        !pages.is_empty(),
        "pages of two messages: progress events {progress:?}"
    );
    for e in &pages {
        assert_eq!(e["sync_id"], sync_id.as_str(), "{e}");
        let f = &folders[e["folder"].as_str().unwrap()];
        assert_eq!(e["folder_name"], f["display_name"], "{e}");
        assert_eq!(e["well_known"], f["well_known"], "{e}");
        assert!(e["done"].as_u64().unwrap() > 0);
    }
    assert!(
        pages.iter().any(|e| e["well_known"] == "inbox"),
        "the inbox reports its role: {pages:?}"
    );
    let done: Vec<&Value> = progress
        .iter()
        .filter(|e| e["type"] == "sync_completed")
        .collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["sync_id"], sync_id.as_str());
}
