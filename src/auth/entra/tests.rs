//! The grants through oauth2 against a loopback server: Microsoft's error details survive.

use super::*;

#[test]
fn classifies_refusals() {
    let e = TokenError {
        error: "invalid_grant".into(),
        error_description: "AADSTS700082: The refresh token has expired\r\nTrace ID: x".into(),
        error_codes: vec![700082],
        ..Default::default()
    };
    assert!(e.has_code(700082));
    let err = refusal_error(&e);
    assert_eq!(err.status(), crate::error::status::AUTH_REQUIRED);
    assert!(err.message().contains("AADSTS700082"));
    assert!(!err.message().contains("Trace ID"));
    let c = TokenError {
        error: "invalid_grant".into(),
        error_description: "AADSTS65001: consent".into(),
        ..Default::default()
    };
    assert_eq!(
        refusal_error(&c).status(),
        crate::error::status::CONSENT_REQUIRED
    );
}

#[test]
fn registration_faults_name_the_fix() {
    for (code, kind) in [
        (700016, "app_not_registered"),
        (50011, "redirect_uri_not_registered"),
        (7000218, "client_secret_missing"),
        (7000215, "client_secret_invalid"),
        (700025, "client_secret_not_allowed"),
        (50194, "app_not_multitenant"),
    ] {
        let e = TokenError {
            error: "invalid_client".into(),
            error_description: format!("AADSTS{code}: text\r\nTrace ID: t"),
            error_codes: vec![code],
            trace_id: Some("t".into()),
            ..Default::default()
        };
        let err = refusal_error(&e);
        assert_eq!(err.status(), crate::error::status::REMOTE);
        assert_eq!(err.kind(), kind);
        let doc = err.to_document();
        assert_eq!(doc["details"]["code"], format!("AADSTS{code}"));
        assert_eq!(doc["details"]["trace_id"], "t");
        assert!(doc["hint"].as_str().unwrap().contains("app"), "{doc}");
    }
}

#[test]
fn reads_jwt_claims() {
    use base64::Engine;
    let p = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"tid":"t1"}"#);
    let claims: IdTokenClaims = jwt_claims(&format!("h.{p}.s")).unwrap();
    assert_eq!(claims.tid.as_deref(), Some("t1"));
    assert!(jwt_claims::<IdTokenClaims>("garbage").is_none());
}

/// A loopback HTTP server that answers each request with the next canned response (the
/// last one repeats) and records what it was sent.
struct Canned {
    url: String,
    http: reqwest::Client,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Sent>>>,
}

#[derive(Debug, Clone)]
struct Sent {
    head: String,
    form: Vec<(String, String)>,
}

impl Sent {
    fn param(&self, k: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
}

async fn canned(answers: Vec<(u16, &'static str, String)>) -> Canned {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut n = 0usize;
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body_at) = loop {
                let k = sock.read(&mut chunk).await.unwrap();
                assert!(k > 0, "connection closed before the headers ended");
                buf.extend_from_slice(&chunk[..k]);
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break (String::from_utf8_lossy(&buf[..p]).into_owned(), p + 4);
                }
            };
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while buf.len() < body_at + len {
                let k = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..k]);
            }
            let form = url::form_urlencoded::parse(&buf[body_at..body_at + len])
                .into_owned()
                .collect();
            log.lock().unwrap().push(Sent { head, form });
            let (status, ct, body) = &answers[n.min(answers.len() - 1)];
            n += 1;
            let resp = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: {ct}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(resp.as_bytes()).await.unwrap();
            let _ = sock.shutdown().await;
        }
    });
    Canned {
        url,
        http: http(),
        seen,
    }
}

impl Canned {
    fn sent(&self) -> Vec<Sent> {
        self.seen.lock().unwrap().clone()
    }

    fn entra(&self) -> Entra<'_> {
        Entra {
            http: &self.http,
            login: &self.url,
            proxy: None,
        }
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn app(secret: Option<&str>) -> AppConfig {
    AppConfig {
        client_id: Some("app-1".into()),
        client_secret: secret.map(str::to_owned),
        ..Default::default()
    }
}

/// An Entra error body as Microsoft sends it (and the sim, contract section 1.12).
fn aad(error: &str, code: i64, text: &str) -> (u16, &'static str, String) {
    let body = serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: tr-1\r\nCorrelation ID: co-1\r\nTimestamp: 2026-11-29 10:00:00Z"),
        "error_codes": [code],
        "timestamp": "2026-11-29 10:00:00Z",
        "trace_id": "tr-1",
        "correlation_id": "co-1",
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        "suberror": "bad_token",
        "claims": "{\"access_token\":{\"capolids\":{\"essential\":true}}}",
    });
    let status = if error == "invalid_client" { 401 } else { 400 };
    (status, "application/json; charset=utf-8", body.to_string())
}

