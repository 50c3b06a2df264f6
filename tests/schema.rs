//! The committed JSON Schema of the C ABI (`include/o365.schema.json`) must equal what the
//! contract registry (`src/service/contract.rs`) generates; `O365_BLESS=1 cargo test --test
//! schema` writes it. Every exported call that takes or returns JSON has a row, every row's
//! types are in `$defs`, and every error kind the source produces is in the table.

use o365::service::contract::{self, ERROR_KINDS, PENDING_AUTH_CALLS};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn schema_path() -> PathBuf {
    root().join("include").join("o365.schema.json")
}

#[test]
fn committed_schema_is_current() {
    let generated = contract::schema_text();
    let path = schema_path();
    // scripts/check-schema.sh compares a fresh copy itself.
    if let Some(out) = std::env::var_os("O365_SCHEMA_OUT") {
        std::fs::write(&out, &generated).expect("O365_SCHEMA_OUT is writable");
        return;
    }
    if std::env::var_os("O365_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/o365.schema.json is stale: the contract changed. Run `make schema` (or \
         `O365_BLESS=1 cargo test --test schema`) and commit include/."
    );
}

/// Follows a local `$ref` (`#/$defs/Name`) to its name.
fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref")?.as_str()?.strip_prefix("#/$defs/")
}

/// Every `$ref` anywhere in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    out.push(x.as_str().unwrap_or("<not a string>"));
                } else {
                    refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn every_row_names_types_in_defs() {
    let doc = contract::schema_document();
    let defs = doc["$defs"].as_object().expect("$defs");
    let calls = doc["x-o365-calls"].as_object().expect("x-o365-calls");
    assert_eq!(calls.len(), contract::calls().len(), "one row per call");
    for c in contract::calls() {
        let row = &calls[c.function];
        for (side, t) in [("request", c.request), ("response", c.response)] {
            match t {
                None => assert!(row[side].is_null(), "{} {side}", c.function),
                Some(t) => {
                    let name = ref_name(&row[side]).unwrap_or_else(|| {
                        panic!("{} {side} is not a $ref: {}", c.function, row[side])
                    });
                    assert_eq!(name, t.name(), "{} {side}", c.function);
                    assert!(
                        defs.contains_key(name),
                        "{} {side}: {name} not in $defs",
                        c.function
                    );
                }
            }
        }
    }
    assert!(defs.contains_key(ref_name(&doc["x-o365-error"]).expect("error $ref")));
    // No dangling reference anywhere.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r
            .strip_prefix("#/$defs/")
            .unwrap_or_else(|| panic!("non-local $ref {r}"));
        assert!(defs.contains_key(name), "$ref {r} has no definition");
    }
}

#[test]
fn response_objects_are_strict() {
    let doc = contract::schema_document();
    let defs = doc["$defs"].as_object().unwrap();
    let mut seen = BTreeSet::new();
    let calls = doc["x-o365-calls"].as_object().unwrap();
    let mut todo: Vec<String> = calls
        .values()
        .filter_map(|r| ref_name(&r["response"]).map(str::to_owned))
        .collect();
    // Open on purpose: log records carry the varying fields of their message, and the
    // events of the test hook carry any payload.
    let open = ["LogRecord", "OtherEvent"];
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let s = &defs[&name];
        if s["type"] == "object" && s.get("properties").is_some() && !open.contains(&name.as_str())
        {
            assert_eq!(
                s["additionalProperties"],
                Value::Bool(false),
                "response type {name} is not strict"
            );
        }
        let mut inner = Vec::new();
        refs(s, &mut inner);
        todo.extend(
            inner
                .iter()
                .filter_map(|r| r.strip_prefix("#/$defs/"))
                .map(str::to_owned),
        );
    }
}

/// The `o365_*` functions of the header with their parameter lists.
fn header_functions() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("include/o365.h")).expect("include/o365.h");
    let code: String = text
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("//")
                || t.starts_with('*')
                || t.starts_with("/*")
                || t.starts_with('#'))
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = BTreeMap::new();
    for decl in code.split(';') {
        let Some(open) = decl.find('(') else { continue };
        let Some(name) = decl[..open].split_whitespace().last() else {
            continue;
        };
        let name = name.trim_start_matches('*');
        if name.starts_with("o365_") {
            out.insert(name.to_owned(), decl[open..].to_owned());
        }
    }
    out
}

