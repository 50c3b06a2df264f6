//! The finished link page (`o365_link_page`) and its streamed downloads (`o365_link_read`).
//!
//! The host passes the request it received; the answer says what to send back: status,
//! headers and either an HTML body or a byte range of a file to stream with
//! `o365_link_read`. Query parameters the page itself uses in its URLs: `f` (file index) and
//! `a` (acceptance receipt of an agreement link). Form fields of the accept step: `csrf`,
//! `agree`. Cookie: `o365_link_csrf`.

use super::events::{LinkAcceptedPayload, LinkDownloadedPayload};
use super::Client;
use crate::error::{Error, Fault, Result};
use crate::links::page::{self, esc, field, Lang, Look, RangeAsk, Texts};
use crate::links::{self, token};
use crate::store::links::{LinkAccess, LinkFile, LinkRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// How long the accept form stays valid after the page was shown.
const FORM_MAX_AGE_MS: i64 = 2 * 3600 * 1000;
const CSRF_COOKIE: &str = "o365_link_csrf";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkPage {
    /// `GET`, `HEAD` or `POST`.
    pub method: String,
    /// The link token from the URL.
    pub token: String,
    /// The URL's query parameters (PHP: `$_GET`); the page uses `f` and `a`.
    #[serde(default)]
    pub query: BTreeMap<String, Value>,
    /// The posted form fields (PHP: `$_POST`).
    #[serde(default)]
    pub form: BTreeMap<String, Value>,
    /// The request's cookies (PHP: `$_COOKIE`).
    #[serde(default)]
    pub cookies: BTreeMap<String, Value>,
    #[serde(default)]
    pub accept_language: Option<String>,
    #[serde(default)]
    pub range: Option<String>,
    #[serde(default)]
    pub if_none_match: Option<String>,
    /// The recipient's IP address as the web server saw it (recorded with accept/download).
    #[serde(default)]
    pub client_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// `o365_link_page`: what to answer.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PageAnswer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    /// The HTML to send (absent for HEAD, redirects, 304, 416 and file answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// A file range to send: read it with `o365_link_read(stream.id, pos, ...)` for `pos`
    /// from 0 to `length`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamAnswer>,
}

/// A file range of a link page answer, read with `o365_link_read`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct StreamAnswer {
    pub id: String,
    /// First byte of the range within the file.
    pub offset: u64,
    /// Bytes to send.
    pub length: u64,
    /// The whole file's size.
    pub size: u64,
}

/// Headers every answer carries.
fn base_headers(csp: String) -> BTreeMap<String, String> {
    [
        ("Content-Security-Policy", csp),
        ("X-Content-Type-Options", "nosniff".into()),
        ("Referrer-Policy", "no-referrer".into()),
        ("Cache-Control", "no-store".into()),
        ("X-Frame-Options", "DENY".into()),
        ("Cross-Origin-Opener-Policy", "same-origin".into()),
        ("Cross-Origin-Resource-Policy", "same-origin".into()),
        ("X-Robots-Tag", "noindex, nofollow".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The URL of the page with extra query parameters.
fn page_url(base: &str, extra: &[(&str, &str)]) -> String {
    let mut u = base.to_owned();
    for (k, v) in extra {
        u.push(if u.contains('?') { '&' } else { '?' });
        u.push_str(k);
        u.push('=');
        u.push_str(&url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>());
    }
    u
}

/// A safe `Content-Type` for a stored file type.
fn safe_content_type(ct: &str) -> String {
    let ok = !ct.is_empty()
        && ct.len() <= 200
        && ct.contains('/')
        && ct
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/+-.;= _\"".contains(c));
    if ok {
        ct.to_owned()
    } else {
        "application/octet-stream".into()
    }
}

/// One page render: language, look and CSP nonce.
struct Render<'a> {
    lang: Lang,
    t: &'static Texts,
    look: Look<'a>,
    nonce: String,
    head_only: bool,
}

impl Render<'_> {
    fn html(&self, status: u16, title: &str, content: &str, footer: &str) -> PageAnswer {
        let mut headers = base_headers(page::csp(&self.nonce, self.look.logo_url));
        headers.insert("Content-Type".into(), "text/html; charset=utf-8".into());
        headers.insert("Content-Language".into(), self.lang.code().into());
        headers.insert("Vary".into(), "Accept-Language".into());
        let doc = page::document(self.lang, &self.look, &self.nonce, title, content, footer);
        PageAnswer {
            status,
            headers,
            body: (!self.head_only).then_some(doc),
            stream: None,
        }
    }

    /// A friendly page for a link that cannot be used (invalid, expired, purged ...).
    fn notice(&self, status: u16, title: &str, text: &str, back: Option<&str>) -> PageAnswer {
        let mut c = format!("<h1>{}</h1>\n<p>{}</p>\n", esc(title), esc(text));
        if let Some(u) = back {
            c.push_str(&format!(
                "<p><a class=\"button\" href=\"{}\">{}</a></p>\n",
                esc(u),
                esc(self.t.back)
            ));
        }
        self.html(status, title, &c, "")
    }

    fn plain(&self, status: u16) -> PageAnswer {
        PageAnswer {
            status,
            headers: base_headers(page::csp(&self.nonce, None)),
            body: None,
            stream: None,
        }
    }
}