fn assert_kept(e: &TokenError, error: &str, code: i64) {
    assert_eq!(e.error, error);
    assert_eq!(e.error_codes, vec![code]);
    assert!(e.has_code(code));
    assert!(e
        .short_description()
        .starts_with(&format!("AADSTS{code}: ")));
    assert_eq!(e.trace_id.as_deref(), Some("tr-1"));
    assert_eq!(e.correlation_id.as_deref(), Some("co-1"));
    assert_eq!(e.suberror.as_deref(), Some("bad_token"));
    assert!(e.claims.as_deref().unwrap().contains("capolids"));
}

fn assert_details(err: &Error, error: &str, code: i64) {
    let doc = err.to_document();
    assert_eq!(doc["details"]["oauth_error"], error, "{doc}");
    assert_eq!(
        doc["details"]["error_codes"],
        serde_json::json!([code]),
        "{doc}"
    );
    assert_eq!(doc["details"]["trace_id"], "tr-1", "{doc}");
    assert_eq!(doc["details"]["correlation_id"], "co-1", "{doc}");
}

fn refused(o: TokenOutcome) -> TokenError {
    match o {
        TokenOutcome::Refused(e) => e,
        TokenOutcome::Ok(t) => panic!("expected a refusal, got tokens {t:?}"),
    }
}

#[tokio::test]
async fn code_exchange_keeps_microsofts_error_through_oauth2() {
    let srv = canned(vec![
        aad(
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity.",
        ),
        aad("invalid_client", 7000215, "Invalid client secret provided."),
        aad(
            "invalid_grant",
            65001,
            "The user or administrator has not consented.",
        ),
    ])
    .await;
    let entra = srv.entra();
    let web = app(Some("s3cret"));
    let scope = "openid offline_access Mail.Read";
    let e = refused(
        entra
            .exchange_code(
                "contoso",
                &web,
                "the-code",
                "https://crm.example/cb",
                "verif",
                scope,
            )
            .await
            .unwrap(),
    );
    assert_kept(&e, "invalid_grant", 70008);
    let err = refusal_error(&e);
    assert_eq!(err.status(), crate::error::status::AUTH_REQUIRED);
    assert_eq!(err.kind(), "sign_in_refused");
    assert!(err.message().contains("AADSTS70008"), "{}", err.message());
    assert_details(&err, "invalid_grant", 70008);

    // A registration fault keeps its AADSTS code and hint.
    let e = refused(
        entra
            .exchange_code("contoso", &web, "c", "https://crm.example/cb", "v", scope)
            .await
            .unwrap(),
    );
    assert_kept(&e, "invalid_client", 7000215);
    let err = refusal_error(&e);
    assert_eq!(err.kind(), "client_secret_invalid");
    assert_eq!(err.to_document()["details"]["code"], "AADSTS7000215");
    assert_details(&err, "invalid_client", 7000215);

    // Consent by its AADSTS code.
    let e = refused(
        entra
            .exchange_code("contoso", &web, "c", "https://crm.example/cb", "v", scope)
            .await
            .unwrap(),
    );
    assert_eq!(
        refusal_error(&e).status(),
        crate::error::status::CONSENT_REQUIRED
    );

    // What oauth2 sent: the code grant with PKCE, the secret in the body (as before).
    let sent = srv.sent();
    assert_eq!(sent.len(), 3);
    let r = &sent[0];
    assert!(
        r.head.starts_with("POST /contoso/oauth2/v2.0/token "),
        "{}",
        r.head
    );
    assert!(
        !r.head.to_lowercase().contains("authorization:"),
        "{}",
        r.head
    );
    assert_eq!(r.param("grant_type"), Some("authorization_code"));
    assert_eq!(r.param("code"), Some("the-code"));
    assert_eq!(r.param("code_verifier"), Some("verif"));
    assert_eq!(r.param("redirect_uri"), Some("https://crm.example/cb"));
    assert_eq!(r.param("scope"), Some(scope));
    assert_eq!(r.param("client_id"), Some("app-1"));
    assert_eq!(r.param("client_secret"), Some("s3cret"));
}

