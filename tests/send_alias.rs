//! Sends from an alias under both behaviours a tenant may show (issue 14): Exchange refuses
//! them (`aliasSendMode: "error"`, ErrorSendAsDenied) or sends them from the primary address
//! (`"rewrite"`, as public reports describe). The library never reports an alias send that
//! did not happen: it reads the From of the sent copy and says which address the mail went
//! out from.

mod common;
use common::*;
use o365::ffi::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn alias_mode(sim: &o365_sim::RunningSim, mode: &str) {
    sim.admin(
        "PATCH",
        "/tenants/contoso.example",
        Some(json!({"aliasSendMode": mode})),
    )
    .unwrap();
}

fn mail(alias: &str, subject: &str) -> Value {
    json!({"mailbox": alias, "user": "u1",
           "message": {"to": ["kunde@kunden.example"], "subject": subject}})
}

fn outbound_from(sim: &o365_sim::RunningSim, subject: &str) -> Vec<String> {
    sim.sim()
        .world
        .lock()
        .unwrap()
        .outbound
        .iter()
        .filter(|m| m.subject == subject)
        .map(|m| m.from.address.clone())
        .collect()
}

#[test]
fn error_mode_refuses_and_an_allowed_alias_send_reports_the_alias() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let lib = Lib::open(config(&sim, dir.path()));
    let alias = signed_in_alias(&sim, &lib);
    alias_mode(&sim, "error");
    let (st, e) = lib.call(o365_send, mail(&alias, "Abgelehnt"));
    assert_eq!(st, O365_FORBIDDEN, "{e}");
    assert_eq!(e["error"], "alias_send_not_enabled");
    assert!(e["hint"]
        .as_str()
        .unwrap()
        .contains("Set-OrganizationConfig -SendFromAliasEnabled $true"));
    assert!(outbound_from(&sim, "Abgelehnt").is_empty());

    set_send_from_alias(&sim, "contoso.example", true);
    let r = lib.ok(o365_send, mail(&alias, "Vom Alias"));
    assert_eq!(r["state"], "sent", "{r}");
    assert_eq!(r["sent_from"], "info@contoso.example");
    assert_eq!(r["sent_as_requested"], true);
    assert!(r.get("hint").is_none(), "{r}");
    assert_eq!(outbound_from(&sim, "Vom Alias"), ["info@contoso.example"]);
}

#[test]
fn rewrite_mode_reports_the_primary_address_it_went_out_from() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let lib = Lib::open(config(&sim, dir.path()));
    let alias = signed_in_alias(&sim, &lib);
    alias_mode(&sim, "rewrite");

    let mut req = mail(&alias, "Umgeschrieben");
    req["idempotency_key"] = json!("crm-7");
    let r = lib.ok(o365_send, req);
    assert_eq!(r["state"], "sent", "{r}");
    assert_eq!(r["sent_from"], ANNA, "{r}");
    assert_eq!(r["sent_as_requested"], false);
    assert_eq!(r["requested_from"], "info@contoso.example");
    let hint = r["hint"].as_str().unwrap();
    assert!(
        hint.contains("Set-OrganizationConfig -SendFromAliasEnabled $true"),
        "{hint}"
    );
    assert_eq!(outbound_from(&sim, "Umgeschrieben"), [ANNA]);
    let st = lib.ok(
        o365_send_status,
        json!({"mailbox": alias, "user": "u1", "idempotency_key": "crm-7"}),
    );
    assert_eq!(st["sent_from"], ANNA, "{st}");
    assert_eq!(st["sent_as_requested"], false);

    // Queued: the send_completed event says the same.
    let mut q = mail(&alias, "Im Hintergrund");
    q["queue"] = json!(true);
    let q = lib.ok(o365_send, q);
    assert_eq!(q["state"], "queued");
    let done = (0..40)
        .filter_map(|_| lib.next_event(500))
        .inspect(|e| lib.ack(e["id"].as_str().unwrap()))
        .find(|e| e["type"] == "send_completed" && e["send_id"] == q["send_id"])
        .expect("a send_completed event");
    assert_eq!(done["sent_from"], ANNA, "{done}");
    assert_eq!(done["sent_as_requested"], false);
    assert!(done["hint"]
        .as_str()
        .unwrap()
        .contains("SendFromAliasEnabled"));
}

/// With asynchronous submission the sent copy appears only later: the send is not reported
/// as sent (let alone as sent from the alias) until the copy shows where it went out from.
#[test]
fn rewrite_with_async_submission_reports_only_what_the_sent_copy_shows() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&sim, dir.path());
    cfg["send"] = json!({"wait_ms": 0});
    let lib = Lib::open(cfg);
    let alias = signed_in_alias(&sim, &lib);
    alias_mode(&sim, "rewrite");
    sim.admin(
        "PUT",
        &format!("/mailboxes/{ANNA}/submission-delay"),
        Some(json!({"ms": 20_000})),
    )
    .unwrap();
    let mut req = mail(&alias, "Spaeter");
    req["idempotency_key"] = json!("crm-8");
    let r = lib.ok(o365_send, req);
    assert_eq!(r["state"], "queued", "not sent yet: {r}");
    assert!(r.get("sent_from").is_none(), "{r}");
    let status = || {
        lib.ok(
            o365_send_status,
            json!({"mailbox": alias, "user": "u1", "idempotency_key": "crm-8"}),
        )
    };
    assert_ne!(status()["state"], "sent");
    assert!(outbound_from(&sim, "Spaeter").is_empty());
    // Transport takes it after 20 s of sim time.
    sim.sim().clock.advance(21);
    let deadline = Instant::now() + Duration::from_secs(30);
    let st = loop {
        let st = status();
        if st["state"] == "sent" {
            break st;
        }
        assert!(Instant::now() < deadline, "not sent: {st}");
        lib.ok(o365_outbox_process, json!({"wait_ms": 1000}));
    };
    assert_eq!(st["sent_from"], ANNA, "{st}");
    assert_eq!(st["sent_as_requested"], false);
    assert_eq!(outbound_from(&sim, "Spaeter"), [ANNA], "sent once");
    let done = (0..20)
        .filter_map(|_| lib.next_event(500))
        .inspect(|e| lib.ack(e["id"].as_str().unwrap()))
        .find(|e| e["type"] == "send_completed")
        .expect("a send_completed event");
    assert_eq!(done["sent_from"], ANNA);
}
