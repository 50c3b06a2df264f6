//! Sign-in against o365-sim through the C ABI (issue 4).

mod common;
use common::*;
use o365::ffi::*;
use serde_json::json;

#[test]
fn work_account_signs_in_and_every_assigned_user_can_use_it() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let (lib, id) = signed_in(&sim, dir.path(), ANNA, ANNA, json!({}));
    let m = lib.ok(o365_get_mailbox, json!({"mailbox": id, "user": "u2"}));
    assert_eq!(m["auth_state"], "authenticated");
    assert_eq!(m["account"]["address"], ANNA);
    assert_eq!(m["account"]["personal"], false);
    // Second user: already authenticated, no new sign-in.
    let again = lib.ok(o365_authenticate, json!({"mailbox": id, "user": "u2"}));
    assert_eq!(again["status"], "authenticated");
    // Unassigned user: forbidden, and the attempt is recorded.
    let (st, e) = lib.call(
        o365_authenticate,
        json!({"mailbox": id, "user": "intruder"}),
    );
    assert_eq!(st, O365_FORBIDDEN);
    assert_eq!(e["error"], "user_not_assigned");
    let log = lib.ok(o365_audit_log, json!({"mailbox": id, "user": "u1"}));
    let entries = log["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["user"] == "intruder" && e["outcome"] == "denied"),
        "{log}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "sign_in" && e["outcome"] == "ok"),
        "{log}"
    );
}

#[test]
fn personal_alias_and_shared_mailboxes_sign_in() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let lib = Lib::open(config(&sim, dir.path()));
    let personal = import(&lib, "max.muster@outlook.example", &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &lib, &personal, "u1", "max.muster@outlook.example");
    assert_eq!(st, O365_OK, "{v}");
    assert_eq!(v["account"]["personal"], true, "{v}");
    assert_eq!(
        v["account"]["tenant_id"],
        "9188040d-6c67-4c5b-b112-36a304b66dad"
    );

    // The alias signs in with the account of the mailbox it belongs to.
    signed_in_alias(&sim, &lib);

    let shared = import(
        &lib,
        "vertrieb@contoso.example",
        &["u1"],
        json!({"kind": "shared"}),
    );
    let (st, v) = sign_in_as(&sim, &lib, &shared, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");
    // Ben has no access to the shared mailbox.
    let shared2_dir = tempfile::tempdir().unwrap();
    let lib2 = Lib::open(config(&sim, shared2_dir.path()));
    let shared2 = import(
        &lib2,
        "vertrieb@contoso.example",
        &["u1"],
        json!({"kind": "shared"}),
    );
    let (st, v) = sign_in_as(&sim, &lib2, &shared2, "u1", BEN);
    assert_eq!(st, O365_FORBIDDEN, "{v}");
    assert_eq!(v["error"], "account_mismatch");
}