fn device() -> DeviceCode {
    DeviceCode {
        device_code: "DAQAB-dc".into(),
        user_code: "BCDFGHJKL".into(),
        verification_uri: "https://microsoft.com/devicelogin".into(),
        expires_in: 900,
        interval: 5,
        message: None,
    }
}

#[tokio::test]
async fn each_device_poll_is_one_oauth2_request_and_keeps_the_codes() {
    let cases = [
        (
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        ),
        ("slow_down", 70016, "Polling too fast."),
        ("expired_token", 70019, "Verification code expired."),
        (
            "authorization_declined",
            65004,
            "User declined to consent to access the app.",
        ),
        ("access_denied", 65004, "The user denied the request."),
    ];
    let srv = canned(cases.iter().map(|(e, c, t)| aad(e, *c, t)).collect()).await;
    let entra = srv.entra();
    let public = app(None);
    for (i, (error, code, _)) in cases.iter().enumerate() {
        let e = refused(
            entra
                .poll_device("organizations", &public, &device())
                .await
                .unwrap(),
        );
        assert_kept(&e, error, *code);
        assert_eq!(srv.sent().len(), i + 1, "one request per poll ({error})");
        match (device_refusal(&e), *error) {
            (DevicePoll::Pending, "authorization_pending") => {}
            (DevicePoll::SlowDown(err), "slow_down") => {
                assert_eq!(err.kind(), "slow_down");
                assert_details(&err, error, *code);
            }
            (DevicePoll::Ended(err), "expired_token") => {
                assert_eq!(err.kind(), "expired_token");
                assert_eq!(err.status(), crate::error::status::AUTH_REQUIRED);
                assert_details(&err, error, *code);
            }
            (DevicePoll::Ended(err), "authorization_declined" | "access_denied") => {
                assert_eq!(err.kind(), "access_denied");
                assert_details(&err, error, *code);
            }
            (other, _) => panic!("{error} mapped to {other:?}"),
        }
    }
    let r = &srv.sent()[0];
    assert!(
        r.head.starts_with("POST /organizations/oauth2/v2.0/token "),
        "{}",
        r.head
    );
    assert_eq!(
        r.param("grant_type"),
        Some("urn:ietf:params:oauth:grant-type:device_code")
    );
    assert_eq!(r.param("device_code"), Some("DAQAB-dc"));
    assert_eq!(r.param("client_id"), Some("app-1"));
    assert_eq!(r.param("client_secret"), None);
}

#[tokio::test]
async fn device_poll_success_is_parsed_by_oauth2() {
    let body = serde_json::json!({
        "token_type": "Bearer",
        "scope": "Mail.ReadWrite User.Read",
        "expires_in": "3600",
        "ext_expires_in": 7200,
        "access_token": "at-1",
        "refresh_token": "rt-1",
        "id_token": "h.p.s",
    });
    let srv = canned(vec![(200, "application/json", body.to_string())]).await;
    let entra = srv.entra();
    let TokenOutcome::Ok(t) = entra
        .poll_device("common", &app(Some("s")), &device())
        .await
        .unwrap()
    else {
        panic!("expected tokens");
    };
    assert_eq!(t.access_token, "at-1");
    assert_eq!(t.refresh_token.as_deref(), Some("rt-1"));
    assert_eq!(t.id_token.as_deref(), Some("h.p.s"));
    assert_eq!(t.expires_in_secs(), 3600);
    assert_eq!(t.ext_expires_in, Some(7200));
    assert_eq!(t.scope.as_deref(), Some("Mail.ReadWrite User.Read"));
    assert_eq!(srv.sent().len(), 1);
    assert_eq!(srv.sent()[0].param("client_secret"), Some("s"));
}

