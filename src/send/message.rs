//! The message as the host gives it, its checks (policy, addresses, header injection, sizes),
//! and the prepared form the outbox keeps and sends.

use crate::config::SendConfig;
use crate::error::{Error, Fault, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Hint of both send-policy refusals (seed point 11).
pub const POLICY_HINT: &str =
    "Microsoft 365 mailboxes cannot send serial mails or mails to more than \
     10 recipients. Send the attachments as a download link instead: put the macro \
     _downloadLink(Text) in the body (the recipient gets a link labelled Text, valid for 14 days), \
     or _agreementLink to make the recipient accept an agreement before downloading.";

/// Longest subject Exchange keeps.
pub const MAX_SUBJECT_CHARS: usize = 255;
/// Largest body: the draft is created in one request, and Graph refuses bodies over 4 MB.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024 + 512 * 1024;
/// Custom internet headers per mail (Graph refuses more than a few kilobytes of them).
pub const MAX_HEADERS: usize = 5;

/// A recipient: `"a@b.c"` or `{"address": "a@b.c", "name": "A B"}`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Recipient {
    Address(String),
    Full {
        address: String,
        #[serde(default)]
        name: Option<String>,
    },
}

impl Recipient {
    fn parts(&self) -> (&str, Option<&str>) {
        match self {
            Recipient::Address(a) => (a, None),
            Recipient::Full { address, name } => (address, name.as_deref()),
        }
    }
}

pub use crate::core::spool::AttachmentInput;

/// `message` of `o365_send`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageInput {
    #[serde(default)]
    pub to: Vec<Recipient>,
    #[serde(default)]
    pub cc: Vec<Recipient>,
    #[serde(default)]
    pub bcc: Vec<Recipient>,
    #[serde(default)]
    pub reply_to: Vec<Recipient>,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub body_html: Option<String>,
    #[serde(default)]
    pub body_text: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentInput>,
    /// `low`, `normal` or `high`.
    #[serde(default)]
    pub importance: Option<String>,
    /// Custom internet headers; names must start with `X-`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Must be the mailbox's own address (alias and shared mailboxes send as themselves).
    #[serde(default)]
    pub from: Option<Recipient>,
}

/// An address as Graph wants it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Addr {
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Addr {
    /// The address as a Graph `recipient`.
    pub fn graph(&self) -> crate::graph::wire::Recipient {
        crate::graph::wire::Recipient {
            email_address: crate::graph::wire::EmailAddress {
                address: self.address.clone(),
                name: self.name.clone(),
            },
        }
    }
}

/// An attachment copied into the outbox's spool (so a queued send survives the host
/// deleting its temporary file, and a crash; with a shared store, any host resumes it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Spooled {
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    /// The spooled file (empty when the copy is a blob in the store).
    pub path: PathBuf,
    #[serde(default)]
    pub content_id: Option<String>,
    /// The blob holding the copy, when the store keeps it (a shared store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

/// What the outbox sends: checked, macros expanded, attachments spooled.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Prepared {
    pub to: Vec<Addr>,
    pub cc: Vec<Addr>,
    pub bcc: Vec<Addr>,
    pub reply_to: Vec<Addr>,
    pub subject: String,
    /// `html` or `text`.
    pub body_type: String,
    pub body: String,
    pub importance: Option<String>,
    pub headers: Vec<(String, String)>,
    pub from: Option<Addr>,
    pub attachments: Vec<Spooled>,
    pub link_id: Option<String>,
    /// `body` still holds the `_downloadLink` / `_agreementLink` macros: they are expanded
    /// with the link's URL just before the draft is made, so the store never keeps a link
    /// token in plain text.
    #[serde(default)]
    pub link_macros: bool,
}

/// The checked parts of a message, before spooling and macro expansion.
#[derive(Debug, Clone)]
pub struct Checked {
    pub to: Vec<Addr>,
    pub cc: Vec<Addr>,
    pub bcc: Vec<Addr>,
    pub reply_to: Vec<Addr>,
    pub subject: String,
    pub html: bool,
    pub body: String,
    pub importance: Option<String>,
    pub headers: Vec<(String, String)>,
    pub from: Option<Addr>,
    /// Distinct recipient addresses, sorted.
    pub recipients: BTreeSet<String>,
}

fn injection(field: &str, what: &str) -> Error {
    Error::invalid(
        "header_injection",
        format!("{field} contains a line break or control character: {what} must be one line"),
    )
    .with_detail("field", field)
    .with_hint("remove CR/LF and control characters; they would let a value add mail headers")
}

