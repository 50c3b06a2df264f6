//! The app registration as Entra ID sees it (o365-sim's app registry is strict like Entra):
//! o365_check_setup tells a good setup from an unknown app, a wrong secret, a "Web" app
//! without its secret and an unregistered redirect URI; and each registration fault met
//! during a sign-in is an error that names what to fix (details.code = the AADSTS code).

mod common;

use common::*;
use o365::ffi::*;
use o365_sim::seed::{DEMO_WEB_APP_ID, DEMO_WEB_APP_REDIRECT, DEMO_WEB_APP_SECRET};
use o365_sim::{Consent, RunningSim};
use serde_json::{json, Value};

/// A client on the sim with `app` as its app registration config.
fn lib_with_app(sim: &RunningSim, dir: &std::path::Path, app: Value) -> Lib {
    let mut c = config(sim, dir);
    c["app"] = app;
    Lib::open(c)
}

fn web_app(secret: Option<&str>) -> Value {
    json!({"client_id": DEMO_WEB_APP_ID, "client_secret": secret, "redirect_uri": DEMO_WEB_APP_REDIRECT})
}

fn check(lib: &Lib) -> Value {
    lib.ok(o365_check_setup, json!({}))
}

fn item<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no item {name} in {report}"))
}

#[test]
fn check_setup_passes_for_registered_apps() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    // The web app with its secret and https redirect URI: every item ok.
    let lib = lib_with_app(&sim, dir.path(), web_app(Some(DEMO_WEB_APP_SECRET)));
    let r = check(&lib);
    assert_eq!(r["ok"], true, "{r}");
    for name in [
        "config",
        "store",
        "sign_in_endpoint",
        "graph_endpoint",
        "app_registration",
        "redirect_uri",
    ] {
        assert_eq!(item(&r, name)["verdict"], "ok", "{name}: {r}");
        assert!(item(&r, name)["message"].as_str().unwrap().len() > 10);
    }
    let app = item(&r, "app_registration");
    assert!(app["message"]
        .as_str()
        .unwrap()
        .contains("accepted its client secret"));
    assert_eq!(
        app["code"], "AADSTS9002313",
        "the expected invalid_grant: {app}"
    );
    drop(lib);
    // The public client of the tests: ok, with a warning that localhost is not for servers.
    let dir2 = tempfile::tempdir().unwrap();
    let lib = Lib::open(config(&sim, dir2.path()));
    let r = check(&lib);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(item(&r, "config")["verdict"], "warning", "{r}");
    assert!(item(&r, "config")["hint"]
        .as_str()
        .unwrap()
        .contains("'Web'"));
    assert_eq!(item(&r, "app_registration")["verdict"], "ok", "{r}");
    // A tenant given in the request; an unknown one fails the endpoint check.
    let r = lib.ok(o365_check_setup, json!({"tenant": "contoso.example"}));
    assert_eq!(r["ok"], true, "{r}");
    let r = lib.ok(o365_check_setup, json!({"tenant": "nope.example"}));
    assert_eq!(r["ok"], false);
    assert_eq!(item(&r, "sign_in_endpoint")["code"], "AADSTS90002", "{r}");
    // Bad request: unknown field.
    let (st, v) = lib.call(o365_check_setup, json!({"tenantt": "x"}));
    assert_eq!(st, O365_INVALID_ARGUMENT, "{v}");
}

#[test]
fn check_setup_names_each_bad_app_setup() {
    let sim = sim();
    let cases: [(Value, &str, &str, &str); 4] = [
        (
            json!({"client_id": "0badc0de-0000-4000-8000-000000000000", "redirect_uri": REDIRECT}),
            "app_registration",
            "AADSTS700016",
            "Application (client) ID",
        ),
        (
            web_app(Some("not-the-secret")),
            "app_registration",
            "AADSTS7000215",
            "Value (not the Secret ID)",
        ),
        (
            web_app(None),
            "app_registration",
            "AADSTS7000218",
            "'Web' platform",
        ),
        (
            json!({"client_id": APP_ID, "redirect_uri": "http://localhost:8080/not-registered"}),
            "redirect_uri",
            "AADSTS50011",
            "Platform configurations",
        ),
    ];
    for (app, name, code, hint) in cases {
        let dir = tempfile::tempdir().unwrap();
        let lib = lib_with_app(&sim, dir.path(), app.clone());
        let r = check(&lib);
        assert_eq!(r["ok"], false, "{app}: {r}");
        let i = item(&r, name);
        assert_eq!(i["verdict"], "failed", "{app}: {r}");
        assert_eq!(i["code"], code, "{app}: {r}");
        assert!(
            i["hint"].as_str().unwrap().contains(hint),
            "{app}: hint {}",
            i["hint"]
        );
        // What does not depend on the app stays ok.
        for other in ["store", "sign_in_endpoint", "graph_endpoint"] {
            assert_eq!(item(&r, other)["verdict"], "ok", "{other}: {r}");
        }
    }
}

