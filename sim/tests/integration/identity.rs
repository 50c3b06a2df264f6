//! Sign-in: discovery, authorize pages, token grants, device code, admin consent, errors.

use o365_sim::seed::{ANNA_ID, CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID, MAX_ID};
use o365_sim::state::CONSUMERS_TENANT_ID;
use o365_sim::Consent;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::*;

fn assert_aad_error(r: &Resp, error: &str, code: u64) {
    // Client authentication failures (invalid_client) are 401, the rest 400.
    let status = if error == "invalid_client" { 401 } else { 400 };
    assert_eq!(r.status, status, "{}", r.text);
    let b = &r.body;
    assert_eq!(b["error"], error, "{}", r.text);
    assert_eq!(b["error_codes"], json!([code]), "{}", r.text);
    let d = b["error_description"].as_str().unwrap();
    assert!(d.starts_with(&format!("AADSTS{code}:")), "{d}");
    for k in ["timestamp", "trace_id", "correlation_id"] {
        assert!(
            b[k].as_str().is_some_and(|s| !s.is_empty()),
            "{k} missing in {}",
            r.text
        );
    }
}

#[tokio::test]
async fn discovery_for_tenant_ids_domains_and_aliases() {
    let t = T::new().await;
    let base = t.sim.url().to_string();
    for (seg, issuer_tid, ep_seg) in [
        (
            "contoso.example",
            CONTOSO_TENANT_ID.to_string(),
            CONTOSO_TENANT_ID.to_string(),
        ),
        (
            CONTOSO_TENANT_ID,
            CONTOSO_TENANT_ID.to_string(),
            CONTOSO_TENANT_ID.to_string(),
        ),
        (
            "FABRIKAM.example",
            FABRIKAM_TENANT_ID.to_string(),
            FABRIKAM_TENANT_ID.to_string(),
        ),
        ("common", "{tenantid}".to_string(), "common".to_string()),
        (
            "organizations",
            "{tenantid}".to_string(),
            "organizations".to_string(),
        ),
        (
            "consumers",
            CONSUMERS_TENANT_ID.to_string(),
            "consumers".to_string(),
        ),
        (
            "outlook.example",
            CONSUMERS_TENANT_ID.to_string(),
            "consumers".to_string(),
        ),
    ] {
        let r = t
            .req(
                Method::GET,
                &format!("/{seg}/v2.0/.well-known/openid-configuration"),
                None,
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "{seg}");
        assert_eq!(
            r.body["issuer"],
            format!("{base}/{issuer_tid}/v2.0"),
            "{seg}"
        );
        assert_eq!(
            r.body["token_endpoint"],
            format!("{base}/{ep_seg}/oauth2/v2.0/token")
        );
        assert_eq!(
            r.body["authorization_endpoint"],
            format!("{base}/{ep_seg}/oauth2/v2.0/authorize")
        );
        assert_eq!(
            r.body["device_authorization_endpoint"],
            format!("{base}/{ep_seg}/oauth2/v2.0/devicecode")
        );
        assert_eq!(
            r.body["jwks_uri"],
            format!("{base}/{ep_seg}/discovery/v2.0/keys")
        );
        assert_eq!(
            r.body["id_token_signing_alg_values_supported"],
            json!(["RS256"])
        );
    }
    let r = t
        .req(
            Method::GET,
            "/nope.example/v2.0/.well-known/openid-configuration",
            None,
            None,
            &[],
        )
        .await;
    assert_aad_error(&r, "invalid_tenant", 90002);

    let r = t
        .req(
            Method::GET,
            "/contoso.example/discovery/v2.0/keys",
            None,
            None,
            &[],
        )
        .await;
    let k = &r.body["keys"][0];
    assert_eq!(k["kty"], "RSA");
    assert_eq!(k["use"], "sig");
    assert!(k["n"].as_str().unwrap().len() > 300);
    assert_eq!(k["e"], "AQAB");
}

