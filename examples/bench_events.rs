//! Event queue benchmark (issue 11) on a shared PostgreSQL store, through the C ABI: one
//! producer process ("host A") publishes N events (`o365_debug_emit_event`, default 10,000)
//! while C consumer processes (default 4) on two other "hosts" (B and C, each process with its
//! own client and temporary directory, sharing nothing but the store URL) take them with
//! `o365_next_event` and ack them. Checks that every event was delivered exactly once, and
//! prints the throughput (events from the first publish to the last delivery) and the
//! latency from the publish call's return (the event is committed by then) to its delivery,
//! and from the call's start (an upper bound of commit to delivery).
//!
//!   bench_events [--pg-url URL] [--events 10000] [--consumers 4]
//!
//! The URL defaults to `O365_TEST_PG_URL` (scripts/pg_cluster.sh run); each run uses a fresh
//! schema. Prints a human summary and one JSON line (`BENCH {...}`). `BENCH_POLL_MS=3600000`
//! sets every client's `events.poll_ms` (default 200): with the poll out of the way, the
//! latencies show what LISTEN/NOTIFY alone delivers.

#[path = "bench_common/mod.rs"]
mod common;

use common::{arg, open_client, take_text};
use o365::ffi::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::ffi::CString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const EVENT_TYPE: &str = "bench_tick";
/// How a consumer waiting in `o365_next_event` learns of an event another process stored.
const WAKEUP: &str = "LISTEN/NOTIFY (an event committed on any host wakes waiting consumers; events.poll_ms 200 ms only as the fallback)";

/// Wall clock in ns since the epoch: comparable between processes on one machine.
fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128
}

fn client_on(url: &str, host: &str) -> *mut o365_client {
    open_client(&json!({
        "store": url,
        "host_id": host,
        "encryption_key": KEY,
        "events": {"poll_ms": poll_ms()},
        "sync": {"scheduler": false},
        "debug": {"test_hooks": true},
    }))
}

/// `events.poll_ms` of every client: `BENCH_POLL_MS`, else the library's default.
fn poll_ms() -> u64 {
    std::env::var("BENCH_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn main() {
    match arg("--role", "main").as_str() {
        "producer" => producer(),
        "consumer" => consumer(),
        _ => run(),
    }
}

/// Host A: publishes the events one after the other; writes `id start_ns return_ns` lines.
fn producer() {
    let client = client_on(&arg("--url", ""), &arg("--host", "bench"));
    let n: usize = arg("--events", "10000").parse().unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(arg("--out", "")).unwrap());
    for i in 0..n {
        let id = format!("bench-{i:06}");
        let req =
            CString::new(json!({"type": EVENT_TYPE, "id": id, "payload": {"seq": i}}).to_string())
                .unwrap();
        let mut res = std::ptr::null_mut();
        let t0 = now_ns();
        let st = unsafe { o365_debug_emit_event(client, req.as_ptr(), &mut res) };
        let t1 = now_ns();
        let v = take_text(res);
        assert_eq!(st, O365_OK, "emit: {v}");
        writeln!(out, "{id} {t0} {t1}").unwrap();
    }
    out.flush().unwrap();
    unsafe { o365_client_free(client) };
}

/// Hosts B and C: takes events until none comes and the producer is done; writes
/// `id delivered_ns redelivered` lines.
fn consumer() {
    let client = client_on(&arg("--url", ""), &arg("--host", "bench"));
    let done = PathBuf::from(arg("--done", ""));
    let mut out = std::io::BufWriter::new(std::fs::File::create(arg("--out", "")).unwrap());
    println!("ready");
    std::io::stdout().flush().unwrap();
    loop {
        let mut res = std::ptr::null_mut();
        let st = unsafe { o365_next_event(client, 500, &mut res) };
        let t = now_ns();
        let text = take_text(res);
        if st == O365_TIMEOUT {
            if done.exists() {
                break;
            }
            continue;
        }
        assert_eq!(st, O365_OK, "next_event: {text}");
        let ev: Value = serde_json::from_str(&text).unwrap();
        let id = ev["id"].as_str().unwrap().to_owned();
        writeln!(out, "{id} {t} {}", ev["redelivered"] == true).unwrap();
        let c_id = CString::new(id).unwrap();
        let mut res = std::ptr::null_mut();
        let st = unsafe { o365_ack_event(client, c_id.as_ptr(), &mut res) };
        let text = take_text(res);
        assert_eq!(st, O365_OK, "ack: {text}");
    }
    out.flush().unwrap();
    unsafe { o365_client_free(client) };
}

