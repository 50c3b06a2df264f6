//! Throttling, fault injection, $batch and counters.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::*;

#[tokio::test]
async fn mailbox_concurrency_limit() {
    let limits = o365_sim::Limits {
        concurrency_per_mailbox: 2,
        retry_after_secs: 3,
        ..Default::default()
    };
    let t = T::with_limits(limits).await;
    let tok = t.token(ANNA).await;
    t.admin(Method::PUT, "/latency", Some(json!({"ms": 300})))
        .await;
    let futs: Vec<_> = (0..6)
        .map(|_| t.get("/v1.0/me/mailFolders/inbox/messages?$top=1", &tok))
        .collect();
    let rs = futures_util::future::join_all(futs).await;
    let ok = rs.iter().filter(|r| r.status == 200).count();
    let throttled: Vec<&Resp> = rs.iter().filter(|r| r.status == 429).collect();
    assert_eq!(ok, 2, "exactly the limit gets through");
    assert_eq!(throttled.len(), 4);
    for r in &throttled {
        assert_eq!(r.code(), "ApplicationThrottled");
        assert!(r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MailboxConcurrency"));
        assert_eq!(r.headers["retry-after"], "3");
    }
    // Another mailbox has its own budget; the user object is not a mailbox request.
    let bt = t.token(BEN).await;
    let futs: Vec<_> = (0..2)
        .map(|_| t.get("/v1.0/me/messages?$top=1", &bt))
        .chain((0..2).map(|_| t.get("/v1.0/me", &tok)))
        .collect();
    assert!(futures_util::future::join_all(futs)
        .await
        .iter()
        .all(|r| r.status == 200));
    let c = t.admin(Method::GET, "/counters", None).await;
    assert_eq!(c["maxConcurrencyPerMailbox"][o365_sim::seed::ANNA_ID], 2);
    assert_eq!(c["throttled429"], 4);
    assert!(
        c["requestsPerRoute"]["GET /v1.0/me/mailFolders/inbox/messages"]
            .as_u64()
            .unwrap()
            >= 6
    );
}

#[tokio::test]
async fn request_window_limit() {
    let limits = o365_sim::Limits {
        requests_per_window: 5,
        window_secs: 600,
        ..Default::default()
    };
    let t = T::with_limits(limits).await;
    let tok = t.token(ANNA).await;
    for _ in 0..5 {
        assert_eq!(t.get("/v1.0/me/mailFolders", &tok).await.status, 200);
    }
    let r = t.get("/v1.0/me/mailFolders", &tok).await;
    assert_eq!(r.status, 429);
    let ra: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (590..=600).contains(&ra),
        "Retry-After {ra}: until the oldest request leaves the window"
    );
    // Per app: another client id has its own window.
    t.admin(
        Method::POST,
        "/apps",
        Some(json!({"clientId": "other-app", "platform": "public", "redirectUris": [REDIRECT]})),
    )
    .await;
    let (v, c) = pkce();
    let mut url =
        url::Url::parse(&t.authorize_url("contoso.example", ALL_SCOPES, &c, &[])).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "client_id" {
                (k, "other-app".into())
            } else {
                (k, v)
            }
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let q = query_of(
        &t.browser
            .sign_in(url.as_str(), ANNA, PW, o365_sim::Consent::Accept)
            .await
            .unwrap(),
    );
    let r = t
        .form(
            "/contoso.example/oauth2/v2.0/token",
            &[
                ("grant_type", "authorization_code"),
                ("client_id", "other-app"),
                ("code", &q["code"]),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &v),
            ],
        )
        .await;
    let other = r.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(t.get("/v1.0/me/mailFolders", &other).await.status, 200);
    // The window slides with the clock.
    t.admin(
        Method::POST,
        "/clock/advance",
        Some(json!({"seconds": 601})),
    )
    .await;
    let tok = t.token(ANNA).await;
    assert_eq!(t.get("/v1.0/me/mailFolders", &tok).await.status, 200);
}