impl Client {
    /// The link page: see the module documentation and `o365_link_page`.
    pub async fn link_page(&self, req: LinkPage) -> Result<PageAnswer> {
        page::check_header("accept_language", req.accept_language.as_deref(), 1000)?;
        page::check_header("range", req.range.as_deref(), 200)?;
        page::check_header("if_none_match", req.if_none_match.as_deref(), 1000)?;
        page::check_header("client_address", req.client_address.as_deref(), 100)?;
        page::check_header("user_agent", req.user_agent.as_deref(), 1000)?;
        if req.token.len() > 1000 {
            return Err(Error::invalid_field("token", "token is too long"));
        }
        // Expired links lose their files and keys here too (and in maintenance).
        if let Err(e) = links::purge(self) {
            tracing::warn!("link purge failed: {e}");
        }
        let cfg = &self.config().links;
        let template = match &cfg.template {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
                Error::invalid_field(
                    "links.template",
                    format!("cannot read template '{}': {e}", p.display()),
                )
            })?),
            None => None,
        };
        let lang = page::pick_lang(req.accept_language.as_deref(), &cfg.language);
        let method = req.method.to_ascii_uppercase();
        let r = Render {
            lang,
            t: page::texts(lang),
            look: Look {
                template: template.as_deref(),
                css: cfg.css.as_deref(),
                logo_url: cfg.logo_url.as_deref(),
            },
            nonce: token::nonce(),
            head_only: method == "HEAD",
        };
        let t = r.t;
        if !matches!(method.as_str(), "GET" | "HEAD" | "POST") {
            let mut a = r.plain(405);
            a.headers.insert("Allow".into(), "GET, HEAD, POST".into());
            return Ok(a);
        }
        let key = links::signing_key(self)?;
        let Ok(id) = token::open(&key, &req.token) else {
            return Ok(r.notice(400, t.invalid_title, t.invalid_text, None));
        };
        let Some(link) = self.store().get_link(&id)? else {
            return Ok(r.notice(404, t.invalid_title, t.invalid_text, None));
        };
        let now = self.now_ms();
        if link.purged_at.is_some() && now < link.expires_at {
            return Ok(r.notice(410, t.purged_title, t.purged_text, None));
        }
        if now >= link.expires_at || link.purged_at.is_some() {
            let text = t
                .expired_text
                .replace("{date}", &page::date(lang, link.expires_at));
            return Ok(r.notice(410, t.expired_title, &text, None));
        }
        let base = links::url(self, req.token.trim())?;
        let receipt = field(&req.query, "a")
            .filter(|a| links::receipt_ok(self, &link.id, a).unwrap_or(false));
        let unlocked = link.kind != "agreement" || receipt.is_some();

        if method == "POST" {
            return self.accept_posted(&r, &req, &link, &key, &base, now);
        }
        if let Some(f) = field(&req.query, "f") {
            let back = match receipt {
                Some(a) => page_url(&base, &[("a", a)]),
                None => base.clone(),
            };
            let Some(file) = f
                .parse::<i64>()
                .ok()
                .and_then(|i| link.files.iter().find(|x| x.index == i))
            else {
                return Ok(r.notice(404, t.no_file_title, t.no_file_text, Some(&back)));
            };
            if !unlocked {
                return Ok(r.notice(403, t.forbidden_title, t.forbidden_text, Some(&back)));
            }
            return self.file_answer(&r, &req, &link, file, &key);
        }
        Ok(self.main_page(&r, &link, &key, &base, receipt, None, now))
    }

    /// The overview: sender, subject, expiry, files; for an agreement link not yet accepted,
    /// the agreement and the accept form instead of download buttons.
    #[allow(clippy::too_many_arguments)]
    fn main_page(
        &self,
        r: &Render<'_>,
        link: &LinkRecord,
        key: &[u8],
        base: &str,
        receipt: Option<&str>,
        error: Option<&str>,
        now: i64,
    ) -> PageAnswer {
        let t = r.t;
        let lang = r.lang;
        let mailbox = self.store().find_mailbox(&link.mailbox_id).ok().flatten();
        let address = mailbox.as_ref().map(|m| m.address.clone());
        let name = mailbox
            .as_ref()
            .and_then(|m| m.account.as_ref())
            .and_then(|a| a["display_name"].as_str())
            .filter(|n| !n.trim().is_empty())
            .map(str::to_owned);
        let unlocked = link.kind != "agreement" || receipt.is_some();
        let mut c = String::new();
        c.push_str(&format!("<h1>{}</h1>\n", esc(t.title_files)));
        if let Some(e) = error {
            c.push_str(&format!(
                "<p class=\"notice error\" role=\"alert\">{}</p>\n",
                esc(e)
            ));
        }
        if link.kind == "agreement" && receipt.is_some() {
            c.push_str(&format!(
                "<p class=\"notice ok\" role=\"status\">{}</p>\n",
                esc(t.accepted_note)
            ));
        }
        c.push_str("<dl class=\"meta\">\n");
        let sender = match (&name, &address) {
            (Some(n), Some(a)) => format!("{} &lt;{}&gt;", esc(n), esc(a)),
            (None, Some(a)) => esc(a),
            (Some(n), None) => esc(n),
            (None, None) => String::new(),
        };
        if !sender.is_empty() {
            c.push_str(&format!("<dt>{}</dt><dd>{sender}</dd>\n", esc(t.from)));
        }
        if let Some(s) = link.subject.as_deref().filter(|s| !s.trim().is_empty()) {
            c.push_str(&format!("<dt>{}</dt><dd>{}</dd>\n", esc(t.subject), esc(s)));
        }
        c.push_str(&format!(
            "<dt>{}</dt><dd><time datetime=\"{}\">{}</time></dd>\n</dl>\n",
            esc(t.available_until),
            crate::clock::rfc3339(link.expires_at),
            esc(&page::date(lang, link.expires_at))
        ));
        let mut csrf_nonce = None;
        if !unlocked {
            let nonce = token::nonce();
            let form = token::form_token(key, &link.id, now, &nonce);
            c.push_str(&format!(
                "<section aria-labelledby=\"agreement-h\">\n<h2 id=\"agreement-h\">{}</h2>\n<p>{}</p>\n\
                 <div class=\"agreement\" id=\"agreement-text\" tabindex=\"0\">{}</div>\n\
                 <form class=\"accept\" method=\"post\" action=\"{}\">\n\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
                 <label class=\"check\" for=\"agree\"><input type=\"checkbox\" id=\"agree\" name=\"agree\" value=\"yes\" required aria-describedby=\"agreement-text\"><span>{}</span></label>\n\
                 <button type=\"submit\" id=\"accept\">{}</button>\n</form>\n</section>\n",
                esc(t.agreement_heading),
                esc(t.agreement_intro),
                esc(link.agreement_text.as_deref().unwrap_or("")),
                esc(base),
                esc(&form),
                esc(t.agree_label),
                esc(t.agree_button),
            ));
            csrf_nonce = Some(nonce);
        }
        c.push_str(&format!(
            "<h2 id=\"files-h\">{}</h2>\n<ul class=\"files\" aria-labelledby=\"files-h\">\n",
            esc(t.files)
        ));
        for f in &link.files {
            let info = format!("{} · {}", page::kind_label(f), page::size(lang, f.size));
            let action = if unlocked {
                let idx = f.index.to_string();
                let mut q = vec![("f", idx.as_str())];
                if let Some(a) = receipt {
                    q.push(("a", a));
                }
                format!(
                    "<a class=\"button\" href=\"{}\" download aria-label=\"{}: {}\">{}</a>",
                    esc(&page_url(base, &q)),
                    esc(t.download),
                    esc(&f.name),
                    esc(t.download)
                )
            } else {
                format!("<span class=\"locked\">{}</span>", esc(t.locked))
            };
            c.push_str(&format!(
                "<li><span class=\"badge\" aria-hidden=\"true\">{}</span>\
                 <span class=\"file\"><span class=\"name\">{}</span><span class=\"info\">{}</span></span>{action}</li>\n",
                esc(&page::kind_label(f)),
                esc(&f.name),
                esc(&info),
            ));
        }
        c.push_str("</ul>\n");
        let mut footer = String::from("<footer>\n");
        if let Some(n) = name.as_ref().or(address.as_ref()) {
            footer.push_str(&format!("<p>{} {}</p>\n", esc(t.shared_by), esc(n)));
        }
        footer.push_str(&format!(
            "<p>{}</p>\n<p>{}</p>\n</footer>",
            esc(t.personal_note),
            esc(t.sealed_note)
        ));
        let mut a = r.html(200, t.title_files, &c, &footer);
        if let Some(nonce) = csrf_nonce {
            let secure = if base.starts_with("https:") {
                "; Secure"
            } else {
                ""
            };
            a.headers.insert(
                "Set-Cookie".into(),
                format!("{CSRF_COOKIE}={nonce}; Path=/; HttpOnly; SameSite=Strict{secure}"),
            );
        }
        a
    }

    /// The accept form was posted: check its anti-forgery token (signed, bound to the link,
    /// at most two hours old, matching the SameSite cookie) and the checkbox, record the
    /// acceptance, and redirect to the page with the receipt.
    fn accept_posted(
        &self,
        r: &Render<'_>,
        req: &LinkPage,
        link: &LinkRecord,
        key: &[u8],
        base: &str,
        now: i64,
    ) -> Result<PageAnswer> {
        let t = r.t;
        if link.kind != "agreement" {
            return Ok(redirect(r, base.to_owned()));
        }
        let posted = field(&req.form, "csrf")
            .and_then(|f| token::check_form_token(key, &link.id, f, now, FORM_MAX_AGE_MS));
        let cookie = field(&req.cookies, CSRF_COOKIE);
        if posted.is_none() || posted.as_deref() != cookie {
            return Ok(r.notice(403, t.stale_form_title, t.stale_form_text, Some(base)));
        }
        if field(&req.form, "agree") != Some("yes") {
            let mut a = self.main_page(r, link, key, base, None, Some(t.agree_missing), now);
            a.status = 422;
            return Ok(a);
        }
        let (_, receipt) =
            self.record_acceptance(link, req.client_address.clone(), req.user_agent.clone())?;
        let mut a = redirect(r, page_url(base, &[("a", &receipt)]));
        a.headers.insert(
            "Set-Cookie".into(),
            format!("{CSRF_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        );
        Ok(a)
    }

    /// Records an acceptance and publishes `link_accepted`; returns (time, receipt).
    pub(crate) fn record_acceptance(
        &self,
        link: &LinkRecord,
        client_address: Option<String>,
        user_agent: Option<String>,
    ) -> Result<(i64, String)> {
        let at = self.now_ms();
        let seq = self.store().record_link_access(&LinkAccess {
            link_id: link.id.clone(),
            action: "accept".into(),
            at,
            client_address: client_address.clone(),
            user_agent: user_agent.clone(),
            file_index: None,
        })?;
        self.publish_event(
            Some(&link.mailbox_id),
            Some(format!("link_accepted:{}:{seq}", link.id)),
            &LinkAcceptedPayload {
                accepted_at: crate::clock::rfc3339(at),
                agreement_text: link.agreement_text.clone(),
                client_address,
                link: link.id.clone(),
                send_id: link.send_id.clone(),
                user_agent,
            },
        )?;
        Ok((at, links::receipt(self, &link.id, seq)?))
    }

    /// A file (or a range of it) to stream.
    fn file_answer(
        &self,
        r: &Render<'_>,
        req: &LinkPage,
        link: &LinkRecord,
        f: &LinkFile,
        key: &[u8],
    ) -> Result<PageAnswer> {
        let t = r.t;
        if link.file_key.is_none() && f.sealed || !links::file_kept(self, f)? {
            return Ok(r.notice(410, t.purged_title, t.purged_text, None));
        }
        let size = f.size.max(0) as u64;
        let etag = format!("\"{}\"", f.sha256);
        let mut headers = base_headers("default-src 'none'; sandbox".into());
        headers.insert("ETag".into(), etag.clone());
        headers.insert("Accept-Ranges".into(), "bytes".into());
        if req
            .if_none_match
            .as_deref()
            .is_some_and(|v| v.split(',').any(|x| x.trim() == etag || x.trim() == "*"))
        {
            return Ok(PageAnswer {
                status: 304,
                headers,
                body: None,
                stream: None,
            });
        }
        let (status, start, len) = match page::parse_range(req.range.as_deref(), size) {
            RangeAsk::Whole => (200, 0, size),
            RangeAsk::Part(s, e) => {
                headers.insert("Content-Range".into(), format!("bytes {s}-{e}/{size}"));
                (206, s, e - s + 1)
            }
            RangeAsk::Unsatisfiable => {
                headers.insert("Content-Range".into(), format!("bytes */{size}"));
                return Ok(PageAnswer {
                    status: 416,
                    headers,
                    body: None,
                    stream: None,
                });
            }
        };
        headers.insert("Content-Type".into(), safe_content_type(&f.content_type));
        headers.insert("Content-Length".into(), len.to_string());
        headers.insert(
            "Content-Disposition".into(),
            page::content_disposition(&f.name),
        );
        if r.head_only {
            return Ok(PageAnswer {
                status,
                headers,
                body: None,
                stream: None,
            });
        }
        let id = token::ticket(
            key,
            &token::Ticket {
                link: link.id.clone(),
                file: f.index,
                start,
                len,
                nonce: token::nonce(),
                client_address: req.client_address.clone(),
            },
        );
        Ok(PageAnswer {
            status,
            headers,
            body: None,
            stream: Some(StreamAnswer {
                id,
                offset: start,
                length: len,
                size,
            }),
        })
    }

    /// Reads bytes `[pos, pos + out.len())` of a stream `o365_link_page` handed out (positions
    /// count from the start of the answer's range). Returns how many bytes were written (0 at
    /// the end). When a read delivers the last byte of an answer whose range reaches the end
    /// of the file, the download counts as completed: one `link_downloaded` event per answer
    /// (a repeated last read does not publish again).
    pub fn link_read(&self, stream: &str, pos: u64, out: &mut [u8]) -> Result<usize> {
        let key = links::signing_key(self)?;
        let tk = token::open_ticket(&key, stream)?;
        if pos >= tk.len || out.is_empty() {
            return Ok(0);
        }
        let link = self.store().get_link(&tk.link)?.ok_or_else(|| {
            Error::NotFound(Fault::new(
                "link_not_found",
                "this link does not exist (any more)",
            ))
        })?;
        if self.now_ms() >= link.expires_at || link.purged_at.is_some() {
            return Err(Error::NotFound(Fault::new(
                "link_expired",
                "this link expired; the files are no longer available",
            )));
        }
        let f = link
            .files
            .iter()
            .find(|f| f.index == tk.file)
            .ok_or_else(|| Error::NotFound(Fault::new("file_not_found", "no such file")))?;
        let want = (out.len() as u64).min(tk.len - pos) as usize;
        let n = links::read_file(self, &link, f, tk.start + pos, &mut out[..want])?;
        if n > 0 && pos + n as u64 == tk.len && tk.start + tk.len == f.size as u64 {
            self.downloaded(
                &link,
                f,
                tk.client_address,
                None,
                Some(&tk.nonce),
                tk.start > 0,
            )?;
        }
        Ok(n)
    }

    /// Records a completed download and publishes `link_downloaded` (once per `answer`).
    pub(crate) fn downloaded(
        &self,
        link: &LinkRecord,
        f: &LinkFile,
        client_address: Option<String>,
        user_agent: Option<String>,
        answer: Option<&str>,
        partial: bool,
    ) -> Result<()> {
        let at = self.now_ms();
        let answer = answer.map(str::to_owned).unwrap_or_else(token::nonce);
        let (_, fresh) = self.publish_event(
            Some(&link.mailbox_id),
            Some(format!("link_downloaded:{}:{answer}", link.id)),
            &LinkDownloadedPayload {
                client_address: client_address.clone(),
                downloaded_at: crate::clock::rfc3339(at),
                file: f.name.clone(),
                file_index: f.index,
                link: link.id.clone(),
                resumed: partial,
                send_id: link.send_id.clone(),
                size: f.size,
                user_agent: user_agent.clone(),
            },
        )?;
        if fresh {
            self.store().record_link_access(&LinkAccess {
                link_id: link.id.clone(),
                action: "download".into(),
                at,
                client_address,
                user_agent,
                file_index: Some(f.index),
            })?;
        }
        Ok(())
    }
}

fn redirect(r: &Render<'_>, location: String) -> PageAnswer {
    let mut a = r.plain(303);
    a.headers.insert("Location".into(), location);
    a
}
