//! `o365_check_setup`: what can be checked before any user signs in (docs/going-live.md).
//! Every check runs; each gives a verdict with a message and, when something is wrong, what
//! to change. Entra is asked about the app by redeeming a code that cannot exist: a known app
//! with valid credentials gets `invalid_grant`, anything wrong with the registration gets its
//! own AADSTS code first.

use super::Client;
use crate::auth::entra::{registration_fault, TokenError, TokenOutcome};
use crate::error::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A code no Entra ever issued (they start with `0.` / `1.`).
const INVALID_CODE: &str = "o365-check-setup.not-a-code";
/// A PKCE verifier of valid length for the invalid code.
const DUMMY_VERIFIER: &str = "o365-check-setup-verifier-0123456789abcdefghijklmnop";

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSetup {
    /// The tenant to ask about the app (id or domain, e.g. the domain of a mailbox to
    /// connect); default `app.tenant`.
    #[serde(default)]
    pub tenant: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Warning,
    Failed,
}

/// One check of `o365_check_setup`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct CheckItem {
    pub name: &'static str,
    pub verdict: Verdict,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Microsoft's code where Microsoft answered (e.g. `AADSTS7000215`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl CheckItem {
    fn new(name: &'static str, verdict: Verdict, message: impl Into<String>) -> CheckItem {
        CheckItem {
            name,
            verdict,
            message: message.into(),
            hint: None,
            code: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> CheckItem {
        self.hint = Some(hint.into());
        self
    }

    fn code(mut self, code: i64) -> CheckItem {
        self.code = Some(format!("AADSTS{code}"));
        self
    }

    fn from_error(name: &'static str, what: &str, e: &Error) -> CheckItem {
        let item = CheckItem::new(name, Verdict::Failed, format!("{what}: {}", e.message()));
        match e.hint() {
            Some(h) => item.hint(h),
            None => item,
        }
    }
}

/// `o365_check_setup`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SetupReport {
    /// No item failed (warnings allowed).
    pub ok: bool,
    pub items: Vec<CheckItem>,
}

impl Client {
    /// `o365_check_setup`: config, store, endpoints and the app registration.
    pub async fn check_setup(&self, req: CheckSetup) -> Result<SetupReport> {
        let mut items = vec![self.check_config()];
        items.push(self.check_store());
        let tenant = req
            .tenant
            .clone()
            .unwrap_or_else(|| self.config().app.tenant.clone());
        let sign_in = self.check_sign_in_endpoint(&tenant).await;
        let sign_in_ok = sign_in.verdict != Verdict::Failed;
        items.push(sign_in);
        items.push(self.check_graph_endpoint().await);
        if sign_in_ok && self.app_registration().is_ok() {
            items.push(self.check_app(&tenant).await);
            items.push(self.check_redirect(&tenant).await);
        } else {
            items.push(
                CheckItem::new(
                    "app_registration",
                    Verdict::Failed,
                    "not checked: the configuration has no app.client_id or the sign-in endpoint is unreachable",
                )
                .hint("fix the items above first"),
            );
        }
        Ok(SetupReport {
            ok: items.iter().all(|i| i.verdict != Verdict::Failed),
            items,
        })
    }

    fn check_config(&self) -> CheckItem {
        let app = &self.config().app;
        if let Err(e) = self.app_registration() {
            return CheckItem::from_error("config", "the configuration is incomplete", &e);
        }
        let Some(redirect) = app.redirect_uri.as_deref() else {
            return CheckItem::new(
                "config",
                Verdict::Failed,
                "app.redirect_uri is not configured",
            )
            .hint("set app.redirect_uri to the CRM's callback URL, registered in the app registration (Authentication > Redirect URIs)");
        };
        let url = match url::Url::parse(redirect) {
            Ok(u) => u,
            Err(e) => {
                return CheckItem::new(
                    "config",
                    Verdict::Failed,
                    format!("app.redirect_uri '{redirect}' is not a URL: {e}"),
                )
            }
        };
        let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        if url.scheme() != "https" && !loopback {
            return CheckItem::new(
                "config",
                Verdict::Failed,
                format!("app.redirect_uri '{redirect}' is not https"),
            )
            .hint("Entra accepts http redirect URIs only for localhost; serve the callback over https");
        }
        if loopback && app.client_secret.is_none() {
            return CheckItem::new(
                "config",
                Verdict::Warning,
                format!("app.redirect_uri '{redirect}' is a localhost address and no app.client_secret is set: this works only for a public client on the machine of the browser"),
            )
            .hint("for a CRM on a server register a 'Web' redirect URI (https) and configure its client secret");
        }
        CheckItem::new(
            "config",
            Verdict::Ok,
            format!(
                "client id {}, redirect URI {redirect}, tenant '{}', {}",
                app.client_id.as_deref().unwrap_or_default(),
                app.tenant,
                if app.client_secret.is_some() {
                    "with a client secret (confidential client)"
                } else {
                    "without a client secret (public client)"
                }
            ),
        )
    }

