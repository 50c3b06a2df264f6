//! Every grant goes through the `oauth2` crate (issue 10): Microsoft's refusal details
//! (`error_codes` = the AADSTS numbers, trace and correlation ids) reach the host's error
//! documents, events and audit log, for the code exchange, device polls and refresh.

mod common;
use common::*;
use o365::ffi::*;
use serde_json::{json, Value};

/// `details` of an error document carry Microsoft's refusal.
fn assert_aadsts(v: &Value, error: &str, code: i64) {
    assert_eq!(v["details"]["oauth_error"], error, "{v}");
    assert_eq!(v["details"]["error_codes"], json!([code]), "{v}");
    assert!(
        v["details"]["trace_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{v}"
    );
    assert!(
        v["details"]["correlation_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{v}"
    );
}

fn code_of(redirect: &str) -> String {
    url::Url::parse(redirect)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

#[test]
fn code_exchange_refusals_carry_their_aadsts_codes() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let lib = Lib::open(config(&sim, dir.path()));
    let id = import(&lib, ANNA, &["u1"], json!({}));
    // A code issued for one sign-in's PKCE challenge, redeemed with another's verifier.
    let a = lib.ok(o365_authenticate, json!({"mailbox": id, "user": "u1"}));
    let b = lib.ok(
        o365_authenticate,
        json!({"mailbox": id, "user": "u1", "force": true}),
    );
    let redirect = o365_sim::browser::sign_in_with_ca(
        Some(sim.ca_pem()),
        a["authorize_url"].as_str().unwrap(),
        ANNA,
        PASSWORD,
        o365_sim::Consent::Accept,
    )
    .unwrap();
    let code = code_of(&redirect);
    let (st, v) = lib.call(
        o365_authenticate,
        json!({"code": code, "state": b["state"]}),
    );
    assert_eq!(
        (st, v["error"].as_str()),
        (O365_AUTH_REQUIRED, Some("sign_in_refused")),
        "{v}"
    );
    assert!(
        v["message"].as_str().unwrap().contains("AADSTS501481"),
        "{v}"
    );
    assert_aadsts(&v, "invalid_grant", 501481);

    // With its own state the code redeems; once more (a new state): AADSTS54005.
    let (st, v) = lib.call(o365_authenticate, json!({"callback_url": redirect}));
    assert_eq!(
        (st, v["status"].as_str()),
        (O365_OK, Some("authenticated")),
        "{v}"
    );
    let c = lib.ok(
        o365_authenticate,
        json!({"mailbox": id, "user": "u1", "force": true}),
    );
    let (st, v) = lib.call(
        o365_authenticate,
        json!({"code": code, "state": c["state"]}),
    );
    assert_eq!(st, O365_AUTH_REQUIRED, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("AADSTS54005"),
        "{v}"
    );
    assert_aadsts(&v, "invalid_grant", 54005);
    let log = lib.ok(o365_audit_log, json!({"mailbox": id, "user": "u1"}));
    assert_eq!(log["entries"][0]["action"], "sign_in", "{log}");
    assert_eq!(log["entries"][0]["outcome"], "failed", "{log}");
    assert_eq!(log["entries"][0]["detail"], "invalid_grant", "{log}");
}

#[test]
fn device_polls_carry_their_aadsts_codes() {
    let sim = sim();
    {
        // The background poller waits an hour: this test polls through o365_authenticate.
        let mut w = sim.sim().world.lock().unwrap();
        w.lifetimes.device_code_interval = 3600;
    }
    let dir = tempfile::tempdir().unwrap();
    let lib = Lib::open(config(&sim, dir.path()));
    let device = json!({"user": "u1", "flow": "device_code"});
    let start = |id: &str| {
        let mut r = device.clone();
        r["mailbox"] = json!(id);
        lib.call(o365_authenticate, r)
    };

    // authorization_pending (AADSTS70016): still pending.
    let anna = import(&lib, ANNA, &["u1"], json!({}));
    let (st, first) = start(&anna);
    assert_eq!(
        (st, first["status"].as_str()),
        (O365_OK, Some("device_code_pending")),
        "{first}"
    );
    let (st, again) = start(&anna);
    assert_eq!(
        (st, again["status"].as_str()),
        (O365_OK, Some("device_code_pending")),
        "{again}"
    );
    assert_eq!(
        again["user_code"], first["user_code"],
        "the same flow, polled once"
    );

    // authorization_declined (AADSTS65004): access_denied, with Microsoft's details.
    let _ = o365_sim::browser::device_sign_in_with_ca(
        Some(sim.ca_pem()),
        sim.url(),
        first["user_code"].as_str().unwrap(),
        ANNA,
        PASSWORD,
        o365_sim::Consent::Decline,
    );
    let (st, v) = start(&anna);
    assert_eq!(
        (st, v["error"].as_str()),
        (O365_AUTH_REQUIRED, Some("access_denied")),
        "{v}"
    );
    assert_aadsts(&v, "authorization_declined", 65004);
    let ev: Vec<Value> = lib
        .drain_events(300)
        .into_iter()
        .filter(|e| e["type"] == "auth_failed")
        .collect();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["error"], "access_denied");

    // expired_token (AADSTS70019): Microsoft's clock passed the code's lifetime.
    let ben = import(&lib, BEN, &["u1"], json!({}));
    let (st, v) = start(&ben);
    assert_eq!(
        (st, v["status"].as_str()),
        (O365_OK, Some("device_code_pending")),
        "{v}"
    );
    let life = sim.sim().world.lock().unwrap().lifetimes.device_code_secs;
    sim.sim().clock.advance(life + 1);
    let (st, v) = start(&ben);
    assert_eq!(
        (st, v["error"].as_str()),
        (O365_AUTH_REQUIRED, Some("expired_token")),
        "{v}"
    );
    assert_aadsts(&v, "expired_token", 70019);
}

#[test]
fn a_revoked_refresh_token_names_its_aadsts_code() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let (_lib, id) = signed_in(&sim, dir.path(), ANNA, ANNA, json!({}));
    {
        let now = sim.sim().clock.now_ms();
        let mut w = sim.sim().world.lock().unwrap();
        w.user_mut(ANNA).unwrap().revoked_before = now + 1;
    }
    sim.sim().clock.advance(1);
    // Two hours later the access token is dead: the refresh (through oauth2) is refused.
    let mut cfg = config(&sim, dir.path());
    cfg["debug"]["clock_offset_ms"] = json!(2 * 3600 * 1000);
    let later = Lib::open(cfg);
    let v = later.ok(o365_authenticate, json!({"mailbox": id, "user": "u1"}));
    assert_eq!(v["status"], "authorization_required", "{v}");
    let ev: Vec<Value> = later
        .drain_events(300)
        .into_iter()
        .filter(|e| e["type"] == "reauth_required")
        .collect();
    assert_eq!(ev.len(), 1, "{ev:?}");
    let reason = ev[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("AADSTS50173:"), "{ev:?}");
    let log = later.ok(o365_audit_log, json!({"mailbox": id, "user": "u1"}));
    let refresh = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "token_refresh")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(refresh["outcome"], "failed");
    assert!(
        refresh["detail"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS50173:"),
        "{refresh}"
    );
}