fn spawn(role: &str, host: &str, name: &str, url: &str, dir: &Path, extra: &[&str]) -> Child {
    let home = dir.join(name);
    std::fs::create_dir_all(&home).unwrap();
    Command::new(std::env::current_exe().unwrap())
        .args(["--role", role, "--url", url, "--host", host])
        .args(extra)
        .current_dir(&home)
        .env("TMPDIR", &home)
        .env("HOME", &home)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn percentile(sorted: &[f64], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn run() {
    let base = arg(
        "--pg-url",
        &std::env::var("O365_TEST_PG_URL").unwrap_or_default(),
    );
    assert!(
        !base.is_empty(),
        "needs --pg-url or O365_TEST_PG_URL (scripts/pg_cluster.sh run ...)"
    );
    let n: usize = arg("--events", "10000").parse().unwrap();
    let consumers: usize = arg("--consumers", "4").parse().unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}schema=bench_events_{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let done = dir.path().join("producer.done");

    // The schema is migrated once here, so no host pays for it inside the measurement.
    unsafe { o365_client_free(client_on(&url, "bench-main")) };

    let mut kids = Vec::new();
    for i in 0..consumers {
        let host = if i % 2 == 0 { "hostB" } else { "hostC" };
        let out = dir.path().join(format!("consumer{i}.txt"));
        let mut child = spawn(
            "consumer",
            host,
            &format!("{host}-{i}"),
            &url,
            dir.path(),
            &[
                "--out",
                out.to_str().unwrap(),
                "--done",
                done.to_str().unwrap(),
            ],
        );
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "consumer {i} did not start");
        kids.push((out, child));
    }
    let produced = dir.path().join("producer.txt");
    let t = Instant::now();
    let status = spawn(
        "producer",
        "hostA",
        "hostA",
        &url,
        dir.path(),
        &[
            "--out",
            produced.to_str().unwrap(),
            "--events",
            &n.to_string(),
        ],
    )
    .wait()
    .unwrap();
    assert!(status.success(), "producer failed");
    let publish_s = t.elapsed().as_secs_f64();
    std::fs::write(&done, b"").unwrap();
    for (_, child) in &mut kids {
        assert!(child.wait().unwrap().success(), "a consumer failed");
    }

    let mut published: HashMap<String, (i128, i128)> = HashMap::new();
    for line in std::fs::read_to_string(&produced).unwrap().lines() {
        let f: Vec<&str> = line.split(' ').collect();
        published.insert(
            f[0].to_owned(),
            (f[1].parse().unwrap(), f[2].parse().unwrap()),
        );
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut per_consumer = Vec::new();
    let (mut from_return, mut from_start) = (Vec::new(), Vec::new());
    let mut last_delivery = i128::MIN;
    let mut redelivered = 0;
    for (out, _) in &kids {
        let text = std::fs::read_to_string(out).unwrap();
        per_consumer.push(text.lines().count());
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let at: i128 = f[1].parse().unwrap();
            *seen.entry(f[0].to_owned()).or_default() += 1;
            redelivered += usize::from(f[2] == "true");
            last_delivery = last_delivery.max(at);
            if let Some((t0, t1)) = published.get(f[0]) {
                from_return.push((at - t1) as f64 / 1e6);
                from_start.push((at - t0) as f64 / 1e6);
            }
        }
    }
    let missing = published
        .keys()
        .filter(|id| !seen.contains_key(*id))
        .count();
    let doubled = seen.values().filter(|&&k| k > 1).count();
    let foreign = seen
        .keys()
        .filter(|id| !published.contains_key(*id))
        .count();
    // Nothing left in the queue for anyone.
    let check = client_on(&url, "bench-main");
    let mut res = std::ptr::null_mut();
    let left = unsafe { o365_next_event(check, 0, &mut res) };
    take_text(res);
    unsafe { o365_client_free(check) };
    let exactly_once = published.len() == n
        && missing == 0
        && doubled == 0
        && foreign == 0
        && left == O365_TIMEOUT;

    let first_publish = published.values().map(|p| p.0).min().unwrap();
    let span_s = (last_delivery - first_publish) as f64 / 1e9;
    let throughput = n as f64 / span_s;
    from_return.sort_by(f64::total_cmp);
    from_start.sort_by(f64::total_cmp);
    let ms = |v: f64| (v * 100.0).round() / 100.0;
    let mode = WAKEUP;
    println!(
        "event queue on PostgreSQL: {n} events published by 1 process (host A) in {publish_s:.2} s, \
         taken by {consumers} consumer processes on hosts B and C ({per_consumer:?}); consumers \
         wake by {mode}"
    );
    println!(
        "  exactly once: {} (missing {missing}, delivered twice {doubled}, unknown {foreign}, \
         redelivered {redelivered}, queue empty after: {})",
        if exactly_once { "yes" } else { "NO" },
        left == O365_TIMEOUT
    );
    println!(
        "  throughput {throughput:.0} events/s (first publish to last delivery, {span_s:.2} s); \
         latency from publish return to delivery: median {} ms, p99 {} ms, max {} ms; \
         from publish call start: median {} ms, p99 {} ms",
        ms(percentile(&from_return, 50)),
        ms(percentile(&from_return, 99)),
        ms(*from_return.last().unwrap()),
        ms(percentile(&from_start, 50)),
        ms(percentile(&from_start, 99)),
    );
    println!(
        "BENCH {}",
        json!({
            "part": "event_queue",
            "store": "postgres",
            "events": n,
            "consumers": consumers,
            "per_consumer": per_consumer,
            "wakeup": mode,
            "exactly_once": exactly_once,
            "missing": missing,
            "delivered_twice": doubled,
            "redelivered": redelivered,
            "publish_s": ms(publish_s),
            "events_per_s": throughput.round(),
            "latency_from_return_ms": {"median": ms(percentile(&from_return, 50)),
                "p99": ms(percentile(&from_return, 99)), "max": ms(*from_return.last().unwrap())},
            "latency_from_call_ms": {"median": ms(percentile(&from_start, 50)),
                "p99": ms(percentile(&from_start, 99))},
        })
    );
    assert!(exactly_once, "events were lost or delivered twice");
}
