//! Sync benchmark (issue 5 item 7): initial sync of a large mailbox against o365-sim with a
//! fixed latency per request, through the C ABI, then warm `o365_list_folders` calls.
//!
//! The sim runs as its own process (so the peak memory measured here is the library's):
//!
//!   bench_sync --sim target/release/o365-sim [--messages 50000] [--folders 12] [--latency-ms 40]
//!
//! Prints a human summary and one JSON line (`BENCH {...}`).

use o365::ffi::*;
use serde_json::{json, Value};
use std::ffi::{c_char, CStr, CString};
use std::io::BufRead;
use std::time::{Duration, Instant};

const ANNA: &str = "anna.schmidt@contoso.example";
const PAGE: u64 = 1000;
const IN_FLIGHT: u64 = 4;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

fn take(out: *mut c_char) -> Value {
    if out.is_null() {
        return Value::Null;
    }
    let s = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_owned();
    unsafe { o365_string_free(out) };
    serde_json::from_str(&s).unwrap()
}

type Export =
    unsafe extern "C" fn(*mut o365_client, *const c_char, *mut *mut c_char) -> o365_status;

fn call(c: *mut o365_client, f: Export, req: Value) -> Value {
    let r = CString::new(req.to_string()).unwrap();
    let mut out = std::ptr::null_mut();
    let st = unsafe { f(c, r.as_ptr(), &mut out) };
    let v = take(out);
    assert_eq!(st, O365_OK, "{req} failed: {v}");
    v
}

/// Peak resident set of this process (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// CPU time (user + system) of this process so far, in milliseconds.
fn own_cpu_ms() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    ms(u.ru_utime) + ms(u.ru_stime)
}

/// CPU time (user + system) of another process so far, in milliseconds (/proc/PID/stat).
fn process_cpu_ms(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| f.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks * 1000.0 / hz
}

struct Admin {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
}

impl Admin {
    fn req(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.rt.block_on(async {
            let mut r = self
                .http
                .request(method, format!("{}/_sim{path}", self.base));
            if let Some(b) = body {
                r = r.json(&b);
            }
            let resp = r.send().await.expect("sim admin API");
            let status = resp.status();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "{path}: {status} {v}");
            v
        })
    }
}

