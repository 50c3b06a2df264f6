//! One Graph request, parsed: the [`Ctx`] handlers get (path segments, query options, body,
//! caller and permission checks), URL decoding, and the paging and `$select` options.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use serde_json::Value;

use super::auth::Auth;
use super::errors::GErr;
use crate::server::Sim;

/// Mailbox permission classes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    Read,
    Write,
    Send,
    Settings,
}

/// One Graph request, parsed.
pub struct Ctx {
    pub sim: Arc<Sim>,
    pub method: Method,
    /// Path segments after the mailbox prefix (`me` or `users/{id}`), as sent.
    pub segs: Vec<String>,
    /// `me` or `users/{id}` as it should appear in links.
    pub mb_path: String,
    /// The target mailbox owner's user id.
    pub target: String,
    pub own: bool,
    pub query: HashMap<String, String>,
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub auth: Auth,
    pub immutable: bool,
    pub max_page: Option<usize>,
    /// `Prefer: outlook.body-content-type`: Some(true) = text, Some(false) = html.
    pub body_as_text: Option<bool>,
}

impl Ctx {
    pub fn seg(&self, i: usize) -> Option<String> {
        self.segs.get(i).map(|s| s.to_ascii_lowercase())
    }

    pub fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(|s| s.as_str())
    }

    pub fn json_body(&self) -> Result<Value, GErr> {
        if self.body.is_empty() {
            return Err(GErr::bad(
                "BadRequest",
                "Empty Payload. JSON content expected.",
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            GErr::bad(
                "RequestBodyRead",
                format!("Invalid JSON. An unexpected error occurred while reading the request body: {e}"),
            )
        })
    }

    /// Requires a delegated or application permission for `perm` on the target mailbox.
    pub fn need(&self, perm: Perm) -> Result<(), GErr> {
        let has = |names: &[&str]| {
            if self.auth.app_only {
                names.iter().any(|n| self.auth.roles.iter().any(|r| r == n))
            } else {
                names
                    .iter()
                    .any(|n| self.auth.scopes.iter().any(|s| s == n))
            }
        };
        let ok = if self.auth.app_only {
            match perm {
                Perm::Read => has(&[
                    "Mail.Read",
                    "Mail.ReadWrite",
                    "Mail.ReadBasic.All",
                    "Mail.ReadBasic",
                ]),
                Perm::Write => has(&["Mail.ReadWrite"]),
                Perm::Send => has(&["Mail.Send"]),
                Perm::Settings => has(&["MailboxSettings.Read", "MailboxSettings.ReadWrite"]),
            }
        } else if self.own {
            match perm {
                Perm::Read => has(&["Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"]),
                Perm::Write => has(&["Mail.ReadWrite"]),
                Perm::Send => has(&["Mail.Send"]),
                Perm::Settings => has(&["MailboxSettings.Read", "MailboxSettings.ReadWrite"]),
            }
        } else {
            match perm {
                Perm::Read => has(&[
                    "Mail.ReadBasic.Shared",
                    "Mail.Read.Shared",
                    "Mail.ReadWrite.Shared",
                ]),
                Perm::Write => has(&["Mail.ReadWrite.Shared"]),
                Perm::Send => has(&["Mail.Send.Shared"]),
                Perm::Settings => has(&["MailboxSettings.Read", "MailboxSettings.ReadWrite"]),
            }
        };
        if ok {
            Ok(())
        } else {
            Err(GErr::denied())
        }
    }

    pub fn base(&self) -> String {
        format!("{}/v1.0", self.sim.base_url)
    }

    pub fn now(&self) -> i64 {
        self.sim.clock.now()
    }
}

fn decode_seg(s: &str) -> String {
    percent_decode(s)
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The documented spellings of the delta function (`delta`, `delta()`,
/// `microsoft.graph.delta`, `microsoft.graph.delta()`): Microsoft documents `/delta` as the
/// short form of the fully qualified name, and its generated SDKs call `delta()`.
fn function_name(s: String) -> String {
    let l = s.to_ascii_lowercase();
    let l = l.strip_suffix("()").unwrap_or(&l);
    if l == "delta" || l == "microsoft.graph.delta" {
        "delta".into()
    } else {
        s
    }
}

/// Splits `name('value')` segments into `name`, `value`.
pub(super) fn split_segments(path: &str) -> Vec<String> {
    let mut out = vec![];
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let s = decode_seg(raw);
        if let Some(open) = s.find("('") {
            if s.ends_with("')") {
                out.push(s[..open].to_string());
                out.push(s[open + 2..s.len() - 2].replace("''", "'"));
                continue;
            }
        }
        out.push(function_name(s));
    }
    out
}

pub fn parse_query(q: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .map(|(k, v)| {
            let k = if k.starts_with('$') {
                k.to_ascii_lowercase()
            } else {
                k
            };
            (k, v)
        })
        .collect()
}

/// `$top` (default 10, at most the configured maximum) and `$skip`.
pub fn paging(ctx: &Ctx, default: usize) -> Result<(usize, usize), GErr> {
    let max = ctx.sim.limits().max_top;
    let top = match ctx.q("$top") {
        Some(t) => {
            let n: usize = t.parse().map_err(|_| {
                GErr::bad(
                    "BadRequest",
                    format!("Invalid value '{t}' for $top query option."),
                )
            })?;
            if n == 0 || n > max {
                return Err(GErr::bad(
                    "ErrorInvalidArgument",
                    format!("The value of $top must be between 1 and {max}."),
                ));
            }
            n
        }
        None => ctx.max_page.unwrap_or(default).clamp(1, max),
    };
    let skip = match ctx.q("$skip") {
        Some(s) => s.parse().map_err(|_| {
            GErr::bad(
                "BadRequest",
                format!("Invalid value '{s}' for $skip query option."),
            )
        })?,
        None => 0,
    };
    Ok((top, skip))
}

/// The request URL with `$skip` set to `skip` (other options kept).
pub fn next_link(ctx: &Ctx, path: &str, skip: usize) -> String {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(ctx.raw_query.as_bytes())
        .into_owned()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("$skip"))
        .collect();
    if !pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case("$top")) {
        if let Some(n) = ctx.max_page {
            pairs.push(("$top".into(), n.to_string()));
        }
    }
    pairs.push(("$skip".into(), skip.to_string()));
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter())
        .finish();
    format!("{}/{}/{path}?{q}", ctx.base(), ctx.mb_path)
}

/// Parses `$select` into property names (None: default property set).
pub fn select(ctx: &Ctx) -> Option<Vec<String>> {
    ctx.q("$select").map(|s| {
        s.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    })
}
