//! The Microsoft identity platform (Entra ID v2.0) on the wire: tenant discovery, and every
//! grant through the `oauth2` crate (authorization code + PKCE, refresh token, device
//! authorization and device-code polling) over the shared HTTP client, with Microsoft's error
//! bodies (`error`, `error_codes`, `AADSTSnnnn`, trace and correlation ids) kept in
//! [`TokenError`], oauth2's custom error response type, and mapped to library errors.

use crate::config::AppConfig;
use crate::error::{Error, Fault, Result};
use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AccessToken, AsyncHttpClient, AuthType, AuthorizationCode, ClientId, ClientSecret,
    DeviceAuthorizationUrl, EndpointNotSet, EndpointSet, HttpClientError, HttpRequest,
    HttpResponse, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardRevocableToken, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

/// Tenant id every personal Microsoft account carries (`tid`).
pub const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// A token endpoint success body, as the library uses it.
#[derive(Debug, Clone, Default)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    /// Lifetime of the access token in seconds.
    pub expires_in: Option<i64>,
    /// Extended lifetime (Entra's resilience window) in seconds.
    pub ext_expires_in: Option<i64>,
    pub scope: Option<String>,
}

impl TokenResponse {
    /// Lifetime in seconds (3599 when Microsoft does not say).
    pub fn expires_in_secs(&self) -> i64 {
        self.expires_in.unwrap_or(3599)
    }
}

/// The token endpoint's success body on the wire: oauth2's [`oauth2::TokenResponse`] with
/// Entra's extra fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntraTokens {
    access_token: AccessToken,
    #[serde(default = "bearer")]
    token_type: BasicTokenType,
    /// Microsoft sends a number; older endpoints a string.
    #[serde(default, deserialize_with = "seconds")]
    expires_in: Option<i64>,
    #[serde(default, deserialize_with = "seconds")]
    ext_expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<RefreshToken>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(
        default,
        rename = "scope",
        deserialize_with = "oauth2::helpers::deserialize_space_delimited_vec",
        serialize_with = "oauth2::helpers::serialize_space_delimited_vec"
    )]
    scopes: Option<Vec<Scope>>,
}

fn bearer() -> BasicTokenType {
    BasicTokenType::Bearer
}

/// A lifetime in seconds, as a number or a numeric string (anything else: absent).
fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

impl oauth2::TokenResponse for EntraTokens {
    type TokenType = BasicTokenType;
    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }
    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }
    fn expires_in(&self) -> Option<Duration> {
        self.expires_in
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
    }
    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }
    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scopes.as_ref()
    }
}

impl From<EntraTokens> for TokenResponse {
    fn from(t: EntraTokens) -> Self {
        TokenResponse {
            access_token: t.access_token.secret().clone(),
            refresh_token: t.refresh_token.map(|r| r.secret().clone()),
            id_token: t.id_token,
            expires_in: t.expires_in,
            ext_expires_in: t.ext_expires_in,
            scope: t
                .scopes
                .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" ")),
        }
    }
}

/// A token endpoint error body: oauth2's custom error response type for every grant, so
/// Microsoft's details (`error_codes` = the AADSTS numbers, trace and correlation ids,
/// `suberror`, `claims`) survive into our errors.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct TokenError {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_description: String,
    #[serde(default)]
    pub error_codes: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suberror: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// A claims challenge (conditional access), to be passed to a new authorization request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.short_description())
    }
}

impl oauth2::ErrorResponse for TokenError {}

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

/// Device authorization response (also what a device-code poll is built from).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub expires_in: i64,
    pub interval: i64,
    #[serde(default)]
    pub message: Option<String>,
}

/// Entra's extra field of the device authorization response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceFields {
    #[serde(default)]
    message: Option<String>,
}

impl oauth2::ExtraDeviceAuthorizationFields for DeviceFields {}

type DeviceAuthorization = oauth2::DeviceAuthorizationResponse<DeviceFields>;

/// oauth2's client typed with Entra's token response and error body; the token endpoint set.
type EntraClient<HasDeviceAuthUrl = EndpointNotSet> = oauth2::Client<
    TokenError,
    EntraTokens,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    HasDeviceAuthUrl,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// What one request through [`Wire`] saw.
#[derive(Default)]
enum Seen {
    #[default]
    Nothing,
    Failed(HttpClientError<reqwest::Error>),
    Answered {
        status: u16,
        body: Vec<u8>,
    },
}