#[tokio::test]
async fn faults_status_count_retry_after_and_skip() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let f = t.admin(Method::POST, "/faults", Some(json!({"method": "GET", "path": "/v1.0/me/mailFolders*", "status": 503, "retryAfter": 7, "count": 2, "skip": 1}))).await;
    let fid = f["id"].as_u64().unwrap();
    assert_eq!(
        t.get("/v1.0/me/mailFolders", &tok).await.status,
        200,
        "skipped"
    );
    for _ in 0..2 {
        let r = t.get("/v1.0/me/mailFolders", &tok).await;
        assert_eq!(r.status, 503);
        assert_eq!(r.code(), "ServiceUnavailable");
        assert_eq!(r.headers["retry-after"], "7");
    }
    assert_eq!(
        t.get("/v1.0/me/mailFolders", &tok).await.status,
        200,
        "count used up"
    );
    assert_eq!(
        t.get("/v1.0/me", &tok).await.status,
        200,
        "other routes untouched"
    );
    let list = t.admin(Method::GET, "/faults", None).await;
    assert_eq!(list["faults"][0]["applied"], 2);
    t.admin(Method::DELETE, &format!("/faults/{fid}"), None)
        .await;
    // 429 with a custom code, rate 1.0.
    t.admin(Method::POST, "/faults", Some(json!({"path": "/v1.0/me/messages*", "status": 429, "retryAfter": 1, "rate": 1.0, "code": "ApplicationThrottled"}))).await;
    let r = t.get("/v1.0/me/messages", &tok).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.code(), "ApplicationThrottled");
    // rate 0 never fires.
    t.admin(Method::DELETE, "/faults", None).await;
    t.admin(
        Method::POST,
        "/faults",
        Some(json!({"path": "/v1.0/me/messages*", "status": 500, "rate": 0.0})),
    )
    .await;
    for _ in 0..5 {
        assert_eq!(t.get("/v1.0/me/messages?$top=1", &tok).await.status, 200);
    }
    t.admin(Method::DELETE, "/faults", None).await;
    // 410 for delta tokens.
    t.admin(
        Method::POST,
        "/faults",
        Some(json!({"path": "/v1.0/me/mailFolders/*/messages/delta", "status": 410, "count": 1})),
    )
    .await;
    let r = t
        .get("/v1.0/me/mailFolders/inbox/messages/delta", &tok)
        .await;
    assert_eq!(r.status, 410);
    assert_eq!(r.code(), "SyncStateNotFound");
    // Latency.
    t.admin(
        Method::POST,
        "/faults",
        Some(json!({"path": "/v1.0/me", "latencyMs": 400, "count": 1})),
    )
    .await;
    let start = Instant::now();
    assert_eq!(t.get("/v1.0/me", &tok).await.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(400));
    let c = t.admin(Method::GET, "/counters", None).await;
    assert_eq!(c["faultsInjected"], 5);
}

#[tokio::test]
async fn token_endpoint_fault_body() {
    let t = T::new().await;
    t.admin(Method::POST, "/faults", Some(json!({"path": "/*/oauth2/v2.0/token", "status": 400, "code": "invalid_grant", "aadsts": 50076, "message": "MFA required.", "count": 1}))).await;
    let r = t.refresh("contoso.example", "whatever").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "invalid_grant");
    assert_eq!(r.body["error_codes"], json!([50076]));
    assert!(r.body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS50076: MFA required."));
    assert!(r.body["correlation_id"].is_string());
}

#[tokio::test]
async fn dropped_connection_after_the_send_was_carried_out() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    t.admin(Method::POST, "/faults", Some(json!({"method": "POST", "path": "/v1.0/me/sendMail", "dropConnection": true, "count": 1}))).await;
    let mut m = simple_mail("kunde@example.com", "Verloren");
    m["internetMessageId"] = json!("<lost-1@crm.example>");
    let r = t
        .http
        .post(t.url("/v1.0/me/sendMail"))
        .bearer_auth(&tok)
        .json(&json!({"message": m}))
        .send()
        .await;
    assert!(r.is_err(), "the client sees no answer: {r:?}");
    // ...but the mail went out and is in Sent Items.
    let o = t.admin(Method::GET, "/outbound", None).await;
    assert_eq!(
        o["messages"][0]["internetMessageId"],
        "<lost-1@crm.example>"
    );
    let r = t.get("/v1.0/me/mailFolders/sentitems/messages?$filter=internetMessageId eq '%3Clost-1%40crm.example%3E'", &tok).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    let c = t.admin(Method::GET, "/counters", None).await;
    assert_eq!(c["connectionsDropped"], 1);
}

