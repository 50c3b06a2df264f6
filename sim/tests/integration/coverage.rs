//! The remaining endpoints and cases: logout, instance discovery, Basic client auth, legacy
//! admin consent, tokens with a wrong audience or issuer, app-only sending, folder move,
//! attachment delete, upload cancel, Preference-Applied, user changes, the admin helpers.

use base64::Engine;
use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn logout_instance_discovery_and_error_text() {
    let t = T::new().await;
    let r = t
        .req(
            Method::GET,
            "/common/oauth2/v2.0/logout?post_logout_redirect_uri=http://localhost:8400/bye",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(r.headers["location"], "http://localhost:8400/bye");
    assert!(r.headers["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("ESTSAUTH=;"));
    let r = t
        .req(Method::GET, "/common/oauth2/v2.0/logout", None, None, &[])
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("signed out"));
    let ep = format!("{}/contoso.example/oauth2/v2.0/authorize", t.sim.url());
    let r = t
        .req(
            Method::GET,
            &format!(
                "/common/discovery/instance?api-version=1.1&authorization_endpoint={}",
                url::form_urlencoded::byte_serialize(ep.as_bytes()).collect::<String>()
            ),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(
        r.body["tenant_discovery_endpoint"],
        format!(
            "{}/contoso.example/v2.0/.well-known/openid-configuration",
            t.sim.url()
        )
    );
    // error_description carries trace and correlation ids on their own lines.
    let r = t.refresh("contoso.example", "nope").await;
    let d = r.body["error_description"].as_str().unwrap();
    assert!(
        d.contains("\r\nTrace ID: ")
            && d.contains("\r\nCorrelation ID: ")
            && d.contains("\r\nTimestamp: "),
        "{d}"
    );
    assert!(d.contains(r.body["trace_id"].as_str().unwrap()));
}

#[tokio::test]
async fn basic_client_auth_and_legacy_admin_consent() {
    let t = T::new().await;
    t.admin(
        Method::POST,
        "/apps",
        Some(json!({"clientId": "web-app", "clientSecret": "s3cr3t", "redirectUris": [REDIRECT]})),
    )
    .await;
    t.admin(
        Method::POST,
        "/tenants/contoso.example/consents",
        Some(json!({"clientId": "web-app"})),
    )
    .await;
    let basic = base64::engine::general_purpose::STANDARD.encode("web-app:s3cr3t");
    let r = t
        .http
        .post(t.url("/contoso.example/oauth2/v2.0/token"))
        .header("Authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    let app = v["access_token"].as_str().unwrap().to_string();
    // App-only: /users/{id}/sendMail works with the Mail.Send role; the copy is in her Sent Items.
    let r = t
        .post(
            &format!("/v1.0/users/{ANNA}/sendMail"),
            &app,
            json!({"message": simple_mail("kunde@example.com", "Vom Dienst")}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let o = t.admin(Method::GET, "/outbound", None).await;
    assert_eq!(o["messages"][0]["from"]["address"], ANNA);
    assert_eq!(o["messages"][0]["submittedBy"], "app");
    let r = t.get(&format!("/v1.0/users/{ANNA}"), &app).await;
    assert_eq!(r.status, 200, "User.Read.All role");
    // Wrong secret over Basic.
    let bad = base64::engine::general_purpose::STANDARD.encode("web-app:wrong");
    let r = t
        .http
        .post(t.url("/contoso.example/oauth2/v2.0/token"))
        .header("Authorization", format!("Basic {bad}"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "invalid_client is 401");
    // Legacy admin consent endpoint.
    let url = format!(
        "{}/fabrikam.example/adminconsent?client_id=web-app&redirect_uri={REDIRECT}&state=l1",
        t.sim.url()
    );
    let r = t
        .browser
        .sign_in(&url, FAB_ADMIN, PW, o365_sim::Consent::Accept)
        .await
        .unwrap();
    let q = query_of(&r);
    assert_eq!(q["admin_consent"], "True");
    assert_eq!(q["state"], "l1");
    let ten = t
        .admin(Method::GET, "/tenants/fabrikam.example", None)
        .await;
    assert!(ten["consentedApps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "web-app"));
    t.admin(
        Method::DELETE,
        "/tenants/fabrikam.example/consents/web-app",
        None,
    )
    .await;
    let all = t.admin(Method::GET, "/tenants", None).await;
    let fab = all["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["domains"][0] == "fabrikam.example")
        .unwrap()
        .clone();
    assert!(!fab["consentedApps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "web-app"));
}

#[tokio::test]
async fn tokens_for_another_audience_or_issuer_are_refused() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let keys = &t.sim.sim().keys;
    let mut c = claims(&tok);
    c["aud"] = json!("api://someone-else");
    let r = t.get("/v1.0/me", &keys.sign(&c)).await;
    assert_eq!(r.status, 401);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("audience"));
    let mut c = claims(&tok);
    c["iss"] = json!("https://sts.windows.net/00000000-0000-0000-0000-000000000000/");
    assert_eq!(t.get("/v1.0/me", &keys.sign(&c)).await.status, 401);
    let mut c = claims(&tok);
    c["nbf"] = json!(c["iat"].as_i64().unwrap() + 3600);
    assert_eq!(
        t.get("/v1.0/me", &keys.sign(&c)).await.status,
        401,
        "not yet valid"
    );
    // The unchanged claims re-signed are fine (the check is real, not a string compare).
    assert_eq!(
        t.get("/v1.0/me", &keys.sign(&claims(&tok))).await.status,
        200
    );
}

#[tokio::test]
async fn folder_move_attachment_delete_upload_cancel_and_preferences() {
    let limits = o365_sim::Limits {
        inline_max_bytes: 10,
        upload_min_bytes: 10,
        ..Default::default()
    };
    let t = T::with_limits(limits).await;
    let tok = t.token(ANNA).await;
    let f = t
        .post(
            "/v1.0/me/mailFolders",
            &tok,
            json!({"displayName": "Umzug"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = t
        .post(
            &format!("/v1.0/me/mailFolders/{f}/move"),
            &tok,
            json!({"destinationId": "archive"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["parentFolderId"],
        t.get("/v1.0/me/mailFolders/archive", &tok).await.body["id"]
    );
    assert_eq!(
        t.get("/v1.0/me/mailFolders/archive", &tok).await.body["childFolderCount"],
        1
    );
    assert_eq!(
        t.post(
            "/v1.0/me/mailFolders/inbox/move",
            &tok,
            json!({"destinationId": "archive"})
        )
        .await
        .status,
        400
    );
    // Attachments: delete.
    let id = t
        .post("/v1.0/me/messages", &tok, simple_mail("k@example.com", "a"))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let aid = t.post(&format!("/v1.0/me/messages/{id}/attachments"), &tok, json!({"@odata.type": "#microsoft.graph.fileAttachment", "name": "x.txt", "contentBytes": b64(b"x")})).await.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        t.get(
            &format!("/v1.0/me/messages/{id}?$select=hasAttachments"),
            &tok
        )
        .await
        .body["hasAttachments"],
        true
    );
    assert_eq!(
        t.delete(&format!("/v1.0/me/messages/{id}/attachments/{aid}"), &tok)
            .await
            .status,
        204
    );
    assert_eq!(
        t.get(
            &format!("/v1.0/me/messages/{id}?$select=hasAttachments"),
            &tok
        )
        .await
        .body["hasAttachments"],
        false
    );
    assert_eq!(
        t.delete(&format!("/v1.0/me/messages/{id}/attachments/{aid}"), &tok)
            .await
            .status,
        404
    );
    // Upload session cancel.
    let r = t
        .post(
            &format!("/v1.0/me/messages/{id}/attachments/createUploadSession"),
            &tok,
            json!({"AttachmentItem": {"attachmentType": "file", "name": "p", "size": 100}}),
        )
        .await;
    let up = r.body["uploadUrl"].as_str().unwrap().to_string();
    assert_eq!(
        t.http.delete(&up).send().await.unwrap().status().as_u16(),
        204
    );
    let r = t
        .http
        .put(&up)
        .header("Content-Range", "bytes 0-99/100")
        .body(vec![0u8; 100])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    // Preference-Applied.
    let r = t
        .req(
            Method::GET,
            "/v1.0/me/mailFolders/inbox/messages/delta",
            Some(&tok),
            None,
            &[
                ("Prefer", "odata.maxpagesize=3"),
                ("Prefer", "IdType=\"ImmutableId\""),
            ],
        )
        .await;
    let pa = r.headers["preference-applied"].to_str().unwrap();
    assert!(
        pa.contains("odata.maxpagesize=3") && pa.contains("ImmutableId"),
        "{pa}"
    );
    assert_eq!(r.body["value"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_changes_show_in_graph_and_rust_admin_helpers() {
    let t = T::new().await;
    // The Rust helpers on RunningSim.
    let u = t
        .sim
        .admin_async(
            "PATCH",
            &format!("/users/{BEN}"),
            Some(json!({"aliases": ["ben@contoso.example"], "displayName": "Benjamin Müller"})),
        )
        .await
        .unwrap();
    assert_eq!(
        u["proxyAddresses"],
        json!([
            "SMTP:ben.mueller@contoso.example",
            "smtp:ben@contoso.example"
        ])
    );
    let sim = &t.sim;
    let h = tokio::task::block_in_place(|| sim.admin("GET", "/health", None)).unwrap();
    assert_eq!(h["ok"], true);
    assert!(
        tokio::task::block_in_place(|| sim.admin("GET", "/users/nobody@x.example", None)).is_err()
    );
    let tok = t.token(BEN).await;
    let me = t
        .get("/v1.0/me?$select=displayName,proxyAddresses", &tok)
        .await
        .body;
    assert_eq!(me["displayName"], "Benjamin Müller");
    assert_eq!(me["proxyAddresses"][1], "smtp:ben@contoso.example");
    // Mail to the new alias arrives in his inbox.
    let at = t.token(ANNA).await;
    assert_eq!(
        t.post(
            "/v1.0/me/sendMail",
            &at,
            json!({"message": simple_mail("ben@contoso.example", "An den Alias")})
        )
        .await
        .status,
        202
    );
    let r = t
        .get(
            "/v1.0/me/mailFolders/inbox/messages?$filter=subject eq 'An den Alias'",
            &tok,
        )
        .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    // An alias in use elsewhere is refused.
    let r = t
        .req(
            Method::PATCH,
            &format!("/_sim/users/{BEN}"),
            None,
            Some(json!({"aliases": ["info@contoso.example"]})),
            &[],
        )
        .await;
    assert_eq!(r.status, 409);
    // A user created in a locale gets that locale's folder names.
    t.admin(
        Method::POST,
        "/users",
        Some(
            json!({"userPrincipalName": "tom@contoso.example", "password": "x", "locale": "en-US"}),
        ),
    )
    .await;
    let st = t
        .admin(Method::GET, "/mailboxes/tom@contoso.example", None)
        .await;
    assert!(st["folders"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["displayName"] == "Inbox"));
    let r = t.admin(Method::POST, "/save", None).await;
    assert_eq!(r["saved"], false, "no state directory");
}

#[tokio::test]
async fn remaining_request_errors() {
    let t = T::new().await;
    // Token endpoint on an unknown tenant.
    let r = t
        .form(
            "/nope.example/oauth2/v2.0/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", CLIENT),
                ("refresh_token", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error_codes"], json!([90002]));
    // Devicecode without client_id or scope.
    let r = t
        .form("/common/oauth2/v2.0/devicecode", &[("scope", "openid")])
        .await;
    assert_eq!(r.body["error_codes"], json!([900144]));
    let r = t
        .form("/common/oauth2/v2.0/devicecode", &[("client_id", CLIENT)])
        .await;
    assert_eq!(r.body["error_codes"], json!([900144]));
    // Authorize: missing client_id (page), bad response_mode and PKCE challenge (redirects).
    let r = t
        .req(
            Method::GET,
            "/common/oauth2/v2.0/authorize?response_type=code",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("AADSTS900144"));
    let (_, c) = pkce();
    let url = t.authorize_url(
        "contoso.example",
        "User.Read",
        &c,
        &[("response_mode", "telepathy")],
    );
    let r = t.req(Method::GET, &url, None, None, &[]).await;
    assert_eq!(
        query_of(r.headers["location"].to_str().unwrap())["error"],
        "invalid_request"
    );
    let url = t.authorize_url("contoso.example", "User.Read", "short", &[]);
    let r = t.req(Method::GET, &url, None, None, &[]).await;
    let q = query_of(r.headers["location"].to_str().unwrap());
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].starts_with("AADSTS501491:"));
    // login_hint prefills the user name.
    let url = t.authorize_url(
        "contoso.example",
        "User.Read",
        &c,
        &[("login_hint", "anna.schmidt@contoso.example")],
    );
    let r = t.req(Method::GET, &url, None, None, &[]).await;
    assert!(r
        .text
        .contains("name=\"login\" value=\"anna.schmidt@contoso.example\""));
    // Graph request errors.
    let tok = t.token(ANNA).await;
    for (path, status) in [
        ("/v1.0/me/mailFolders/inbox/messages?$top=0", 400),
        ("/v1.0/me/mailFolders/inbox/messages?$top=abc", 400),
        ("/v1.0/me/mailFolders/inbox/messages?$skip=-1", 400),
        (
            "/v1.0/me/mailFolders/inbox/messages?$orderby=subject sideways",
            400,
        ),
        ("/v1.0/me/mailFolders?$select=color", 400),
        ("/v1.0/me/messages?$apply=groupby((subject))", 400),
        ("/v1.0/me/messages?$expand=extensions", 400),
        ("/v1.0/me/calendars", 400),
        ("/v1.0/groups/x", 400),
        ("/v1.0/me/messages/nope/attachments/nope", 400),
        (
            "/v1.0/me/messages/AAMkADAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            404,
        ),
        (
            "/v1.0/me/mailFolders/AQMkADAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            404,
        ),
    ] {
        let r = t.get(path, &tok).await;
        assert_eq!(r.status, status, "{path}: {}", r.text);
        assert!(r.body["error"]["code"].is_string(), "{path}");
    }
    let r = t
        .req(
            Method::PUT,
            "/v1.0/me/mailFolders/inbox",
            Some(&tok),
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(r.status, 405);
    let r = t
        .req(Method::GET, "/v1.0/$batch", Some(&tok), None, &[])
        .await;
    assert_eq!(r.status, 405);
    let r = t
        .req(
            Method::POST,
            "/v1.0/me/mailFolders",
            Some(&tok),
            None,
            &[("Content-Type", "application/json")],
        )
        .await;
    assert_eq!(r.status, 400, "empty body");
    let r = t
        .http
        .post(t.url("/v1.0/me/mailFolders"))
        .bearer_auth(&tok)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}
