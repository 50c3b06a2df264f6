//! The test bench: tenants, users, grants, folders, state views, bulk seeding, persistence and
//! the binary's ready line.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::*;

#[tokio::test]
async fn create_tenant_users_and_sign_in() {
    let t = T::new().await;
    let r = t.admin(Method::POST, "/tenants", Some(json!({"domain": "northwind.example", "locale": "de-DE", "sendFromAliasEnabled": true, "adminConsentRequired": false}))).await;
    let tid = r["id"].as_str().unwrap().to_string();
    let r = t
        .req(
            Method::POST,
            "/_sim/tenants",
            None,
            Some(json!({"domain": "northwind.example"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 409);
    let u = t.admin(Method::POST, "/users", Some(json!({"userPrincipalName": "lea@northwind.example", "password": "Geheim1!", "displayName": "Lea", "aliases": ["kontakt@northwind.example"]}))).await;
    assert_eq!(
        u["proxyAddresses"],
        json!([
            "SMTP:lea@northwind.example",
            "smtp:kontakt@northwind.example"
        ])
    );
    assert_eq!(u["tenantId"], tid);
    t.admin(
        Method::POST,
        "/users",
        Some(json!({"userPrincipalName": "team@northwind.example", "shared": true})),
    )
    .await;
    t.admin(
        Method::POST,
        "/users/team@northwind.example/grants",
        Some(json!({"user": "lea@northwind.example", "fullAccess": true, "sendAs": true})),
    )
    .await;
    let r = t
        .req(
            Method::POST,
            "/_sim/users",
            None,
            Some(json!({"userPrincipalName": "x@unknown.example"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    let f = t
        .admin(
            Method::POST,
            "/mailboxes/lea@northwind.example/folders",
            Some(json!({"displayName": "Objekte", "parent": "inbox"})),
        )
        .await;
    assert_eq!(f["displayName"], "Objekte");
    // Lea signs in through the pages and uses Graph, German folder names included.
    let (v, c) = pkce();
    let url = t.authorize_url("northwind.example", ALL_SCOPES, &c, &[]);
    let q = query_of(
        &t.browser
            .sign_in(
                &url,
                "lea@northwind.example",
                "Geheim1!",
                o365_sim::Consent::Accept,
            )
            .await
            .unwrap(),
    );
    let r = t.redeem("northwind.example", &q["code"], &v).await;
    let tok = r.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims(&tok)["tid"], tid);
    assert_eq!(
        t.get("/v1.0/me/mailFolders/inbox", &tok).await.body["displayName"],
        "Posteingang"
    );
    assert_eq!(
        t.get("/v1.0/me/mailFolders/inbox/childFolders", &tok)
            .await
            .body["value"][0]["displayName"],
        "Objekte"
    );
    let mut m = simple_mail("a@example.com", "alias");
    m["from"] = json!({"emailAddress": {"address": "kontakt@northwind.example"}});
    assert_eq!(
        t.post("/v1.0/me/sendMail", &tok, json!({"message": m}))
            .await
            .status,
        202
    );
    assert_eq!(
        t.get("/v1.0/users/team@northwind.example/mailFolders", &tok)
            .await
            .status,
        200
    );
    let users = t.admin(Method::GET, "/users", None).await;
    assert!(users["users"].as_array().unwrap().len() >= 8);
    let r = t.req(Method::GET, "/_sim/nope", None, None, &[]).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn server_state_matches_graph() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let state = t
        .admin(Method::GET, &format!("/mailboxes/{ANNA}"), None)
        .await;
    let total: u64 = state["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["totalItemCount"].as_u64().unwrap())
        .sum();
    assert_eq!(total, state["messageCount"].as_u64().unwrap());
    assert!(total >= 300, "a few hundred messages");
    let objekte = state["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["displayName"] == "Gesendete Objekte")
        .unwrap();
    assert_eq!(objekte["totalItemCount"], 50);
    let msgs = t
        .admin(
            Method::GET,
            &format!("/mailboxes/{ANNA}/messages?folder=Gesendete%20Objekte"),
            None,
        )
        .await;
    let list = msgs["messages"].as_array().unwrap();
    assert_eq!(list.len(), 50);
    assert!(list.iter().all(|m| m["from"] == ANNA));
    assert!(
        list.iter()
            .all(|m| m["receivedDateTime"].as_str().unwrap() < "2025-03-01"),
        "older sent mail"
    );
    // Each folder's Graph listing equals the bench's view.
    for f in state["folders"].as_array().unwrap() {
        if f["wellKnownName"] == "msgfolderroot" {
            continue;
        }
        let fid = f["id"].as_str().unwrap();
        let (graph, _) = t
            .all_pages(
                &format!(
                    "/v1.0/me/mailFolders/{fid}/messages?$top=500&$select=internetMessageId,isRead"
                ),
                &tok,
                &[],
            )
            .await;
        let bench = t
            .admin(
                Method::GET,
                &format!("/mailboxes/{ANNA}/messages?folder={fid}"),
                None,
            )
            .await;
        let b: HashMap<&str, &Value> = bench["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["id"].as_str().unwrap(), m))
            .collect();
        assert_eq!(graph.len(), b.len(), "{}", f["displayName"]);
        for m in &graph {
            let bm = b[m["id"].as_str().unwrap()];
            assert_eq!(bm["internetMessageId"], m["internetMessageId"]);
            assert_eq!(bm["isRead"], m["isRead"]);
        }
        assert_eq!(
            graph.iter().filter(|m| m["isRead"] == false).count() as u64,
            f["unreadItemCount"].as_u64().unwrap()
        );
    }
}

#[tokio::test]
async fn bulk_seed_is_fast() {
    let t = T::new().await;
    let r = t.admin(Method::POST, &format!("/mailboxes/{BEN}/seed"), Some(json!({"count": 20000, "folders": ["inbox", "archive", "sentitems"], "unreadRatio": 0.1}))).await;
    assert_eq!(r["created"], 20000);
    assert!(r["millis"].as_u64().unwrap() < 10_000, "{r}");
    let tok = t.token(BEN).await;
    let inbox = t.get("/v1.0/me/mailFolders/inbox", &tok).await.body;
    assert!(inbox["totalItemCount"].as_u64().unwrap() >= 6667);
    let r = t
        .get(
            "/v1.0/me/mailFolders/archive/messages?$top=1000&$select=subject",
            &tok,
        )
        .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1000);
    assert!(r.body["@odata.nextLink"].is_string());
    let r = t
        .req(
            Method::POST,
            &format!("/_sim/mailboxes/{BEN}/seed"),
            None,
            Some(json!({"count": 1, "folders": ["nope"]})),
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn state_directory_survives_restart() {
    let dir = std::env::temp_dir().join(format!("o365-sim-test-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = o365_sim::SimOptions {
        state_dir: Some(dir.clone()),
        ..Default::default()
    };
    let t = T::with(opts.clone()).await;
    let ca = t.sim.ca_pem().to_string();
    let tok = t.tokens("contoso.example", ANNA, ALL_SCOPES).await;
    let rt = tok["refresh_token"].as_str().unwrap().to_string();
    let at = tok["access_token"].as_str().unwrap().to_string();
    t.post(
        "/v1.0/me/mailFolders",
        &at,
        json!({"displayName": "Bleibt"}),
    )
    .await;
    let count = t
        .admin(Method::GET, &format!("/mailboxes/{ANNA}"), None)
        .await["messageCount"]
        .clone();
    let T { sim, .. } = t;
    sim.shutdown().await;
    let t2 = T::with(opts).await;
    assert_eq!(t2.sim.ca_pem(), ca, "same CA");
    let r = t2.refresh("contoso.example", &rt).await;
    assert_eq!(r.status, 200, "refresh token survives: {}", r.text);
    let at = r.body["access_token"].as_str().unwrap().to_string();
    let (folders, _) = t2.all_pages("/v1.0/me/mailFolders", &at, &[]).await;
    assert!(folders.iter().any(|f| f["displayName"] == "Bleibt"));
    assert_eq!(
        t2.admin(Method::GET, &format!("/mailboxes/{ANNA}"), None)
            .await["messageCount"],
        count
    );
    let T { sim, .. } = t2;
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn binary_prints_ready_line_and_serves() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_o365-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "empty",
            "--latency-ms",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    let url = v["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("https://127.0.0.1:"));
    let ca = std::fs::read_to_string(v["ca_file"].as_str().unwrap()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = client(&ca);
        let h: Value = http
            .get(format!("{url}/_sim/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(h["ok"], true);
        // The empty seed has only the consumers tenant.
        let r = http
            .get(format!(
                "{url}/contoso.example/v2.0/.well-known/openid-configuration"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let r = http
            .get(format!(
                "{url}/consumers/v2.0/.well-known/openid-configuration"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    });
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn binary_saves_state_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("o365-sim-bin-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let start = || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_o365-sim"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--seed",
                "empty",
                "--state",
                dir.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        let ca = std::fs::read_to_string(v["ca_file"].as_str().unwrap()).unwrap();
        (child, v["url"].as_str().unwrap().to_string(), ca)
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut child, url, ca) = start();
    rt.block_on(async {
        let r = client(&ca)
            .post(format!("{url}/_sim/tenants"))
            .json(&json!({"domain": "persist.example"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    });
    let st = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    assert!(child.wait().unwrap().success(), "clean exit on SIGTERM");
    let saved = std::fs::read_to_string(dir.join("state.json")).unwrap();
    assert!(saved.contains("persist.example"));
    let (mut child, url2, ca2) = start();
    assert_eq!(ca2, ca, "same CA after restart");
    rt.block_on(async {
        let r = client(&ca2)
            .get(format!(
                "{url2}/persist.example/v2.0/.well-known/openid-configuration"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "the tenant survived the restart");
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
