//! Graph: users, folders, messages, ids, auth failures, shared mailboxes.

use o365_sim::seed::{ANNA_ID, BEN_ID, VERTRIEB_ID};
use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn me_and_users() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let r = t.get("/v1.0/me", &tok).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], ANNA_ID);
    assert_eq!(r.body["userPrincipalName"], ANNA);
    assert_eq!(r.body["mail"], ANNA);
    assert_eq!(r.body["preferredLanguage"], "de-DE");
    assert!(r.body["businessPhones"].is_array());
    assert!(r.body.get("proxyAddresses").is_none(), "only with $select");
    assert!(r.headers.contains_key("request-id"));
    let r = t
        .get(
            "/v1.0/me?$select=id,mail,userPrincipalName,proxyAddresses",
            &tok,
        )
        .await;
    assert_eq!(
        r.body["proxyAddresses"],
        json!([
            "SMTP:anna.schmidt@contoso.example",
            "smtp:info@contoso.example"
        ])
    );
    assert!(r.body.get("displayName").is_none());
    // By UPN, by id, by alias; other users need User.ReadBasic.All.
    for who in [ANNA, ANNA_ID, "info@contoso.example"] {
        assert_eq!(
            t.get(&format!("/v1.0/users/{who}"), &tok).await.body["id"],
            ANNA_ID,
            "{who}"
        );
    }
    assert_eq!(
        t.get(&format!("/v1.0/users('{BEN}')"), &tok).await.body["id"],
        BEN_ID
    );
    let r = t.get("/v1.0/users/nobody@contoso.example", &tok).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "Request_ResourceNotFound");
    let r = t.get("/v1.0/me?$select=shoeSize", &tok).await;
    assert_eq!(r.status, 400);
    let narrow = t.token_scopes(ANNA, "openid User.Read").await;
    assert_eq!(t.get("/v1.0/me", &narrow).await.status, 200);
    assert_eq!(
        t.get(&format!("/v1.0/users/{BEN}"), &narrow).await.status,
        403
    );
    let r = t.get("/v1.0/me/mailboxSettings", &tok).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["language"]["locale"], "de-DE");
    assert_eq!(t.get("/v1.0/me/mailboxSettings", &narrow).await.status, 403);
}

#[tokio::test]
async fn bad_tokens_get_401() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let r = t.req(Method::GET, "/v1.0/me", None, None, &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "InvalidAuthenticationToken");
    assert!(r.body["error"]["innerError"]["request-id"].is_string());
    assert!(r.body["error"]["innerError"]["date"].is_string());
    assert!(r.headers.contains_key("www-authenticate"));
    // Tampered payload: signature fails.
    let mut parts: Vec<String> = tok.split('.').map(|s| s.to_string()).collect();
    let mut c = claims(&tok);
    c["oid"] = json!(BEN_ID);
    parts[1] = o365_sim::state::b64url(c.to_string().as_bytes());
    let forged = parts.join(".");
    assert_eq!(t.get("/v1.0/me", &forged).await.status, 401);
    assert_eq!(t.get("/v1.0/me", "not-a-jwt").await.status, 401);
    // A token of another sim instance (same process, same demo ids) is not accepted.
    let other = T::new().await;
    let foreign = other.token(ANNA).await;
    let r = t.get("/v1.0/me", &foreign).await;
    assert_eq!(r.status, 401);
    assert!(
        r.body["error"]["message"].as_str().unwrap().contains("kid"),
        "{}",
        r.text
    );
    // client-request-id is echoed.
    let r = t
        .req(
            Method::GET,
            "/v1.0/me",
            Some("x"),
            None,
            &[("client-request-id", "abc-123")],
        )
        .await;
    assert_eq!(
        r.body["error"]["innerError"]["client-request-id"],
        "abc-123"
    );
    // Expired by the clock.
    assert_eq!(t.get("/v1.0/me", &tok).await.status, 200);
    t.admin(
        Method::POST,
        "/clock/advance",
        Some(json!({"seconds": 3600})),
    )
    .await;
    let r = t.get("/v1.0/me", &tok).await;
    assert_eq!(r.status, 401);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
    // Admin expiry and revocation.
    let tok = t.token(ANNA).await;
    assert_eq!(t.get("/v1.0/me", &tok).await.status, 200);
    t.admin(Method::POST, "/tokens/expire", Some(json!({"user": ANNA})))
        .await;
    assert_eq!(t.get("/v1.0/me", &tok).await.status, 401);
    let tok = t.token(ANNA).await;
    assert_eq!(
        t.get("/v1.0/me", &tok).await.status,
        200,
        "new tokens work after expiry"
    );
    t.admin(
        Method::POST,
        "/tokens/revoke-access",
        Some(json!({"accessToken": tok})),
    )
    .await;
    assert_eq!(t.get("/v1.0/me", &tok).await.status, 401);
    let tok = t.token(ANNA).await;
    t.admin(Method::POST, "/tokens/revoke", Some(json!({"user": ANNA})))
        .await;
    assert_eq!(t.get("/v1.0/me", &tok).await.status, 401);
}

