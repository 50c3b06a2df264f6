//! The finished link page through the C ABI (issue 16): `o365_link_page` answers with HTML or a
//! file range, `o365_link_read` streams it in bounded pieces, the accept step is CSRF-safe,
//! files are sealed at rest (0600 / 0700 whatever the umask), the key is destroyed at expiry,
//! and files kept before sealing are converted.

mod common;
use common::*;
use o365::ffi::*;
use o365_sim::RunningSim;
use serde_json::{json, Value};
use std::ffi::{c_char, CString};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const DAY_MS: i64 = 24 * 3600 * 1000;
const BASE: &str = "https://crm.example/o365/link?t={token}";

fn lib_at(sim: &RunningSim, dir: &Path, clock_offset_ms: i64) -> Lib {
    let mut cfg = config(sim, dir);
    cfg["links"] = json!({"base_url": BASE, "language": "de"});
    cfg["debug"]["clock_offset_ms"] = json!(clock_offset_ms);
    Lib::open(cfg)
}

fn token_of(r: &Value) -> String {
    r["link"]["token"].as_str().unwrap().to_owned()
}

/// Signs Anna in and sends one mail with a link to `files` (name, bytes).
fn send_link(
    sim: &RunningSim,
    lib: &Lib,
    agreement: Option<&str>,
    files: &[(&str, &[u8])],
) -> String {
    let id = import(lib, ANNA, &["u1"], json!({}));
    let (st, v) = sign_in_as(sim, lib, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");
    send_more(lib, &id, agreement, files)
}

fn send_more(lib: &Lib, id: &str, agreement: Option<&str>, files: &[(&str, &[u8])]) -> String {
    use base64::Engine;
    let atts: Vec<Value> = files
        .iter()
        .map(|(n, b)| json!({"name": n, "base64": base64::engine::general_purpose::STANDARD.encode(b)}))
        .collect();
    let body = if agreement.is_some() {
        "Bitte: _agreementLink"
    } else {
        "Hier: _downloadLink(Exposé)"
    };
    let mut req = json!({"mailbox": id, "user": "u1", "message": {
        "to": ["kunde@kunden.example"], "subject": "Ihr Exposé Lindenstraße 5",
        "body_text": body, "attachments": atts}});
    if let Some(a) = agreement {
        req["agreement_text"] = json!(a);
    }
    let r = lib.ok(o365_send, req);
    assert_eq!(r["state"], "sent", "{r}");
    token_of(&r)
}

fn page(lib: &Lib, req: Value) -> Value {
    lib.ok(o365_link_page, req)
}

fn downloads(lib: &Lib) -> Vec<Value> {
    lib.drain_events(300)
        .into_iter()
        .filter(|e| e["type"] == "link_downloaded")
        .collect()
}

#[test]
fn page_shows_the_mail_and_streams_files_with_ranges() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let lib = lib_at(&sim, dir.path(), 0);
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let token = send_link(
        &sim,
        &lib,
        None,
        &[("exposé.pdf", b"%PDF-1.4 Expose"), ("plan.bin", &big)],
    );
    downloads(&lib);

    // German by default, English when the browser prefers it
    let de = page(&lib, json!({"method": "GET", "token": token}));
    assert_eq!(de["status"], 200, "{de}");
    let html = de["body"].as_str().unwrap();
    for want in [
        "lang=\"de\"",
        "Anna Schmidt",
        ANNA,
        "Ihr Exposé Lindenstraße 5",
        "exposé.pdf",
        "plan.bin",
        "Verfügbar bis",
        "Herunterladen",
        "PDF · 15 Byte",
        "200,0 KB",
    ] {
        assert!(html.contains(want), "{want} missing in {html}");
    }
    assert!(!html.contains("<script"), "no script at all");
    let h = &de["headers"];
    assert_eq!(h["X-Content-Type-Options"], "nosniff");
    assert_eq!(h["Referrer-Policy"], "no-referrer");
    assert_eq!(h["Cache-Control"], "no-store");
    assert_eq!(h["X-Frame-Options"], "DENY");
    let csp = h["Content-Security-Policy"].as_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    assert!(html.contains(&format!("<style nonce=\"{nonce}\">")));
    let en = page(
        &lib,
        json!({"method": "GET", "token": token, "accept_language": "en-GB,en;q=0.9,de;q=0.5"}),
    );
    let html = en["body"].as_str().unwrap();
    assert!(
        html.contains("lang=\"en\"")
            && html.contains("Available until")
            && html.contains("Download")
    );

    // the whole file, read in 4 KiB pieces; one event once the last byte went out
    let whole = page(
        &lib,
        json!({"method": "GET", "token": token, "query": {"f": "1"},
                                  "client_address": "203.0.113.9"}),
    );
    assert_eq!(whole["status"], 200, "{whole}");
    assert!(whole.get("body").is_none());
    assert_eq!(whole["headers"]["Content-Length"], "200000");
    assert!(whole["headers"]["Content-Disposition"]
        .as_str()
        .unwrap()
        .starts_with("attachment;"));
    assert_eq!(whole["headers"]["Accept-Ranges"], "bytes");
    let id = CString::new(whole["stream"]["id"].as_str().unwrap()).unwrap();
    let mut buf = vec![0u8; 4096];
    assert_eq!(lib.link_read(&id, 0, &mut buf).1, 4096);
    assert!(downloads(&lib).is_empty(), "no event per chunk");
    assert_eq!(lib.read_stream(&whole["stream"], 4096), big);
    let ev = downloads(&lib);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["file"], "plan.bin");
    assert_eq!(ev[0]["client_address"], "203.0.113.9");
    // the same last read again: no second event
    let (st, n, _) = lib.link_read(&id, 200_000 - 10, &mut buf);
    assert_eq!((st, n), (O365_OK, 10));
    assert!(downloads(&lib).is_empty());

    // ranges: 206 with Content-Range; a middle range completes nothing
    let part = page(
        &lib,
        json!({"method": "GET", "token": token, "query": {"f": "1"}, "range": "bytes=65530-65545"}),
    );
    assert_eq!(part["status"], 206);
    assert_eq!(part["headers"]["Content-Range"], "bytes 65530-65545/200000");
    assert_eq!(part["headers"]["Content-Length"], "16");
    assert_eq!(lib.read_stream(&part["stream"], 7), &big[65530..65546]);
    assert!(downloads(&lib).is_empty());
    let tail = page(
        &lib,
        json!({"method": "GET", "token": token, "query": {"f": "1"}, "range": "bytes=150000-"}),
    );
    assert_eq!(tail["status"], 206);
    assert_eq!(lib.read_stream(&tail["stream"], 1 << 20), &big[150000..]);
    let ev = downloads(&lib);
    assert_eq!((ev.len(), &ev[0]["resumed"]), (1, &json!(true)));
    let bad = page(
        &lib,
        json!({"method": "GET", "token": token, "query": {"f": "1"}, "range": "bytes=200000-"}),
    );
    assert_eq!(bad["status"], 416);
    assert_eq!(bad["headers"]["Content-Range"], "bytes */200000");
    let head = page(
        &lib,
        json!({"method": "HEAD", "token": token, "query": {"f": "0"}}),
    );
    assert_eq!(
        (head["status"].as_u64(), head.get("stream")),
        (Some(200), None)
    );

    // a changed stream id, a changed token, an unknown file, a wrong method
    let forged = CString::new(
        whole["stream"]["id"]
            .as_str()
            .unwrap()
            .replacen(".0.", ".1.", 1),
    )
    .unwrap();
    let (st, _, e) = lib.link_read(&forged, 0, &mut buf);
    assert_eq!(
        (st, e["error"].as_str()),
        (O365_INVALID_ARGUMENT, Some("stream_invalid"))
    );
    let mut t = token.clone().into_bytes();
    t[5] = if t[5] == b'A' { b'B' } else { b'A' };
    let tampered = page(
        &lib,
        json!({"method": "GET", "token": String::from_utf8(t).unwrap()}),
    );
    assert_eq!(tampered["status"], 400);
    assert!(tampered["body"]
        .as_str()
        .unwrap()
        .contains("Dieser Link ist ungültig"));
    let none = page(
        &lib,
        json!({"method": "GET", "token": token, "query": {"f": "7"}}),
    );
    assert_eq!(none["status"], 404);
    assert_eq!(
        page(&lib, json!({"method": "DELETE", "token": token}))["status"],
        405
    );
    let (st, e) = lib.call(
        o365_link_page,
        json!({"method": "GET", "token": token, "range": "a\nb"}),
    );
    assert_eq!(
        (st, e["details"]["field"].as_str()),
        (O365_INVALID_ARGUMENT, Some("range"))
    );
    let (st, _) = lib.call(o365_link_page, json!({"method": "GET"}));
    assert_eq!(st, O365_INVALID_ARGUMENT);
}