/// Refuses CR, LF and other control characters (tab allowed) in a one-line value.
pub fn check_line(field: &str, what: &str, v: &str) -> Result<()> {
    if v.chars()
        .any(|c| c == '\r' || c == '\n' || (c.is_control() && c != '\t'))
    {
        return Err(injection(field, what));
    }
    Ok(())
}

fn addr(field: &str, r: &Recipient) -> Result<Addr> {
    let (a, name) = r.parts();
    check_line(field, "an address", a)?;
    let address = crate::mailbox::normalize_address(field, a)?;
    let name = match name {
        Some(n) => {
            check_line(field, "a display name", n)?;
            if n.chars().count() > 256 {
                return Err(Error::invalid_field(
                    field,
                    "display name longer than 256 characters",
                ));
            }
            let t = n.trim();
            (!t.is_empty()).then(|| t.to_owned())
        }
        None => None,
    };
    Ok(Addr { address, name })
}

fn addrs(field: &str, list: &[Recipient]) -> Result<Vec<Addr>> {
    list.iter()
        .enumerate()
        .map(|(i, r)| addr(&format!("{field}[{i}]"), r))
        .collect()
}

/// The policy refusal for more than `max` recipients.
pub fn too_many_recipients(n: usize, max: usize) -> Error {
    Error::PolicyViolation(Fault::new(
        "too_many_recipients",
        format!(
            "this mail has {n} recipients (To + Cc + Bcc); a Microsoft 365 mailbox sends to at most {max}"
        ),
    ))
    .with_hint(POLICY_HINT)
    .with_detail("recipients", n as u64)
    .with_detail("limit", max as u64)
}

/// The hint for too many recipients when the body already uses `_downloadLink(Text)` /
/// `_agreementLink` (never the circular "use a download link").
pub fn link_mail_split_hint(n: usize, cfg: &SendConfig) -> String {
    let max = cfg.max_recipients;
    let groups = n.div_ceil(max);
    let copies = cfg.serial_max_copies as usize;
    let minutes = cfg.serial_window_ms / 60_000;
    let mut h = format!(
        "this mail already sends its attachments as a link; the limit of {max} recipients (To + Cc + Bcc) per mail still applies: split the {n} recipients into groups of at most {max} and send one link mail per group ({groups} mails)"
    );
    if groups > copies {
        h.push_str(&format!(
            "; but at most {copies} mails with the same subject and text may go to different recipients within {minutes} minutes (send.serial_max_copies, send.serial_window_ms): more is a serial mail, which a Microsoft 365 mailbox cannot send"
        ));
    } else {
        h.push('.');
    }
    h
}

/// The policy refusal for serial mail.
pub fn serial_mail(reason: &str) -> Error {
    Error::PolicyViolation(Fault::new(
        "serial_mail_not_allowed",
        format!(
            "serial mails (mass mailings) cannot be sent through a Microsoft 365 mailbox: {reason}"
        ),
    ))
    .with_hint(POLICY_HINT)
}

