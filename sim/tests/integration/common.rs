//! Helpers shared by the integration tests: a sim per test, an HTTPS client that trusts its
//! CA, sign-in through the real pages (browser helper) and small JSON request helpers.

#![allow(dead_code)]

use base64::Engine;
use o365_sim::browser::Browser;
use o365_sim::{Consent, Limits, RunningSim, SimOptions};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const PW: &str = "Passw0rd!";
pub const ANNA: &str = "anna.schmidt@contoso.example";
pub const BEN: &str = "ben.mueller@contoso.example";
pub const VERTRIEB: &str = "vertrieb@contoso.example";
pub const EVE: &str = "eve@fabrikam.example";
pub const FAB_ADMIN: &str = "admin@fabrikam.example";
pub const MAX: &str = "max.muster@outlook.example";
pub const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
pub const REDIRECT: &str = "http://localhost:8400/callback";
/// The demo seed's Web-platform app and its secret.
pub const WEB_CLIENT: &str = o365_sim::seed::DEMO_WEB_APP_ID;
pub const WEB_SECRET: &str = o365_sim::seed::DEMO_WEB_APP_SECRET;
pub const WEB_REDIRECT: &str = o365_sim::seed::DEMO_WEB_APP_REDIRECT;
pub const ALL_SCOPES: &str = "openid profile offline_access https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.ReadWrite https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/Mail.ReadWrite.Shared https://graph.microsoft.com/Mail.Send.Shared https://graph.microsoft.com/MailboxSettings.Read https://graph.microsoft.com/User.ReadBasic.All";

