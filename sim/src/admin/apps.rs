//! App registrations: `/_sim/apps...`.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::extract::{Body, NoFields};
use super::reply::{created, ok, AdminErr, Created, Reply};
use crate::server::AppState;
use crate::state::{new_guid, App, Platform};

/// `POST /_sim/apps`: an app registration.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterApp {
    /// The application (client) id; a new GUID when absent.
    pub client_id: Option<String>,
    /// Shown on the sign-in and consent pages; the client id when absent.
    pub display_name: Option<String>,
    /// A verified publisher domain; absent: the consent page says "unverified".
    pub publisher_domain: Option<String>,
    /// `web` (confidential, needs its secret) or `public`; absent: `web` with a secret,
    /// else `public`.
    pub platform: Option<Platform>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub client_secret: Option<String>,
}

/// An app registration as the admin API shows it (the secret only as `hasSecret`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    pub client_id: String,
    pub display_name: String,
    pub publisher_domain: Option<String>,
    pub platform: Platform,
    pub redirect_uris: Vec<String>,
    pub has_secret: bool,
    pub confidential: bool,
}

impl From<&App> for AppView {
    fn from(a: &App) -> AppView {
        AppView {
            client_id: a.client_id.clone(),
            display_name: a.display_name.clone(),
            publisher_domain: a.publisher_domain.clone(),
            platform: a.platform,
            redirect_uris: a.redirect_uris.clone(),
            has_secret: a.client_secret.is_some(),
            confidential: a.platform == Platform::Web,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AppList {
    pub apps: Vec<AppView>,
}

#[derive(Debug, Serialize)]
pub struct Deleted {
    /// The client id.
    pub deleted: String,
}

/// Entra's rules for a redirect URI of `platform`: an absolute http(s) URL without a
/// fragment; `https` unless the host is `localhost` / `127.0.0.1` / `[::1]`.
fn check_redirect(platform: Platform, uri: &str) -> Result<(), AdminErr> {
    let bad = AdminErr::bad;
    let u = url::Url::parse(uri)
        .map_err(|e| bad(format!("redirectUris: '{uri}' is not an absolute URL: {e}")))?;
    let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(bad(format!(
                "redirectUris: '{uri}' must use https (http is only allowed for localhost)"
            )))
        }
        other
            if platform == Platform::Public && !matches!(other, "javascript" | "data" | "file") => {
        }
        other => {
            return Err(bad(format!(
                "redirectUris: scheme '{other}' is not allowed for the {platform:?} platform"
            )))
        }
    }
    if u.fragment().is_some() {
        return Err(bad(format!(
            "redirectUris: '{uri}' must not contain a fragment"
        )));
    }
    Ok(())
}

pub async fn register(State(sim): State<AppState>, Body(r): Body<RegisterApp>) -> Created<AppView> {
    let platform = r.platform.unwrap_or(if r.client_secret.is_some() {
        Platform::Web
    } else {
        Platform::Public
    });
    if platform == Platform::Public && r.client_secret.is_some() {
        return Err(AdminErr::bad(
            "a public client has no clientSecret (use platform \"web\")",
        ));
    }
    for u in &r.redirect_uris {
        check_redirect(platform, u)?;
    }
    let client_id = r
        .client_id
        .filter(|c| !c.is_empty())
        .unwrap_or_else(new_guid);
    let app = App {
        display_name: r.display_name.unwrap_or_else(|| client_id.clone()),
        client_id: client_id.clone(),
        publisher_domain: r.publisher_domain,
        platform,
        redirect_uris: r.redirect_uris,
        client_secret: r.client_secret,
    };
    let view = AppView::from(&app);
    sim.w().apps.insert(client_id, app);
    created(view)
}

pub async fn list(State(sim): State<AppState>) -> Reply<AppList> {
    let w = sim.w();
    let mut apps: Vec<AppView> = w.apps.values().map(AppView::from).collect();
    apps.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    ok(AppList { apps })
}

pub async fn get(State(sim): State<AppState>, Path(id): Path<String>) -> Reply<AppView> {
    let w = sim.w();
    let a = w
        .apps
        .get(&id)
        .ok_or_else(|| AdminErr::not_found("no such app"))?;
    ok(AppView::from(a))
}

pub async fn remove(
    State(sim): State<AppState>,
    Path(id): Path<String>,
    _: NoFields,
) -> Reply<Deleted> {
    sim.w()
        .apps
        .remove(&id)
        .ok_or_else(|| AdminErr::not_found("no such app"))?;
    ok(Deleted { deleted: id })
}
