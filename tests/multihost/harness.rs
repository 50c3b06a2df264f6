//! The parent side: one o365-sim ("Microsoft"), one PostgreSQL schema of its own on the test
//! server, and host processes (this test binary run again, see `host.rs`) that share nothing
//! but the PostgreSQL URL: each has its own temporary directory (its working directory, with
//! its own copy of the sim's CA), its own `host_id` and its own client.

use crate::common::{APP_ID, PASSWORD, REDIRECT};
use crate::host::{ANSWER, CONFIG_VAR};
use o365_sim::{RunningSim, SimOptions};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// The PostgreSQL server of the tests (`scripts/pg_cluster.sh run`, `make test`).
pub const PG_URL_VAR: &str = "O365_TEST_PG_URL";
/// `1`: skip the PostgreSQL tests on purpose (each says so on stderr).
pub const PG_SKIP_VAR: &str = "O365_TEST_PG_SKIP";
pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const LINK_BASE: &str = "https://crm.example/o365/link?t={token}";
/// A safety limit for one answer of a host: only reached when something hangs. Never a
/// measure of speed (a busy 2-core machine may be slow, but not this slow).
pub const ANSWER_LIMIT: Duration = Duration::from_secs(600);

/// The test server's URL; `None` when skipped on purpose (`O365_TEST_PG_SKIP=1`), which is
/// printed; else a missing URL fails the test with how to get one.
pub fn pg_url() -> Option<String> {
    match std::env::var(PG_URL_VAR) {
        Ok(url) => Some(url),
        Err(_) if std::env::var(PG_SKIP_VAR).as_deref() == Ok("1") => {
            eprintln!("skipped: {PG_SKIP_VAR}=1 (the multi-host tests need PostgreSQL)");
            None
        }
        Err(_) => panic!(
            "{PG_URL_VAR} is not set: run `scripts/pg_cluster.sh run cargo test --test multihost` \
             (or start a server with `scripts/pg_cluster.sh start /tmp/o365-pg` and export \
             {PG_URL_VAR}=<the URL it prints>); `make test` does this. Set {PG_SKIP_VAR}=1 to \
             skip the PostgreSQL tests on purpose"
        ),
    }
}

/// The sim and the shared state of one scenario. Declare it before the hosts: they are
/// dropped (killed) first, then the schema.
pub struct Cluster {
    pub sim: RunningSim,
    /// The PostgreSQL URL every host gets (with this scenario's own `schema`).
    pub store: String,
    server: String,
    pub schema: String,
}

impl Cluster {
    pub fn new(opts: SimOptions) -> Option<Cluster> {
        let server = pg_url()?;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let schema = format!(
            "mh_{}_{}_{:08x}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            rand::random::<u32>()
        );
        let sep = if server.contains('?') { '&' } else { '?' };
        let store = format!("{server}{sep}schema={schema}");
        let sim = RunningSim::start_blocking(opts).expect("o365-sim starts");
        Some(Cluster {
            sim,
            store,
            server,
            schema,
        })
    }

    /// A host's config: only the store URL is shared; `patch` is merged in (objects merged
    /// field by field).
    pub fn config(&self, name: &str, dir: &std::path::Path, patch: &Value) -> Value {
        let ca = dir.join("sim-ca.pem");
        std::fs::write(&ca, self.sim.ca_pem()).unwrap();
        let mut cfg = json!({
            "store": self.store,
            "encryption_key": KEY,
            "app": {"client_id": APP_ID, "redirect_uri": REDIRECT},
            "endpoints": {"login": self.sim.url(), "graph": self.sim.graph_url()},
            "ca_file": ca,
            "graph": {"retry_base_ms": 20, "retry_max_ms": 2000},
            "links": {"base_url": LINK_BASE},
            "sync": {"scheduler": false},
            "debug": {"test_hooks": true},
        });
        // Its own host name in lease owners: a dead holder is found through PostgreSQL
        // (presence), not by a pid check on a machine the hosts happen to share.
        cfg["host_id"] = json!(format!("host-{name}-{:08x}", rand::random::<u32>()));
        merge(&mut cfg, patch);
        cfg
    }