#[tokio::test]
async fn refresh_refusals_keep_the_codes() {
    let cases = [
        (
            70008,
            "The provided authorization code or refresh token has expired due to inactivity.",
        ),
        (
            50173,
            "The provided grant has expired due to it being revoked, a fresh auth token is needed.",
        ),
        (700082, "The refresh token has expired due to inactivity."),
    ];
    let mut answers: Vec<_> = cases
        .iter()
        .map(|(c, t)| aad("invalid_grant", *c, t))
        .collect();
    answers.push((
        200,
        "application/json",
        r#"{"token_type":"Bearer","expires_in":3599,"access_token":"at-2","refresh_token":"rt-2"}"#
            .into(),
    ));
    let srv = canned(answers).await;
    let entra = srv.entra();
    for (code, _) in cases {
        let e = refused(
            entra
                .refresh("tid-1", &app(None), "rt-1", "Mail.Read offline_access")
                .await
                .unwrap(),
        );
        assert_kept(&e, "invalid_grant", code);
        // The refresh path stores this as the reauth reason.
        assert!(e
            .short_description()
            .starts_with(&format!("AADSTS{code}: ")));
        let err = refusal_error(&e);
        assert_eq!(err.status(), crate::error::status::AUTH_REQUIRED);
        assert_details(&err, "invalid_grant", code);
    }
    let TokenOutcome::Ok(t) = entra
        .refresh("tid-1", &app(None), "rt-1", "Mail.Read offline_access")
        .await
        .unwrap()
    else {
        panic!("expected tokens");
    };
    assert_eq!(
        (t.access_token.as_str(), t.refresh_token.as_deref()),
        ("at-2", Some("rt-2"))
    );
    assert_eq!(t.expires_in_secs(), 3599);
    let r = &srv.sent()[0];
    assert!(
        r.head.starts_with("POST /tid-1/oauth2/v2.0/token "),
        "{}",
        r.head
    );
    assert_eq!(r.param("grant_type"), Some("refresh_token"));
    assert_eq!(r.param("refresh_token"), Some("rt-1"));
    assert_eq!(r.param("scope"), Some("Mail.Read offline_access"));
    assert_eq!(r.param("client_secret"), None);
}

#[tokio::test]
async fn device_authorization_through_oauth2() {
    let ok = serde_json::json!({
        "user_code": "BCDFGHJKL",
        "device_code": "DAQAB-xyz",
        "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": 900,
        "interval": 5,
        "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code BCDFGHJKL to authenticate.",
    });
    let srv = canned(vec![
        (200, "application/json", ok.to_string()),
        aad(
            "unauthorized_client",
            700016,
            "Application with identifier 'app-1' was not found in the directory 'Contoso'.",
        ),
    ])
    .await;
    let entra = srv.entra();
    let dc = entra
        .device_code("contoso", &app(Some("s")), "User.Read Mail.Read")
        .await
        .unwrap();
    assert_eq!(dc.device_code, "DAQAB-xyz");
    assert_eq!(dc.user_code, "BCDFGHJKL");
    assert_eq!(dc.verification_uri, "https://microsoft.com/devicelogin");
    assert_eq!((dc.expires_in, dc.interval), (900, 5));
    assert!(dc.message.unwrap().contains("BCDFGHJKL"));
    let err = entra
        .device_code("contoso", &app(Some("s")), "User.Read")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "app_not_registered");
    assert_eq!(err.to_document()["details"]["code"], "AADSTS700016");
    assert_details(&err, "unauthorized_client", 700016);
    let r = &srv.sent()[0];
    assert!(
        r.head.starts_with("POST /contoso/oauth2/v2.0/devicecode "),
        "{}",
        r.head
    );
    assert_eq!(r.param("scope"), Some("User.Read Mail.Read"));
    assert_eq!(r.param("client_id"), Some("app-1"));
    assert_eq!(
        r.param("client_secret"),
        None,
        "no secret on the device authorization"
    );
}

#[tokio::test]
async fn answers_that_are_not_oauth_are_named() {
    let srv = canned(vec![
        (502, "text/html", "<html>Bad Gateway</html>".into()),
        (200, "application/json", "not json".into()),
        (400, "application/json", r#"{"unexpected":"shape"}"#.into()),
    ])
    .await;
    let entra = srv.entra();
    let err = entra.refresh("t", &app(None), "rt", "s").await.unwrap_err();
    assert_eq!(err.kind(), "sign_in_service_error");
    assert_eq!(err.status(), crate::error::status::REMOTE);
    assert_eq!(err.to_document()["details"]["http_status"], 502);
    assert!(err.message().contains("Bad Gateway"), "{}", err.message());
    let err = entra
        .poll_device("t", &app(None), &device())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "unexpected_response");
    let err = entra
        .exchange_code("t", &app(None), "c", "", "v", "s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "sign_in_service_error");
    assert_eq!(err.to_document()["details"]["http_status"], 400);

    // Nothing listening: a network error, for polls too (oauth2's loop does not retry).
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let entra = Entra {
        http: &srv.http,
        login: &closed,
        proxy: None,
    };
    let err = entra
        .poll_device("t", &app(None), &device())
        .await
        .unwrap_err();
    assert_eq!(err.status(), crate::error::status::NETWORK);
    let err = entra.refresh("t", &app(None), "rt", "s").await.unwrap_err();
    assert_eq!(err.status(), crate::error::status::NETWORK);
}
