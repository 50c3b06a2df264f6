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
mod tests;