pub struct T {
    pub sim: RunningSim,
    pub http: reqwest::Client,
    pub browser: Browser,
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// Status, headers and body (as JSON when it is JSON, else `Null`) of a response.
    pub async fn read(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Resp {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

pub fn client(ca: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn pkce() -> (String, String) {
    let v = o365_sim::state::random_token(32);
    let c = o365_sim::state::b64url(&Sha256::digest(v.as_bytes()));
    (v, c)
}

pub fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    let u = url::Url::parse(url).unwrap();
    let mut m: std::collections::HashMap<String, String> = u.query_pairs().into_owned().collect();
    if let Some(f) = u.fragment() {
        m.extend(url::form_urlencoded::parse(f.as_bytes()).into_owned());
    }
    m
}

pub fn claims(jwt: &str) -> Value {
    o365_sim::jwt::decode_unverified(jwt).expect("JWT")
}

impl T {
    pub async fn new() -> T {
        Self::with(SimOptions::default()).await
    }

    pub async fn with_limits(l: Limits) -> T {
        Self::with(SimOptions {
            limits: l,
            ..SimOptions::default()
        })
        .await
    }

    pub async fn with(opts: SimOptions) -> T {
        let sim = o365_sim::start(opts).await.expect("sim starts");
        let http = client(sim.ca_pem());
        let browser = Browser::new(Some(sim.ca_pem())).unwrap();
        T { sim, http, browser }
    }

    pub fn url(&self, p: &str) -> String {
        format!("{}{}", self.sim.url(), p)
    }

    pub async fn req(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let url = if path.starts_with("https://") {
            path.to_string()
        } else {
            self.url(path)
        };
        let mut rb = self.http.request(method, url);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        Resp::read(rb.send().await.expect("request")).await
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let r = self
            .req(method, &format!("/_sim{path}"), None, body, &[])
            .await;
        assert!(r.status < 300, "admin {path}: {} {}", r.status, r.text);
        r.body
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.req(Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.req(Method::POST, path, Some(token), Some(body), &[])
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.req(Method::PATCH, path, Some(token), Some(body), &[])
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.req(Method::DELETE, path, Some(token), None, &[]).await
    }

    pub async fn form(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        let r = self
            .http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        Resp::read(r).await
    }

    pub fn authorize_url(
        &self,
        tenant: &str,
        scopes: &str,
        challenge: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let mut u =
            url::Url::parse(&self.url(&format!("/{tenant}/oauth2/v2.0/authorize"))).unwrap();
        u.query_pairs_mut()
            .append_pair("client_id", CLIENT)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", scopes)
            .append_pair("state", "st-123")
            .append_pair("nonce", "n-456")
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        for (k, v) in extra {
            u.query_pairs_mut().append_pair(k, v);
        }
        u.to_string()
    }

    /// Signs in through the HTML pages and returns the redirect URL.
    pub async fn sign_in_url(
        &self,
        tenant: &str,
        user: &str,
        scopes: &str,
        challenge: &str,
    ) -> anyhow::Result<String> {
        let url = self.authorize_url(tenant, scopes, challenge, &[]);
        self.browser.sign_in(&url, user, PW, Consent::Accept).await
    }

    /// A person signing in on the page behind `url` (password PW); the redirect URL.
    pub async fn redirect_after_sign_in(&self, url: &str, user: &str, consent: Consent) -> String {
        self.browser.sign_in(url, user, PW, consent).await.unwrap()
    }

    /// A sign-in on the page behind `url` that must fail; the error text (AADSTS...).
    pub async fn sign_in_error(&self, url: &str, user: &str, password: &str) -> String {
        self.browser
            .sign_in(url, user, password, Consent::Accept)
            .await
            .unwrap_err()
            .to_string()
    }

    pub async fn redeem(&self, tenant: &str, code: &str, verifier: &str) -> Resp {
        self.form(
            &format!("/{tenant}/oauth2/v2.0/token"),
            &[
                ("grant_type", "authorization_code"),
                ("client_id", CLIENT),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
                ("client_info", "1"),
            ],
        )
        .await
    }

    /// Full auth-code + PKCE sign-in; returns the token response.
    pub async fn tokens(&self, tenant: &str, user: &str, scopes: &str) -> Value {
        let (v, c) = pkce();
        let redirect = self
            .sign_in_url(tenant, user, scopes, &c)
            .await
            .expect("sign-in");
        let q = query_of(&redirect);
        let code = q
            .get("code")
            .unwrap_or_else(|| panic!("no code in {redirect}"));
        let r = self.redeem(tenant, code, &v).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body
    }

    pub async fn token(&self, user: &str) -> String {
        let tenant = user.split('@').nth(1).unwrap();
        let t = self.tokens(tenant, user, ALL_SCOPES).await;
        t["access_token"].as_str().unwrap().to_string()
    }

    pub async fn token_scopes(&self, user: &str, scopes: &str) -> String {
        let tenant = user.split('@').nth(1).unwrap();
        let t = self.tokens(tenant, user, scopes).await;
        t["access_token"].as_str().unwrap().to_string()
    }

    pub async fn refresh(&self, tenant: &str, rt: &str) -> Resp {
        self.form(
            &format!("/{tenant}/oauth2/v2.0/token"),
            &[
                ("grant_type", "refresh_token"),
                ("client_id", CLIENT),
                ("refresh_token", rt),
            ],
        )
        .await
    }

    /// Follows @odata.nextLink and returns all values.
    pub async fn all_pages(
        &self,
        path: &str,
        token: &str,
        headers: &[(&str, &str)],
    ) -> (Vec<Value>, Option<String>) {
        let mut out = vec![];
        let mut next = Some(path.to_string());
        let mut delta = None;
        while let Some(p) = next {
            let r = self.req(Method::GET, &p, Some(token), None, headers).await;
            assert_eq!(r.status, 200, "{p}: {}", r.text);
            out.extend(r.body["value"].as_array().unwrap().iter().cloned());
            next = r.body["@odata.nextLink"].as_str().map(|s| s.to_string());
            delta = r.body["@odata.deltaLink"]
                .as_str()
                .map(|s| s.to_string())
                .or(delta);
        }
        (out, delta)
    }
}

pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub fn simple_mail(to: &str, subject: &str) -> Value {
    json!({
        "subject": subject,
        "body": {"contentType": "Text", "content": "Hallo"},
        "toRecipients": [{"emailAddress": {"address": to}}],
    })
}