/// oauth2's HTTP client for one grant request: the shared reqwest client (through oauth2's
/// reqwest adapter), remembering the last answer so that a failure is reported with the HTTP
/// status and, for device polling (whose oauth2 error type is fixed to the RFC 8628 fields),
/// Microsoft's whole error body.
struct Wire<'h> {
    http: &'h reqwest::Client,
    seen: Mutex<Seen>,
}

/// The HTTP failure itself is kept in [`Wire::seen`].
#[derive(Debug)]
struct WireError;

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the HTTP request failed")
    }
}

impl std::error::Error for WireError {}

impl<'h> Wire<'h> {
    fn new(http: &'h reqwest::Client) -> Self {
        Wire {
            http,
            seen: Mutex::new(Seen::Nothing),
        }
    }

    fn sent(&self) -> bool {
        !matches!(
            *self.seen.lock().unwrap_or_else(|e| e.into_inner()),
            Seen::Nothing
        )
    }

    fn take(&self) -> Seen {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn remember(&self, seen: Seen) {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = seen;
    }
}

impl<'c> AsyncHttpClient<'c> for Wire<'_> {
    type Error = WireError;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<HttpResponse, WireError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            match self.http.call(request).await {
                Ok(resp) => {
                    self.remember(Seen::Answered {
                        status: resp.status().as_u16(),
                        body: resp.body().clone(),
                    });
                    Ok(resp)
                }
                Err(e) => {
                    self.remember(Seen::Failed(e));
                    Err(WireError)
                }
            }
        })
    }
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
        self.unreachable(crate::graph::describe(&e))
    }

    fn unreachable(&self, why: String) -> Error {
        Error::Network(Fault::new(
            "network",
            format!("the Microsoft sign-in service could not be reached: {why}"),
        ))
        .with_hint(crate::graph::network_hint(self.proxy.as_deref()))
    }

    pub fn endpoint(&self, tenant: &str, path: &str) -> String {
        format!("{}/{}/{}", self.login.trim_end_matches('/'), tenant, path)
    }

    /// The tenant id behind a domain (or `None` when Entra does not know the domain).
    /// Personal-account domains resolve to [`CONSUMERS_TENANT_ID`]. Not a grant: a plain GET
    /// of the OpenID configuration (oauth2 has no discovery).
    pub async fn discover_tenant(&self, domain: &str) -> Result<Option<String>> {
        let url = self.endpoint(domain, "v2.0/.well-known/openid-configuration");
        let resp = self.http.get(&url).send().await.map_err(|e| self.net(e))?;
        if !resp.status().is_success() {
            return Ok(None);
        }
        let doc: OpenIdConfiguration = resp.json().await.map_err(|e| self.net(e))?;
        // issuer: https://login.microsoftonline.com/<tenant id>/v2.0
        let tid = doc
            .issuer
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

    /// oauth2's client for the tenant's token endpoint, the secret (if any) in the body as
    /// Entra expects it (`client_secret_post`).
    fn client(&self, tenant: &str, app: &AppConfig, with_secret: bool) -> Result<EntraClient> {
        let token_url = TokenUrl::new(self.endpoint(tenant, "oauth2/v2.0/token"))
            .map_err(|e| Error::invalid_field("endpoints.login", e.to_string()))?;
        let mut client =
            oauth2::Client::new(ClientId::new(app.client_id.clone().unwrap_or_default()))
                .set_auth_type(AuthType::RequestBody)
                .set_token_uri(token_url);
        if let (true, Some(s)) = (with_secret, app.client_secret.as_deref()) {
            client = client.set_client_secret(ClientSecret::new(s.to_owned()));
        }
        Ok(client)
    }

    /// Redeems an authorization code (PKCE verifier, the redirect URI of the authorization
    /// request, and the scopes asked for).
    pub async fn exchange_code(
        &self,
        tenant: &str,
        app: &AppConfig,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
        scope: &str,
    ) -> Result<TokenOutcome> {
        let client = self.client(tenant, app, true)?;
        let mut request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .add_extra_param("scope", scope);
        // Without a redirect URI (only the setup check's test code) the parameter is left out.
        if !redirect_uri.is_empty() {
            let redirect = RedirectUrl::new(redirect_uri.to_owned())
                .map_err(|e| Error::invalid_field("redirect_uri", e.to_string()))?;
            request = request.set_redirect_uri(std::borrow::Cow::Owned(redirect));
        }
        let wire = Wire::new(self.http);
        let res = request.request_async(&wire).await;
        self.token_outcome(&wire, res, Some)
    }

    /// Redeems a refresh token (Entra rotates it: the answer may carry a new one).
    pub async fn refresh(
        &self,
        tenant: &str,
        app: &AppConfig,
        refresh_token: &str,
        scope: &str,
    ) -> Result<TokenOutcome> {
        let client = self.client(tenant, app, true)?;
        let token = RefreshToken::new(refresh_token.to_owned());
        let wire = Wire::new(self.http);
        let res = client
            .exchange_refresh_token(&token)
            .add_scopes(scopes(scope))
            .request_async(&wire)
            .await;
        self.token_outcome(&wire, res, Some)
    }

    /// Starts a device-code flow (device authorization request; no secret, as before).
    pub async fn device_code(
        &self,
        tenant: &str,
        app: &AppConfig,
        scope: &str,
    ) -> Result<DeviceCode> {
        let client = self
            .client(tenant, app, false)?
            .set_device_authorization_url(
                DeviceAuthorizationUrl::new(self.endpoint(tenant, "oauth2/v2.0/devicecode"))
                    .map_err(|e| Error::invalid_field("endpoints.login", e.to_string()))?,
            );
        let wire = Wire::new(self.http);
        let res: std::result::Result<DeviceAuthorization, _> = client
            .exchange_device_code()
            .add_scopes(scopes(scope))
            .request_async(&wire)
            .await;
        match self.settle(&wire, res, Some, "device-code")? {
            Ok(d) => Ok(DeviceCode {
                device_code: d.device_code().secret().clone(),
                user_code: d.user_code().secret().clone(),
                verification_uri: String::clone(d.verification_uri()),
                expires_in: d.expires_in().as_secs() as i64,
                interval: d.interval().as_secs() as i64,
                message: d.extra_fields().message.clone(),
            }),
            Err(e) => Err(refusal_error(&e)),
        }
    }

    /// One poll of a device-code flow: exactly one token request, built and its success
    /// parsed by oauth2. Our poller owns the timing (library clock, supervision), so oauth2's
    /// own polling loop is cut to one request: its deadline is zero on a clock that moves on
    /// once the request went out. Its error type for this grant is fixed to the RFC 8628
    /// fields, so a refusal is read from Microsoft's body as a [`TokenError`] (codes kept).
    pub async fn poll_device(
        &self,
        tenant: &str,
        app: &AppConfig,
        device: &DeviceCode,
    ) -> Result<TokenOutcome> {
        let client = self.client(tenant, app, true)?;
        let auth: DeviceAuthorization = serde_json::from_value(serde_json::to_value(device)?)
            .map_err(|e| Error::internal(format!("device code unusable: {e}")))?;
        let wire = Wire::new(self.http);
        let start = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let clock = || {
            if wire.sent() {
                start + chrono::Duration::seconds(1)
            } else {
                start
            }
        };
        let res = client
            .exchange_device_access_token(&auth)
            .set_time_fn(clock)
            .request_async(&wire, |_| std::future::ready(()), Some(Duration::ZERO))
            .await;
        self.token_outcome(&wire, res, |_| None)
    }

    fn token_outcome<TE: oauth2::ErrorResponse + 'static>(
        &self,
        wire: &Wire<'_>,
        res: std::result::Result<EntraTokens, RequestTokenError<WireError, TE>>,
        refusal: impl FnOnce(TE) -> Option<TokenError>,
    ) -> Result<TokenOutcome> {
        Ok(match self.settle(wire, res, refusal, "token")? {
            Ok(t) => TokenOutcome::Ok(t.into()),
            Err(e) => TokenOutcome::Refused(e),
        })
    }

    /// One request's result: the parsed answer, Entra's refusal (its error body), or a
    /// library error (network, an unreadable answer, a non-OAuth error page).
    /// `refusal` takes oauth2's parsed error body; `None`: read it from the raw answer.
    fn settle<T, TE: oauth2::ErrorResponse + 'static>(
        &self,
        wire: &Wire<'_>,
        res: std::result::Result<T, RequestTokenError<WireError, TE>>,
        refusal: impl FnOnce(TE) -> Option<TokenError>,
        endpoint: &str,
    ) -> Result<std::result::Result<T, TokenError>> {
        let err = match res {
            Ok(t) => return Ok(Ok(t)),
            Err(RequestTokenError::ServerResponse(e)) => match refusal(e) {
                Some(e) if !e.error.is_empty() => return Ok(Err(e)),
                _ => None,
            },
            Err(e) => Some(e.to_string() + &source_chain(&e)),
        };
        match wire.take() {
            Seen::Nothing => Err(Error::internal(format!(
                "the {endpoint} request was not sent: {}",
                err.unwrap_or_default()
            ))),
            Seen::Failed(HttpClientError::Reqwest(e)) => Err(self.net(*e)),
            Seen::Failed(e) => Err(self.unreachable(e.to_string())),
            Seen::Answered { status: 200, .. } => Err(Error::Remote(Fault::new(
                "unexpected_response",
                format!(
                    "the {endpoint} endpoint answered with unreadable JSON: {}",
                    err.unwrap_or_default()
                ),
            ))),
            Seen::Answered { status, body } => match serde_json::from_slice::<TokenError>(&body) {
                Ok(e) if !e.error.is_empty() => Ok(Err(e)),
                _ => Err(Error::Remote(Fault::new(
                    "sign_in_service_error",
                    format!(
                        "the Microsoft sign-in service answered {}: {}",
                        reqwest::StatusCode::from_u16(status)
                            .map(|s| s.to_string())
                            .unwrap_or_else(|_| status.to_string()),
                        String::from_utf8_lossy(&body[..body.len().min(200)])
                    ),
                ))
                .with_detail("http_status", status)),
            },
        }
    }
}