#[test]
fn agreement_needs_a_genuine_accept_step() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let lib = lib_at(&sim, dir.path(), 0);
    let text = "Ich behandle die Unterlagen vertraulich.\nZweite Zeile <b>nicht fett</b>.";
    let token = send_link(&sim, &lib, Some(text), &[("vertrag.pdf", b"Vertrag")]);
    let p = page(&lib, json!({"method": "GET", "token": token}));
    let html = p["body"].as_str().unwrap();
    assert!(html.contains(
        "Ich behandle die Unterlagen vertraulich.\nZweite Zeile &lt;b&gt;nicht fett&lt;/b&gt;."
    ));
    assert!(html.contains("type=\"checkbox\"") && html.contains("<label"));
    assert!(!html.contains("f=0"), "no download link before acceptance");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let cookie = p["headers"]["Set-Cookie"].as_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let nonce = cookie.split(['=', ';']).nth(1).unwrap().to_owned();

    // the file before acceptance: refused
    let early = page(
        &lib,
        json!({"method": "GET", "token": token, "query": {"f": "0"}}),
    );
    assert_eq!(early["status"], 403);
    assert!(early.get("stream").is_none());

    // forged posts: no token, token without the cookie, token of another page, no checkbox
    let post = |form: Value, cookies: Value| {
        page(
            &lib,
            json!({"method": "POST", "token": token, "form": form, "cookies": cookies,
                          "client_address": "198.51.100.7"}),
        )
    };
    assert_eq!(
        post(json!({"agree": "yes"}), json!({"o365_link_csrf": nonce}))["status"],
        403
    );
    assert_eq!(
        post(json!({"agree": "yes", "csrf": csrf}), json!({}))["status"],
        403
    );
    assert_eq!(
        post(
            json!({"agree": "yes", "csrf": csrf}),
            json!({"o365_link_csrf": "other"})
        )["status"],
        403
    );
    let missing = post(json!({"csrf": csrf}), json!({"o365_link_csrf": nonce}));
    assert_eq!(missing["status"], 422);
    assert!(missing["body"].as_str().unwrap().contains("role=\"alert\""));
    assert!(lib
        .drain_events(200)
        .iter()
        .all(|e| e["type"] != "link_accepted"));

    let ok = post(
        json!({"agree": "yes", "csrf": csrf}),
        json!({"o365_link_csrf": nonce}),
    );
    assert_eq!(ok["status"], 303, "{ok}");
    let location = ok["headers"]["Location"].as_str().unwrap();
    assert!(location.starts_with("https://crm.example/o365/link?t=") && location.contains("&a="));
    let receipt = url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "a")
        .unwrap()
        .1
        .to_string();
    let ev = lib.drain_events(300);
    let acc: Vec<&Value> = ev.iter().filter(|e| e["type"] == "link_accepted").collect();
    assert_eq!(acc.len(), 1);
    assert_eq!(acc[0]["client_address"], "198.51.100.7");

    let after = page(
        &lib,
        json!({"method": "GET", "token": token, "query": {"a": receipt}}),
    );
    let html = after["body"].as_str().unwrap();
    assert!(
        html.contains("f=0") && html.contains("role=\"status\""),
        "{html}"
    );
    let file = page(
        &lib,
        json!({"method": "GET", "token": token, "query": {"f": "0", "a": receipt}}),
    );
    assert_eq!(file["status"], 200);
    assert_eq!(lib.read_stream(&file["stream"], 3), b"Vertrag");
    // a forged receipt does not unlock
    let forged = page(
        &lib,
        json!({"method": "GET", "token": token, "query": {"f": "0", "a": format!("{receipt}x")}}),
    );
    assert_eq!(forged["status"], 403);
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn store_files(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("o365.db") && p.is_file() {
            all.extend(std::fs::read(&p).unwrap());
        }
    }
    all
}

