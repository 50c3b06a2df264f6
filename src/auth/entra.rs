//! The Microsoft identity platform (Entra ID v2.0) on the wire: tenant discovery, the token
//! endpoint (authorization code, refresh, device code), device authorization, and the
//! mapping of its error bodies (`error`, `error_codes`, `AADSTSnnnn`) to library errors.

use crate::error::{Error, Fault, Result};
use serde::Deserialize;
use serde_json::Value;

/// Tenant id every personal Microsoft account carries (`tid`).
pub const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// A token endpoint success body.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub id_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<Value>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl TokenResponse {
    /// Lifetime in seconds (Microsoft sends a number; older endpoints a string).
    pub fn expires_in_secs(&self) -> i64 {
        match &self.expires_in {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(3599),
            Some(Value::String(s)) => s.parse().unwrap_or(3599),
            _ => 3599,
        }
    }
}

/// A token endpoint error body.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct TokenError {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_description: String,
    #[serde(default)]
    pub error_codes: Vec<i64>,
    #[serde(default)]
    pub suberror: Option<String>,
    #[serde(default)]
    pub trace_id: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
}

impl TokenError {
    pub fn has_code(&self, code: i64) -> bool {
        self.error_codes.contains(&code)
            || self
                .error_description
                .starts_with(&format!("AADSTS{code}:"))
    }

    /// First line of the description (without trace and correlation ids).
    pub fn short_description(&self) -> &str {
        self.error_description.lines().next().unwrap_or("").trim()
    }
}

/// Outcome of one token request.
#[derive(Debug)]
pub enum TokenOutcome {
    Ok(TokenResponse),
    /// Entra answered with an OAuth error body.
    Refused(TokenError),
}

/// Device authorization response.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    #[serde(default = "default_device_expiry")]
    pub expires_in: i64,
    #[serde(default = "default_interval")]
    pub interval: i64,
    #[serde(default)]
    pub message: Option<String>,
}

fn default_device_expiry() -> i64 {
    900
}
fn default_interval() -> i64 {
    5
}

pub struct Entra<'a> {
    pub http: &'a reqwest::Client,
    /// e.g. `https://login.microsoftonline.com`
    pub login: &'a str,
    /// The configured proxy (without credentials), named in network errors.
    pub proxy: Option<String>,
}

impl Entra<'_> {
    fn net(&self, e: reqwest::Error) -> Error {
        Error::Network(Fault::new(
            "network",
            format!(
                "the Microsoft sign-in service could not be reached: {}",
                crate::graph::describe(&e)
            ),
        ))
        .with_hint(crate::graph::network_hint(self.proxy.as_deref()))
    }

    pub fn endpoint(&self, tenant: &str, path: &str) -> String {
        format!("{}/{}/{}", self.login.trim_end_matches('/'), tenant, path)
    }

    /// The tenant id behind a domain (or `None` when Entra does not know the domain).
    /// Personal-account domains resolve to [`CONSUMERS_TENANT_ID`].
    pub async fn discover_tenant(&self, domain: &str) -> Result<Option<String>> {
        let url = self.endpoint(domain, "v2.0/.well-known/openid-configuration");
        let resp = self.http.get(&url).send().await.map_err(|e| self.net(e))?;
        if !resp.status().is_success() {
            return Ok(None);
        }
        let doc: Value = resp.json().await.map_err(|e| self.net(e))?;
        let issuer = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
        // issuer: https://login.microsoftonline.com/<tenant id>/v2.0
        let tid = issuer
            .trim_end_matches('/')
            .trim_end_matches("/v2.0")
            .rsplit('/')
            .next()
            .unwrap_or("");
        if tid.is_empty() || tid.contains('{') {
            return Ok(None);
        }
        Ok(Some(tid.to_owned()))
    }

    /// POSTs a form to the token endpoint.
    pub async fn token(&self, tenant: &str, form: &[(&str, &str)]) -> Result<TokenOutcome> {
        let url = self.endpoint(tenant, "oauth2/v2.0/token");
        let resp = self
            .http
            .post(&url)
            .form(form)
            .send()
            .await
            .map_err(|e| self.net(e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| self.net(e))?;
        if status.is_success() {
            let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
                Error::Remote(Fault::new(
                    "unexpected_response",
                    format!("the token endpoint answered with unreadable JSON: {e}"),
                ))
            })?;
            return Ok(TokenOutcome::Ok(t));
        }
        match serde_json::from_slice::<TokenError>(&body) {
            Ok(e) if !e.error.is_empty() => Ok(TokenOutcome::Refused(e)),
            _ => Err(Error::Remote(Fault::new(
                "sign_in_service_error",
                format!(
                    "the Microsoft sign-in service answered {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                ),
            ))
            .with_detail("http_status", status.as_u16())),
        }
    }

    /// Starts a device-code flow.
    pub async fn device_code(
        &self,
        tenant: &str,
        client_id: &str,
        scope: &str,
    ) -> Result<DeviceCode> {
        let url = self.endpoint(tenant, "oauth2/v2.0/devicecode");
        let resp = self
            .http
            .post(&url)
            .form(&[("client_id", client_id), ("scope", scope)])
            .send()
            .await
            .map_err(|e| self.net(e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| self.net(e))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                Error::Remote(Fault::new(
                    "unexpected_response",
                    format!("the device-code endpoint answered with unreadable JSON: {e}"),
                ))
            });
        }
        let e: TokenError = serde_json::from_slice(&body).unwrap_or_default();
        Err(refusal_error(&e))
    }
}

