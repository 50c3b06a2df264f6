//! Download and agreement links against o365-sim through the C ABI (issue 6): the macros
//! become links, the files are served within 14 days and refused after (clock injected),
//! a changed token is refused, and `_agreementLink` needs an acceptance first.

mod common;
use common::*;
use o365::ffi::*;
use o365_sim::RunningSim;
use serde_json::{json, Value};
use std::path::Path;

const DAY_MS: i64 = 24 * 3600 * 1000;
const BASE: &str = "https://crm.example/o365/link?t={token}";

fn lib_at(sim: &RunningSim, dir: &Path, clock_offset_ms: i64) -> Lib {
    let mut cfg = config(sim, dir);
    cfg["links"] = json!({"base_url": BASE});
    cfg["debug"]["clock_offset_ms"] = json!(clock_offset_ms);
    Lib::open(cfg)
}

fn last_body(sim: &RunningSim) -> o365_sim::state::OutboundMail {
    sim.sim()
        .world
        .lock()
        .unwrap()
        .outbound
        .last()
        .cloned()
        .expect("a mail went out")
}

/// The token in the first link of a body.
fn token_in(body: &str) -> String {
    let start = body.find("?t=").expect("a link in the body") + 3;
    body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.')
        .collect()
}

fn tamper(token: &str) -> String {
    let mut b = token.as_bytes().to_vec();
    let i = b.len() / 3;
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

#[test]
fn download_link_works_for_fourteen_days_and_refuses_changed_tokens() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let lib = lib_at(&sim, dir.path(), 0);
    let id = import(&lib, ANNA, &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &lib, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");

    let plan = dir.path().join("grundriss.pdf");
    std::fs::write(&plan, b"%PDF-1.4 Grundriss").unwrap();
    let r = lib.ok(
        o365_send,
        json!({"mailbox": id, "user": "u1", "message": {
            "to": ["kunde@kunden.example"], "subject": "Ihr Exposé",
            "body_html": "<p>Hier das _downloadLink(Exposé) zum Objekt.</p>",
            "attachments": [{"name": "expose.pdf", "base64": "SGFsbG8gRXhwb3PDqQ=="},
                            {"name": "grundriss.pdf", "path": plan}]}}),
    );
    assert_eq!(r["state"], "sent", "{r}");
    let mail = last_body(&sim);
    assert!(mail.attachments.is_empty(), "linked files are not attached");
    assert!(
        mail.body
            .contains("<a href=\"https://crm.example/o365/link?t=")
            && mail.body.contains("\">Exposé</a> zum Objekt."),
        "{}",
        mail.body
    );
    let token = token_in(&mail.body);
    assert!(token.len() >= 40, "unguessable token: {token}");
    assert_eq!(
        r["link"]["token"],
        token.as_str(),
        "o365_send names the link: {r}"
    );
    assert_eq!(r["link"]["kind"], "download");
    assert!(r["link"]["url"].as_str().unwrap().ends_with(&token));

    let page = lib.ok(o365_link_open, json!({"token": token}));
    assert_eq!(page["kind"], "download");
    assert_eq!(page["state"], "ready");
    assert_eq!(page["sender"], ANNA);
    let files = page["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["name"], "expose.pdf");

    let dest = dir.path().join("out.pdf");
    let d = lib.ok(
        o365_link_download,
        json!({"token": token, "file": 1, "path": dest, "client_address": "203.0.113.9"}),
    );
    assert_eq!(d["name"], "grundriss.pdf");
    assert_eq!(std::fs::read(&dest).unwrap(), b"%PDF-1.4 Grundriss");
    let ev = lib.drain_events(300);
    let dl: Vec<&Value> = ev
        .iter()
        .filter(|e| e["type"] == "link_downloaded")
        .collect();
    assert_eq!(dl.len(), 1, "{ev:?}");
    assert_eq!(dl[0]["client_address"], "203.0.113.9");
    assert_eq!(dl[0]["file"], "grundriss.pdf");

    // A changed token: refused; an unsigned random one too.
    let (st, e) = lib.call(o365_link_open, json!({"token": tamper(&token)}));
    assert_eq!(
        (st, e["error"].as_str()),
        (O365_INVALID_ARGUMENT, Some("link_invalid"))
    );
    let (st, _) = lib.call(
        o365_link_download,
        json!({"token": tamper(&token), "file": 0, "path": dir.path().join("x")}),
    );
    assert_eq!(st, O365_INVALID_ARGUMENT);
    assert!(!dir.path().join("x").exists());

    // Day 13: still there (another process, its clock 13 days ahead).
    let later = lib_at(&sim, dir.path(), 13 * DAY_MS);
    let d = later.ok(
        o365_link_download,
        json!({"token": token, "file": 0, "path": dir.path().join("day13")}),
    );
    assert_eq!(d["size"], 13);
    assert_eq!(later.ok(o365_links_purge, json!({}))["purged"], 0);
    drop(later);

    // Day 15: expired, refused, and the files are purged.
    let expired = lib_at(&sim, dir.path(), 15 * DAY_MS);
    let (st, e) = expired.call(o365_link_open, json!({"token": token}));
    assert_eq!(
        (st, e["error"].as_str()),
        (O365_NOT_FOUND, Some("link_expired")),
        "{e}"
    );
    assert!(e["details"]["expired_at"].is_string());
    let (st, e) = expired.call(
        o365_link_download,
        json!({"token": token, "file": 0, "path": dir.path().join("day15")}),
    );
    assert_eq!(e["error"], "link_expired");
    assert_eq!(st, O365_NOT_FOUND);
    assert!(!dir.path().join("day15").exists());
    let link_dir = dir.path().join("o365.db.links");
    assert_eq!(
        std::fs::read_dir(&link_dir).unwrap().count(),
        0,
        "expired files purged"
    );
}

#[test]
fn agreement_link_needs_acceptance_before_download() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let lib = lib_at(&sim, dir.path(), 0);
    let id = import(&lib, ANNA, &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &lib, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");

    // Without agreement text: a clear error before anything is sent.
    let (st, e) = lib.call(
        o365_send,
        json!({"mailbox": id, "user": "u1", "message": {
            "to": ["kunde@kunden.example"], "subject": "Unterlagen", "body_text": "Bitte: _agreementLink",
            "attachments": [{"name": "vertrag.pdf", "base64": "VmVydHJhZw=="}]}}),
    );
    assert_eq!(
        (st, e["error"].as_str()),
        (O365_INVALID_ARGUMENT, Some("invalid_field"))
    );
    assert_eq!(e["details"]["field"], "agreement_text");

    let text = "Ich verpflichte mich, die Unterlagen vertraulich zu behandeln.";
    let r = lib.ok(
        o365_send,
        json!({"mailbox": id, "user": "u1", "agreement_text": text, "message": {
            "to": ["kunde@kunden.example"], "subject": "Unterlagen",
            "body_text": "Bitte: _agreementLink(Unterlagen ansehen)",
            "attachments": [{"name": "vertrag.pdf", "base64": "VmVydHJhZw=="}]}}),
    );
    assert_eq!(r["state"], "sent");
    let mail = last_body(&sim);
    assert!(mail.attachments.is_empty());
    assert!(
        mail.body
            .starts_with("Bitte: Unterlagen ansehen: https://crm.example/o365/link?t="),
        "{}",
        mail.body
    );
    let token = token_in(&mail.body);

    let page = lib.ok(o365_link_open, json!({"token": token}));
    assert_eq!(page["kind"], "agreement");
    assert_eq!(page["state"], "agreement_required");
    assert_eq!(page["agreement_text"], text);

    // Download before accepting: refused.
    let dest = dir.path().join("v.pdf");
    let (st, e) = lib.call(
        o365_link_download,
        json!({"token": token, "file": 0, "path": dest}),
    );
    assert_eq!(
        (st, e["error"].as_str()),
        (O365_FORBIDDEN, Some("agreement_required"))
    );
    assert!(!dest.exists());

    let acc = lib.ok(
        o365_link_accept,
        json!({"token": token, "client_address": "198.51.100.7", "user_agent": "Firefox"}),
    );
    assert_eq!(acc["accepted"], true);
    let receipt = acc["acceptance"].as_str().unwrap().to_owned();

    // A forged receipt is refused; the real one opens the download.
    let (st, _) = lib.call(
        o365_link_download,
        json!({"token": token, "file": 0, "path": dest, "acceptance": tamper(&receipt)}),
    );
    assert_eq!(st, O365_FORBIDDEN);
    let d = lib.ok(
        o365_link_download,
        json!({"token": token, "file": 0, "path": dest, "acceptance": receipt,
               "client_address": "198.51.100.7"}),
    );
    assert_eq!(d["name"], "vertrag.pdf");
    assert_eq!(std::fs::read(&dest).unwrap(), b"Vertrag");

    let ev = lib.drain_events(300);
    let accepted: Vec<&Value> = ev.iter().filter(|e| e["type"] == "link_accepted").collect();
    assert_eq!(accepted.len(), 1, "{ev:?}");
    assert_eq!(accepted[0]["client_address"], "198.51.100.7");
    assert!(accepted[0]["accepted_at"].is_string());
    assert_eq!(
        ev.iter().filter(|e| e["type"] == "link_downloaded").count(),
        1
    );
}
