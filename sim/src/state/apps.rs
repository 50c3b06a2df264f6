//! App registrations as Entra keeps them (the parts sign-in looks at).

use serde::{Deserialize, Serialize};

/// Where an app registration's redirect URIs are configured in Entra ("Authentication" >
/// platform). A `Web` app is a confidential client: it must present its secret when it redeems
/// a code or refresh token. A `Public` app ("Mobile and desktop applications") must not.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Platform {
    Web,
    Public,
}

/// An app registration as Entra keeps it (the parts sign-in looks at).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub client_id: String,
    pub display_name: String,
    /// The publisher domain shown under the app's name on the consent page (e.g.
    /// `crm.example`); `None` shows "unverified".
    pub publisher_domain: Option<String>,
    pub platform: Platform,
    /// Exact, case-sensitive redirect URIs.
    pub redirect_uris: Vec<String>,
    /// The client secret's value (web platform).
    pub client_secret: Option<String>,
}

impl App {
    /// Exact, case-sensitive match; for loopback URIs (`http://localhost`, `127.0.0.1`,
    /// `[::1]`) the port is ignored, as Microsoft documents for localhost redirect URIs
    /// (native apps listen on an ephemeral port, RFC 8252 section 7.3): scheme, host and path
    /// still match exactly, so `localhost` and `127.0.0.1` do not stand for each other.
    pub fn redirect_registered(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|r| r == uri || same_loopback_but_port(r, uri))
    }
}

fn same_loopback_but_port(registered: &str, requested: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(registered), url::Url::parse(requested)) else {
        return false;
    };
    let loopback = |u: &url::Url| matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    loopback(&a)
        && a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.path() == b.path()
        && a.query() == b.query()
}