    fn check_store(&self) -> CheckItem {
        match self.store().schema_version() {
            Ok((have, want)) if have == want => CheckItem::new(
                "store",
                Verdict::Ok,
                format!("the store is reachable and migrated (schema {have})"),
            ),
            Ok((have, want)) => CheckItem::new(
                "store",
                Verdict::Failed,
                format!("the store has schema {have}, this library needs {want}"),
            )
            .hint("open a client with write access once (it migrates), or upgrade the library"),
            Err(e) => CheckItem::from_error("store", "the store cannot be read", &e),
        }
    }

    /// The tenant's OpenID configuration over the configured trust (ca_file).
    async fn check_sign_in_endpoint(&self, tenant: &str) -> CheckItem {
        let login = self
            .config()
            .endpoints
            .login
            .trim_end_matches('/')
            .to_owned();
        let url = format!("{login}/{tenant}/v2.0/.well-known/openid-configuration");
        let http = match self.http() {
            Ok(h) => h,
            Err(e) => return CheckItem::from_error("sign_in_endpoint", "no HTTP client", &e),
        };
        match http.get(&url).send().await {
            Ok(r) if r.status().is_success() => CheckItem::new(
                "sign_in_endpoint",
                Verdict::Ok,
                format!("{login} answers for tenant '{tenant}' (TLS trusted)"),
            ),
            Ok(r) => {
                let status = r.status();
                let body: TokenError = r.json().await.unwrap_or_default();
                let item = CheckItem::new(
                    "sign_in_endpoint",
                    Verdict::Failed,
                    format!(
                        "{login} answered {status} for tenant '{tenant}': {}",
                        body.short_description()
                    ),
                );
                match body.error_codes.first() {
                    Some(c) => item.code(*c),
                    None => item,
                }
                .hint("check app.tenant (a tenant id, a verified domain, 'organizations' or 'common') and endpoints.login (national clouds differ)")
            }
            Err(e) => CheckItem::new(
                "sign_in_endpoint",
                Verdict::Failed,
                format!("{login} cannot be reached: {}", error_chain(&e)),
            )
            .hint("check endpoints.login, the network path (firewall, proxy) and ca_file when a TLS-inspecting proxy is in the way"),
        }
    }

    /// Any HTTP answer from Graph proves reachability and TLS trust (without a token Graph
    /// answers 401).
    async fn check_graph_endpoint(&self) -> CheckItem {
        let graph = self
            .config()
            .endpoints
            .graph
            .trim_end_matches('/')
            .to_owned();
        let http = match self.http() {
            Ok(h) => h,
            Err(e) => return CheckItem::from_error("graph_endpoint", "no HTTP client", &e),
        };
        match http.get(format!("{graph}/me")).send().await {
            Ok(r) => CheckItem::new(
                "graph_endpoint",
                Verdict::Ok,
                format!(
                    "{graph} answers (HTTP {} without a token, TLS trusted)",
                    r.status().as_u16()
                ),
            ),
            Err(e) => CheckItem::new(
                "graph_endpoint",
                Verdict::Failed,
                format!("{graph} cannot be reached: {}", error_chain(&e)),
            )
            .hint("check endpoints.graph, the network path (firewall, proxy) and ca_file"),
        }
    }

