//! Sync benchmark (issues 5 and 13) against o365-sim with a fixed latency per request,
//! through the C ABI (the sim runs as its own process, so CPU and memory are measured apart):
//!
//! 1. initial sync of an uneven and an even 12-folder mailbox at each size (50,000 and
//!    200,000 messages by default): wall time next to T_lb, the time Graph's own rules allow
//!    (pages of 1,000, at most 4 requests in flight per mailbox, a folder's pages one after
//!    the other: max(ceil(pages / 4), longest folder's pages) round trips), CPU per 1,000
//!    messages (library and sim apart, sim CPU per page), peak RSS, requests and 429s;
//! 2. warm `o365_list_folders` through the C ABI and from PHP next to PHP's `json_decode`;
//! 3. one scheduler round over many idle mailboxes: requests, wall time, library CPU.
//!
//! With `--stores sqlite,postgres` (issue 11; the PostgreSQL URL from `--pg-url` or
//! `O365_TEST_PG_URL`, each run in a fresh schema) every initial sync runs into each store
//! back to back, the PostgreSQL wall time is printed as a ratio to SQLite's, and warm
//! `o365_list_folders` is measured on each store.
//!
//!   bench_sync --sim target/release/o365-sim [--sizes 50000,200000] [--latency-ms 40]
//!              [--layouts uneven,even] [--stores sqlite,postgres] [--pg-url URL]
//!              [--idle-mailboxes 1000] [--php php] [--lib target/release/libo365.so]
//!
//! Prints a human summary and one JSON line per part (`BENCH {...}`).

#[path = "bench_common/mod.rs"]
mod common;

use common::{arg, open_client, take_text};
use o365::ffi::*;
use serde_json::{json, Value};
use std::ffi::{c_char, CString};
use std::io::BufRead;
use std::time::{Duration, Instant};

const PAGE: u64 = 1000;
const IN_FLIGHT: u64 = 4;

