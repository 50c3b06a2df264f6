//! The admin API reads typed requests: an unknown or misspelt field, a malformed body or query
//! is a 400 `{"error": {"code": "invalid_request", "message"}}` that names the problem, and
//! the refused request changes nothing.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::*;

/// Asserts a 400 `invalid_request` whose message contains `needle`.
fn assert_refused(r: &Resp, needle: &str, what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.text);
    assert_eq!(
        r.body["error"]["code"], "invalid_request",
        "{what}: {}",
        r.text
    );
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains(needle), "{what}: {msg:?} lacks {needle:?}");
}

#[tokio::test]
async fn unknown_fields_are_refused_naming_the_field() {
    let t = T::new().await;
    let before_lifetimes = t.admin(Method::GET, "/token-lifetimes", None).await;
    let before_limits = t.admin(Method::GET, "/limits", None).await;
    let before_clock = t.admin(Method::GET, "/clock", None).await;
    let before_tenant = t.admin(Method::GET, "/tenants/contoso.example", None).await;
    let before_ben = t.admin(Method::GET, &format!("/users/{BEN}"), None).await;
    let before_anna = t
        .admin(Method::GET, &format!("/mailboxes/{ANNA}"), None)
        .await;
    let delay = format!("/_sim/mailboxes/{ANNA}/submission-delay");
    let cases: Vec<(Method, String, Value, &str)> = vec![
        (
            Method::PUT,
            delay.clone(),
            json!({"delya_ms": 5}),
            "delya_ms",
        ),
        (
            Method::POST,
            "/_sim/clock/advance".into(),
            json!({"seconds": 60, "secs": 2}),
            "secs",
        ),
        (
            Method::POST,
            "/_sim/tokens/expire".into(),
            json!({"usr": ANNA}),
            "usr",
        ),
        (
            Method::POST,
            "/_sim/tokens/revoke".into(),
            json!({"user": ANNA, "refresh": true}),
            "refresh",
        ),
        (
            Method::PATCH,
            "/_sim/tenants/contoso.example".into(),
            json!({"sendFromAliasEnable": true}),
            "sendFromAliasEnable",
        ),
        (
            Method::POST,
            "/_sim/tenants".into(),
            json!({"domain": "neu.example", "adminConsent": true}),
            "adminConsent",
        ),
        (
            Method::POST,
            "/_sim/tenants/contoso.example/consents".into(),
            json!({"client_id": CLIENT}),
            "client_id",
        ),
        (
            Method::POST,
            "/_sim/users".into(),
            json!({"userPrincipalName": "neu@contoso.example", "pasword": "x"}),
            "pasword",
        ),
        (
            Method::PATCH,
            format!("/_sim/users/{BEN}"),
            json!({"displayname": "Ben"}),
            "displayname",
        ),
        (
            Method::POST,
            format!("/_sim/users/{VERTRIEB}/grants"),
            json!({"user": BEN, "sendAS": true}),
            "sendAS",
        ),
        (
            Method::POST,
            "/_sim/faults".into(),
            json!({"path": "/v1.0/*", "status": 503, "retry_after": 5}),
            "retry_after",
        ),
        (
            Method::PUT,
            "/_sim/limits".into(),
            json!({"maxRecipient": 5}),
            "maxRecipient",
        ),
        (
            Method::PUT,
            "/_sim/token-lifetimes".into(),
            json!({"accessTokenSec": 60}),
            "accessTokenSec",
        ),
        (
            Method::PUT,
            "/_sim/latency".into(),
            json!({"ms": 5, "jitter": 1}),
            "jitter",
        ),
        (
            Method::POST,
            format!("/_sim/mailboxes/{ANNA}/deliver"),
            json!({"subject": "Neu", "fodler": "inbox"}),
            "fodler",
        ),
        (
            Method::POST,
            format!("/_sim/mailboxes/{ANNA}/deliver"),
            json!({"subject": "Neu", "attachments": [{"nmae": "a.txt", "size": 3}]}),
            "nmae",
        ),
        (
            Method::POST,
            format!("/_sim/mailboxes/{ANNA}/deliver"),
            json!({"subject": "Neu", "from": {"address": "a@x.example", "display": "A"}}),
            "display",
        ),
        (
            // `folder` is a field of deliver, not of outlook-send.
            Method::POST,
            format!("/_sim/mailboxes/{ANNA}/outlook-send"),
            json!({"to": ["kunde@example.com"], "subject": "x", "folder": "inbox"}),
            "folder",
        ),
        (
            Method::POST,
            format!("/_sim/mailboxes/{ANNA}/seed"),
            json!({"count": 3, "unread_ratio": 0.5}),
            "unread_ratio",
        ),
        (
            Method::POST,
            format!("/_sim/mailboxes/{ANNA}/folders"),
            json!({"displayName": "Neu", "hidden": true}),
            "hidden",
        ),
        (
            Method::POST,
            "/_sim/apps".into(),
            json!({"clientId": "neu", "redirectUri": REDIRECT}),
            "redirectUri",
        ),
    ];
    for (method, path, body, field) in cases {
        let what = format!("{method} {path}");
        let r = t.req(method, &path, None, Some(body), &[]).await;
        assert_refused(&r, &format!("unknown field `{field}`"), &what);
    }
    // Where the struct has a fixed list, the message says what was expected.
    let r = t
        .req(Method::PUT, &delay, None, Some(json!({"delya_ms": 5})), &[])
        .await;
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("`ms`") && msg.contains("`minMs`"), "{msg}");

    // Query strings too.
    for path in [
        "/_sim/outbound?mailbx=anna".to_string(),
        format!("/_sim/mailboxes/{ANNA}/messages?limt=1"),
    ] {
        let r = t.req(Method::GET, &path, None, None, &[]).await;
        assert_refused(&r, "unknown field", &path);
    }

    // Nothing of the refused requests took effect.
    assert_eq!(
        t.admin(Method::GET, "/token-lifetimes", None).await,
        before_lifetimes
    );
    assert_eq!(t.admin(Method::GET, "/limits", None).await, before_limits);
    assert_eq!(
        t.admin(Method::GET, "/clock", None).await["offsetSeconds"],
        before_clock["offsetSeconds"]
    );
    assert_eq!(
        t.admin(Method::GET, "/tenants/contoso.example", None).await,
        before_tenant
    );
    assert_eq!(
        t.admin(Method::GET, &format!("/users/{BEN}"), None).await,
        before_ben
    );
    let anna = t
        .admin(Method::GET, &format!("/mailboxes/{ANNA}"), None)
        .await;
    assert_eq!(anna["messageCount"], before_anna["messageCount"]);
    assert_eq!(anna["folders"], before_anna["folders"]);
    assert_eq!(anna["submissionDelay"], json!({"minMs": 0, "maxMs": 0}));
    assert!(t.admin(Method::GET, "/faults", None).await["faults"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(t.admin(Method::GET, "/outbound", None).await["messages"]
        .as_array()
        .unwrap()
        .is_empty());
    let r = t.req(Method::GET, "/_sim/apps/neu", None, None, &[]).await;
    assert_eq!(r.status, 404);
    let r = t
        .req(
            Method::GET,
            "/_sim/users/neu@contoso.example",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 404);
    let r = t
        .req(Method::GET, "/_sim/tenants/neu.example", None, None, &[])
        .await;
    assert_eq!(r.status, 404);

    // The same requests, spelt right, are taken.
    let d = t
        .admin(Method::PUT, &delay["/_sim".len()..], Some(json!({"ms": 5})))
        .await;
    assert_eq!(d, json!({"minMs": 5, "maxMs": 5}));
    let c = t
        .admin(Method::POST, "/clock/advance", Some(json!({"seconds": 60})))
        .await;
    assert_eq!(
        c["offsetSeconds"].as_i64().unwrap(),
        before_clock["offsetSeconds"].as_i64().unwrap() + 60
    );
    let l = t
        .admin(Method::PUT, "/limits", Some(json!({"maxRecipients": 5})))
        .await;
    assert_eq!(l["maxRecipients"], 5);
}

#[tokio::test]
async fn requests_without_fields_take_no_body_or_an_empty_object() {
    let t = T::new().await;
    let fault = t
        .admin(
            Method::POST,
            "/faults",
            Some(json!({"path": "/v1.0/nothing", "status": 503})),
        )
        .await;
    let id = fault["id"].as_u64().unwrap();
    for (method, path) in [
        (Method::DELETE, "/_sim/faults".to_string()),
        (Method::DELETE, format!("/_sim/faults/{id}")),
        (Method::POST, "/_sim/counters/reset".to_string()),
        (
            Method::POST,
            format!("/_sim/mailboxes/{ANNA}/invalidate-sync"),
        ),
        (Method::DELETE, "/_sim/outbound".to_string()),
        (Method::POST, "/_sim/save".to_string()),
    ] {
        let r = t
            .req(method.clone(), &path, None, Some(json!({"all": true})), &[])
            .await;
        assert_refused(&r, "unknown field `all`", &format!("{method} {path}"));
    }
    let faults = t.admin(Method::GET, "/faults", None).await;
    assert_eq!(faults["faults"].as_array().unwrap().len(), 1, "{faults}");
    let epoch = t
        .admin(Method::GET, &format!("/mailboxes/{ANNA}"), None)
        .await["syncEpoch"]
        .clone();
    assert_eq!(epoch, 1, "the refused invalidate-sync changed nothing");
    // `{}` and no body at all are both fine.
    let r = t
        .admin(
            Method::POST,
            &format!("/mailboxes/{ANNA}/invalidate-sync"),
            Some(json!({})),
        )
        .await;
    assert_eq!(r["syncEpoch"], 2);
    let r = t
        .admin(Method::DELETE, &format!("/faults/{id}"), None)
        .await;
    assert_eq!(r["removed"], id);
}

/// Sends `body` as it is, with `content_type` (none when absent).
async fn raw(t: &T, method: Method, path: &str, content_type: Option<&str>, body: &str) -> Resp {
    let mut rb = t.http.request(method, t.url(path)).body(body.to_string());
    if let Some(ct) = content_type {
        rb = rb.header("content-type", ct);
    }
    Resp::read(rb.send().await.expect("request")).await
}

#[tokio::test]
async fn malformed_bodies_get_a_clear_400() {
    let t = T::new().await;
    let json_ct = Some("application/json");
    let advance = "/_sim/clock/advance";
    let before = t.admin(Method::GET, "/clock", None).await["offsetSeconds"].clone();
    let cases = [
        (r#"{"seconds": 60"#, "EOF while parsing"),
        ("", "a JSON object body is required"),
        ("  \n", "a JSON object body is required"),
        ("seconds=60", "the body must be a JSON object"),
        ("60", "the body must be a JSON object"),
        ("null", "the body must be a JSON object"),
        (
            r#"{"seconds": "sixty"}"#,
            "invalid type: string \"sixty\", expected i64",
        ),
        (r#"{"seconds": 1.5}"#, "invalid type: floating point"),
        ("{}", "missing field `seconds`"),
        ("[60]", "the body must be a JSON object"),
        (
            r#"{"seconds": 60, "seconds": 60}"#,
            "duplicate field `seconds`",
        ),
    ];
    for (body, needle) in cases {
        let r = raw(&t, Method::POST, advance, json_ct, body).await;
        assert_refused(&r, needle, body);
    }
    assert_eq!(
        t.admin(Method::GET, "/clock", None).await["offsetSeconds"],
        before,
        "no refused advance moved the clock"
    );

    // Wrong values inside an otherwise well-formed body.
    let r = t
        .req(
            Method::POST,
            "/_sim/tenants",
            None,
            Some(json!({"domain": "neu.example", "aliasSendMode": "silently"})),
            &[],
        )
        .await;
    assert_refused(
        &r,
        "unknown variant `silently`, expected `error` or `rewrite`",
        "aliasSendMode",
    );
    let r = t
        .req(
            Method::POST,
            &format!("/_sim/mailboxes/{ANNA}/deliver"),
            None,
            Some(json!({"subject": "x", "to": [42]})),
            &[],
        )
        .await;
    assert_refused(&r, "an address is", "to: [42]");
    let r = t
        .req(
            Method::POST,
            &format!("/_sim/mailboxes/{ANNA}/messages/x/outlook"),
            None,
            Some(json!({"action": "archive"})),
            &[],
        )
        .await;
    assert_refused(&r, "unknown variant `archive`", "action");
    let r = t
        .req(
            Method::POST,
            &format!("/_sim/mailboxes/{ANNA}/seed"),
            None,
            Some(json!({"count": -1})),
            &[],
        )
        .await;
    assert_refused(&r, "invalid value: integer `-1`", "count -1");
    let r = t
        .req(
            Method::GET,
            &format!("/_sim/mailboxes/{ANNA}/messages?limit=many"),
            None,
            None,
            &[],
        )
        .await;
    assert_refused(&r, "limit", "limit=many");

    // A body that is not JSON at all: 415, in the same error shape.
    let r = raw(
        &t,
        Method::POST,
        advance,
        Some("text/plain"),
        r#"{"seconds": 1}"#,
    )
    .await;
    assert_eq!(r.status, 415, "{}", r.text);
    assert_eq!(
        r.body["error"]["code"], "unsupported_media_type",
        "{}",
        r.text
    );
    let r = raw(&t, Method::POST, advance, None, r#"{"seconds": 1}"#).await;
    assert_eq!(r.status, 415, "{}", r.text);
}

#[tokio::test]
async fn unknown_admin_routes_and_methods_answer_in_the_error_shape() {
    let t = T::new().await;
    let r = t.req(Method::GET, "/_sim/nope", None, None, &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["code"], "not_found", "{}", r.text);
    assert!(r.text.contains("/_sim/nope"), "{}", r.text);
    let r = t.req(Method::DELETE, "/_sim/clock", None, None, &[]).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.body["error"]["code"], "method_not_allowed", "{}", r.text);
    let r = t
        .req(
            Method::GET,
            "/_sim/users/nobody@contoso.example",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["code"], "not_found");
    assert_eq!(r.body["error"]["message"], "no such user");
    let r = t
        .req(
            Method::POST,
            "/_sim/tenants",
            None,
            Some(json!({"domain": "contoso.example"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["error"]["code"], "conflict", "{}", r.text);
}

/// The blocking Rust helper passes the sim's error through, field name included.
#[test]
fn blocking_admin_helper_reports_the_refused_field() {
    let sim = o365_sim::RunningSim::start_blocking(o365_sim::SimOptions::default()).unwrap();
    let e = sim
        .admin("PUT", "/latency", Some(json!({"msec": 5})))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("400") && e.contains("unknown field `msec`"),
        "{e}"
    );
    sim.shutdown_blocking();
}