    /// Redeems a code that cannot exist: Entra checks the app and its credentials first.
    async fn check_app(&self, tenant: &str) -> CheckItem {
        let app = self.config().app.clone();
        let client_id = app.client_id.clone().unwrap_or_default();
        let redirect = app.redirect_uri.clone().unwrap_or_default();
        let entra = match self.entra() {
            Ok(e) => e,
            Err(e) => return CheckItem::from_error("app_registration", "no HTTP client", &e),
        };
        let mut form = vec![
            ("client_id", client_id.as_str()),
            ("grant_type", "authorization_code"),
            ("code", INVALID_CODE),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", DUMMY_VERIFIER),
            ("scope", "openid offline_access"),
        ];
        if let Some(s) = app.client_secret.as_deref() {
            form.push(("client_secret", s));
        }
        let kind = if app.client_secret.is_some() {
            "its client secret"
        } else {
            "a request without a secret (public client)"
        };
        match entra.token(tenant, &form).await {
            Ok(TokenOutcome::Refused(e)) => {
                if let Some((code, _, hint)) = registration_fault(&e) {
                    return CheckItem::new(
                        "app_registration",
                        Verdict::Failed,
                        format!("Entra refused the app: {}", e.short_description()),
                    )
                    .hint(*hint)
                    .code(*code);
                }
                if e.error == "invalid_grant" {
                    let item = CheckItem::new(
                        "app_registration",
                        Verdict::Ok,
                        format!("Entra knows app {client_id} in tenant '{tenant}' and accepted {kind} (a test code was refused as expected: {})", e.short_description()),
                    );
                    return match e.error_codes.first() {
                        Some(c) => item.code(*c),
                        None => item,
                    };
                }
                let item = CheckItem::new(
                    "app_registration",
                    Verdict::Warning,
                    format!(
                        "Entra answered '{}' to the test redemption: {}",
                        e.error,
                        e.short_description()
                    ),
                )
                .hint("see the AADSTS table in docs/going-live.md");
                match e.error_codes.first() {
                    Some(c) => item.code(*c),
                    None => item,
                }
            }
            Ok(TokenOutcome::Ok(_)) => CheckItem::new(
                "app_registration",
                Verdict::Warning,
                "the token endpoint accepted a code that cannot exist",
            )
            .hint("check endpoints.login: it does not behave like Microsoft Entra ID"),
            Err(e) => CheckItem::from_error("app_registration", "the token endpoint failed", &e),
        }
    }

    /// Opens the authorize URL without a user: Entra shows its own error page (AADSTS50011,
    /// 700016) instead of the sign-in form when the redirect URI is not registered.
    async fn check_redirect(&self, tenant: &str) -> CheckItem {
        let app = &self.config().app;
        let redirect = app.redirect_uri.clone().unwrap_or_default();
        let login = self
            .config()
            .endpoints
            .login
            .trim_end_matches('/')
            .to_owned();
        let Ok(mut url) = url::Url::parse(&format!("{login}/{tenant}/oauth2/v2.0/authorize"))
        else {
            return CheckItem::new(
                "redirect_uri",
                Verdict::Failed,
                "endpoints.login is not a URL",
            );
        };
        url.query_pairs_mut()
            .append_pair("client_id", app.client_id.as_deref().unwrap_or_default())
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &redirect)
            .append_pair("scope", "openid")
            .append_pair("state", "o365-check-setup");
        let http = match self.http() {
            Ok(h) => h,
            Err(e) => return CheckItem::from_error("redirect_uri", "no HTTP client", &e),
        };
        let page = match http.get(url).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => {
                return CheckItem::new(
                    "redirect_uri",
                    Verdict::Failed,
                    format!(
                        "the authorize endpoint cannot be reached: {}",
                        error_chain(&e)
                    ),
                )
            }
        };
        let shown = aadsts_codes(&page);
        let fault = shown.iter().find_map(|c| {
            crate::auth::entra::REGISTRATION_FAULTS
                .iter()
                .find(|(code, _, _)| code == c)
        });
        match fault {
            Some((code, _, hint)) => CheckItem::new(
                "redirect_uri",
                Verdict::Failed,
                format!("the sign-in page shows AADSTS{code} for redirect URI '{redirect}'"),
            )
            .hint(*hint)
            .code(*code),
            None if shown.is_empty() => CheckItem::new(
                "redirect_uri",
                Verdict::Ok,
                format!("the sign-in page opens for redirect URI '{redirect}'"),
            ),
            None => CheckItem::new(
                "redirect_uri",
                Verdict::Warning,
                format!(
                    "the sign-in page shows AADSTS{} for redirect URI '{redirect}'",
                    shown[0]
                ),
            )
            .hint("see the AADSTS table in docs/going-live.md")
            .code(shown[0]),
        }
    }
}

/// The AADSTS numbers on a page, in order.
fn aadsts_codes(page: &str) -> Vec<i64> {
    page.match_indices("AADSTS")
        .filter_map(|(i, _)| {
            let digits: String = page[i + 6..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// A reqwest error with its causes (TLS errors hide the reason in the chain).
fn error_chain(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_aadsts_codes_on_a_page() {
        assert_eq!(
            aadsts_codes("<div>AADSTS50011: no</div> x AADSTS700016 AADSTSx"),
            vec![50011, 700016]
        );
        assert!(aadsts_codes("<form id=\"loginForm\">").is_empty());
    }
}
