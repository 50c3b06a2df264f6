//! Shared helpers for the integration tests: the C ABI called from Rust exactly as a host
//! does (NUL-terminated JSON in, JSON out, strings freed with o365_string_free), an
//! o365-sim per test, and a sign-in driven through the sim's own pages.
#![allow(dead_code)]

use o365::ffi::*;
use o365_sim::{Consent, RunningSim, SimOptions};
use serde_json::{json, Value};
use std::ffi::{c_char, CStr, CString};
use std::path::{Path, PathBuf};

pub const PASSWORD: &str = "Passw0rd!";
pub const ANNA: &str = "anna.schmidt@contoso.example";
pub const BEN: &str = "ben.mueller@contoso.example";
pub const REDIRECT: &str = "http://localhost:8080/o365/callback";
/// The demo seed's public client (registered with [`REDIRECT`]).
pub const APP_ID: &str = o365_sim::seed::DEMO_APP_ID;

pub type Export =
    unsafe extern "C" fn(*mut o365_client, *const c_char, *mut *mut c_char) -> o365_status;

/// A client handle opened through the C ABI.
pub struct Lib {
    pub handle: *mut o365_client,
    pub store: PathBuf,
}

unsafe impl Send for Lib {}
unsafe impl Sync for Lib {}

pub fn take(out: *mut c_char) -> Value {
    if out.is_null() {
        return Value::Null;
    }
    let s = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_owned();
    unsafe { o365_string_free(out) };
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("library returned invalid JSON {s:?}: {e}"))
}

impl Lib {
    /// One `o365_link_read` of a stream at `pos` into `buf`: (status, bytes read, error).
    /// Nothing is left to free on success.
    #[allow(dead_code)]
    pub fn link_read(&self, id: &CString, pos: u64, buf: &mut [u8]) -> (o365_status, usize, Value) {
        let mut n = 0usize;
        let mut out: *mut c_char = std::ptr::null_mut();
        let st = unsafe {
            o365_link_read(
                self.handle,
                id.as_ptr(),
                pos,
                buf.as_mut_ptr(),
                buf.len(),
                &mut n,
                &mut out,
            )
        };
        if st == O365_OK {
            assert!(out.is_null(), "nothing to free on success");
        }
        (st, n, take(out))
    }

    /// Reads a whole stream answer of `o365_link_page` in pieces of `cap` bytes; checks each
    /// piece fits and the total is the stream's `length`.
    #[allow(dead_code)]
    pub fn read_stream(&self, stream: &Value, cap: usize) -> Vec<u8> {
        let id = CString::new(stream["id"].as_str().unwrap()).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; cap];
        loop {
            let (st, n, err) = self.link_read(&id, out.len() as u64, &mut buf);
            assert_eq!(st, O365_OK, "{err}");
            if n == 0 {
                break;
            }
            assert!(n <= cap);
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out.len() as u64, stream["length"].as_u64().unwrap());
        out
    }

    pub fn open(config: Value) -> Lib {
        let store = PathBuf::from(config["store"].as_str().unwrap());
        let c = CString::new(config.to_string()).unwrap();
        let mut h: *mut o365_client = std::ptr::null_mut();
        let mut out: *mut c_char = std::ptr::null_mut();
        let st = unsafe { o365_client_new(c.as_ptr(), &mut h, &mut out) };
        let v = take(out);
        assert_eq!(st, O365_OK, "client_new: {v}");
        Lib { handle: h, store }
    }

    pub fn call(&self, f: Export, req: Value) -> (o365_status, Value) {
        let c = CString::new(req.to_string()).unwrap();
        let mut out: *mut c_char = std::ptr::null_mut();
        let st = unsafe { f(self.handle, c.as_ptr(), &mut out) };
        let v = take(out);
        if st != O365_OK {
            assert_eq!(v["status"], st, "error document carries the status: {v}");
        }
        (st, v)
    }

    /// Calls and expects success.
    pub fn ok(&self, f: Export, req: Value) -> Value {
        let (st, v) = self.call(f, req.clone());
        assert_eq!(st, O365_OK, "request {req} failed: {v}");
        v
    }

    pub fn next_event(&self, timeout_ms: u32) -> Option<Value> {
        let mut out: *mut c_char = std::ptr::null_mut();
        let st = unsafe { o365_next_event(self.handle, timeout_ms, &mut out) };
        let v = take(out);
        match st {
            O365_OK => Some(v),
            O365_TIMEOUT => None,
            other => panic!("next_event: {other} {v}"),
        }
    }

    pub fn ack(&self, id: &str) {
        let c = CString::new(id).unwrap();
        let st = unsafe { o365_ack_event(self.handle, c.as_ptr(), std::ptr::null_mut()) };
        assert_eq!(st, O365_OK);
    }

    /// Events until none arrives within `timeout_ms`, acked.
    pub fn drain_events(&self, timeout_ms: u32) -> Vec<Value> {
        let mut all = Vec::new();
        while let Some(e) = self.next_event(timeout_ms) {
            self.ack(e["id"].as_str().unwrap());
            all.push(e);
        }
        all
    }
}