#[test]
fn every_json_call_of_the_header_has_a_row() {
    let funcs = header_functions();
    assert!(funcs.len() > 30, "parsed too few functions: {funcs:?}");
    let rows: BTreeSet<&str> = contract::calls().iter().map(|c| c.function).collect();
    for (name, params) in &funcs {
        let takes_json = params.contains("_json");
        let known = rows.contains(name.as_str()) || PENDING_AUTH_CALLS.contains(&name.as_str());
        if takes_json {
            assert!(
                known,
                "{name} takes or returns JSON but has no row in src/service/contract.rs"
            );
        } else {
            assert!(
                !rows.contains(name.as_str()),
                "{name} has a row but no JSON parameter"
            );
        }
    }
    for r in &rows {
        assert!(
            funcs.contains_key(*r),
            "row {r} names no function of include/o365.h"
        );
        assert!(
            !PENDING_AUTH_CALLS.contains(r),
            "{r} has a row and is still listed as pending"
        );
    }
    for p in PENDING_AUTH_CALLS {
        assert!(
            funcs.contains_key(*p),
            "pending {p} is not in include/o365.h"
        );
    }
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The string literal that opens `s` after whitespace, if any.
fn literal(s: &str) -> Option<&str> {
    let s = s.trim_start().strip_prefix('"')?;
    let end = s.find('"')?;
    let lit = &s[..end];
    lit.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        .then_some(lit)
}

/// (kind, status name) of every error the source makes with a literal kind.
fn kinds_in_source() -> BTreeSet<(String, &'static str)> {
    // Constructors and the status they give (see src/error.rs).
    let helpers: &[(&str, &str)] = &[
        ("Error::invalid(", "O365_INVALID_ARGUMENT"),
        ("Error::forbidden(", "O365_FORBIDDEN"),
        ("Error::conflict(", "O365_CONFLICT"),
    ];
    let variants: &[(&str, &str)] = &[
        ("InvalidArgument", "O365_INVALID_ARGUMENT"),
        ("NotFound", "O365_NOT_FOUND"),
        ("AlreadyExists", "O365_ALREADY_EXISTS"),
        ("Forbidden", "O365_FORBIDDEN"),
        ("AuthRequired", "O365_AUTH_REQUIRED"),
        ("ConsentRequired", "O365_CONSENT_REQUIRED"),
        ("PolicyViolation", "O365_POLICY_VIOLATION"),
        ("Throttled", "O365_THROTTLED"),
        ("Network", "O365_NETWORK"),
        ("Remote", "O365_REMOTE"),
        ("Store", "O365_STORE"),
        ("Timeout", "O365_TIMEOUT"),
        ("Forked", "O365_FORKED"),
        ("Internal", "O365_INTERNAL"),
        ("WrongThread", "O365_WRONG_THREAD"),
        ("Conflict", "O365_CONFLICT"),
    ];
    let mut files = Vec::new();
    sources(&root().join("src"), &mut files);
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // Unit tests make errors with made-up kinds.
        let text = match text.find("#[cfg(test)]") {
            Some(i) => &text[..i],
            None => &text[..],
        };
        for (pat, st) in helpers {
            for (i, _) in text.match_indices(pat) {
                if let Some(k) = literal(&text[i + pat.len()..]) {
                    out.insert((k.to_owned(), *st));
                }
            }
        }
        for pat in ["Error::not_found(", "not_found_as("] {
            for (i, _) in text.match_indices(pat) {
                if let Some(k) = literal(&text[i + pat.len()..]) {
                    out.insert((format!("{k}_not_found"), "O365_NOT_FOUND"));
                }
            }
        }
        for (i, _) in text.match_indices("Fault::new(") {
            let Some(k) = literal(&text[i + "Fault::new(".len()..]) else {
                continue;
            };
            let before = text[..i].trim_end();
            let before = before.strip_suffix("crate::error::").unwrap_or(before);
            let before = before.strip_suffix('(').unwrap_or("").trim_end();
            let status = variants
                .iter()
                .find(|(v, _)| before.ends_with(&format!("Error::{v}")))
                .map(|(_, s)| *s);
            match status {
                Some(s) => {
                    out.insert((k.to_owned(), s));
                }
                None => panic!(
                    "{}: Fault::new(\"{k}\") outside Error::Variant(...): extend this test",
                    f.display()
                ),
            }
        }
    }
    out
}

#[test]
fn every_error_kind_of_the_source_is_in_the_table() {
    let table: BTreeSet<(String, &str)> = ERROR_KINDS
        .iter()
        .map(|k| (k.kind.to_owned(), contract::status_name(k.status)))
        .collect();
    let found = kinds_in_source();
    assert!(found.len() > 40, "found too few kinds: {found:?}");
    let missing: Vec<_> = found.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "error kinds made in src/ but not listed in ERROR_KINDS (src/service/contract.rs) \
         and the README: {missing:?}"
    );
    // The registration faults of Entra (a table of their own).
    for (_, kind, _) in o365::auth::entra::REGISTRATION_FAULTS {
        assert!(table.contains(&(kind.to_string(), "O365_REMOTE")), "{kind}");
    }
    // No duplicates, and every status is a real one (not O365_OK).
    let mut seen = BTreeSet::new();
    for k in ERROR_KINDS {
        assert!(seen.insert((k.kind, k.status)), "{} twice", k.kind);
        assert!(k.status > 0 && contract::status_name(k.status) != "O365_UNKNOWN");
    }
}