/// The link's file key as stored (sealed), if any.
fn stored_key(dir: &Path, link_id: &str) -> Option<Vec<u8>> {
    rusqlite::Connection::open(dir.join("o365.db"))
        .unwrap()
        .query_row("SELECT file_key FROM links WHERE id = ?1", [link_id], |r| {
            r.get(0)
        })
        .unwrap()
}

#[test]
fn files_are_sealed_private_and_shredded_at_expiry() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let lib = lib_at(&sim, dir.path(), 0);
    let secret = b"VERTRAULICH: Kaufpreis 480.000 EUR, Notartermin am 12.";
    let old = unsafe { libc::umask(0) };
    let token = send_link(&sim, &lib, None, &[("preis.txt", secret)]);
    unsafe { libc::umask(old) };

    let links = dir.path().join("o365.db.links");
    assert_eq!(mode(&links), 0o700);
    let link_dir = std::fs::read_dir(&links)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let file = link_dir.join("0");
    assert_eq!((mode(&link_dir), mode(&file)), (0o700, 0o600));
    let sealed = std::fs::read(&file).unwrap();
    assert!(
        !sealed.windows(11).any(|w| w == b"VERTRAULICH"),
        "sealed at rest"
    );
    let link_id = link_dir.file_name().unwrap().to_str().unwrap().to_owned();
    let key = stored_key(dir.path(), &link_id).expect("a sealed key");
    assert!(key.len() > 32);

    // a backup of the file taken before expiry
    let copy = dir.path().join("backup.bin");
    std::fs::copy(&file, &copy).unwrap();
    drop(lib);

    let expired = lib_at(&sim, dir.path(), 15 * DAY_MS);
    let p = page(
        &expired,
        json!({"method": "GET", "token": token, "accept_language": "en"}),
    );
    assert_eq!(p["status"], 410);
    assert!(p["body"]
        .as_str()
        .unwrap()
        .contains("This link has expired"));
    assert!(!link_dir.exists(), "files purged");
    assert_eq!(
        stored_key(dir.path(), &link_id),
        None,
        "the key is destroyed"
    );
    let store = store_files(dir.path());
    assert!(
        !store.windows(key.len()).any(|w| w == key.as_slice()),
        "no copy of the key left in the store files"
    );
    // the backup alone is ciphertext; without the key it cannot be opened
    let b = std::fs::read(&copy).unwrap();
    assert!(!b.windows(11).any(|w| w == b"VERTRAULICH"));
}

