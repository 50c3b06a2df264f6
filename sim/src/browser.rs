//! A scripted "person at the browser": it loads the sim's sign-in pages over real HTTPS,
//! fills in the HTML forms (fields `login`, `passwd`, `ctx`, `otc`, `accept`, `account` on the
//! account picker) and reports the
//! final redirect back to the app. No shortcuts into the sim's state.
//!
//! The free functions are blocking and work with or without a surrounding Tokio runtime (they
//! run on a thread of their own). They trust the CA of every sim started in this process, plus
//! the CA file named by `O365_SIM_CA_FILE`. [`Browser`] is the async form, with an explicit CA
//! and a cookie jar (so `prompt=none` after a sign-in works).

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context};
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};

static CAS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Makes the blocking helpers trust `pem` (the sim does this on start).
pub fn register_ca(pem: &str) {
    let mut g = CAS.lock().unwrap();
    if !g.iter().any(|p| p == pem) {
        g.push(pem.to_string());
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    Accept,
    Decline,
}

/// What a flow ended with.
#[derive(Debug)]
enum Outcome {
    Redirect(String),
    DeviceDone(bool),
}

pub struct Browser {
    client: reqwest::Client,
    cookies: Mutex<HashMap<String, String>>,
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    let j = tag[i..].find('"')? + i;
    Some(unescape(&tag[i..j]))
}

/// A parsed HTML form: action and its named inputs/buttons (name, value, type).
#[derive(Debug, Default)]
struct Form {
    id: String,
    action: String,
    fields: Vec<(String, String, String)>,
}

fn forms(html: &str) -> Vec<Form> {
    let mut out = vec![];
    let mut rest = html;
    while let Some(i) = rest.find("<form") {
        let after = &rest[i..];
        let end = after.find("</form>").unwrap_or(after.len());
        let body = &after[..end];
        let tag_end = body.find('>').unwrap_or(body.len());
        let tag = &body[..tag_end];
        let mut f = Form {
            id: attr(tag, "id").unwrap_or_default(),
            action: attr(tag, "action").unwrap_or_default(),
            fields: vec![],
        };
        for kind in ["<input", "<button"] {
            let mut r = body;
            while let Some(k) = r.find(kind) {
                let t = &r[k..];
                let te = t.find('>').unwrap_or(t.len());
                let tag = &t[..te];
                if let Some(n) = attr(tag, "name") {
                    f.fields.push((
                        n,
                        attr(tag, "value").unwrap_or_default(),
                        attr(tag, "type").unwrap_or_default(),
                    ));
                }
                r = &t[te..];
            }
        }
        out.push(f);
        rest = &after[end..];
    }
    out
}

fn page_error(html: &str) -> Option<String> {
    let i = html.find("<div id=\"error\"")?;
    let t = &html[i..];
    let s = t.find('>')? + 1;
    let e = t.find("</div>")?;
    Some(unescape(&t[s..e]))
}

fn origin(url: &str) -> anyhow::Result<String> {
    let u = url::Url::parse(url).with_context(|| format!("bad URL {url}"))?;
    Ok(u.origin().ascii_serialization())
}

impl Browser {
    /// A browser that trusts `ca_pem` (or, when None, the registered sim CAs and
    /// `O365_SIM_CA_FILE`).
    pub fn new(ca_pem: Option<&str>) -> anyhow::Result<Browser> {
        let mut pems: Vec<String> = match ca_pem {
            Some(p) => vec![p.to_string()],
            None => CAS.lock().unwrap().clone(),
        };
        if ca_pem.is_none() {
            if let Ok(f) = std::env::var("O365_SIM_CA_FILE") {
                pems.push(std::fs::read_to_string(&f).with_context(|| format!("reading {f}"))?);
            }
        }
        if pems.is_empty() {
            bail!(
                "no CA to trust: start a sim in this process, pass a CA, or set O365_SIM_CA_FILE"
            );
        }
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tls_built_in_root_certs(false)
            .user_agent("Mozilla/5.0 (o365-sim browser helper)");
        for p in pems {
            b = b.add_root_certificate(reqwest::Certificate::from_pem(p.as_bytes())?);
        }
        Ok(Browser {
            client: b.build()?,
            cookies: Mutex::new(HashMap::new()),
        })
    }

    fn cookie_header(&self) -> Option<String> {
        let g = self.cookies.lock().unwrap();
        if g.is_empty() {
            return None;
        }
        Some(
            g.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    fn keep_cookies(&self, h: &HeaderMap) {
        let mut g = self.cookies.lock().unwrap();
        for v in h.get_all(SET_COOKIE) {
            if let Ok(s) = v.to_str() {
                let first = s.split(';').next().unwrap_or("");
                if let Some((k, val)) = first.split_once('=') {
                    if val.is_empty() {
                        g.remove(k.trim());
                    } else {
                        g.insert(k.trim().to_string(), val.to_string());
                    }
                }
            }
        }
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> anyhow::Result<(u16, HeaderMap, String)> {
        let rb = match self.cookie_header() {
            Some(c) => rb.header(COOKIE, c),
            None => rb,
        };
        let r = rb.send().await?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        self.keep_cookies(&headers);
        let text = r.text().await?;
        Ok((status, headers, text))
    }

    /// Walks the pages from `start` until the flow leaves the sim (a redirect elsewhere, a
    /// form_post page) or a device sign-in finishes.
    async fn walk(
        &self,
        start: reqwest::RequestBuilder,
        origin: &str,
        user: &str,
        password: &str,
        consent: Consent,
    ) -> anyhow::Result<Outcome> {
        let mut next = Some(start);
        for _ in 0..12 {
            let rb = next.take().unwrap();
            let (status, headers, html) = self.send(rb).await?;
            if (300..400).contains(&status) {
                let loc = headers
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| anyhow!("redirect without Location"))?;
                let abs = if loc.starts_with('/') {
                    format!("{origin}{loc}")
                } else {
                    loc.to_string()
                };
                if abs.starts_with(origin) && !abs.contains("code=") && !abs.contains("error=") {
                    next = Some(self.client.get(abs));
                    continue;
                }
                return Ok(Outcome::Redirect(abs));
            }
            let fs = forms(&html);
            if let Some(f) = fs.iter().find(|f| f.id == "form_post") {
                let mut u = url::Url::parse(&f.action)?;
                for (n, v, _) in &f.fields {
                    u.query_pairs_mut().append_pair(n, v);
                }
                return Ok(Outcome::Redirect(u.to_string()));
            }
            if let Some(i) = html.find("id=\"deviceDone\"") {
                return Ok(Outcome::DeviceDone(
                    html[i..].contains("data-result=\"approved\""),
                ));
            }
            if let Some(e) = page_error(&html) {
                bail!("{e}");
            }
            if status >= 400 {
                bail!("HTTP {status}: {html}");
            }
            let Some(f) = fs.into_iter().next() else {
                bail!("unexpected page (HTTP {status}): {html}");
            };
            let action = if f.action.starts_with('/') {
                format!("{origin}{}", f.action)
            } else {
                f.action.clone()
            };
            let mut body: Vec<(String, String)> = vec![];
            let names: Vec<&str> = f.fields.iter().map(|x| x.0.as_str()).collect();
            if names.contains(&"passwd") {
                for (n, v, _) in &f.fields {
                    match n.as_str() {
                        "login" => body.push((n.clone(), user.to_string())),
                        "passwd" => body.push((n.clone(), password.to_string())),
                        _ if !v.is_empty() || n == "ctx" => body.push((n.clone(), v.clone())),
                        _ => {}
                    }
                }
            } else if names.contains(&"accept") {
                for (n, v, ty) in &f.fields {
                    if n == "accept" {
                        continue;
                    }
                    if ty != "submit" {
                        body.push((n.clone(), v.clone()));
                    }
                }
                body.push((
                    "accept".into(),
                    if consent == Consent::Accept {
                        "yes"
                    } else {
                        "no"
                    }
                    .into(),
                ));
            } else if names.contains(&"account") {
                // "Pick an account": the signed-in account when it is the one to use, else
                // "Use another account".
                let pick = f
                    .fields
                    .iter()
                    .find(|(n, v, _)| {
                        n == "account" && !v.is_empty() && v.eq_ignore_ascii_case(user)
                    })
                    .map(|x| x.1.clone())
                    .unwrap_or_default();
                for (n, v, ty) in &f.fields {
                    if n != "account" && ty != "submit" {
                        body.push((n.clone(), v.clone()));
                    }
                }
                body.push(("account".into(), pick));
            } else {
                bail!("unexpected form {:?} on page: {html}", f.id);
            }
            next = Some(self.client.post(action).form(&body));
        }
        bail!("too many steps in the sign-in flow")
    }

    /// Opens `authorize_url`, signs in and answers the consent page; returns the final
    /// redirect URL (with `code` and `state`, or `error` and `error_description`). For
    /// `response_mode=form_post` the posted fields are returned as the query of the URL.
    /// Errors shown on a page (wrong password, unknown user ...) are returned as `Err`.
    pub async fn sign_in(
        &self,
        authorize_url: &str,
        user: &str,
        password: &str,
        consent: Consent,
    ) -> anyhow::Result<String> {
        let o = origin(authorize_url)?;
        match self
            .walk(self.client.get(authorize_url), &o, user, password, consent)
            .await?
        {
            Outcome::Redirect(u) => Ok(u),
            Outcome::DeviceDone(_) => bail!("unexpected device page"),
        }
    }

    /// Enters `user_code` at `{base_url}/devicelogin` and signs in. Ok(true) when approved.
    pub async fn device_sign_in(
        &self,
        base_url: &str,
        user_code: &str,
        user: &str,
        password: &str,
        consent: Consent,
    ) -> anyhow::Result<bool> {
        let base = base_url.trim_end_matches('/');
        let o = origin(base)?;
        let start = self
            .client
            .post(format!("{base}/devicelogin"))
            .form(&[("otc", user_code)]);
        match self.walk(start, &o, user, password, consent).await? {
            Outcome::DeviceDone(ok) => Ok(ok),
            Outcome::Redirect(u) => bail!("unexpected redirect {u}"),
        }
    }

    /// Plain GET that returns the redirect target (e.g. `prompt=none` with the session
    /// cookie of an earlier sign-in).
    pub async fn follow(&self, url: &str) -> anyhow::Result<String> {
        let o = origin(url)?;
        match self
            .walk(self.client.get(url), &o, "", "", Consent::Decline)
            .await?
        {
            Outcome::Redirect(u) => Ok(u),
            Outcome::DeviceDone(_) => bail!("unexpected device page"),
        }
    }
}

fn on_thread<T: Send + 'static>(
    f: impl FnOnce(
            Browser,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<T>> + Send>>
        + Send
        + 'static,
    ca_pem: Option<String>,
) -> anyhow::Result<T> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let b = Browser::new(ca_pem.as_deref())?;
        rt.block_on(f(b))
    })
    .join()
    .map_err(|_| anyhow!("browser thread panicked"))?
}