    /// Starts a host process named `name` (its config patched with `patch`).
    pub fn host(&self, name: &str, patch: Value) -> Host {
        let dir = tempfile::Builder::new()
            .prefix(&format!("o365-mh-{name}-"))
            .tempdir()
            .unwrap();
        let cfg = self.config(name, dir.path(), &patch);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "host_process",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .current_dir(dir.path())
            .env(CONFIG_VAR, cfg.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest may have begun the line ("test host_process ... ").
                if let Some(at) = line.find(ANSWER) {
                    if tx.send(line[at + ANSWER.len()..].to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        let mut host = Host {
            name: name.to_owned(),
            host_id: cfg["host_id"].as_str().unwrap().to_owned(),
            child,
            stdin: Some(stdin),
            rx,
            _dir: dir,
            alive: true,
        };
        let ready = host.recv();
        assert_eq!(ready["ready"], true, "host {name}: {ready}");
        host
    }

    /// An admin call to the sim (`/_sim{path}`).
    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.sim
            .admin(method, path, body)
            .unwrap_or_else(|e| panic!("sim {method} {path}: {e}"))
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.admin("GET", "/counters", None)[name].as_u64().unwrap()
    }

    /// A connection to this scenario's schema (read-only checks of the shared state).
    fn sql(&self) -> ::postgres::Client {
        let mut c = pg_client(&self.server);
        c.batch_execute(&format!("SET search_path TO {}", self.schema))
            .unwrap();
        c
    }

    pub fn sql_count(&self, query: &str) -> i64 {
        self.sql().query_one(query, &[]).unwrap().get::<_, i64>(0)
    }

    pub fn sql_strings(&self, query: &str) -> Vec<String> {
        let rows = self.sql().query(query, &[]).unwrap();
        rows.iter().map(|r| r.get::<_, String>(0)).collect()
    }
}

fn pg_client(url: &str) -> ::postgres::Client {
    ::postgres::Client::connect(
        &url.replacen("postgres://", "postgresql://", 1),
        ::postgres::NoTls,
    )
    .expect("the test server answers")
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let dropped = ::postgres::Client::connect(
            &self.server.replacen("postgres://", "postgresql://", 1),
            ::postgres::NoTls,
        )
        .and_then(|mut c| {
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
        });
        if let Err(e) = dropped {
            eprintln!("could not drop schema {}: {e}", self.schema);
        }
    }
}

fn merge(into: &mut Value, patch: &Value) {
    match (into, patch) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// A host process. Dropped: killed (SIGKILL) if still running.
pub struct Host {
    pub name: String,
    /// Its `host_id`.
    pub host_id: String,
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<String>,
    _dir: tempfile::TempDir,
    alive: bool,
}

impl Host {
    /// Sends a command without waiting for its answer (several hosts work at once).
    pub fn send(&mut self, cmd: Value) {
        let stdin = self.stdin.as_mut().expect("host is running");
        writeln!(stdin, "{cmd}")
            .and_then(|_| stdin.flush())
            .unwrap_or_else(|e| panic!("host {}: cannot write: {e}", self.name));
    }

    /// The next answer.
    pub fn recv(&mut self) -> Value {
        match self.rx.recv_timeout(ANSWER_LIMIT) {
            Ok(line) => serde_json::from_str(&line).unwrap(),
            Err(RecvTimeoutError::Timeout) => {
                panic!("host {}: no answer within the safety limit", self.name)
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().ok();
                self.alive = false;
                panic!("host {} died ({status:?}); see its stderr above", self.name)
            }
        }
    }

    pub fn req(&mut self, cmd: Value) -> Value {
        self.send(cmd);
        self.recv()
    }

    /// One C ABI call: (status, document).
    pub fn call(&mut self, f: &str, req: Value) -> (i32, Value) {
        let r = self.req(json!({"op": "call", "fn": f, "req": req}));
        (r["st"].as_i64().unwrap() as i32, r["v"].clone())
    }

    /// A call that must succeed.
    pub fn ok(&mut self, f: &str, req: Value) -> Value {
        let (st, v) = self.call(f, req.clone());
        assert_eq!(st, 0, "host {}: {f} {req} failed: {v}", self.name);
        v
    }

    /// Takes (and acks) events until none comes for half a second; those of type `kind`.
    pub fn take_events(&mut self, kind: &str) -> Vec<Value> {
        let r = self.req(json!({"op": "events", "timeout_ms": 500}));
        let all = r["events"].as_array().unwrap();
        all.iter().filter(|e| e["type"] == kind).cloned().collect()
    }

    /// SIGKILL, and reaped.
    pub fn kill(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: the pid is our own child, not yet reaped (so not reused).
        let r = unsafe { libc::kill(pid, libc::SIGKILL) };
        assert_eq!(r, 0, "kill {pid}");
        let status = self.child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL),
            "host {} died of SIGKILL",
            self.name
        );
        self.alive = false;
        self.stdin = None;
    }

    /// Ends the process normally (its client freed).
    pub fn exit(&mut self) {
        let bye = self.req(json!({"op": "exit"}));
        assert_eq!(bye["bye"], true);
        self.stdin = None;
        assert!(
            self.child.wait().unwrap().success(),
            "host {} exit",
            self.name
        );
        self.alive = false;
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if self.alive {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Signs `mailbox` in: `start` begins the code flow, a person signs in on the sim's pages as
/// `login`, `finish` gets the redirect. Returns `finish`'s answer.
pub fn sign_in_across(
    cl: &Cluster,
    start: &mut Host,
    finish: &mut Host,
    mailbox: &str,
    user: &str,
    login: &str,
) -> Value {
    let begun = start.ok(
        "o365_authenticate",
        json!({"mailbox": mailbox, "user": user}),
    );
    assert_eq!(begun["status"], "authorization_required", "{begun}");
    let url = begun["authorize_url"].as_str().unwrap();
    let redirect = o365_sim::browser::sign_in_with_ca(
        Some(cl.sim.ca_pem()),
        url,
        login,
        PASSWORD,
        o365_sim::Consent::Accept,
    )
    .expect("the sign-in pages work");
    finish.ok("o365_authenticate", json!({"callback_url": redirect}))
}

/// Waits (polling the sim's or the store's state, never the library) until `cond` holds;
/// `what` names it when the safety limit is reached.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !cond() {
        assert!(
            started.elapsed() < ANSWER_LIMIT,
            "safety limit reached waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
