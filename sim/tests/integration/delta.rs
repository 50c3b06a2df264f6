//! Delta queries: rounds, paging, removals, changes during paging, 410.

use std::collections::{HashMap, HashSet};

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::*;

async fn round(t: &T, link: &str, tok: &str, page: usize) -> (Vec<Value>, String, usize) {
    let pref = format!("odata.maxpagesize={page}");
    let mut next = Some(link.to_string());
    let mut out = vec![];
    let mut pages = 0;
    loop {
        let r = t
            .req(
                Method::GET,
                next.as_deref().unwrap(),
                Some(tok),
                None,
                &[("Prefer", &pref)],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        pages += 1;
        let v = r.body["value"].as_array().unwrap();
        assert!(v.len() <= page);
        out.extend(v.iter().cloned());
        if let Some(n) = r.body["@odata.nextLink"].as_str() {
            assert!(n.contains("$skiptoken="));
            next = Some(n.to_string());
        } else {
            let d = r.body["@odata.deltaLink"]
                .as_str()
                .expect("deltaLink at the end of a round");
            assert!(d.contains("$deltatoken="));
            return (out, d.to_string(), pages);
        }
    }
}

#[tokio::test]
async fn message_delta_rounds() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let inbox = t.get("/v1.0/me/mailFolders/inbox", &tok).await.body;
    let total = inbox["totalItemCount"].as_u64().unwrap() as usize;
    let (items, delta, pages) = round(
        &t,
        "/v1.0/me/mailFolders/inbox/messages/delta?$select=subject,isRead",
        &tok,
        25,
    )
    .await;
    assert_eq!(items.len(), total);
    assert_eq!(pages, total.div_ceil(25));
    assert!(items.iter().all(|m| m.get("@removed").is_none()
        && m.get("subject").is_some()
        && m.get("body").is_none()));
    let ids: HashSet<&str> = items.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), total);
    // No changes: empty round.
    let (items, delta, _) = round(&t, &delta, &tok, 25).await;
    assert!(items.is_empty(), "{items:?}");
    // Changes from the other side (Outlook) and through Graph.
    let d = t
        .admin(
            Method::POST,
            &format!("/mailboxes/{ANNA}/deliver"),
            Some(json!({"subject": "Neu", "from": "x@example.com"})),
        )
        .await;
    let new_id = d["id"].as_str().unwrap().to_string();
    let list = t
        .get(
            "/v1.0/me/mailFolders/inbox/messages?$top=5&$skip=3&$select=id",
            &tok,
        )
        .await
        .body;
    let ids: Vec<String> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    t.patch(
        &format!("/v1.0/me/messages/{}", ids[0]),
        &tok,
        json!({"isRead": false}),
    )
    .await;
    t.post(
        &format!("/v1.0/me/messages/{}/move", ids[1]),
        &tok,
        json!({"destinationId": "archive"}),
    )
    .await;
    assert_eq!(
        t.delete(&format!("/v1.0/me/messages/{}", ids[2]), &tok)
            .await
            .status,
        204
    );
    t.admin(
        Method::POST,
        &format!("/mailboxes/{ANNA}/messages/{}/outlook", ids[3]),
        Some(json!({"action": "markRead"})),
    )
    .await;
    let (items, delta, _) = round(&t, &delta, &tok, 2).await;
    let by_id: HashMap<&str, &Value> = items
        .iter()
        .map(|m| (m["id"].as_str().unwrap(), m))
        .collect();
    assert_eq!(items.len(), 5, "{items:#?}");
    assert_eq!(by_id[new_id.as_str()]["subject"], "Neu");
    assert_eq!(by_id[ids[0].as_str()]["isRead"], false);
    assert_eq!(by_id[ids[1].as_str()]["@removed"]["reason"], "deleted");
    assert_eq!(by_id[ids[2].as_str()]["@removed"]["reason"], "deleted");
    assert_eq!(by_id[ids[3].as_str()]["isRead"], true);
    // The archive folder's own delta sees the moved message as new.
    let (arch, _, _) = round(&t, "/v1.0/me/mailFolders/archive/messages/delta", &tok, 100).await;
    assert_eq!(
        arch.len(),
        t.get("/v1.0/me/mailFolders/archive", &tok).await.body["totalItemCount"]
            .as_u64()
            .unwrap() as usize
    );
    // changeType=created only reports new messages.
    let (_, d2, _) = round(
        &t,
        "/v1.0/me/mailFolders/inbox/messages/delta?changeType=created",
        &tok,
        500,
    )
    .await;
    t.admin(
        Method::POST,
        &format!("/mailboxes/{ANNA}/deliver"),
        Some(json!({"subject": "Zwei"})),
    )
    .await;
    t.patch(
        &format!("/v1.0/me/messages/{}", ids[4]),
        &tok,
        json!({"isRead": false}),
    )
    .await;
    let (items, _, _) = round(&t, &d2, &tok, 500).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["subject"], "Zwei");
    // Invalidation: 410 SyncStateNotFound.
    t.admin(
        Method::POST,
        &format!("/mailboxes/{ANNA}/invalidate-sync"),
        None,
    )
    .await;
    let r = t.get(&delta, &tok).await;
    assert_eq!(r.status, 410);
    assert_eq!(r.code(), "SyncStateNotFound");
    let r = t
        .get(
            "/v1.0/me/mailFolders/inbox/messages/delta?$deltatoken=garbage",
            &tok,
        )
        .await;
    assert_eq!(r.status, 410);
    // Whole-mailbox delta is not a thing.
    assert_eq!(t.get("/v1.0/me/messages/delta", &tok).await.status, 400);
}