#[tokio::test]
async fn german_folders_paging_hidden_and_children() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let r = t.get("/v1.0/me/mailFolders", &tok).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["value"].as_array().unwrap().len(),
        9,
        "default page size is 10, 9 visible top-level folders"
    );
    let (all, _) = t.all_pages("/v1.0/me/mailFolders?$top=3", &tok, &[]).await;
    let names: Vec<&str> = all
        .iter()
        .map(|f| f["displayName"].as_str().unwrap())
        .collect();
    for n in [
        "Posteingang",
        "Gesendete Elemente",
        "Entwürfe",
        "Gelöschte Elemente",
        "Junk-E-Mail",
        "Archiv",
        "Postausgang",
        "Gesendete Objekte",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert!(!names.contains(&"Clutter"));
    let (hidden, _) = t
        .all_pages(
            "/v1.0/me/mailFolders?includeHiddenFolders=true&$top=4",
            &tok,
            &[],
        )
        .await;
    assert_eq!(hidden.len(), all.len() + 1);
    assert!(hidden.iter().any(|f| f["isHidden"] == true));
    let r = t
        .get(
            "/v1.0/me/mailFolders?$filter=displayName eq 'Gesendete Objekte'",
            &tok,
        )
        .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["value"][0]["totalItemCount"], 50);
    assert_eq!(
        t.get("/v1.0/me/mailFolders?$filter=totalItemCount gt 1", &tok)
            .await
            .status,
        400
    );
    // Well-known names, childFolders, counts.
    let inbox = t.get("/v1.0/me/mailFolders/Inbox", &tok).await.body;
    assert_eq!(inbox["displayName"], "Posteingang");
    assert_eq!(inbox["childFolderCount"], 1);
    let kids = t
        .get("/v1.0/me/mailFolders/inbox/childFolders", &tok)
        .await
        .body;
    assert_eq!(kids["value"][0]["displayName"], "Kunden");
    assert_eq!(kids["value"][0]["parentFolderId"], inbox["id"]);
    let kid_id = kids["value"][0]["id"].as_str().unwrap();
    let r = t
        .get(
            &format!("/v1.0/me/mailFolders/inbox/childFolders/{kid_id}/messages?$top=50"),
            &tok,
        )
        .await;
    assert_eq!(
        r.body["value"].as_array().unwrap().len() as i64,
        kids["value"][0]["totalItemCount"].as_i64().unwrap()
    );
    // Folder CRUD.
    let r = t
        .post(
            "/v1.0/me/mailFolders",
            &tok,
            json!({"displayName": "Projekte"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let pid = r.body["id"].as_str().unwrap().to_string();
    let r = t
        .post(
            "/v1.0/me/mailFolders",
            &tok,
            json!({"displayName": "projekte"}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "ErrorFolderExists");
    let r = t
        .post(
            &format!("/v1.0/me/mailFolders/{pid}/childFolders"),
            &tok,
            json!({"displayName": "2026"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        t.get(&format!("/v1.0/me/mailFolders/{pid}"), &tok)
            .await
            .body["childFolderCount"],
        1
    );
    let r = t
        .patch(
            &format!("/v1.0/me/mailFolders/{pid}"),
            &tok,
            json!({"displayName": "Projekte alt"}),
        )
        .await;
    assert_eq!(r.body["displayName"], "Projekte alt");
    assert_eq!(
        t.patch(
            "/v1.0/me/mailFolders/inbox",
            &tok,
            json!({"displayName": "x"})
        )
        .await
        .status,
        400
    );
    assert_eq!(
        t.delete(&format!("/v1.0/me/mailFolders/{pid}"), &tok)
            .await
            .status,
        204
    );
    let deleted = t
        .get("/v1.0/me/mailFolders/deleteditems/childFolders", &tok)
        .await
        .body;
    assert!(deleted["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == pid.as_str()));
    let r = t.get("/v1.0/me/mailFolders/doesnotexist", &tok).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "ErrorInvalidIdMalformed");
    let r = t
        .get(
            "/v1.0/me/mailFolders/AQMkADAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            &tok,
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "ErrorItemNotFound");
}

#[tokio::test]
async fn english_mailbox_names() {
    let t = T::new().await;
    // Fabrikam requires admin consent; grant it through the bench, then sign in.
    t.admin(
        Method::POST,
        "/tenants/fabrikam.example/consents",
        Some(json!({"clientId": CLIENT})),
    )
    .await;
    let tok = t.token(EVE).await;
    let r = t.get("/v1.0/me/mailFolders/sentitems", &tok).await;
    assert_eq!(r.body["displayName"], "Sent Items");
    assert_eq!(
        t.get("/v1.0/me/mailFolders/inbox", &tok).await.body["displayName"],
        "Inbox"
    );
}

#[tokio::test]
async fn message_listing_select_top_order_filter() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let inbox = t.get("/v1.0/me/mailFolders/inbox", &tok).await.body;
    let total = inbox["totalItemCount"].as_u64().unwrap() as usize;
    let unread = inbox["unreadItemCount"].as_u64().unwrap() as usize;
    assert!(total >= 150 && unread > 0 && unread < total);
    // Default page 10 with nextLink.
    let r = t.get("/v1.0/me/mailFolders/inbox/messages", &tok).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 10);
    assert!(
        r.body["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("%24skip=10")
            || r.body["@odata.nextLink"]
                .as_str()
                .unwrap()
                .contains("$skip=10")
    );
    let m0 = &r.body["value"][0];
    for k in [
        "id",
        "@odata.etag",
        "subject",
        "receivedDateTime",
        "from",
        "toRecipients",
        "body",
        "isRead",
        "parentFolderId",
        "internetMessageId",
        "conversationId",
        "flag",
    ] {
        assert!(m0.get(k).is_some(), "{k} missing");
    }
    assert!(m0.get("internetMessageHeaders").is_none());
    // All pages with $select: newest first, ids unique, count matches the folder.
    let (all, _) = t
        .all_pages(
            "/v1.0/me/mailFolders/inbox/messages?$select=subject,receivedDateTime,isRead&$top=37",
            &tok,
            &[],
        )
        .await;
    assert_eq!(all.len(), total);
    assert!(all[0].get("body").is_none() && all[0].get("subject").is_some());
    let dates: Vec<&str> = all
        .iter()
        .map(|m| m["receivedDateTime"].as_str().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let ids: std::collections::HashSet<&str> =
        all.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), total);
    assert_eq!(all.iter().filter(|m| m["isRead"] == false).count(), unread);
    // $top limits.
    let r = t
        .get("/v1.0/me/mailFolders/inbox/messages?$top=1000", &tok)
        .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), total);
    assert_eq!(
        t.get("/v1.0/me/mailFolders/inbox/messages?$top=1001", &tok)
            .await
            .status,
        400
    );
    assert_eq!(
        t.get("/v1.0/me/mailFolders/inbox/messages?$select=nonsense", &tok)
            .await
            .status,
        400
    );
    // $filter and $count.
    let r = t
        .get(
            "/v1.0/me/mailFolders/inbox/messages?$filter=isRead eq false&$count=true&$top=5",
            &tok,
        )
        .await;
    assert_eq!(r.body["@odata.count"].as_u64().unwrap() as usize, unread);
    let some = &all[3];
    let imid = t
        .get(
            &format!(
                "/v1.0/me/messages/{}?$select=internetMessageId",
                some["id"].as_str().unwrap()
            ),
            &tok,
        )
        .await
        .body["internetMessageId"]
        .as_str()
        .unwrap()
        .to_string();
    let r = t
        .get(
            &format!(
                "/v1.0/me/mailFolders/inbox/messages?$filter=internetMessageId eq '{}'",
                urlenc(&imid)
            ),
            &tok,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["value"][0]["id"], some["id"]);
    let cut = dates[20];
    let r = t
        .get(
            &format!(
                "/v1.0/me/mailFolders/inbox/messages?$filter=receivedDateTime ge {cut}&$top=1000"
            ),
            &tok,
        )
        .await;
    assert_eq!(
        r.body["value"].as_array().unwrap().len(),
        dates.iter().filter(|d| **d >= cut).count()
    );
    let r = t.get("/v1.0/me/mailFolders/inbox/messages?$filter=startswith(subject,'Besichtigung') or contains(subject,'Expos')&$top=1000", &tok).await;
    assert!(r.body["value"].as_array().unwrap().iter().all(|m| {
        let s = m["subject"].as_str().unwrap();
        s.starts_with("Besichtigung") || s.contains("Expos")
    }));
    assert_eq!(
        t.get(
            "/v1.0/me/mailFolders/inbox/messages?$filter=subject eq",
            &tok
        )
        .await
        .status,
        400
    );
    assert_eq!(
        t.get("/v1.0/me/mailFolders/inbox/messages?$filter=foo eq 1", &tok)
            .await
            .status,
        400
    );
    // $orderby.
    let r = t.get("/v1.0/me/mailFolders/inbox/messages?$orderby=receivedDateTime asc&$top=5&$select=receivedDateTime", &tok).await;
    let asc: Vec<&str> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["receivedDateTime"].as_str().unwrap())
        .collect();
    assert_eq!(asc[0], *dates.last().unwrap());
    // Whole-mailbox listing.
    let r = t.get("/v1.0/me/messages?$count=true&$top=1", &tok).await;
    let state = t
        .admin(Method::GET, &format!("/mailboxes/{ANNA}"), None)
        .await;
    assert_eq!(r.body["@odata.count"], state["messageCount"]);
    // $search.
    let r = t
        .get("/v1.0/me/messages?$search=\"Grundriss\"&$top=1000", &tok)
        .await;
    assert!(!r.body["value"].as_array().unwrap().is_empty());
}

fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn update_move_copy_delete_and_immutable_ids() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let imm = [("Prefer", "IdType=\"ImmutableId\"")];
    let r = t
        .get(
            "/v1.0/me/mailFolders/inbox/messages?$filter=isRead eq false&$top=1",
            &tok,
        )
        .await;
    let m = r.body["value"][0].clone();
    let id = m["id"].as_str().unwrap().to_string();
    let before = t.get("/v1.0/me/mailFolders/inbox", &tok).await.body;
    // Mark read: counts follow.
    let r = t
        .patch(
            &format!("/v1.0/me/messages/{id}"),
            &tok,
            json!({"isRead": true, "categories": ["Kunde"], "flag": {"flagStatus": "flagged"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["isRead"], true);
    assert_eq!(r.body["categories"], json!(["Kunde"]));
    assert_ne!(r.body["changeKey"], m["changeKey"]);
    let after = t.get("/v1.0/me/mailFolders/inbox", &tok).await.body;
    assert_eq!(
        after["unreadItemCount"].as_i64().unwrap(),
        before["unreadItemCount"].as_i64().unwrap() - 1
    );
    // Sent mail cannot change its subject; drafts can.
    let r = t
        .patch(
            &format!("/v1.0/me/messages/{id}"),
            &tok,
            json!({"subject": "x"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        t.patch(
            &format!("/v1.0/me/messages/{id}"),
            &tok,
            json!({"isRead": "yes"})
        )
        .await
        .status,
        400
    );
    // Immutable id of the same message.
    let imm_id = t
        .req(
            Method::GET,
            &format!("/v1.0/me/messages/{id}"),
            Some(&tok),
            None,
            &imm,
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(imm_id, id);
    // Move: new REST id, same immutable id; old id is gone.
    let r = t
        .post(
            &format!("/v1.0/me/messages/{id}/move"),
            &tok,
            json!({"destinationId": "archive"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let new_id = r.body["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, id);
    let archive = t.get("/v1.0/me/mailFolders/archive", &tok).await.body;
    assert_eq!(r.body["parentFolderId"], archive["id"]);
    let r = t.get(&format!("/v1.0/me/messages/{id}"), &tok).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "ErrorItemNotFound");
    let r = t
        .req(
            Method::POST,
            &format!("/v1.0/me/messages/{imm_id}/move"),
            Some(&tok),
            Some(json!({"destinationId": "inbox"})),
            &imm,
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["id"], imm_id.as_str(), "immutable ids survive moves");
    assert_eq!(
        t.get("/v1.0/me/mailFolders/inbox", &tok).await.body["totalItemCount"],
        before["totalItemCount"]
    );
    assert_eq!(
        t.post(
            &format!("/v1.0/me/messages/{imm_id}/move"),
            &tok,
            json!({"destinationId": "nowhere"})
        )
        .await
        .status,
        400
    );
    // Copy.
    let r = t
        .post(
            &format!("/v1.0/me/messages/{imm_id}/copy"),
            &tok,
            json!({"destinationId": "junkemail"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let copy_id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["subject"], m["subject"]);
    // Delete.
    assert_eq!(
        t.delete(&format!("/v1.0/me/messages/{copy_id}"), &tok)
            .await
            .status,
        204
    );
    assert_eq!(
        t.get(&format!("/v1.0/me/messages/{copy_id}"), &tok)
            .await
            .status,
        404
    );
    assert_eq!(
        t.delete(&format!("/v1.0/me/messages/{copy_id}"), &tok)
            .await
            .status,
        404
    );
    // Prefer: outlook.body-content-type converts bodies.
    let html = t.admin(Method::POST, &format!("/mailboxes/{ANNA}/deliver"), Some(json!({"subject": "HTML", "body": "<html><body><p>Erste &amp; Zeile</p><p>Zweite</p></body></html>", "bodyType": "html"}))).await;
    let hid = html["id"].as_str().unwrap();
    let r = t
        .req(
            Method::GET,
            &format!("/v1.0/me/messages/{hid}?$select=body"),
            Some(&tok),
            None,
            &[("Prefer", "outlook.body-content-type=\"text\"")],
        )
        .await;
    assert_eq!(r.body["body"]["contentType"], "text");
    assert_eq!(r.body["body"]["content"], "Erste & Zeile\r\nZweite");
    assert!(r.headers["preference-applied"]
        .to_str()
        .unwrap()
        .contains("outlook.body-content-type"));
    let r = t
        .get(
            &format!("/v1.0/me/messages/{hid}?$select=body,bodyPreview"),
            &tok,
        )
        .await;
    assert_eq!(r.body["body"]["contentType"], "html");
    assert_eq!(r.body["bodyPreview"], "Erste & Zeile Zweite");
    let plain = t
        .admin(
            Method::POST,
            &format!("/mailboxes/{ANNA}/deliver"),
            Some(json!({"subject": "Text", "body": "a < b\nc"})),
        )
        .await;
    let r = t
        .req(
            Method::GET,
            "/v1.0/me/mailFolders/inbox/messages?$filter=subject eq 'Text'&$select=body",
            Some(&tok),
            None,
            &[("Prefer", "outlook.body-content-type=\"html\"")],
        )
        .await;
    assert_eq!(r.body["value"][0]["id"], plain["id"]);
    assert!(r.body["value"][0]["body"]["content"]
        .as_str()
        .unwrap()
        .contains("a &lt; b<br>c"));
    // MIME.
    let r = t
        .get(&format!("/v1.0/me/messages/{imm_id}/$value"), &tok)
        .await;
    assert!(r.text.contains("Message-ID: <"), "{}", r.text);
    // Read-only token cannot write.
    let ro = t.token_scopes(ANNA, "openid Mail.Read").await;
    assert_eq!(
        t.get("/v1.0/me/mailFolders/inbox/messages?$top=1", &ro)
            .await
            .status,
        200
    );
    let r = t
        .patch(
            &format!("/v1.0/me/messages/{imm_id}"),
            &ro,
            json!({"isRead": false}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "ErrorAccessDenied");
}

#[tokio::test]
async fn shared_mailbox_access() {
    let t = T::new().await;
    let anna = t.token(ANNA).await;
    let r = t
        .get(
            &format!("/v1.0/users/{VERTRIEB}/mailFolders/inbox/messages?$top=5"),
            &anna,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["value"].as_array().unwrap().len(), 5);
    let r = t
        .get(&format!("/v1.0/users/{VERTRIEB_ID}/mailFolders"), &anna)
        .await;
    assert_eq!(r.status, 200);
    // Without the .Shared scope: 403.
    let own_only = t
        .token_scopes(ANNA, "openid Mail.ReadWrite Mail.Send")
        .await;
    let r = t
        .get(
            &format!("/v1.0/users/{VERTRIEB}/mailFolders/inbox/messages"),
            &own_only,
        )
        .await;
    assert_eq!(r.status, 403);
    // Ben has no grant.
    let ben = t.token(BEN).await;
    let r = t
        .get(&format!("/v1.0/users/{VERTRIEB}/messages"), &ben)
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "ErrorAccessDenied");
    let r = t.get(&format!("/v1.0/users/{ANNA}/messages"), &ben).await;
    assert_eq!(r.status, 403);
    // Granting through the bench opens it.
    t.admin(
        Method::POST,
        &format!("/users/{VERTRIEB}/grants"),
        Some(json!({"user": BEN, "fullAccess": true})),
    )
    .await;
    assert_eq!(
        t.get(&format!("/v1.0/users/{VERTRIEB}/messages"), &ben)
            .await
            .status,
        200
    );
    t.admin(
        Method::DELETE,
        &format!("/users/{VERTRIEB}/grants/{BEN}"),
        None,
    )
    .await;
    assert_eq!(
        t.get(&format!("/v1.0/users/{VERTRIEB}/messages"), &ben)
            .await
            .status,
        403
    );
}