/// Blocking: sign in at `authorize_url` as `username`; returns the final redirect URL.
pub fn sign_in(
    authorize_url: &str,
    username: &str,
    password: &str,
    consent: Consent,
) -> anyhow::Result<String> {
    sign_in_with_ca(None, authorize_url, username, password, consent)
}

/// Blocking, trusting the given CA PEM only.
pub fn sign_in_with_ca(
    ca_pem: Option<&str>,
    authorize_url: &str,
    username: &str,
    password: &str,
    consent: Consent,
) -> anyhow::Result<String> {
    let (a, u, p) = (
        authorize_url.to_string(),
        username.to_string(),
        password.to_string(),
    );
    on_thread(
        move |b| Box::pin(async move { b.sign_in(&a, &u, &p, consent).await }),
        ca_pem.map(|s| s.to_string()),
    )
}

/// Blocking: enter `user_code` on the device page of the sim at `base_url` and sign in.
/// Returns Ok(true) when the device was approved, Ok(false) when consent was declined.
pub fn device_sign_in(
    base_url: &str,
    user_code: &str,
    username: &str,
    password: &str,
    consent: Consent,
) -> anyhow::Result<bool> {
    device_sign_in_with_ca(None, base_url, user_code, username, password, consent)
}

pub fn device_sign_in_with_ca(
    ca_pem: Option<&str>,
    base_url: &str,
    user_code: &str,
    username: &str,
    password: &str,
    consent: Consent,
) -> anyhow::Result<bool> {
    let (a, c, u, p) = (
        base_url.to_string(),
        user_code.to_string(),
        username.to_string(),
        password.to_string(),
    );
    on_thread(
        move |b| Box::pin(async move { b.device_sign_in(&a, &c, &u, &p, consent).await }),
        ca_pem.map(|s| s.to_string()),
    )
}

/// Blocking: an administrator opens the admin-consent `url`
/// (`{base}/{tenant}/v2.0/adminconsent?client_id=...&redirect_uri=...`), signs in and
/// accepts. Returns the redirect URL (`admin_consent=True&tenant=...` or error params).
pub fn admin_consent(url: &str, admin_username: &str, password: &str) -> anyhow::Result<String> {
    sign_in_with_ca(None, url, admin_username, password, Consent::Accept)
}

/// Blocking admin consent with an explicit answer and CA.
pub fn admin_consent_with_ca(
    ca_pem: Option<&str>,
    url: &str,
    admin_username: &str,
    password: &str,
    consent: Consent,
) -> anyhow::Result<String> {
    sign_in_with_ca(ca_pem, url, admin_username, password, consent)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_forms() {
        let html = r#"<form method="post" action="/t/login" id="loginForm"><input type="hidden" name="ctx" value="a&amp;b"><input type="email" name="login" value=""><button type="submit" name="accept" value="no">x</button></form>"#;
        let f = forms(html);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].action, "/t/login");
        assert_eq!(
            f[0].fields[0],
            ("ctx".into(), "a&b".into(), "hidden".into())
        );
        assert_eq!(f[0].fields[2].0, "accept");
    }
}