impl Drop for Lib {
    fn drop(&mut self) {
        unsafe { o365_client_free(self.handle) };
    }
}

/// A running o365-sim with the demo seed.
pub fn sim() -> RunningSim {
    RunningSim::start_blocking(SimOptions::demo()).expect("o365-sim starts")
}

pub fn sim_with(opts: SimOptions) -> RunningSim {
    RunningSim::start_blocking(opts).expect("o365-sim starts")
}

/// POSTs to the sim's admin API (`/_sim{path}`) and returns its JSON answer.
pub fn sim_admin(sim: &RunningSim, path: &str, body: Value) -> Value {
    let http = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = http
        .post(format!("{}/_sim{path}", sim.url()))
        .json(&body)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().unwrap()
}

/// Client config pointing at the sim.
/// Imports info@contoso.example, an alias of Anna's mailbox, for u1 and signs it in as Anna
/// (or finds it served by Anna's signed-in mailbox).
pub fn signed_in_alias(sim: &RunningSim, lib: &Lib) -> String {
    let alias = import(
        lib,
        "info@contoso.example",
        &["u1"],
        json!({"kind": "alias", "alias_of": ANNA}),
    );
    // When Anna's own mailbox is signed in on this store, the alias uses that sign-in.
    let start = lib.ok(o365_authenticate, json!({"mailbox": alias, "user": "u1"}));
    if start["status"] == "authenticated" {
        assert!(start["signed_in_via"].is_string(), "{start}");
        return alias;
    }
    let (st, v) = sign_in_as(sim, lib, &alias, "u1", ANNA);
    assert_eq!(st, 0, "alias signed in: {v}");
    alias
}

/// The tenant setting "Send from alias" (Set-OrganizationConfig -SendFromAliasEnabled).
pub fn set_send_from_alias(sim: &RunningSim, tenant: &str, on: bool) {
    sim.sim()
        .world
        .lock()
        .unwrap()
        .tenant_mut(tenant)
        .unwrap()
        .send_from_alias_enabled = on;
}

pub fn config(sim: &RunningSim, dir: &Path) -> Value {
    json!({
        "store": dir.join("o365.db").to_str().unwrap(),
        "encryption_key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "app": {"client_id": APP_ID, "redirect_uri": REDIRECT},
        "endpoints": {"login": sim.url(), "graph": format!("{}/v1.0", sim.url())},
        "ca_file": sim.ca_file().to_str().unwrap(),
        "graph": {"retry_base_ms": 20, "retry_max_ms": 2000},
        "debug": {"test_hooks": true},
    })
}

pub fn import(lib: &Lib, address: &str, users: &[&str], extra: Value) -> String {
    let mut req = json!({"address": address, "users": users});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            req[k] = v;
        }
    }
    lib.ok(o365_import_mailbox, req)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Starts the code flow for `mailbox` as `user` and lets `login` sign in on the sim's page.
/// Returns the o365_authenticate completion result (status, document).
pub fn sign_in_as(
    sim: &RunningSim,
    lib: &Lib,
    mailbox: &str,
    user: &str,
    login: &str,
) -> (o365_status, Value) {
    let start = lib.ok(o365_authenticate, json!({"mailbox": mailbox, "user": user}));
    assert_eq!(start["status"], "authorization_required", "{start}");
    let url = start["authorize_url"].as_str().unwrap();
    let redirect = o365_sim::browser::sign_in_with_ca(
        Some(sim.ca_pem()),
        url,
        login,
        PASSWORD,
        Consent::Accept,
    )
    .expect("sign-in page works");
    lib.call(o365_authenticate, json!({"callback_url": redirect}))
}

/// A store with `address` imported for users u1 (main) and u2, signed in as `login`.
pub fn signed_in(
    sim: &RunningSim,
    dir: &Path,
    address: &str,
    login: &str,
    extra: Value,
) -> (Lib, String) {
    let lib = Lib::open(config(sim, dir));
    let id = import(&lib, address, &["u1", "u2"], extra);
    let (st, v) = sign_in_as(sim, &lib, &id, "u1", login);
    assert_eq!(st, O365_OK, "sign-in failed: {v}");
    assert_eq!(v["status"], "authenticated");
    (lib, id)
}