/// Entra refusals that are about the app registration: (AADSTS code, error kind, what to fix).
pub const REGISTRATION_FAULTS: &[(i64, &str, &str)] = &[
    (
        700016,
        "app_not_registered",
        "Entra ID does not know app.client_id in this tenant: copy the 'Application (client) ID' from the app registration's Overview page; if users of other organizations sign in, set 'Supported account types' to 'Accounts in any organizational directory' (multitenant) and app.tenant to 'organizations' or 'common'",
    ),
    (
        50011,
        "redirect_uri_not_registered",
        "the redirect URI is not registered for the app: add it exactly (scheme, host, port, path and case) under Authentication > Platform configurations of the app registration ('Web' for a server with a secret), or set app.redirect_uri to a registered one",
    ),
    (
        7000218,
        "client_secret_missing",
        "the app's redirect URI is registered on the 'Web' platform, so Entra treats it as a confidential client and requires its secret: set app.client_secret to a client secret's Value (Certificates & secrets) - or register the redirect URI under 'Mobile and desktop applications' for a public client",
    ),
    (
        7000215,
        "client_secret_invalid",
        "app.client_secret is not a valid secret of this app: under Certificates & secrets create a new client secret and copy its Value (not the Secret ID) into app.client_secret; secrets expire, check the expiry date",
    ),
    (
        700025,
        "client_secret_not_allowed",
        "the app is a public client (redirect URI under 'Mobile and desktop applications'): remove app.client_secret, or register the redirect URI on the 'Web' platform and keep the secret",
    ),
    (
        50194,
        "app_not_multitenant",
        "the app is registered for a single tenant: set app.tenant to that tenant's id or domain, or change 'Supported account types' to multitenant",
    ),
];

/// The registration fault behind a refusal, if it is one.
pub fn registration_fault(e: &TokenError) -> Option<&'static (i64, &'static str, &'static str)> {
    REGISTRATION_FAULTS
        .iter()
        .find(|(code, _, _)| e.has_code(*code))
}

/// A token-endpoint refusal as a library error (details keep Microsoft's codes).
pub fn refusal_error(e: &TokenError) -> Error {
    let text = format!(
        "Microsoft refused the sign-in: {} ({})",
        e.short_description(),
        e.error
    );
    let base = if let Some((code, kind, hint)) = registration_fault(e) {
        Error::Remote(Fault::new(
            *kind,
            format!(
                "the app registration in Entra ID does not fit the configuration: {}",
                e.short_description()
            ),
        ))
        .with_hint(*hint)
        .with_detail("code", format!("AADSTS{code}"))
    } else if e.error == "consent_required"
        || e.has_code(65001)
        || e.suberror.as_deref() == Some("consent_required")
    {
        Error::ConsentRequired(Fault::new("consent_required", text))
    } else if e.error == "invalid_grant" || e.error == "interaction_required" {
        Error::AuthRequired(Fault::new("sign_in_refused", text)).with_hint(
            "start the sign-in again (o365_authenticate); the code or token is no longer valid",
        )
    } else if e.error == "invalid_client" || e.error == "unauthorized_client" {
        Error::Remote(Fault::new("app_registration_rejected", text)).with_hint(
            "check app.client_id / app.client_secret against the app registration in Entra ID",
        )
    } else {
        Error::Remote(Fault::new("sign_in_refused", text))
    };
    let mut err = base
        .with_detail("oauth_error", e.error.as_str())
        .with_detail("error_codes", e.error_codes.clone());
    if let Some(t) = &e.trace_id {
        err = err.with_detail("trace_id", t.as_str());
    }
    if let Some(c) = &e.correlation_id {
        err = err.with_detail("correlation_id", c.as_str());
    }
    err
}

/// Claims of a JWT (id token) without checking the signature: it came straight from the
/// token endpoint over TLS, which OpenID Connect allows for the code flow.
pub fn jwt_claims(jwt: &str) -> Option<Value> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
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
        assert_eq!(jwt_claims(&format!("h.{p}.s")).unwrap()["tid"], "t1");
        assert!(jwt_claims("garbage").is_none());
    }
}