#[tokio::test]
async fn auth_code_pkce_issues_real_claims() {
    let t = T::new().await;
    let (v, c) = pkce();
    let redirect = t
        .sign_in_url("contoso.example", ANNA, ALL_SCOPES, &c)
        .await
        .unwrap();
    assert!(redirect.starts_with(REDIRECT), "{redirect}");
    let q = query_of(&redirect);
    assert_eq!(q["state"], "st-123");
    let code = q["code"].clone();
    let r = t.redeem("contoso.example", &code, &v).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = &r.body;
    assert_eq!(b["token_type"], "Bearer");
    assert!(b["expires_in"].as_i64().unwrap() > 3000);
    assert!(b["refresh_token"].as_str().is_some());
    let ci: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            b["client_info"].as_str().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(ci, json!({"uid": ANNA_ID, "utid": CONTOSO_TENANT_ID}));
    let at = claims(b["access_token"].as_str().unwrap());
    assert_eq!(at["aud"], "https://graph.microsoft.com");
    assert_eq!(at["tid"], CONTOSO_TENANT_ID);
    assert_eq!(at["oid"], ANNA_ID);
    assert_eq!(at["preferred_username"], ANNA);
    assert_eq!(at["upn"], ANNA);
    assert_eq!(at["appid"], CLIENT);
    assert_eq!(
        at["iss"],
        format!("https://sts.windows.net/{CONTOSO_TENANT_ID}/")
    );
    let scp = at["scp"].as_str().unwrap();
    for s in ["Mail.ReadWrite", "Mail.Send", "User.Read"] {
        assert!(scp.split(' ').any(|x| x == s), "{scp}");
    }
    assert!(at["exp"].as_i64().unwrap() > at["iat"].as_i64().unwrap());
    assert!(at["nbf"].as_i64().is_some());
    let id = claims(b["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], CLIENT);
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(
        id["iss"],
        format!("{}/{CONTOSO_TENANT_ID}/v2.0", t.sim.url())
    );
    assert_eq!(id["ver"], "2.0");
    // The signature verifies against the published key.
    t.sim
        .sim()
        .keys
        .verify(b["access_token"].as_str().unwrap())
        .unwrap();

    // Single use.
    let again = t.redeem("contoso.example", &code, &v).await;
    assert_aad_error(&again, "invalid_grant", 54005);
    let c = t.sim.sim().counters.snapshot(());
    assert_eq!(c["codesRedeemed"], 1);
}

#[tokio::test]
async fn pkce_plain_and_mismatch_and_redirect_mismatch() {
    let t = T::new().await;
    // Wrong verifier.
    let (_, c) = pkce();
    let q = query_of(
        &t.sign_in_url("contoso.example", ANNA, "User.Read", &c)
            .await
            .unwrap(),
    );
    let r = t
        .redeem(
            "contoso.example",
            &q["code"],
            "wrong-verifier-wrong-verifier-wrong-verifier-123",
        )
        .await;
    assert_aad_error(&r, "invalid_grant", 501481);
    // Missing verifier.
    let r = t
        .form(
            "/contoso.example/oauth2/v2.0/token",
            &[
                ("grant_type", "authorization_code"),
                ("client_id", CLIENT),
                ("code", &q["code"]),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    assert_aad_error(&r, "invalid_grant", 501481);
    // Redirect URI not the one of the authorize request (but registered): 50148; not
    // registered at all: 50011.
    for (uri, error, code) in [
        (
            "http://localhost:8080/o365/callback",
            "invalid_grant",
            50148,
        ),
        ("http://localhost:9/other", "invalid_request", 50011),
    ] {
        let r = t
            .form(
                "/contoso.example/oauth2/v2.0/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", CLIENT),
                    ("code", &q["code"]),
                    ("redirect_uri", uri),
                ],
            )
            .await;
        assert_aad_error(&r, error, code);
    }
    // plain method.
    let verifier = "plain-verifier-plain-verifier-plain-verifier-1";
    let mut url = url::Url::parse(&t.url("/contoso.example/oauth2/v2.0/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "User.Read")
        .append_pair("code_challenge", verifier)
        .append_pair("code_challenge_method", "plain");
    let q = query_of(
        &t.redirect_after_sign_in(url.as_str(), ANNA, Consent::Accept)
            .await,
    );
    let r = t.redeem("contoso.example", &q["code"], verifier).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn code_expires_with_the_test_clock() {
    let t = T::new().await;
    let (v, c) = pkce();
    let q = query_of(
        &t.sign_in_url("contoso.example", ANNA, "User.Read", &c)
            .await
            .unwrap(),
    );
    t.admin(
        Method::POST,
        "/clock/advance",
        Some(json!({"seconds": 601})),
    )
    .await;
    let r = t.redeem("contoso.example", &q["code"], &v).await;
    assert_aad_error(&r, "invalid_grant", 70008);
}

#[tokio::test]
async fn sign_in_page_errors() {
    let t = T::new().await;
    let (_, c) = pkce();
    let url = t.authorize_url("contoso.example", "User.Read", &c, &[]);
    let e = t.sign_in_error(&url, ANNA, "nope").await;
    assert!(e.starts_with("AADSTS50126"), "{e}");
    let e = t.sign_in_error(&url, "ghost@contoso.example", PW).await;
    assert!(e.starts_with("AADSTS50034"), "{e}");
    // A fabrikam user on the contoso authority.
    let e = t.sign_in_error(&url, EVE, PW).await;
    assert!(e.starts_with("AADSTS50020"), "{e}");
    // Shared mailboxes cannot sign in.
    let e = t.sign_in_error(&url, VERTRIEB, PW).await;
    assert!(e.starts_with("AADSTS50057"), "{e}");
    // Personal account on /organizations.
    let url = t.authorize_url("organizations", "User.Read", &c, &[]);
    let e = t.sign_in_error(&url, MAX, PW).await;
    assert!(e.starts_with("AADSTS50020"), "{e}");
    // Unknown tenant and bad redirect URIs are pages, not redirects.
    let r = t
        .req(
            Method::GET,
            &format!("/nope.example/oauth2/v2.0/authorize?client_id={CLIENT}"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("AADSTS90002"));
    let r = t.req(Method::GET, &format!("/common/oauth2/v2.0/authorize?client_id={CLIENT}&redirect_uri=ftp://x&response_type=code&scope=openid"), None, None, &[]).await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("AADSTS50011"));
}

#[tokio::test]
async fn authorize_error_redirects() {
    let t = T::new().await;
    let (_, c) = pkce();
    // Declined consent.
    let url = t.authorize_url("contoso.example", "User.Read", &c, &[]);
    let r = t.redirect_after_sign_in(&url, BEN, Consent::Decline).await;
    let q = query_of(&r);
    assert_eq!(q["error"], "access_denied");
    assert!(q["error_description"].starts_with("AADSTS65004:"));
    assert_eq!(q["state"], "st-123");
    // Invalid scope.
    let url = t.authorize_url("contoso.example", "Mail.Fly", &c, &[]);
    let r = t.req(Method::GET, &url, None, None, &[]).await;
    assert_eq!(r.status, 302);
    let q = query_of(r.headers["location"].to_str().unwrap());
    assert_eq!(q["error"], "invalid_scope");
    assert!(q["error_description"].starts_with("AADSTS70011:"));
    // Missing scope, unsupported response type.
    let r = t.req(Method::GET, &format!("/common/oauth2/v2.0/authorize?client_id={CLIENT}&redirect_uri={REDIRECT}&response_type=code"), None, None, &[]).await;
    assert_eq!(
        query_of(r.headers["location"].to_str().unwrap())["error"],
        "invalid_request"
    );
    let r = t.req(Method::GET, &format!("/common/oauth2/v2.0/authorize?client_id={CLIENT}&redirect_uri={REDIRECT}&response_type=token&scope=openid"), None, None, &[]).await;
    assert_eq!(
        query_of(r.headers["location"].to_str().unwrap())["error"],
        "unsupported_response_type"
    );
    // prompt=none without a session.
    let url = t.authorize_url("contoso.example", "User.Read", &c, &[("prompt", "none")]);
    let r = t.req(Method::GET, &url, None, None, &[]).await;
    let q = query_of(r.headers["location"].to_str().unwrap());
    assert_eq!(q["error"], "login_required");
    assert!(q["error_description"].starts_with("AADSTS50058:"));
}

#[tokio::test]
async fn response_modes_consent_memory_and_sso() {
    let t = T::new().await;
    let (_, c) = pkce();
    let url = t.authorize_url(
        "contoso.example",
        "User.Read Mail.Read",
        &c,
        &[("response_mode", "fragment")],
    );
    let r = t.redirect_after_sign_in(&url, ANNA, Consent::Accept).await;
    assert!(r.contains("#code="), "{r}");
    let url = t.authorize_url(
        "contoso.example",
        "User.Read Mail.Read",
        &c,
        &[("response_mode", "form_post")],
    );
    let r = t.redirect_after_sign_in(&url, ANNA, Consent::Accept).await;
    assert!(query_of(&r).contains_key("code"), "{r}");
    // client_info=1 (as MSAL sends it) puts client_info into the redirect.
    let url = t.authorize_url(
        "contoso.example",
        "User.Read Mail.Read",
        &c,
        &[("client_info", "1")],
    );
    let r = t.redirect_after_sign_in(&url, ANNA, Consent::Accept).await;
    let ci = query_of(&r)["client_info"].clone();
    let ci: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, ci).unwrap(),
    )
    .unwrap();
    assert_eq!(ci, json!({"uid": ANNA_ID, "utid": CONTOSO_TENANT_ID}));
    // Consent was remembered: the consent page is skipped now, so declining changes nothing.
    let url = t.authorize_url("contoso.example", "User.Read Mail.Read", &c, &[]);
    let r = t.redirect_after_sign_in(&url, ANNA, Consent::Decline).await;
    assert!(query_of(&r).contains_key("code"), "{r}");
    // ...unless prompt=consent.
    let url = t.authorize_url(
        "contoso.example",
        "User.Read Mail.Read",
        &c,
        &[("prompt", "consent")],
    );
    let r = t.redirect_after_sign_in(&url, ANNA, Consent::Decline).await;
    assert_eq!(query_of(&r)["error"], "access_denied");
    // The browser has a session cookie now: prompt=none succeeds.
    let url = t.authorize_url(
        "contoso.example",
        "User.Read Mail.Read",
        &c,
        &[("prompt", "none")],
    );
    let r = t.browser.follow(&url).await.unwrap();
    assert!(query_of(&r).contains_key("code"), "{r}");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_expire() {
    let t = T::new().await;
    let tok = t.tokens("contoso.example", ANNA, ALL_SCOPES).await;
    let rt1 = tok["refresh_token"].as_str().unwrap().to_string();
    let r = t.refresh("contoso.example", &rt1).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rt2 = r.body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "refresh tokens rotate");
    assert!(r.body["access_token"].as_str().is_some());
    // Entra keeps the old one valid; the strict option turns that off.
    assert_eq!(t.refresh("contoso.example", &rt1).await.status, 200);
    t.admin(
        Method::PUT,
        "/token-lifetimes",
        Some(json!({"strictRefreshRotation": true})),
    )
    .await;
    assert_aad_error(
        &t.refresh("contoso.example", &rt1).await,
        "invalid_grant",
        70000,
    );
    let r = t.refresh("contoso.example", &rt2).await;
    assert_eq!(r.status, 200);
    let rt3 = r.body["refresh_token"].as_str().unwrap().to_string();
    // Inactivity expiry with the test clock.
    t.admin(
        Method::PUT,
        "/token-lifetimes",
        Some(json!({"refreshInactivitySecs": 3600})),
    )
    .await;
    t.admin(
        Method::POST,
        "/clock/advance",
        Some(json!({"seconds": 3601})),
    )
    .await;
    assert_aad_error(
        &t.refresh("contoso.example", &rt3).await,
        "invalid_grant",
        700082,
    );
    // Garbage.
    assert_aad_error(
        &t.refresh("contoso.example", "garbage").await,
        "invalid_grant",
        9002313,
    );
    let c = t.admin(Method::GET, "/counters", None).await;
    assert_eq!(c["refreshes"], 3);
}

#[tokio::test]
async fn revocation_password_change_and_admin_expiry() {
    let t = T::new().await;
    let rt = t.tokens("contoso.example", ANNA, ALL_SCOPES).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    t.admin(Method::POST, "/tokens/revoke", Some(json!({"user": ANNA})))
        .await;
    assert_aad_error(
        &t.refresh("contoso.example", &rt).await,
        "invalid_grant",
        50173,
    );

    let rt = t.tokens("contoso.example", BEN, ALL_SCOPES).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    t.admin(
        Method::PATCH,
        &format!("/users/{BEN}"),
        Some(json!({"password": "N3w-Passw0rd!"})),
    )
    .await;
    assert_aad_error(
        &t.refresh("contoso.example", &rt).await,
        "invalid_grant",
        50173,
    );
    // The new password works, the old one not.
    let (_, c) = pkce();
    let url = t.authorize_url("contoso.example", "User.Read", &c, &[]);
    assert!(t
        .browser
        .sign_in(&url, BEN, PW, Consent::Accept)
        .await
        .is_err());
    assert!(t
        .browser
        .sign_in(&url, BEN, "N3w-Passw0rd!", Consent::Accept)
        .await
        .is_ok());

    let rt = t
        .tokens(
            "fabrikam.example",
            FAB_ADMIN,
            "openid offline_access User.Read",
        )
        .await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    t.admin(
        Method::POST,
        "/tokens/expire",
        Some(json!({"user": FAB_ADMIN, "refresh": true})),
    )
    .await;
    assert_aad_error(
        &t.refresh("fabrikam.example", &rt).await,
        "invalid_grant",
        700082,
    );
}

#[tokio::test]
async fn refresh_with_new_scope_needs_consent() {
    let t = T::new().await;
    let rt = t
        .tokens("contoso.example", ANNA, "openid offline_access User.Read")
        .await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = t
        .form(
            "/contoso.example/oauth2/v2.0/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", CLIENT),
                ("refresh_token", &rt),
                ("scope", "https://graph.microsoft.com/Mail.Send"),
            ],
        )
        .await;
    assert_aad_error(&r, "invalid_grant", 65001);
    assert_eq!(r.body["suberror"], "consent_required");
    let r = t
        .form(
            "/contoso.example/oauth2/v2.0/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", CLIENT),
                ("refresh_token", &rt),
                ("scope", "User.Read"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body["refresh_token"].is_string(), "offline_access kept");
}

#[tokio::test]
async fn device_code_flow() {
    let t = T::new().await;
    t.admin(
        Method::PUT,
        "/token-lifetimes",
        Some(json!({"deviceCodeInterval": 1})),
    )
    .await;
    let r = t
        .form(
            "/contoso.example/oauth2/v2.0/devicecode",
            &[
                ("client_id", CLIENT),
                ("scope", "openid offline_access Mail.Read"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let dc = r.body["device_code"].as_str().unwrap().to_string();
    let uc = r.body["user_code"].as_str().unwrap().to_string();
    assert_eq!(r.body["interval"], 1);
    assert_eq!(r.body["expires_in"], 900);
    assert_eq!(
        r.body["verification_uri"],
        format!("{}/devicelogin", t.sim.url())
    );
    assert!(r.body["message"].as_str().unwrap().contains(&uc));
    assert_aad_error(
        &poll_device(&t, "contoso.example", &dc).await,
        "authorization_pending",
        70016,
    );
    // Wrong code on the page.
    assert!(t
        .browser
        .device_sign_in(t.sim.url(), "WRONGCODE", ANNA, PW, Consent::Accept)
        .await
        .is_err());
    assert!(t
        .browser
        .device_sign_in(t.sim.url(), &uc, ANNA, PW, Consent::Accept)
        .await
        .unwrap());
    let r = poll_device(&t, "contoso.example", &dc).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        claims(r.body["access_token"].as_str().unwrap())["oid"],
        ANNA_ID
    );
    assert_aad_error(
        &poll_device(&t, "contoso.example", &dc).await,
        "invalid_grant",
        70000,
    );
    assert_aad_error(
        &poll_device(&t, "contoso.example", "nope").await,
        "bad_verification_code",
        70018,
    );

    // Declined.
    let r = start_device(&t, "openid Mail.Read").await;
    let dc = r.body["device_code"].as_str().unwrap().to_string();
    let uc = r.body["user_code"].as_str().unwrap().to_string();
    assert!(!t
        .browser
        .device_sign_in(t.sim.url(), &uc, BEN, PW, Consent::Decline)
        .await
        .unwrap());
    let r = poll_device(&t, "common", &dc).await;
    assert_aad_error(&r, "authorization_declined", 65004);

    // Expired.
    let r = start_device(&t, "openid Mail.Read").await;
    let dc = r.body["device_code"].as_str().unwrap().to_string();
    t.admin(
        Method::POST,
        "/clock/advance",
        Some(json!({"seconds": 901})),
    )
    .await;
    let r = poll_device(&t, "common", &dc).await;
    assert_aad_error(&r, "expired_token", 70019);
    // Bad scope at devicecode.
    let r = start_device(&t, "Mail.Fly").await;
    assert_aad_error(&r, "invalid_scope", 70011);
}

/// Starts a device-code flow on `/common` for `scope`.
async fn start_device(t: &T, scope: &str) -> Resp {
    t.form(
        "/common/oauth2/v2.0/devicecode",
        &[("client_id", CLIENT), ("scope", scope)],
    )
    .await
}

/// One poll of the token endpoint for a device code.
async fn poll_device(t: &T, tenant: &str, device_code: &str) -> Resp {
    t.form(
        &format!("/{tenant}/oauth2/v2.0/token"),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", CLIENT),
            ("device_code", device_code),
        ],
    )
    .await
}

#[tokio::test]
async fn admin_consent_required_tenant() {
    let t = T::new().await;
    let (v, c) = pkce();
    let url = t.authorize_url("fabrikam.example", "openid User.Read Mail.Read", &c, &[]);
    let r = t.redirect_after_sign_in(&url, EVE, Consent::Accept).await;
    let q = query_of(&r);
    assert_eq!(q["error"], "consent_required");
    assert!(q["error_description"].starts_with("AADSTS65001:"));
    // A non-admin cannot grant admin consent.
    let ac = format!("{}/fabrikam.example/v2.0/adminconsent?client_id={CLIENT}&redirect_uri={REDIRECT}&scope=https://graph.microsoft.com/.default&state=ac1", t.sim.url());
    let r = t.redirect_after_sign_in(&ac, EVE, Consent::Accept).await;
    assert_eq!(query_of(&r)["error"], "access_denied");
    // The admin declines, then accepts.
    let r = t
        .redirect_after_sign_in(&ac, FAB_ADMIN, Consent::Decline)
        .await;
    let q = query_of(&r);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["admin_consent"], "True");
    let r = t
        .redirect_after_sign_in(&ac, FAB_ADMIN, Consent::Accept)
        .await;
    let q = query_of(&r);
    assert_eq!(q["admin_consent"], "True");
    assert_eq!(q["tenant"], FABRIKAM_TENANT_ID);
    assert_eq!(q["state"], "ac1");
    // Now Eve gets a code without a consent page.
    let r = t.redirect_after_sign_in(&url, EVE, Consent::Decline).await;
    let q = query_of(&r);
    let r = t.redeem("fabrikam.example", &q["code"], &v).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // adminconsent over /common is refused.
    let r = t
        .req(
            Method::GET,
            &format!("/common/v2.0/adminconsent?client_id={CLIENT}&redirect_uri={REDIRECT}"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn personal_accounts_live_in_the_consumers_tenant() {
    let t = T::new().await;
    for tenant in ["consumers", "common", "outlook.example"] {
        let tok = t
            .tokens(
                tenant,
                MAX,
                "openid offline_access User.Read Mail.ReadWrite",
            )
            .await;
        let id = claims(tok["id_token"].as_str().unwrap());
        assert_eq!(id["tid"], CONSUMERS_TENANT_ID);
        assert_eq!(id["oid"], MAX_ID);
        assert_eq!(
            id["iss"],
            format!("{}/{CONSUMERS_TENANT_ID}/v2.0", t.sim.url())
        );
    }
}

#[tokio::test]
async fn token_endpoint_request_errors_and_client_credentials() {
    let t = T::new().await;
    let r = t
        .form(
            "/contoso.example/oauth2/v2.0/token",
            &[("client_id", CLIENT)],
        )
        .await;
    assert_aad_error(&r, "invalid_request", 900144);
    let r = t
        .form(
            "/contoso.example/oauth2/v2.0/token",
            &[("grant_type", "password"), ("client_id", CLIENT)],
        )
        .await;
    assert_aad_error(&r, "unsupported_grant_type", 70003);
    let r = t
        .req(
            Method::POST,
            "/contoso.example/oauth2/v2.0/token",
            None,
            Some(json!({"grant_type": "x"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    // Client credentials.
    let cc = |tenant: &'static str, secret: Option<&'static str>| {
        let t = &t;
        async move {
            let mut f = vec![
                ("grant_type", "client_credentials"),
                ("client_id", WEB_CLIENT),
                ("scope", "https://graph.microsoft.com/.default"),
            ];
            if let Some(s) = secret {
                f.push(("client_secret", s));
            }
            t.form(&format!("/{tenant}/oauth2/v2.0/token"), &f).await
        }
    };
    assert_aad_error(
        &cc("common", Some(WEB_SECRET)).await,
        "invalid_request",
        9001023,
    );
    assert_aad_error(
        &cc("contoso.example", None).await,
        "invalid_client",
        7000218,
    );
    let r = cc("contoso.example", Some(WEB_SECRET)).await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("refresh_token").is_none());
    let app = claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(app["idtyp"], "app");
    assert!(app.get("roles").is_none(), "no admin consent yet");
    // Without roles Graph refuses; /me is for delegated tokens only.
    let at = r.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        t.get(&format!("/v1.0/users/{ANNA}/messages"), &at)
            .await
            .status,
        403
    );
    assert_eq!(t.get("/v1.0/me", &at).await.status, 400);
    t.admin(
        Method::POST,
        "/tenants/contoso.example/consents",
        Some(json!({"clientId": WEB_CLIENT})),
    )
    .await;
    let r = cc("contoso.example", Some(WEB_SECRET)).await;
    let at = r.body["access_token"].as_str().unwrap().to_string();
    assert!(claims(&at)["roles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "Mail.ReadWrite"));
    let r = t
        .get(
            &format!("/v1.0/users/{ANNA}/mailFolders/inbox/messages?$top=1"),
            &at,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Other tenants' users are invisible.
    assert_eq!(
        t.get(&format!("/v1.0/users/{EVE}/messages"), &at)
            .await
            .status,
        404
    );
    let r = t
        .form(
            "/contoso.example/oauth2/v2.0/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", WEB_CLIENT),
                ("client_secret", WEB_SECRET),
                ("scope", "Mail.Read"),
            ],
        )
        .await;
    assert_aad_error(&r, "invalid_scope", 1002012);
    // Registered apps: secrets are checked; public clients must not send one.
    t.admin(
        Method::POST,
        "/apps",
        Some(json!({"clientId": "conf-app", "clientSecret": "right", "displayName": "Conf"})),
    )
    .await;
    t.admin(
        Method::POST,
        "/apps",
        Some(json!({"clientId": "pub-app", "clientSecret": null, "platform": "public"})),
    )
    .await;
    let r = t
        .form(
            "/contoso.example/oauth2/v2.0/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "conf-app"),
                ("client_secret", "wrong"),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    assert_aad_error(&r, "invalid_client", 7000215);
    let r = t
        .form(
            "/contoso.example/oauth2/v2.0/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "pub-app"),
                ("client_secret", "x"),
                ("refresh_token", "y"),
            ],
        )
        .await;
    assert_aad_error(&r, "invalid_client", 700025);
    let c = t.admin(Method::GET, "/counters", None).await;
    assert_eq!(c["clientCredentials"], 2);
}

#[tokio::test]
async fn blocking_api_and_cli_browser() {
    // The blocking helpers run from a plain thread and trust the registered CA.
    let t = T::new().await;
    let (_, c) = pkce();
    let url = t.authorize_url("contoso.example", "User.Read", &c, &[]);
    let u2 = url.clone();
    let r = tokio::task::spawn_blocking(move || {
        o365_sim::browser::sign_in(&u2, ANNA, PW, Consent::Accept)
    })
    .await
    .unwrap()
    .unwrap();
    assert!(query_of(&r).contains_key("code"));
    // The CLI does the same.
    let browse = |password: &'static str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_o365-sim"))
            .args(["browse", "sign-in", "--ca-file"])
            .arg(t.sim.ca_file())
            .args(["--url", &url, "--user", ANNA, "--password", password])
            .output()
    };
    let out = browse(PW).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(query_of(line.trim()).contains_key("code"), "{line}");
    let out = browse("bad").await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("AADSTS50126"));
}

#[test]
fn start_blocking_from_a_plain_test() {
    let sim = o365_sim::RunningSim::start_blocking(o365_sim::SimOptions::default()).unwrap();
    let url = format!(
        "{}/contoso.example/oauth2/v2.0/authorize?client_id={CLIENT}&response_type=code&redirect_uri={REDIRECT}&scope=User.Read&state=s",
        sim.url()
    );
    let r = o365_sim::browser::sign_in(&url, ANNA, PW, Consent::Accept).unwrap();
    assert!(r.starts_with(&format!("{REDIRECT}?code=")), "{r}");
    let ac = format!(
        "{}/fabrikam.example/v2.0/adminconsent?client_id={CLIENT}&redirect_uri={REDIRECT}",
        sim.url()
    );
    let r = o365_sim::browser::admin_consent(&ac, FAB_ADMIN, PW).unwrap();
    assert!(r.contains("admin_consent=True"), "{r}");
    sim.shutdown_blocking();
}

/// The app registry is strict (sim/README "App registrations"): unknown apps and redirect URIs
/// are refused on Microsoft's own page (never redirected), a Web-platform app must present its
/// secret on every redemption, and errors have Entra's JSON shape.
#[tokio::test]
async fn app_registry_is_strict() {
    let t = T::new().await;
    let (v, c) = pkce();
    let authorize = |client: &str, redirect: &str| {
        let mut u = url::Url::parse(&t.url("/contoso.example/oauth2/v2.0/authorize")).unwrap();
        u.query_pairs_mut()
            .append_pair("client_id", client)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "offline_access User.Read Mail.ReadWrite Mail.Send")
            .append_pair("state", "s1")
            .append_pair("code_challenge", &c)
            .append_pair("code_challenge_method", "S256");
        u.to_string()
    };
    // Unknown app: AADSTS700016 on the page, naming the app and the directory.
    let unknown = "0badc0de-0000-4000-8000-000000000000";
    let r = t
        .req(Method::GET, &authorize(unknown, REDIRECT), None, None, &[])
        .await;
    assert_eq!(r.status, 400);
    assert!(r.headers.get("location").is_none(), "never redirected");
    assert!(r.text.contains("AADSTS700016"), "{}", r.text);
    assert!(r.text.contains(&format!("Application with identifier &#39;{unknown}&#39; was not found in the directory &#39;Contoso GmbH&#39;")), "{}", r.text);
    // A redirect URI that is not registered (even a loopback one): AADSTS50011, no redirect.
    for bad in [
        "http://localhost:8400/other",
        "https://evil.example/cb",
        "http://localhost:8400/Callback",
        // the port of a loopback URI is ignored, the host is not
        "http://127.0.0.1:8400/callback",
    ] {
        let r = t
            .req(Method::GET, &authorize(CLIENT, bad), None, None, &[])
            .await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(
            r.headers.get("location").is_none(),
            "{bad}: never redirected to it"
        );
        assert!(r.text.contains("AADSTS50011"), "{bad}: {}", r.text);
        assert!(!r.text.contains("loginForm"), "no sign-in form");
    }
    // A loopback redirect URI matches on any port (Microsoft's localhost exception, RFC 8252).
    let r = t
        .req(
            Method::GET,
            &authorize(CLIENT, "http://localhost:51004/callback"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let e = t
        .sign_in_error(&authorize(CLIENT, "https://evil.example/cb"), ANNA, PW)
        .await;
    assert!(e.starts_with("AADSTS50011: The redirect URI 'https://evil.example/cb' specified in the request does not match the redirect URIs configured for the application"), "{e}");
    // Token endpoint: unknown app.
    let r = t
        .form(
            "/contoso.example/oauth2/v2.0/token",
            &[
                ("grant_type", "authorization_code"),
                ("client_id", unknown),
                ("code", "x"),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    assert_aad_error(&r, "unauthorized_client", 700016);
    assert_eq!(
        r.body["error_uri"],
        format!("{}/error?code=700016", t.sim.url())
    );
    // Device code for an unknown app.
    let r = t
        .form(
            "/contoso.example/oauth2/v2.0/devicecode",
            &[("client_id", unknown), ("scope", "User.Read")],
        )
        .await;
    assert_aad_error(&r, "unauthorized_client", 700016);

    // The Web-platform app: sign-in works (its page shows the registered name), but the code
    // is redeemed only with the right secret.
    let redeem = |code: String, secret: Option<&'static str>| {
        let t = &t;
        let v = v.clone();
        async move {
            let mut f = vec![
                ("grant_type", "authorization_code".to_string()),
                ("client_id", WEB_CLIENT.to_string()),
                ("code", code),
                ("redirect_uri", WEB_REDIRECT.to_string()),
                ("code_verifier", v),
            ];
            if let Some(s) = secret {
                f.push(("client_secret", s.to_string()));
            }
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            t.form("/contoso.example/oauth2/v2.0/token", &f).await
        }
    };
    let page = t
        .req(
            Method::GET,
            &authorize(WEB_CLIENT, WEB_REDIRECT),
            None,
            None,
            &[],
        )
        .await;
    assert!(
        page.text.contains(o365_sim::seed::DEMO_APP_NAME),
        "{}",
        page.text
    );
    assert!(!page.text.contains(WEB_CLIENT), "the name, not the id");
    let q = query_of(
        &t.redirect_after_sign_in(&authorize(WEB_CLIENT, WEB_REDIRECT), BEN, Consent::Accept)
            .await,
    );
    let code = q["code"].clone();
    assert_aad_error(&redeem(code.clone(), None).await, "invalid_client", 7000218);
    let r = redeem(code.clone(), Some("not-the-secret")).await;
    assert_aad_error(&r, "invalid_client", 7000215);
    assert!(r.body["error_description"]
        .as_str()
        .unwrap()
        .contains(&format!("for a secret added to app '{WEB_CLIENT}'")));
    let r = redeem(code, Some(WEB_SECRET)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rt = r.body["refresh_token"].as_str().unwrap().to_string();
    let at = claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(at["app_displayname"], o365_sim::seed::DEMO_APP_NAME);
    // Refresh without the secret: 7000218 too.
    let r = t
        .form(
            "/contoso.example/oauth2/v2.0/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", WEB_CLIENT),
                ("refresh_token", &rt),
            ],
        )
        .await;
    assert_aad_error(&r, "invalid_client", 7000218);

    // Registration through the bench: typed, unknown fields and impossible apps refused.
    let r = t
        .req(
            Method::POST,
            "/_sim/apps",
            None,
            Some(json!({"clientId": "x", "redirectUri": "http://localhost/cb"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `redirectUri`"),
        "{}",
        r.text
    );
    for bad in [
        json!({"platform": "public", "clientSecret": "s"}),
        json!({"platform": "web", "redirectUris": ["http://crm.example/cb"]}),
        json!({"platform": "mobile"}),
    ] {
        let r = t
            .req(Method::POST, "/_sim/apps", None, Some(bad.clone()), &[])
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    let app = t
        .admin(
            Method::POST,
            "/apps",
            Some(
                json!({"displayName": "Makler Mail", "platform": "web", "clientSecret": "pw1",
                         "redirectUris": ["https://makler.example/cb"]}),
            ),
        )
        .await;
    let id = app["clientId"].as_str().unwrap().to_string();
    assert_eq!(app["platform"], "web");
    assert_eq!(app["publisherDomain"], Value::Null);
    assert_eq!(
        t.admin(Method::GET, &format!("/apps/{id}"), None).await["displayName"],
        "Makler Mail"
    );
    t.admin(Method::DELETE, &format!("/apps/{id}"), None).await;
    let r = t
        .req(
            Method::GET,
            &authorize(&id, "https://makler.example/cb"),
            None,
            None,
            &[],
        )
        .await;
    assert!(r.text.contains("AADSTS700016"), "deleted app is unknown");
}

/// Fills in the sign-in form on `page` (password PW) by hand; the answer (consent page and
/// SSO cookie).
async fn post_login(t: &T, page: &str, login: &str) -> reqwest::Response {
    let ctx = page
        .split("name=\"ctx\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a sign-in form");
    t.http
        .post(t.url("/contoso.example/login"))
        .form(&[("ctx", ctx), ("login", login), ("passwd", PW)])
        .send()
        .await
        .unwrap()
}

/// The sign-in pages look like Microsoft's: the app's name and publisher domain, the
/// permissions in Microsoft's words, and "Pick an account" when the browser is signed in.
#[tokio::test]
async fn sign_in_pages_show_app_permissions_and_account_picker() {
    let t = T::new().await;
    let (_, c) = pkce();
    let url = t.authorize_url(
        "contoso.example",
        "openid offline_access User.Read Mail.ReadWrite Mail.Send Mail.ReadWrite.Shared",
        &c,
        &[],
    );
    // Sign in by hand to see the consent page.
    let login = t.req(Method::GET, &url, None, None, &[]).await;
    assert_eq!(login.status, 200);
    assert!(login.text.contains("id=\"loginForm\""));
    assert!(login.text.contains(&format!(
        "<span id=\"appName\">{}</span>",
        o365_sim::seed::DEMO_APP_NAME
    )));
    let r = post_login(&t, &login.text, ANNA).await;
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let consent = r.text().await.unwrap();
    assert!(consent.contains("Permissions requested"));
    assert!(
        consent.contains(&format!(
            "id=\"appName\" style=\"font-size:20px;font-weight:600\">{}</div>",
            o365_sim::seed::DEMO_APP_NAME
        )),
        "{consent}"
    );
    assert!(consent.contains(&format!(
        "<span id=\"publisherDomain\">{}</span>",
        o365_sim::seed::DEMO_PUBLISHER_DOMAIN
    )));
    assert!(!consent.contains("unverifiedWarning"));
    for (scope, words) in [
        ("User.Read", "Sign you in and read your profile"),
        ("Mail.ReadWrite", "Read and write access to your mail"),
        ("Mail.Send", "Send mail as you"),
        (
            "offline_access",
            "Maintain access to data you have given it access to",
        ),
        (
            "Mail.ReadWrite.Shared",
            "Read and write user and shared mail",
        ),
    ] {
        assert!(
            consent.contains(&format!(
                "data-scope=\"{scope}\" style=\"margin:6px 0\">{words}</li>"
            )),
            "{scope}: {consent}"
        );
    }
    assert!(consent.contains("<div id=\"account\""));
    // With the session cookie: "Pick an account" listing Anna, then straight on.
    let picker = t
        .req(
            Method::GET,
            &url,
            None,
            None,
            &[("cookie", cookie.as_str())],
        )
        .await;
    assert_eq!(picker.status, 200);
    assert!(picker.text.contains("Pick an account"), "{}", picker.text);
    assert!(picker
        .text
        .contains(&format!("name=\"account\" value=\"{ANNA}\"")));
    assert!(picker.text.contains("Anna Schmidt"));
    assert!(picker.text.contains("Use another account"));
    // prompt=login skips the picker.
    let fresh = t.authorize_url("contoso.example", "User.Read", &c, &[("prompt", "login")]);
    let r = t
        .req(
            Method::GET,
            &fresh,
            None,
            None,
            &[("cookie", cookie.as_str())],
        )
        .await;
    assert!(r.text.contains("loginForm") && !r.text.contains("pickerForm"));
    // The browser helper: first sign-in with the password, the second through the picker
    // (same account, no password asked), a third as another account ("Use another account").
    let first = t.redirect_after_sign_in(&url, ANNA, Consent::Accept).await;
    assert!(query_of(&first).contains_key("code"));
    let again = t
        .browser
        .sign_in(&url, ANNA, "not-asked", Consent::Accept)
        .await
        .unwrap();
    assert!(
        query_of(&again).contains_key("code"),
        "picked from the session: {again}"
    );
    let other = t.redirect_after_sign_in(&url, BEN, Consent::Accept).await;
    let q = query_of(&other);
    let r = t.redeem("contoso.example", &q["code"], "x").await;
    assert_eq!(r.status, 400, "PKCE still checked");
    // An app without a verified publisher: "unverified" on the consent page.
    t.admin(
        Method::POST,
        "/apps",
        Some(json!({"clientId": "unverified-app", "displayName": "Nobody's App", "platform": "public", "redirectUris": [REDIRECT]})),
    )
    .await;
    let u2 = url.replace(CLIENT, "unverified-app");
    let login = t.req(Method::GET, &u2, None, None, &[]).await;
    let consent = post_login(&t, &login.text, BEN).await.text().await.unwrap();
    assert!(consent.contains("Nobody&#39;s App"), "{consent}");
    assert!(consent.contains("data-verified=\"false\">unverified</span>"));
    assert!(consent.contains("unverifiedWarning"));
}