#[test]
fn readme_lists_every_error_kind() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for k in ERROR_KINDS {
        let row = format!("| `{}` | {} |", k.kind, k.status);
        assert!(readme.contains(&row), "README.md has no row {row}");
    }
}

mod common;
use common::*;
use o365::ffi::*;
use serde_json::json;

/// The events of real flows (sync, activity, queued sends that go out and fail, links, a
/// folder move) each fit their typed contract, so the typed `Event` never falls back.
#[test]
fn real_events_fit_their_types() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&sim, dir.path());
    cfg["links"] = json!({"base_url": "https://crm.example/o365/link?t={token}"});
    cfg["sync"] = json!({"scheduler": false});
    let lib = Lib::open(cfg);
    let id = import(&lib, ANNA, &["u1", "u2"], json!({"main_user": "u1"}));
    let (st, v) = sign_in_as(&sim, &lib, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");
    let mut seen = BTreeSet::new();
    let mut check = |lib: &Lib| {
        for e in lib.drain_events(300) {
            match contract::check_event(&e) {
                Ok(true) => {
                    seen.insert(e["type"].as_str().unwrap().to_owned());
                }
                Ok(false) => panic!("an event of a type not in EVENT_TYPES: {e}"),
                Err(why) => panic!("{why}"),
            }
        }
    };
    lib.ok(o365_sync, json!({"mailbox": id, "user": "u1"}));
    check(&lib);
    // Mail from Outlook: an activity at the next sync of Sent Items.
    sim_admin(
        &sim,
        &format!("/mailboxes/{ANNA}/outlook-send"),
        json!({"subject": "Aus Outlook", "body": "Text", "to": ["kunde@kunden.example"]}),
    );
    lib.ok(o365_sync, json!({"mailbox": id, "user": "u1"}));
    check(&lib);
    // A queued send that goes out.
    let q = lib.ok(
        o365_send,
        json!({"mailbox": id, "user": "u1", "queue": true,
               "message": {"to": ["kunde@kunden.example"], "subject": "Im Hintergrund"}}),
    );
    assert_eq!(q["state"], "queued", "{q}");
    lib.ok(o365_outbox_process, json!({"wait_ms": 10000}));
    check(&lib);
    // An agreement link: accepted, then downloaded.
    let r = lib.ok(
        o365_send,
        json!({"mailbox": id, "user": "u1", "agreement_text": "Vertraulich.", "message": {
            "to": ["kunde@kunden.example"], "subject": "Unterlagen",
            "body_text": "Bitte: _agreementLink(Unterlagen)",
            "attachments": [{"name": "vertrag.pdf", "base64": "VmVydHJhZw=="}]}}),
    );
    let token = r["link"]["token"]
        .as_str()
        .expect("the link of the send")
        .to_owned();
    let acc = lib.ok(
        o365_link_accept,
        json!({"token": token, "client_address": "198.51.100.7"}),
    );
    lib.ok(
        o365_link_download,
        json!({"token": token, "file": 0, "path": dir.path().join("v.pdf"),
               "acceptance": acc["acceptance"]}),
    );
    check(&lib);
    // A folder move.
    let job = lib.ok(
        o365_move_folder_contents,
        json!({"mailbox": id, "user": "u1", "from": "Gesendete Objekte", "to": "sentitems"}),
    );
    assert_eq!(job["state"], "done", "{job}");
    check(&lib);
    // A queued send that fails for good: an alias whose tenant does not allow sending from it.
    let alias = signed_in_alias(&sim, &lib);
    set_send_from_alias(&sim, "contoso.example", false);
    lib.ok(
        o365_send,
        json!({"mailbox": alias, "user": "u1", "queue": true,
               "message": {"to": ["kunde@kunden.example"], "subject": "Von info@"}}),
    );
    lib.ok(o365_outbox_process, json!({"wait_ms": 10000}));
    check(&lib);
    // A sync with one failing folder, then one whose folder tree cannot be read.
    sim.sim().faults.add(o365_sim::faults::FaultSpec {
        path: "/v1.0/me/mailFolders/*/messages/delta".into(),
        status: Some(400),
        count: Some(1),
        ..Default::default()
    });
    let r = lib.ok(o365_sync, json!({"mailbox": id, "user": "u1"}));
    assert_eq!(r["status"], "partial", "{r}");
    sim.sim().faults.clear();
    sim.sim().faults.add(o365_sim::faults::FaultSpec {
        path: "/v1.0/me/mailFolders/delta".into(),
        status: Some(400),
        ..Default::default()
    });
    let (st, e) = lib.call(o365_sync, json!({"mailbox": id, "user": "u1"}));
    assert_ne!(st, O365_OK, "{e}");
    sim.sim().faults.clear();
    check(&lib);
    for t in [
        "sync_failed",
        "sync_completed",
        "activity",
        "send_completed",
        "link_accepted",
        "link_downloaded",
        "move_completed",
        "send_failed",
    ] {
        assert!(seen.contains(t), "no {t} event seen: {seen:?}");
    }
}