#[test]
fn wrong_account_is_refused_and_nothing_is_stored() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let lib = Lib::open(config(&sim, dir.path()));
    let id = import(&lib, ANNA, &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &lib, &id, "u1", BEN);
    assert_eq!(st, O365_FORBIDDEN, "{v}");
    assert_eq!(v["error"], "account_mismatch");
    assert!(v["message"].as_str().unwrap().contains(BEN));
    assert!(v["message"].as_str().unwrap().contains(ANNA));
    let m = lib.ok(o365_get_mailbox, json!({"mailbox": id}));
    assert_eq!(m["auth_state"], "not_authenticated");
    let conn = rusqlite::Connection::open(&lib.store).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM tokens", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn bad_states_codes_and_verifiers_are_refused() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let lib = Lib::open(config(&sim, dir.path()));
    let id = import(&lib, ANNA, &["u1", "u2"], json!({}));
    let start = lib.ok(o365_authenticate, json!({"mailbox": id, "user": "u1"}));
    let url = start["authorize_url"].as_str().unwrap();
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(
        url.contains("login_hint=anna.schmidt%40contoso.example"),
        "{url}"
    );
    let redirect = o365_sim::browser::sign_in_with_ca(
        Some(sim.ca_pem()),
        url,
        ANNA,
        PASSWORD,
        o365_sim::Consent::Accept,
    )
    .unwrap();
    let parsed = url::Url::parse(&redirect).unwrap();
    let code = parsed
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let state = parsed
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();

    // Tampered state.
    let (st, v) = lib.call(
        o365_authenticate,
        json!({"code": code, "state": format!("{state}x")}),
    );
    assert_eq!(
        (st, v["error"].as_str()),
        (O365_INVALID_ARGUMENT, Some("invalid_state")),
        "{v}"
    );
    // Foreign state: another user completes it.
    let (st, v) = lib.call(
        o365_authenticate,
        json!({"code": code, "state": state, "user": "u2"}),
    );
    assert_eq!(st, O365_FORBIDDEN, "{v}");
    // The state is now used: reuse refused.
    let (st, v) = lib.call(o365_authenticate, json!({"code": code, "state": state}));
    assert_eq!(
        (st, v["error"].as_str()),
        (O365_INVALID_ARGUMENT, Some("state_already_used")),
        "{v}"
    );

    // Reused code: complete once properly, then replay the code with a new state.
    let (st, v) = sign_in_as(&sim, &lib, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");
    let start = lib.ok(
        o365_authenticate,
        json!({"mailbox": id, "user": "u1", "force": true}),
    );
    let state2 = start["state"].as_str().unwrap();
    let (st, v) = lib.call(o365_authenticate, json!({"code": code, "state": state2}));
    assert_eq!(st, O365_AUTH_REQUIRED, "reused code: {v}");

    // Wrong PKCE verifier: a code issued for another sign-in's challenge.
    let a = lib.ok(
        o365_authenticate,
        json!({"mailbox": id, "user": "u1", "force": true}),
    );
    let b = lib.ok(
        o365_authenticate,
        json!({"mailbox": id, "user": "u1", "force": true}),
    );
    let ra = o365_sim::browser::sign_in_with_ca(
        Some(sim.ca_pem()),
        a["authorize_url"].as_str().unwrap(),
        ANNA,
        PASSWORD,
        o365_sim::Consent::Accept,
    )
    .unwrap();
    let code_a = url::Url::parse(&ra)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let (st, v) = lib.call(
        o365_authenticate,
        json!({"code": code_a, "state": b["state"]}),
    );
    assert_eq!(st, O365_AUTH_REQUIRED, "wrong verifier: {v}");

    // Expired state: a client whose clock is 11 minutes ahead.
    let start = lib.ok(
        o365_authenticate,
        json!({"mailbox": id, "user": "u1", "force": true}),
    );
    let mut cfg = config(&sim, dir.path());
    cfg["debug"]["clock_offset_ms"] = json!(11 * 60 * 1000);
    let later = Lib::open(cfg);
    let (st, v) = later.call(
        o365_authenticate,
        json!({"code": "x", "state": start["state"]}),
    );
    assert_eq!(
        (st, v["error"].as_str()),
        (O365_INVALID_ARGUMENT, Some("state_expired")),
        "{v}"
    );
}

#[test]
fn declined_consent_is_reported() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let lib = Lib::open(config(&sim, dir.path()));
    let id = import(&lib, ANNA, &["u1"], json!({}));
    let start = lib.ok(o365_authenticate, json!({"mailbox": id, "user": "u1"}));
    let redirect = o365_sim::browser::sign_in_with_ca(
        Some(sim.ca_pem()),
        start["authorize_url"].as_str().unwrap(),
        ANNA,
        PASSWORD,
        o365_sim::Consent::Decline,
    )
    .unwrap();
    let (st, v) = lib.call(o365_authenticate, json!({"callback_url": redirect}));
    assert_eq!(st, O365_AUTH_REQUIRED, "{v}");
    assert_eq!(v["error"], "access_denied");
}

#[test]
fn tenant_requiring_admin_consent() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let lib = Lib::open(config(&sim, dir.path()));
    let id = import(&lib, "eve@fabrikam.example", &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &lib, &id, "u1", "eve@fabrikam.example");
    assert_eq!(st, O365_CONSENT_REQUIRED, "{v}");
    assert!(v["hint"].as_str().unwrap().contains("administrator"));
    let consent_url = v["details"]["admin_consent_url"].as_str().unwrap();
    let back = o365_sim::browser::admin_consent_with_ca(
        Some(sim.ca_pem()),
        consent_url,
        "admin@fabrikam.example",
        PASSWORD,
        o365_sim::Consent::Accept,
    )
    .unwrap();
    assert!(back.contains("admin_consent=True"), "{back}");
    let next = lib.ok(o365_authenticate, json!({"callback_url": back}));
    assert_eq!(next["status"], "authorization_required");
    assert_eq!(next["admin_consent"], "granted");
    let redirect = o365_sim::browser::sign_in_with_ca(
        Some(sim.ca_pem()),
        next["authorize_url"].as_str().unwrap(),
        "eve@fabrikam.example",
        PASSWORD,
        o365_sim::Consent::Accept,
    )
    .unwrap();
    let done = lib.ok(o365_authenticate, json!({"callback_url": redirect}));
    assert_eq!(done["status"], "authenticated");
}