#[tokio::test]
async fn changes_during_paging_land_in_the_next_round() {
    let t = T::new().await;
    let tok = t.token(BEN).await;
    let pref = [("Prefer", "odata.maxpagesize=5")];
    let r = t
        .req(
            Method::GET,
            "/v1.0/me/mailFolders/inbox/messages/delta?$select=subject",
            Some(&tok),
            None,
            &pref,
        )
        .await;
    let first: Vec<Value> = r.body["value"].as_array().unwrap().clone();
    let mut next = r.body["@odata.nextLink"].as_str().unwrap().to_string();
    // Change an item already returned and add a new one while paging.
    let seen = first[0]["id"].as_str().unwrap().to_string();
    t.patch(
        &format!("/v1.0/me/messages/{seen}"),
        &tok,
        json!({"categories": ["x"]}),
    )
    .await;
    let added = t
        .admin(
            Method::POST,
            &format!("/mailboxes/{BEN}/deliver"),
            Some(json!({"subject": "Während"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut rest = vec![];
    let delta = loop {
        let r = t.req(Method::GET, &next, Some(&tok), None, &pref).await;
        rest.extend(r.body["value"].as_array().unwrap().iter().cloned());
        match r.body["@odata.nextLink"].as_str() {
            Some(n) => next = n.to_string(),
            None => break r.body["@odata.deltaLink"].as_str().unwrap().to_string(),
        }
    };
    let round1: HashSet<String> = first
        .iter()
        .chain(&rest)
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(round1.len(), 20, "the original 20 messages, each once");
    assert!(!round1.contains(&added));
    let (items, _, _) = round(&t, &delta, &tok, 50).await;
    let round2: HashSet<String> = items
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(round2, [seen, added].into_iter().collect());
}

#[tokio::test]
async fn folder_delta_and_token_expiry() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let (folders, delta, _) = round(&t, "/v1.0/me/mailFolders/delta", &tok, 4).await;
    let names: Vec<&str> = folders
        .iter()
        .map(|f| f["displayName"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Kunden"), "whole tree: {names:?}");
    assert!(names.contains(&"Posteingang"));
    assert!(!names.contains(&"Clutter"));
    assert!(folders.iter().all(|f| f["totalItemCount"].is_number()));
    let r = t
        .post("/v1.0/me/mailFolders", &tok, json!({"displayName": "Neu"}))
        .await;
    let nid = r.body["id"].as_str().unwrap().to_string();
    let (items, delta2, _) = round(&t, &delta, &tok, 50).await;
    let ids: Vec<&str> = items.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&nid.as_str()));
    // Unread changes show up as folder updates (counts).
    let m = t
        .get("/v1.0/me/mailFolders/archive/messages?$top=1", &tok)
        .await
        .body["value"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    t.patch(
        &format!("/v1.0/me/messages/{m}"),
        &tok,
        json!({"isRead": false}),
    )
    .await;
    let (items, _, _) = round(&t, &delta2, &tok, 50).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["displayName"], "Archiv");
    // Token lifetime.
    t.admin(
        Method::PUT,
        "/limits",
        Some(json!({"deltaTokenLifetimeSecs": 3600})),
    )
    .await;
    t.admin(
        Method::POST,
        "/clock/advance",
        Some(json!({"seconds": 7200})),
    )
    .await;
    let tok = t.token(ANNA).await;
    let r = t.get(&delta2, &tok).await;
    assert_eq!(r.status, 410);
}

#[tokio::test]
async fn delta_with_immutable_ids_and_filter() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let imm = [("Prefer", "IdType=\"ImmutableId\"")];
    let (items, _) = t
        .all_pages(
            "/v1.0/me/mailFolders/inbox/messages/delta?$select=receivedDateTime",
            &tok,
            &imm,
        )
        .await;
    let state = t
        .admin(
            Method::GET,
            &format!("/mailboxes/{ANNA}/messages?folder=inbox"),
            None,
        )
        .await;
    let immutable: HashSet<&str> = state["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["immutableId"].as_str().unwrap())
        .collect();
    assert!(items
        .iter()
        .all(|m| immutable.contains(m["id"].as_str().unwrap())));
    let cut = "2026-02-20T00:00:00Z";
    let (items, _) = t
        .all_pages(
            &format!("/v1.0/me/mailFolders/inbox/messages/delta?$filter=receivedDateTime ge {cut}"),
            &tok,
            &[],
        )
        .await;
    assert!(!items.is_empty());
    assert!(items
        .iter()
        .all(|m| m["receivedDateTime"].as_str().unwrap() >= cut));
}