/// All checks that need no store and no network: recipients (addresses, count), header
/// injection, custom headers, subject and body sizes, importance.
pub fn check(m: &MessageInput, cfg: &SendConfig) -> Result<Checked> {
    let to = addrs("message.to", &m.to)?;
    let cc = addrs("message.cc", &m.cc)?;
    let bcc = addrs("message.bcc", &m.bcc)?;
    let reply_to = addrs("message.reply_to", &m.reply_to)?;
    let recipients: BTreeSet<String> = to
        .iter()
        .chain(&cc)
        .chain(&bcc)
        .map(|a| a.address.clone())
        .collect();
    if recipients.is_empty() {
        return Err(Error::invalid("no_recipients", "the mail has no recipient")
            .with_detail("field", "message.to")
            .with_hint("give at least one address in to, cc or bcc"));
    }
    if recipients.len() > cfg.max_recipients {
        let body = m
            .body_html
            .as_deref()
            .or(m.body_text.as_deref())
            .unwrap_or("");
        let e = too_many_recipients(recipients.len(), cfg.max_recipients);
        if super::macros::scan(body).any() {
            // The link is there already: the way out is fewer recipients per mail.
            return Err(e.with_hint(link_mail_split_hint(recipients.len(), cfg)));
        }
        return Err(e);
    }
    check_line("message.subject", "the subject", &m.subject)?;
    if m.subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err(Error::invalid_field(
            "message.subject",
            format!("the subject is longer than {MAX_SUBJECT_CHARS} characters"),
        ));
    }
    let (html, body) = match (&m.body_html, &m.body_text) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid_field(
                "message.body_html",
                "give body_html or body_text, not both",
            ))
        }
        (Some(h), None) => (true, h.clone()),
        (None, Some(t)) => (false, t.clone()),
        (None, None) => (false, String::new()),
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::invalid(
            "message_too_large",
            format!(
                "the body has {} bytes; Graph takes at most {MAX_BODY_BYTES}",
                body.len()
            ),
        )
        .with_detail("field", "message.body")
        .with_detail("limit_bytes", MAX_BODY_BYTES as u64)
        .with_hint(
            "put large content into an attachment or a download link (_downloadLink(Text))",
        ));
    }
    let importance = match m.importance.as_deref() {
        None => None,
        Some(i @ ("low" | "normal" | "high")) => Some(i.to_owned()),
        Some(other) => {
            return Err(Error::invalid_field(
                "message.importance",
                format!("importance '{other}' is not low, normal or high"),
            ))
        }
    };
    if m.headers.len() > MAX_HEADERS {
        return Err(Error::invalid_field(
            "message.headers",
            format!("at most {MAX_HEADERS} custom headers"),
        ));
    }
    let mut headers = Vec::new();
    for (k, v) in &m.headers {
        let field = format!("message.headers.{k}");
        check_line(&field, "a header name", k)?;
        check_line(&field, "a header value", v)?;
        let token =
            k.len() > 2 && k.len() <= 76 && k.bytes().all(|b| (33..=126).contains(&b) && b != b':');
        if !token || !k.to_ascii_lowercase().starts_with("x-") {
            return Err(Error::invalid_field(
                &field,
                format!("header name '{k}' must start with 'X-' and hold only printable ASCII without ':'"),
            ));
        }
        if v.len() > 998 {
            return Err(Error::invalid_field(
                &field,
                "header value longer than 998 bytes",
            ));
        }
        headers.push((k.clone(), v.clone()));
    }
    let from = match &m.from {
        Some(f) => Some(addr("message.from", f)?),
        None => None,
    };
    for (i, a) in m.attachments.iter().enumerate() {
        let field = format!("message.attachments[{i}]");
        check_line(&format!("{field}.name"), "a file name", &a.name)?;
        if a.name.trim().is_empty() || a.name.contains('/') || a.name.contains('\\') {
            return Err(Error::invalid_field(
                &format!("{field}.name"),
                "an attachment needs a file name without path separators",
            ));
        }
        if let Some(ct) = &a.content_type {
            check_line(&format!("{field}.content_type"), "a content type", ct)?;
        }
        if let Some(cid) = &a.content_id {
            check_line(&format!("{field}.content_id"), "a content id", cid)?;
        }
        match (&a.path, &a.base64) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => {
                return Err(Error::invalid_field(
                    &field,
                    "an attachment needs exactly one of 'path' and 'base64'",
                ))
            }
        }
    }
    Ok(Checked {
        to,
        cc,
        bcc,
        reply_to,
        subject: m.subject.clone(),
        html,
        body,
        importance,
        headers,
        from,
        recipients,
    })
}

pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// Serial-mail fingerprint: the same subject and body (before macro expansion), whatever the
/// recipients, case and surrounding white space.
pub fn fingerprint(c: &Checked) -> String {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    sha256_hex(&[norm(&c.subject).as_bytes(), norm(&c.body).as_bytes()])
}

/// Hash of the distinct recipient set.
pub fn recipients_hash(c: &Checked) -> String {
    let joined = c.recipients.iter().cloned().collect::<Vec<_>>().join(",");
    sha256_hex(&[joined.as_bytes()])
}