fn take(out: *mut c_char) -> Value {
    let s = take_text(out);
    if s.is_empty() {
        return Value::Null;
    }
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

/// Uneven layout of the issue, per 50,000 messages (scaled for other sizes).
const UNEVEN: [u64; 12] = [
    20_000, 8_000, 6_000, 4_000, 3_500, 3_000, 2_000, 1_500, 700, 500, 500, 300,
];
const BENCH_USER: &str = "bench@contoso.example";
const PASSWORD: &str = "Passw0rd!";
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

struct Sim {
    child: std::process::Child,
    url: String,
    ca_file: String,
    ca_pem: String,
    admin: Admin,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim(bin: &str, latency: u64) -> Sim {
    let mut child = std::process::Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--seed", "demo"])
        .args(["--latency-ms", &latency.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
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
    Sim {
        child,
        url,
        ca_file,
        ca_pem,
        admin,
    }
}

fn lib_config(sim: &Sim, store: &str) -> Value {
    let mut cfg = json!({
        "store": store,
        "encryption_key": KEY,
        "app": {"client_id": "11111111-2222-3333-4444-555555555555",
                "redirect_uri": "http://localhost:8080/o365/callback"},
        "endpoints": {"login": sim.url, "graph": format!("{}/v1.0", sim.url)},
        "ca_file": sim.ca_file,
        "sync": {"scheduler": false},
        "timeouts": {"call_ms": 1_800_000},
    });
    if let Ok(log) = std::env::var("O365_BENCH_LOG") {
        cfg["log"] = json!({"level": "debug", "file": log});
    }
    cfg
}

/// Creates `address` in the sim, imports it for user u1 and signs it in; returns its id.
fn signed_in_mailbox(sim: &Sim, client: *mut o365_client, address: &str) -> String {
    sim.admin.req(
        reqwest::Method::POST,
        "/users",
        Some(json!({"userPrincipalName": address, "password": PASSWORD})),
    );
    let mbx = call(
        client,
        o365_import_mailbox,
        json!({"address": address, "users": ["u1"]}),
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
        Some(&sim.ca_pem),
        start["authorize_url"].as_str().unwrap(),
        address,
        PASSWORD,
        o365_sim::Consent::Accept,
    )
    .expect("sign-in");
    call(client, o365_authenticate, json!({"callback_url": redirect}));
    mbx
}

fn visible(state: &Value) -> Vec<Value> {
    state["folders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["isHidden"] != true && f["wellKnownName"] != "msgfolderroot")
        .cloned()
        .collect()
}

/// Folder ids in layout order: inbox, Sent Items, Archive, Deleted Items, then the others.
fn twelve_folders(sim: &Sim, address: &str) -> Vec<String> {
    let path = format!("/mailboxes/{address}");
    let mut state = sim.admin.req(reqwest::Method::GET, &path, None);
    let mut i = 0;
    while visible(&state).len() < 12 {
        i += 1;
        sim.admin.req(
            reqwest::Method::POST,
            &format!("{path}/folders"),
            Some(json!({"displayName": format!("Projekt {i}")})),
        );
        state = sim.admin.req(reqwest::Method::GET, &path, None);
    }
    let mut folders = visible(&state);
    let rank = |f: &Value| match f["wellKnownName"].as_str() {
        Some("inbox") => 0,
        Some("sentitems") => 1,
        Some("archive") => 2,
        Some("deleteditems") => 3,
        _ => 4,
    };
    folders.sort_by_key(rank);
    folders
        .iter()
        .take(12)
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

struct Args {
    sim_bin: String,
    latency: u64,
    calls: usize,
    sizes: Vec<u64>,
    idle_mailboxes: usize,
    php: String,
    lib: String,
    layouts: Vec<String>,
    stores: Vec<String>,
    pg_url: String,
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn main() {
    let args = Args {
        sim_bin: arg("--sim", "target/release/o365-sim"),
        latency: arg("--latency-ms", "40").parse().unwrap(),
        calls: arg("--list-calls", "5000").parse().unwrap(),
        sizes: arg("--sizes", "50000,200000")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.trim().parse().unwrap())
            .collect(),
        idle_mailboxes: arg("--idle-mailboxes", "1000").parse().unwrap(),
        php: arg("--php", "php"),
        lib: arg("--lib", "target/release/libo365.so"),
        layouts: list(&arg("--layouts", "uneven,even")),
        stores: list(&arg("--stores", "sqlite")),
        pg_url: arg(
            "--pg-url",
            &std::env::var("O365_TEST_PG_URL").unwrap_or_default(),
        ),
    };
    if args.stores.iter().any(|s| s == "postgres") && args.pg_url.is_empty() {
        panic!("--stores postgres needs --pg-url or O365_TEST_PG_URL (scripts/pg_cluster.sh run)");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{cores} cores, shared by the library and o365-sim; {} ms latency per request",
        args.latency
    );
    let mut first = true;
    for &size in &args.sizes {
        for layout in &args.layouts {
            let mut walls: Vec<(String, f64)> = Vec::new();
            for store in &args.stores {
                let wall = initial_sync(&args, size, layout, store, first);
                walls.push((store.clone(), wall));
            }
            first = false;
            if let [(a, wa), (b, wb)] = &walls[..] {
                println!(
                    "{layout} {size}: {b} / {a} wall time {:.2} ({wb:.0} ms / {wa:.0} ms)",
                    wb / wa
                );
                println!(
                    "BENCH {}",
                    json!({"part": "store_ratio", "layout": layout, "messages": size,
                           "stores": [a, b], "wall_ms": [wa.round(), wb.round()],
                           "ratio": (wb / wa * 100.0).round() / 100.0})
                );
            }
        }
    }
    if args.idle_mailboxes > 0 {
        idle_round(&args);
    }
}

/// Where one run's store lives: a file in `dir`, or a fresh schema on the PostgreSQL server.
fn store_url(args: &Args, store: &str, dir: &std::path::Path, run: &str) -> String {
    match store {
        "sqlite" => dir.join(format!("{run}.db")).to_str().unwrap().to_owned(),
        "postgres" => {
            let sep = if args.pg_url.contains('?') { '&' } else { '?' };
            let schema = format!("bench_{run}_{}", std::process::id());
            format!("{}{sep}schema={schema}", args.pg_url)
        }
        other => panic!("unknown store '{other}' (sqlite, postgres)"),
    }
}

/// One initial sync of a fresh 12-folder mailbox into `store`; the first size and layout
/// also measures warm lists. Returns the sync's wall time in ms.
fn initial_sync(args: &Args, size: u64, layout: &str, store: &str, warm_lists: bool) -> f64 {
    let sim = start_sim(&args.sim_bin, args.latency);
    let dir = tempfile::tempdir().unwrap();
    let run = format!("{layout}_{size}");
    let cfg = lib_config(&sim, &store_url(args, store, dir.path(), &run));
    let client = open_client(&cfg);
    let mbx = signed_in_mailbox(&sim, client, BENCH_USER);
    let ids = twelve_folders(&sim, BENCH_USER);
    let counts: Vec<u64> = match layout {
        "uneven" => UNEVEN.iter().map(|n| n * size / 50_000).collect(),
        _ => (0..12)
            .map(|i| size / 12 + u64::from(i < size % 12))
            .collect(),
    };
    for (id, n) in ids.iter().zip(&counts) {
        sim.admin.req(
            reqwest::Method::POST,
            &format!("/mailboxes/{BENCH_USER}/seed"),
            Some(json!({"count": n, "folders": [id]})),
        );
    }
    let total: u64 = counts.iter().sum();
    let pages: u64 = counts.iter().map(|n| n.div_ceil(PAGE).max(1)).sum();
    let longest: u64 = counts
        .iter()
        .map(|n| n.div_ceil(PAGE).max(1))
        .max()
        .unwrap();
    let rounds = pages.div_ceil(IN_FLIGHT).max(longest);
    let t_lb = rounds * args.latency;

    sim.admin
        .req(reqwest::Method::POST, "/counters/reset", None);
    let (cpu0, sim_cpu0) = (own_cpu_ms(), process_cpu_ms(sim.child.id()));
    let t0 = Instant::now();
    let report = call(client, o365_sync, json!({"mailbox": mbx, "user": "u1"}));
    let wall_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let (lib_cpu, sim_cpu) = (
        own_cpu_ms() - cpu0,
        process_cpu_ms(sim.child.id()) - sim_cpu0,
    );
    let counters = sim.admin.req(reqwest::Method::GET, "/counters", None);
    assert_eq!(report["status"], "ok", "{report}");
    let stored = report["upserted"].as_u64().unwrap();
    assert_eq!(stored, total, "every message stored once");
    let requests = counters["requests"].as_u64().unwrap_or(0).max(1);
    let per_k = |ms: f64| (ms / (total as f64 / 1000.0) * 10.0).round() / 10.0;
    let mut result = json!({
        "part": "initial_sync",
        "store": store,
        "layout": layout,
        "messages": total,
        "folder_counts": counts,
        "latency_ms": args.latency,
        "wall_ms": wall_ms.round(),
        "t_lb_ms": t_lb,
        "t_lb_round_trips": rounds,
        "ratio": (wall_ms / t_lb as f64 * 100.0).round() / 100.0,
        "pages_min": pages,
        "requests": counters["requests"],
        "throttled_429": counters["throttled429"],
        "max_in_flight": counters["maxConcurrencyPerMailbox"],
        "peak_rss_mib": (peak_rss_mib() * 10.0).round() / 10.0,
        "library_cpu_ms": lib_cpu.round(),
        "sim_cpu_ms": sim_cpu.round(),
        "library_cpu_ms_per_1000": per_k(lib_cpu),
        "sim_cpu_ms_per_1000": per_k(sim_cpu),
        "sim_cpu_ms_per_request": (sim_cpu / requests as f64 * 100.0).round() / 100.0,
        "cpu_bound_ms": ((lib_cpu + sim_cpu) / cores() as f64).round(),
    });
    println!(
        "initial sync into {store}, {layout} {total} messages in 12 folders {counts:?}:\n  \
         wall {wall_ms:.0} ms, T_lb {t_lb} ms ({rounds} round trips), ratio {:.2}; \
         {} requests, {} x 429, max {} in flight\n  \
         CPU: library {lib_cpu:.0} ms ({} ms per 1,000 messages), sim {sim_cpu:.0} ms ({} ms per 1,000, {} ms per request); \
         both CPUs over {} cores alone need {} ms; peak RSS {:.1} MiB (the bench process, all runs so far)",
        wall_ms / t_lb as f64,
        counters["requests"],
        counters["throttled429"],
        counters["maxConcurrencyPerMailbox"],
        result["library_cpu_ms_per_1000"],
        result["sim_cpu_ms_per_1000"],
        result["sim_cpu_ms_per_request"],
        cores(),
        result["cpu_bound_ms"],
        peak_rss_mib()
    );
    if warm_lists {
        let (c, php) = warm_list_folders(args, client, &cfg, &mbx, store);
        result["warm_list_folders_c"] = c;
        result["warm_list_folders_php"] = php;
    }
    unsafe { o365_client_free(client) };
    println!("BENCH {result}");
    wall_ms
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Warm `o365_list_folders` through the C ABI, then from PHP (a second process on the store;
/// SQLite only).
fn warm_list_folders(
    args: &Args,
    client: *mut o365_client,
    cfg: &Value,
    mbx: &str,
    store: &str,
) -> (Value, Value) {
    let req =
        CString::new(json!({"mailbox": mbx, "user": "u1", "max_age_ms": 3_600_000}).to_string())
            .unwrap();
    let mut times = Vec::with_capacity(args.calls);
    for _ in 0..args.calls + 100 {
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
    let us = |d: Duration| (d.as_secs_f64() * 1e7).round() / 10.0;
    let c = json!({"median_us": us(warm[warm.len() / 2]), "p99_us": us(warm[warm.len() * 99 / 100]), "calls": args.calls});
    println!(
        "warm o365_list_folders through the C ABI on {store}: median {} us, p99 {} us ({} calls)",
        c["median_us"], c["p99_us"], args.calls
    );
    if store != "sqlite" {
        return (c, Value::Null);
    }
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_list_folders.php");
    let lib = std::fs::canonicalize(&args.lib).unwrap_or_else(|_| args.lib.clone().into());
    let out = std::process::Command::new(&args.php)
        .arg("-d")
        .arg("ffi.enable=1")
        .arg(&script)
        .arg(&lib)
        .arg(cfg.to_string())
        .arg(mbx)
        .arg(args.calls.to_string())
        .output();
    let php = match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            serde_json::from_str::<Value>(text.trim()).unwrap_or(json!({"error": text}))
        }
        Ok(o) => json!({"error": String::from_utf8_lossy(&o.stderr)}),
        Err(e) => json!({"error": format!("cannot run {}: {e}", args.php)}),
    };
    if php.get("error").is_none() {
        println!(
            "warm list_folders from PHP: listFolders() median {} us (p99 {}), callJson() {} us, \
             json_decode of the same {} bytes {} us: ratio {} (raw {})",
            php["list_folders"]["median_us"],
            php["list_folders"]["p99_us"],
            php["list_folders_raw"]["median_us"],
            php["bytes"],
            php["json_decode"]["median_us"],
            php["ratio"],
            php["ratio_raw"]
        );
    } else {
        println!("warm list_folders from PHP: not measured: {}", php["error"]);
    }
    (c, php)
}

/// Many signed-in, already synced, idle mailboxes: one scheduler round, all at once.
/// With `BENCH_PERF_CTL=FIFO` (`perf record --control=fifo:FIFO -D -1 ...`), the profile
/// covers only the measured part.
fn perf_control(cmd: &str) {
    if let Some(path) = std::env::var_os("BENCH_PERF_CTL") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(path) {
            let _ = writeln!(f, "{cmd}");
        }
    }
}

fn idle_round(args: &Args) {
    let n = args.idle_mailboxes;
    let sim = start_sim(&args.sim_bin, 0);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = lib_config(&sim, dir.path().join("idle.db").to_str().unwrap());
    cfg["runtime"] = json!({"worker_threads": 2});
    let client = open_client(&cfg);
    let t = Instant::now();
    for i in 0..n {
        signed_in_mailbox(&sim, client, &format!("idle{i}@contoso.example"));
    }
    let setup_s = t.elapsed().as_secs_f64();
    unsafe { o365_client_free(client) };
    // The scheduler's round, driven directly (a client with the scheduler off).
    let lib = o365::Client::from_json(&cfg.to_string()).expect("client");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let t = Instant::now();
    rt.block_on(lib.scheduler_round(Duration::ZERO));
    let first_s = t.elapsed().as_secs_f64();
    sim.admin.req(
        reqwest::Method::PUT,
        "/latency",
        Some(json!({"ms": args.latency})),
    );
    sim.admin
        .req(reqwest::Method::POST, "/counters/reset", None);
    // The measured round is the next interval's: the first round's per-mailbox round leases
    // (held for 0.9 of `sync.interval_ms`, default 300 s) have expired for a clock one
    // interval on.
    drop(lib);
    let mut next = cfg.clone();
    next["debug"] = json!({"clock_offset_ms": 300_000});
    let lib = o365::Client::from_json(&next.to_string()).expect("client");
    let cpu0 = own_cpu_ms();
    let t = Instant::now();
    perf_control("enable");
    rt.block_on(lib.scheduler_round(Duration::ZERO));
    perf_control("disable");
    let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
    let lib_cpu = own_cpu_ms() - cpu0;
    let counters = sim.admin.req(reqwest::Method::GET, "/counters", None);
    let http = counters["httpRequests"].as_u64().unwrap_or(0);
    let result = json!({
        "part": "idle_round",
        "mailboxes": n,
        "latency_ms": args.latency,
        "http_requests": http,
        "http_requests_per_mailbox": (http as f64 / n.max(1) as f64 * 100.0).round() / 100.0,
        "graph_requests_incl_batch_items": counters["requests"],
        "throttled_429": counters["throttled429"],
        "wall_ms": wall_ms.round(),
        "library_cpu_ms": lib_cpu.round(),
        "parallel_mailboxes": o365::sync::scheduler::PARALLEL_MAILBOXES,
        "setup_s": (setup_s * 10.0).round() / 10.0,
        "first_round_s": (first_s * 10.0).round() / 10.0,
    });
    println!(
        "idle round over {n} synced mailboxes ({} ms latency, {} at once): {http} HTTP requests \
         ({} per mailbox; {} Graph requests counting $batch items), {} x 429, wall {wall_ms:.0} ms, \
         library CPU {lib_cpu:.0} ms; the scheduler spreads such a round over sync.interval_ms",
        args.latency,
        o365::sync::scheduler::PARALLEL_MAILBOXES,
        result["http_requests_per_mailbox"],
        counters["requests"],
        counters["throttled429"],
    );
    println!("BENCH {result}");
}