#[test]
fn files_kept_before_sealing_are_converted() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let lib = lib_at(&sim, dir.path(), 0);
    let token = send_link(&sim, &lib, None, &[("alt.txt", b"placeholder")]);
    drop(lib);
    // Make it look like a link of an older version: plaintext file, 0644/0755, no key.
    let links = dir.path().join("o365.db.links");
    let link_dir = std::fs::read_dir(&links)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let id = link_dir.file_name().unwrap().to_str().unwrap().to_owned();
    std::fs::write(link_dir.join("0"), b"legacy plaintext").unwrap();
    std::fs::set_permissions(link_dir.join("0"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&link_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = rusqlite::Connection::open(dir.path().join("o365.db")).unwrap();
    db.execute("UPDATE links SET file_key = NULL WHERE id = ?1", [&id])
        .unwrap();
    db.execute(
        "UPDATE link_files SET sealed = 0, size = 16 WHERE link_id = ?1",
        [&id],
    )
    .unwrap();
    drop(db);

    let lib = lib_at(&sim, dir.path(), 0);
    let f = page(
        &lib,
        json!({"method": "GET", "token": token, "query": {"f": "0"}}),
    );
    assert_eq!(f["status"], 200, "{f}");
    assert_eq!(lib.read_stream(&f["stream"], 5), b"legacy plaintext");
    assert!(!link_dir.join("0").exists(), "plaintext removed");
    let names: Vec<_> = std::fs::read_dir(&link_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let sealed = std::fs::read(&names[0]).unwrap();
    assert!(!sealed.windows(6).any(|w| w == b"legacy"));
    assert_eq!((mode(&link_dir), mode(&names[0])), (0o700, 0o600));
}

#[test]
fn host_restyles_with_template_css_and_logo() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("page.html");
    std::fs::write(
        &tpl,
        "<!DOCTYPE html><html lang=\"{{lang}}\"><head><title>{{title}} – Makler Muster</title>{{head}}</head>\
         <body><div class=\"crm\">{{logo}}{{content}}</div>{{footer}}</body></html>",
    )
    .unwrap();
    let mut cfg = config(&sim, dir.path());
    cfg["links"] = json!({"base_url": BASE, "template": tpl, "css": ".card{border-color:#c00}",
                          "logo_url": "https://cdn.makler.example/logo.svg"});
    let lib = Lib::open(cfg);
    let token = send_link(&sim, &lib, None, &[("a.pdf", b"A")]);
    let p = page(&lib, json!({"method": "GET", "token": token}));
    let html = p["body"].as_str().unwrap();
    assert!(
        html.contains("– Makler Muster</title>") && html.contains("<div class=\"crm\">"),
        "{html}"
    );
    assert!(html.contains(".card{border-color:#c00}</style>"));
    assert!(html.contains("<img src=\"https://cdn.makler.example/logo.svg\" alt=\"\">"));
    let csp = p["headers"]["Content-Security-Policy"].as_str().unwrap();
    assert!(csp.contains("img-src https://cdn.makler.example;"), "{csp}");

    // refused configurations: a clear field name each
    for (field, value) in [
        ("template", json!(dir.path().join("missing.html"))),
        ("css", json!("a{}</style><script>")),
        ("logo_url", json!("javascript:alert(1)")),
        ("language", json!("fr")),
    ] {
        let mut cfg = config(&sim, dir.path());
        cfg["links"] = json!({"base_url": BASE});
        cfg["links"][field] = value;
        let c = CString::new(cfg.to_string()).unwrap();
        let mut h: *mut o365_client = std::ptr::null_mut();
        let mut out: *mut c_char = std::ptr::null_mut();
        let st = unsafe { o365_client_new(c.as_ptr(), &mut h, &mut out) };
        let e = take(out);
        assert_eq!(st, O365_INVALID_ARGUMENT, "{field}: {e}");
        assert_eq!(e["details"]["field"], format!("links.{field}"), "{e}");
    }
}