pub use crate::core::spool::content_type_for;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(v: serde_json::Value) -> MessageInput {
        serde_json::from_value(v).unwrap()
    }

    fn cfg() -> SendConfig {
        SendConfig::default()
    }

    fn rcpts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("r{i}@example.com")).collect()
    }

    #[test]
    fn ten_recipients_pass_eleven_are_refused() {
        let ok = msg(
            json!({"to": rcpts(4), "cc": rcpts(10)[4..7], "bcc": rcpts(10)[7..], "subject": "s"}),
        );
        let c = check(&ok, &cfg()).unwrap();
        assert_eq!(c.recipients.len(), 10);
        let bad = msg(json!({"to": rcpts(4), "cc": rcpts(11)[4..7], "bcc": rcpts(11)[7..]}));
        let e = check(&bad, &cfg()).unwrap_err();
        assert_eq!(e.kind(), "too_many_recipients");
        assert_eq!(e.status(), crate::error::status::POLICY_VIOLATION);
        let hint = e.fault().hint.clone().unwrap();
        assert!(hint.contains("_downloadLink(Text)") && hint.contains("_agreementLink"));
        // A mail that already uses the link macro: split it, never "use _downloadLink" again.
        let linked = msg(json!({"to": rcpts(11), "subject": "s",
                                "body_html": "<p>_downloadLink(Unterlagen)</p>"}));
        let e = check(&linked, &cfg()).unwrap_err();
        assert_eq!(e.kind(), "too_many_recipients");
        let hint = e.fault().hint.clone().unwrap();
        assert!(!hint.contains("_downloadLink(Text) in the body"), "{hint}");
        assert!(
            hint.contains("groups of at most 10") && hint.contains("(2 mails)"),
            "{hint}"
        );
        let many = msg(json!({"to": rcpts(25), "subject": "s", "body_text": "_agreementLink"}));
        let hint = check(&many, &cfg())
            .unwrap_err()
            .fault()
            .hint
            .clone()
            .unwrap();
        assert!(
            hint.contains("(3 mails)") && hint.contains("serial mail"),
            "{hint}"
        );
        // the same address twice is one recipient
        let dup = msg(json!({"to": rcpts(10), "cc": ["R0@example.com"]}));
        assert_eq!(check(&dup, &cfg()).unwrap().recipients.len(), 10);
    }

    #[test]
    fn header_injection_is_refused_everywhere() {
        for m in [
            json!({"to": ["a@x.de"], "subject": "hi\r\nBcc: evil@x.de"}),
            json!({"to": ["a@x.de"], "subject": "hi\nX"}),
            json!({"to": [{"address": "a@x.de", "name": "A\r\nBcc: e@x.de"}]}),
            json!({"to": ["a@x.de"], "headers": {"X-Crm": "1\r\nBcc: e@x.de"}}),
            json!({"to": ["a@x.de"], "headers": {"X-Crm\r\nBcc": "1"}}),
            json!({"to": ["a@x.de\r\n"]}),
            json!({"to": ["a@x.de"], "attachments": [{"name": "a\n.pdf", "base64": ""}]}),
        ] {
            let e = check(&msg(m.clone()), &cfg()).unwrap_err();
            assert_eq!(e.kind(), "header_injection", "{m}: {e}");
        }
    }

    #[test]
    fn other_checks() {
        let cases = [
            (json!({"subject": "x"}), "no_recipients"),
            (json!({"to": ["not-an-address"]}), "invalid_field"),
            (
                json!({"to": ["a@x.de"], "headers": {"Subject": "x"}}),
                "invalid_field",
            ),
            (
                json!({"to": ["a@x.de"], "importance": "urgent"}),
                "invalid_field",
            ),
            (
                json!({"to": ["a@x.de"], "body_html": "a", "body_text": "b"}),
                "invalid_field",
            ),
            (
                json!({"to": ["a@x.de"], "body_text": "x".repeat(MAX_BODY_BYTES + 1)}),
                "message_too_large",
            ),
            (
                json!({"to": ["a@x.de"], "subject": "s".repeat(256)}),
                "invalid_field",
            ),
            (
                json!({"to": ["a@x.de"], "attachments": [{"name": "a.pdf"}]}),
                "invalid_field",
            ),
            (
                json!({"to": ["a@x.de"], "attachments": [{"name": "../a.pdf", "base64": ""}]}),
                "invalid_field",
            ),
        ];
        for (m, kind) in cases {
            let e = check(&msg(m.clone()), &cfg()).unwrap_err();
            assert_eq!(e.kind(), kind, "{m}");
        }
        let ok = check(
            &msg(json!({"to": [{"address": "A@X.de", "name": " Anna "}], "headers": {"X-Crm-Id": "42"}, "importance": "high", "body_html": "<p>x</p>"})),
            &cfg(),
        )
        .unwrap();
        assert_eq!(
            ok.to[0],
            Addr {
                address: "a@x.de".into(),
                name: Some("Anna".into())
            }
        );
        assert!(ok.html);
    }

    #[test]
    fn fingerprint_ignores_recipients_and_spacing() {
        let a = check(
            &msg(json!({"to": ["a@x.de"], "subject": "Offer", "body_text": "Dear  all"})),
            &cfg(),
        )
        .unwrap();
        let b = check(
            &msg(json!({"to": ["b@x.de"], "subject": "offer ", "body_text": "Dear all"})),
            &cfg(),
        )
        .unwrap();
        let c = check(
            &msg(json!({"to": ["b@x.de"], "subject": "offer", "body_text": "Dear Bob"})),
            &cfg(),
        )
        .unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
        assert_ne!(recipients_hash(&a), recipients_hash(&b));
        assert_eq!(recipients_hash(&b), recipients_hash(&c));
    }
}