fn main() {
    let sim_bin = arg("--sim", "target/release/o365-sim");
    let messages: u64 = arg("--messages", "50000").parse().unwrap();
    let folders: usize = arg("--folders", "12").parse().unwrap();
    let latency: u64 = arg("--latency-ms", "40").parse().unwrap();
    let calls: usize = arg("--list-calls", "5000").parse().unwrap();

    let mut sim = std::process::Command::new(&sim_bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--seed", "demo"])
        .args(["--latency-ms", &latency.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {sim_bin}: {e}"));
    let mut line = String::new();
    std::io::BufReader::new(sim.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: Value = serde_json::from_str(&line).expect("sim ready line");
    let url = ready["url"].as_str().unwrap().to_owned();
    let ca_file = ready["ca_file"].as_str().unwrap().to_owned();
    let ca_pem = std::fs::read_to_string(&ca_file).unwrap();
    let admin = Admin {
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        http: reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
            .build()
            .unwrap(),
        base: url.clone(),
    };

    // The mailbox: `folders` visible folders holding `messages` messages in all.
    let visible = |st: &Value| -> Vec<Value> {
        st["folders"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["isHidden"] != true && f["wellKnownName"] != "msgfolderroot")
            .cloned()
            .collect()
    };
    let mut state = admin.req(reqwest::Method::GET, &format!("/mailboxes/{ANNA}"), None);
    let mut i = 0;
    while visible(&state).len() < folders {
        i += 1;
        admin.req(
            reqwest::Method::POST,
            &format!("/mailboxes/{ANNA}/folders"),
            Some(json!({"displayName": format!("Projekt {i}")})),
        );
        state = admin.req(reqwest::Method::GET, &format!("/mailboxes/{ANNA}"), None);
    }
    let ids: Vec<String> = visible(&state)
        .iter()
        .take(folders)
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    let have = state["messageCount"].as_u64().unwrap();
    if messages > have {
        admin.req(
            reqwest::Method::POST,
            &format!("/mailboxes/{ANNA}/seed"),
            Some(json!({"count": messages - have, "folders": ids})),
        );
    }
    state = admin.req(reqwest::Method::GET, &format!("/mailboxes/{ANNA}"), None);
    let counts: Vec<u64> = visible(&state)
        .iter()
        .map(|f| f["totalItemCount"].as_u64().unwrap_or(0))
        .collect();
    let total: u64 = counts.iter().sum();
    let pages: u64 = counts.iter().map(|n| n.div_ceil(PAGE).max(1)).sum();
    let longest: u64 = counts
        .iter()
        .map(|n| n.div_ceil(PAGE).max(1))
        .max()
        .unwrap_or(1);
    // One folder-tree request, then every page with at most four in flight (and no folder's
    // chain of pages can go faster than one page per round trip).
    let rounds = 1 + pages.div_ceil(IN_FLIGHT).max(longest);
    let lower_bound_ms = rounds * latency;

    // The library, through the C ABI.
    let dir = tempfile::tempdir().unwrap();
    let cfg = json!({
        "store": dir.path().join("bench.db").to_str().unwrap(),
        "encryption_key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "app": {"client_id": "11111111-2222-3333-4444-555555555555",
                "redirect_uri": "http://localhost:8080/o365/callback"},
        "endpoints": {"login": url, "graph": format!("{url}/v1.0")},
        "ca_file": ca_file,
        "sync": {"scheduler": false},
        "timeouts": {"call_ms": 600000},
    });
    let mut cfg = cfg;
    if let Ok(log) = std::env::var("O365_BENCH_LOG") {
        cfg["log"] = json!({"level": "debug", "file": log});
    }
    let c_cfg = CString::new(cfg.to_string()).unwrap();
    let mut client: *mut o365_client = std::ptr::null_mut();
    let mut out = std::ptr::null_mut();
    let st = unsafe { o365_client_new(c_cfg.as_ptr(), &mut client, &mut out) };
    let v = take(out);
    assert_eq!(st, O365_OK, "{v}");
    let mbx = call(
        client,
        o365_import_mailbox,
        json!({"address": ANNA, "users": ["u1"]}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let start = call(
        client,
        o365_authenticate,
        json!({"mailbox": mbx, "user": "u1"}),
    );
    let redirect = o365_sim::browser::sign_in_with_ca(
        Some(&ca_pem),
        start["authorize_url"].as_str().unwrap(),
        ANNA,
        "Passw0rd!",
        o365_sim::Consent::Accept,
    )
    .expect("sign-in");
    call(client, o365_authenticate, json!({"callback_url": redirect}));

    admin.req(reqwest::Method::POST, "/counters/reset", None);
    let rss_before = peak_rss_mib();
    let (cpu0, sim_cpu0) = (own_cpu_ms(), process_cpu_ms(sim.id()));
    let t0 = Instant::now();
    let report = call(client, o365_sync, json!({"mailbox": mbx, "user": "u1"}));
    let wall = t0.elapsed();
    let (lib_cpu_ms, sim_cpu_ms) = (own_cpu_ms() - cpu0, process_cpu_ms(sim.id()) - sim_cpu0);
    let counters = admin.req(reqwest::Method::GET, "/counters", None);
    assert_eq!(report["status"], "ok", "{report}");
    let stored = report["upserted"].as_u64().unwrap();

    // Warm o365_list_folders through the C ABI.
    let req = CString::new(json!({"mailbox": mbx, "user": "u1"}).to_string()).unwrap();
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls + 100 {
        let mut out = std::ptr::null_mut();
        let t = Instant::now();
        let st = unsafe { o365_list_folders(client, req.as_ptr(), &mut out) };
        let d = t.elapsed();
        unsafe { o365_string_free(out) };
        assert_eq!(st, O365_OK);
        times.push(d);
    }
    let mut warm: Vec<Duration> = times.split_off(100);
    warm.sort();
    let median_us = warm[warm.len() / 2].as_secs_f64() * 1e6;
    let p99_us = warm[warm.len() * 99 / 100].as_secs_f64() * 1e6;
    // The same initial sync without any latency: what the sim (building pages) and the
    // library (parsing and storing them) cost on this machine; no schedule can beat it.
    admin.req(reqwest::Method::PUT, "/latency", Some(json!({"ms": 0})));
    call(
        client,
        o365_cache_clear,
        json!({"mailbox": mbx, "user": "u1"}),
    );
    let t1 = Instant::now();
    let again = call(client, o365_sync, json!({"mailbox": mbx, "user": "u1"}));
    let floor_ms = t1.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(again["upserted"].as_u64(), Some(stored));
    unsafe { o365_client_free(client) };
    let _ = sim.kill();
    let _ = sim.wait();

    let wall_ms = wall.as_secs_f64() * 1000.0;
    let result = json!({
        "messages": total,
        "stored": stored,
        "folders": counts.len(),
        "latency_ms": latency,
        "wall_ms": wall_ms.round(),
        "lower_bound_ms": lower_bound_ms,
        "ratio": (wall_ms / lower_bound_ms as f64 * 100.0).round() / 100.0,
        "pages_min": pages,
        "requests": counters["requests"],
        "throttled_429": counters["throttled429"],
        "max_in_flight": counters["maxConcurrencyPerMailbox"],
        "peak_rss_mib": (peak_rss_mib() * 10.0).round() / 10.0,
        "peak_rss_before_sync_mib": (rss_before * 10.0).round() / 10.0,
        "zero_latency_ms": floor_ms.round(),
        "library_cpu_ms": lib_cpu_ms.round(),
        "sim_cpu_ms": sim_cpu_ms.round(),
        "list_folders_median_us": (median_us * 10.0).round() / 10.0,
        "list_folders_p99_us": (p99_us * 10.0).round() / 10.0,
    });
    println!(
        "initial sync: {total} messages in {} folders, {latency} ms latency per request",
        counts.len()
    );
    println!(
        "  wall time      {:.0} ms   (lower bound {lower_bound_ms} ms = {rounds} round trips: 1 folder tree + {pages} pages of <= {PAGE}, <= {IN_FLIGHT} in flight; ratio {:.2})",
        wall_ms,
        wall_ms / lower_bound_ms as f64
    );
    println!(
        "  requests       {}   429s {}   max in flight {}",
        counters["requests"], counters["throttled429"], counters["maxConcurrencyPerMailbox"]
    );
    println!(
        "  same sync with 0 ms latency: {floor_ms:.0} ms (sim page building + parsing and storing: the floor on this machine)"
    );
    println!(
        "  CPU during the sync: library {lib_cpu_ms:.0} ms, sim {sim_cpu_ms:.0} ms ({} cores shared by both)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("  peak RSS       {:.1} MiB", peak_rss_mib());
    println!(
        "warm o365_list_folders: median {median_us:.1} us, p99 {p99_us:.1} us ({calls} calls)"
    );
    println!("BENCH {result}");
}