/// The causes below an error, as `: cause: cause`.
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

/// A space-separated scope list as oauth2 scopes.
fn scopes(scope: &str) -> impl Iterator<Item = Scope> + '_ {
    scope.split_whitespace().map(|s| Scope::new(s.to_owned()))
}

/// The part of the OpenID configuration that tenant discovery reads.
#[derive(Deserialize)]
struct OpenIdConfiguration {
    #[serde(default)]
    issuer: String,
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
    with_microsoft_details(base, e)
}

/// Microsoft's details of a refusal on an error: `oauth_error`, `error_codes` (the AADSTS
/// numbers), `trace_id` and `correlation_id` (what Microsoft support asks for).
pub fn with_microsoft_details(err: Error, e: &TokenError) -> Error {
    let mut err = err
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

/// What a refused device-code poll means (RFC 8628 section 3.5, Entra's wording).
#[derive(Debug)]
pub enum DevicePoll {
    /// `authorization_pending`: the user has not finished yet; poll again.
    Pending,
    /// `slow_down`: poll again, 5 seconds further apart.
    SlowDown(Error),
    /// The flow is over (declined, expired, or refused otherwise).
    Ended(Error),
}

/// Maps a device-code poll's refusal; every error keeps Microsoft's details.
pub fn device_refusal(e: &TokenError) -> DevicePoll {
    let ended = |kind: &'static str, text: &'static str| {
        DevicePoll::Ended(with_microsoft_details(
            Error::AuthRequired(Fault::new(kind, text)),
            e,
        ))
    };
    match e.error.as_str() {
        "authorization_pending" => DevicePoll::Pending,
        "slow_down" => DevicePoll::SlowDown(with_microsoft_details(
            Error::Remote(Fault::new(
                "slow_down",
                "Microsoft asked to poll more slowly",
            )),
            e,
        )),
        "authorization_declined" | "access_denied" => ended(
            "access_denied",
            "the user declined the sign-in on the device-code page",
        ),
        "expired_token" => ended(
            "expired_token",
            "the device code expired before the sign-in was completed",
        ),
        _ => DevicePoll::Ended(refusal_error(e)),
    }
}

/// Claims of a JWT (id token) without checking the signature: it came straight from the
/// token endpoint over TLS, which OpenID Connect allows for the code flow.
pub fn jwt_claims<T: serde::de::DeserializeOwned>(jwt: &str) -> Option<T> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The id token claims the sign-in reads.
#[derive(Debug, Deserialize)]
pub struct IdTokenClaims {
    /// The account's tenant ([`CONSUMERS_TENANT_ID`] for personal accounts).
    #[serde(default)]
    pub tid: Option<String>,
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
            (70008, "The provided authorization code or refresh token has expired due to inactivity."),
            (50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed."),
            (700082, "The refresh token has expired due to inactivity."),
        ];
        let mut answers: Vec<_> = cases
            .iter()
            .map(|(c, t)| aad("invalid_grant", *c, t))
            .collect();
        answers.push((
            200,
            "application/json",
            r#"{"token_type":"Bearer","expires_in":3599,"access_token":"at-2","refresh_token":"rt-2"}"#.into(),
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
}