#[tokio::test]
async fn json_batching() {
    let limits = o365_sim::Limits {
        batch_max: 4,
        ..Default::default()
    };
    let t = T::with_limits(limits).await;
    let tok = t.token(ANNA).await;
    let first = t
        .get(
            "/v1.0/me/mailFolders/inbox/messages?$top=2&$select=id,isRead",
            &tok,
        )
        .await
        .body;
    let id = first["value"][0]["id"].as_str().unwrap().to_string();
    let body = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/me/mailFolders/inbox/messages?$top=3"},
        {"id": "2", "method": "PATCH", "url": format!("/me/messages/{id}"), "headers": {"Content-Type": "application/json"}, "body": {"isRead": true}},
        {"id": "3", "method": "GET", "url": "/me/mailFolders/AQMkADAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
        {"id": "4", "method": "GET", "url": "/me"},
    ]});
    let r = t.post("/v1.0/$batch", &tok, body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rs = r.body["responses"].as_array().unwrap();
    let by = |i: &str| rs.iter().find(|x| x["id"] == i).unwrap().clone();
    assert_eq!(by("1")["status"], 200);
    assert_eq!(by("1")["body"]["value"].as_array().unwrap().len(), 3);
    assert_eq!(by("2")["status"], 200);
    assert_eq!(by("2")["body"]["isRead"], true);
    assert_eq!(by("3")["status"], 404);
    assert_eq!(by("3")["body"]["error"]["code"], "ErrorItemNotFound");
    assert_eq!(by("4")["body"]["userPrincipalName"], ANNA);
    // dependsOn: a failed dependency gives 424 to its dependents.
    let body = json!({"requests": [
        {"id": "a", "method": "GET", "url": "/me/mailFolders/nope"},
        {"id": "b", "dependsOn": ["a"], "method": "GET", "url": "/me"},
        {"id": "c", "method": "GET", "url": "/me"},
        {"id": "d", "dependsOn": ["c"], "method": "GET", "url": "/me/mailFolders/inbox"},
    ]});
    let r = t.post("/v1.0/$batch", &tok, body).await;
    let rs = r.body["responses"].as_array().unwrap();
    let st: Vec<(String, u64)> = rs
        .iter()
        .map(|x| {
            (
                x["id"].as_str().unwrap().to_string(),
                x["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        st,
        vec![
            ("a".into(), 400),
            ("b".into(), 424),
            ("c".into(), 200),
            ("d".into(), 200)
        ]
    );
    // Whole-batch errors.
    let five: Vec<Value> = (0..5)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/me"}))
        .collect();
    assert_eq!(
        t.post("/v1.0/$batch", &tok, json!({"requests": five}))
            .await
            .status,
        400
    );
    let dup = json!({"requests": [{"id": "x", "method": "GET", "url": "/me"}, {"id": "X", "method": "GET", "url": "/me"}]});
    assert_eq!(t.post("/v1.0/$batch", &tok, dup).await.status, 400);
    let nohdr = json!({"requests": [{"id": "x", "method": "PATCH", "url": "/me/messages/1", "body": {"isRead": true}}]});
    assert_eq!(t.post("/v1.0/$batch", &tok, nohdr).await.status, 400);
    let fwd = json!({"requests": [{"id": "x", "dependsOn": ["y"], "method": "GET", "url": "/me"}, {"id": "y", "method": "GET", "url": "/me"}]});
    assert_eq!(t.post("/v1.0/$batch", &tok, fwd).await.status, 400);
    assert_eq!(
        t.req(
            Method::POST,
            "/v1.0/$batch",
            None,
            Some(json!({"requests": []})),
            &[]
        )
        .await
        .status,
        401
    );
    // Inner requests are counted and throttled individually.
    let c = t.admin(Method::GET, "/counters", None).await;
    assert_eq!(
        c["requestsPerRoute"]["GET /v1.0/me"], 2,
        "one per executed inner request"
    );
    t.admin(
        Method::PUT,
        "/limits",
        Some(json!({"concurrencyPerMailbox": 1})),
    )
    .await;
    t.admin(Method::PUT, "/latency", Some(json!({"ms": 200})))
        .await;
    let body = json!({"requests": (0..4).map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/me/mailFolders"})).collect::<Vec<_>>()});
    let r = t.post("/v1.0/$batch", &tok, body).await;
    let statuses: Vec<u64> = r.body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn limits_and_counters_admin() {
    let t = T::new().await;
    let l = t.admin(Method::GET, "/limits", None).await;
    assert_eq!(l["concurrencyPerMailbox"], 4);
    assert_eq!(l["requestsPerWindow"], 10000);
    assert_eq!(l["windowSecs"], 600);
    assert_eq!(l["sendsPerMinute"], 30);
    assert_eq!(l["maxBodyBytes"], 4 * 1024 * 1024);
    assert_eq!(l["maxRecipients"], 500);
    assert_eq!(l["batchMax"], 20);
    let r = t
        .req(
            Method::PUT,
            "/_sim/limits",
            None,
            Some(json!({"noSuchLimit": 1})),
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    let l = t
        .admin(Method::PUT, "/limits", Some(json!({"maxRecipients": 10})))
        .await;
    assert_eq!(l["maxRecipients"], 10);
    let tok = t.token(ANNA).await;
    t.get("/v1.0/me", &tok).await;
    let c = t.admin(Method::GET, "/counters", None).await;
    assert_eq!(c["codesRedeemed"], 1);
    assert_eq!(c["requestsPerRoute"]["GET /v1.0/me"], 1);
    assert!(c["requestsPerRoute"]["POST /{tenant}/oauth2/v2.0/token"]
        .as_u64()
        .is_some());
    t.admin(Method::POST, "/counters/reset", None).await;
    let c = t.admin(Method::GET, "/counters", None).await;
    assert_eq!(c["requests"], 0);
}