#[test]
fn check_setup_reports_unreachable_and_untrusted_endpoints() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    // Without the sim's CA the TLS certificate is not trusted.
    let mut c = config(&sim, dir.path());
    c.as_object_mut().unwrap().remove("ca_file");
    let lib = Lib::open(c);
    let r = check(&lib);
    assert_eq!(r["ok"], false);
    for name in ["sign_in_endpoint", "graph_endpoint"] {
        let i = item(&r, name);
        assert_eq!(i["verdict"], "failed", "{r}");
        assert!(i["message"].as_str().unwrap().contains("cannot be reached"));
        assert!(i["hint"].as_str().unwrap().contains("ca_file"));
    }
    assert_eq!(item(&r, "app_registration")["verdict"], "failed");
    assert_eq!(item(&r, "store")["verdict"], "ok");
}

/// Starts a code-flow sign-in for `address` and lets `login` sign in; the completion result.
fn sign_in_with(sim: &RunningSim, lib: &Lib, address: &str, login: &str) -> (o365_status, Value) {
    let id = import(lib, address, &["u1"], json!({}));
    sign_in_as(sim, lib, &id, "u1", login)
}

fn assert_registration_error(st: o365_status, v: &Value, kind: &str, code: &str, hint: &str) {
    assert_eq!(st, O365_REMOTE, "{v}");
    assert_eq!(v["error"], kind, "{v}");
    assert_eq!(v["details"]["code"], code, "{v}");
    assert!(v["hint"].as_str().unwrap().contains(hint), "{v}");
    assert!(v["message"].as_str().unwrap().contains(code), "{v}");
}

#[test]
fn web_app_sign_in_needs_its_secret() {
    let sim = sim();
    // With the secret: the README's setup signs in.
    let dir = tempfile::tempdir().unwrap();
    let lib = lib_with_app(&sim, dir.path(), web_app(Some(DEMO_WEB_APP_SECRET)));
    let (st, v) = sign_in_with(&sim, &lib, ANNA, ANNA);
    assert_eq!(st, O365_OK, "{v}");
    assert_eq!(v["status"], "authenticated");
    // Without it: AADSTS7000218, the hint says to configure the secret.
    let dir = tempfile::tempdir().unwrap();
    let lib = lib_with_app(&sim, dir.path(), web_app(None));
    let (st, v) = sign_in_with(&sim, &lib, ANNA, ANNA);
    assert_registration_error(
        st,
        &v,
        "client_secret_missing",
        "AADSTS7000218",
        "set app.client_secret",
    );
    // A wrong one: AADSTS7000215.
    let dir = tempfile::tempdir().unwrap();
    let lib = lib_with_app(&sim, dir.path(), web_app(Some("an-old-secret")));
    let (st, v) = sign_in_with(&sim, &lib, ANNA, ANNA);
    assert_registration_error(
        st,
        &v,
        "client_secret_invalid",
        "AADSTS7000215",
        "Certificates & secrets",
    );
}

#[test]
fn unknown_app_is_named_on_device_code_start() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let lib = lib_with_app(
        &sim,
        dir.path(),
        json!({"client_id": "0badc0de-0000-4000-8000-000000000000", "redirect_uri": REDIRECT}),
    );
    let id = import(&lib, ANNA, &["u1"], json!({}));
    let (st, v) = lib.call(
        o365_authenticate,
        json!({"mailbox": id, "user": "u1", "flow": "device_code"}),
    );
    assert_registration_error(
        st,
        &v,
        "app_not_registered",
        "AADSTS700016",
        "Application (client) ID",
    );
}

#[test]
fn redirect_uri_removed_from_the_registration_is_named() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let lib = Lib::open(config(&sim, dir.path()));
    let id = import(&lib, ANNA, &["u1"], json!({}));
    let start = lib.ok(o365_authenticate, json!({"mailbox": id, "user": "u1"}));
    let url = start["authorize_url"].as_str().unwrap();
    let back = o365_sim::browser::sign_in_with_ca(
        Some(sim.ca_pem()),
        url,
        ANNA,
        PASSWORD,
        Consent::Accept,
    )
    .unwrap();
    // Meanwhile an administrator edits the registration: the CRM's URI is gone.
    sim.admin(
        "POST",
        "/apps",
        Some(
            json!({"clientId": APP_ID, "displayName": "Immo CRM Mail", "platform": "public",
                    "redirectUris": ["http://localhost:8400/callback"]}),
        ),
    )
    .unwrap();
    let (st, v) = lib.call(o365_authenticate, json!({"callback_url": back}));
    assert_registration_error(
        st,
        &v,
        "redirect_uri_not_registered",
        "AADSTS50011",
        "Platform configurations",
    );
    // And the sign-in page now refuses the URI on its own page (never redirecting).
    let start = lib.ok(
        o365_authenticate,
        json!({"mailbox": id, "user": "u1", "force": true}),
    );
    let e = o365_sim::browser::sign_in_with_ca(
        Some(sim.ca_pem()),
        start["authorize_url"].as_str().unwrap(),
        ANNA,
        PASSWORD,
        Consent::Accept,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("AADSTS50011"), "{e}");
}
