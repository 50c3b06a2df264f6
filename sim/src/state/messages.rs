//! A message as Exchange stores it, with its addresses and attachments.

use serde::{Deserialize, Serialize};

use std::sync::OnceLock;

use base64::Engine;

use super::ids::b64_bytes;

pub const CHANGE_KEY_PREFIX: &str = "CQAAABYAAA";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Addr {
    pub name: String,
    pub address: String,
}

impl Addr {
    pub fn new(name: &str, address: &str) -> Self {
        Addr {
            name: name.to_string(),
            address: address.to_string(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub is_inline: bool,
    pub content_id: Option<String>,
    #[serde(with = "b64_bytes")]
    pub data: Vec<u8>,
    pub last_modified: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub key: u64,
    pub rest_id: String,
    pub immutable_id: String,
    pub folder: u32,
    pub version: u32,
    pub changed_seq: u64,
    /// Change sequence at which the message arrived in its current folder.
    #[serde(default)]
    pub arrived_seq: u64,
    pub created: i64,
    pub last_modified: i64,
    pub received: i64,
    pub sent: Option<i64>,
    pub internet_message_id: String,
    pub subject: String,
    pub body_html: bool,
    pub body: String,
    pub from: Option<Addr>,
    pub sender: Option<Addr>,
    pub to: Vec<Addr>,
    pub cc: Vec<Addr>,
    pub bcc: Vec<Addr>,
    pub reply_to: Vec<Addr>,
    pub is_read: bool,
    pub is_draft: bool,
    pub importance: String,
    pub inference: String,
    pub categories: Vec<String>,
    pub flag: String,
    pub conversation_id: String,
    pub headers: Vec<(String, String)>,
    pub attachments: Vec<Attachment>,
    pub delivery_receipt: bool,
    pub read_receipt: bool,
    /// `bodyPreview` ([`Message::preview`]); [`super::Mailbox`] renews it wherever a message
    /// is inserted or changed. Not persisted: computed again when first asked for after a load.
    #[serde(skip)]
    pub preview_cache: OnceLock<String>,
}

impl Message {
    /// A blank message with fresh ids (the mailbox assigns key, folder and seq on insert).
    pub fn blank(now: i64) -> Message {
        Message {
            key: 0,
            rest_id: String::new(),
            immutable_id: String::new(),
            folder: 0,
            version: 0,
            changed_seq: 0,
            arrived_seq: 0,
            created: now,
            last_modified: now,
            received: now,
            sent: None,
            internet_message_id: String::new(),
            subject: String::new(),
            body_html: false,
            body: String::new(),
            from: None,
            sender: None,
            to: vec![],
            cc: vec![],
            bcc: vec![],
            reply_to: vec![],
            is_read: false,
            is_draft: false,
            importance: "normal".into(),
            inference: "focused".into(),
            categories: vec![],
            flag: "notFlagged".into(),
            conversation_id: String::new(),
            headers: vec![],
            attachments: vec![],
            delivery_receipt: false,
            read_receipt: false,
            preview_cache: OnceLock::new(),
        }
    }

    pub fn change_key(&self) -> String {
        let tail = self.change_key_tail();
        format!(
            "{CHANGE_KEY_PREFIX}{}",
            std::str::from_utf8(&tail).expect("base64")
        )
    }

    /// The part of the change key after [`CHANGE_KEY_PREFIX`]: key and version, base64url.
    pub fn change_key_tail(&self) -> [u8; 16] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.key.to_le_bytes());
        b[8..].copy_from_slice(&self.version.to_le_bytes());
        let mut out = [0u8; 16];
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(b, &mut out)
            .expect("12 bytes are 16 characters");
        out
    }

    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.change_key())
    }

    /// `bodyPreview`: the body's text (tags removed, as `graph::json::html_to_text` removes
    /// them), whitespace collapsed, at most 255 characters. Computed when the message is
    /// inserted or changed (as Exchange stores it with the item), kept until the next change.
    pub fn preview(&self) -> &str {
        self.preview_cache.get_or_init(|| {
            if self.body_html {
                collapse(&decode_entities(&strip_tags(&self.body)))
            } else {
                collapse(&self.body)
            }
        })
    }

    pub fn has_attachments(&self) -> bool {
        self.attachments.iter().any(|a| !a.is_inline)
    }

    pub fn recipient_count(&self) -> usize {
        self.to.len() + self.cc.len() + self.bcc.len()
    }
}

/// Block-level tags that end a line in `graph::json::html_to_text`.
const BLOCK_TAGS: &[&str] = &["br", "p", "div", "li", "tr", "h1", "h2", "h3"];

/// The tag pass of `graph::json::html_to_text` for a preview: from `<body` on, tags removed, a line
/// break after block tags. Whitespace is collapsed later, so a break is written even where
/// `html_to_text` skips one after another.
fn strip_tags(html: &str) -> String {
    let b = html.as_bytes();
    let start = (0..b.len())
        .find(|&i| {
            b[i] == b'<' && b.len() - i >= 5 && b[i + 1..i + 5].eq_ignore_ascii_case(b"body")
        })
        .unwrap_or(0);
    let mut out = String::with_capacity(html.len() - start);
    let mut text_from = start;
    let mut tag_from: Option<usize> = None;
    for (i, c) in html[start..].bytes().enumerate() {
        let i = start + i;
        match c {
            b'<' => {
                if tag_from.is_none() {
                    out.push_str(&html[text_from..i]);
                }
                tag_from = Some(i + 1);
            }
            b'>' => {
                if let Some(t) = tag_from.take() {
                    let tag = html[t..i].trim_start_matches('/');
                    let name = tag
                        .split(|c: char| c.is_whitespace() || c == '/')
                        .next()
                        .unwrap_or("");
                    if BLOCK_TAGS.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                        out.push('\n');
                    }
                    text_from = i + 1;
                }
            }
            _ => {}
        }
    }
    if tag_from.is_none() {
        out.push_str(&html[text_from..]);
    }
    out
}

/// The entity replacements of `graph::json::html_to_text` in one pass (the same result: every entity
/// starts with `&`, none contains another, and no replacement makes a new one).
fn decode_entities(s: &str) -> std::borrow::Cow<'_, str> {
    const ENTITIES: &[(&str, &str)] = &[
        ("&nbsp;", " "),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&amp;", "&"),
    ];
    if !s.contains('&') {
        return s.into();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        match ENTITIES.iter().find(|(e, _)| rest.starts_with(e)) {
            Some((e, r)) => {
                out.push_str(r);
                rest = &rest[e.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out.into()
}

/// Words separated by one space, at most 255 characters.
fn collapse(text: &str) -> String {
    const MAX: usize = 255;
    let mut out = String::with_capacity(text.len().min(4 * MAX));
    let mut n = 0;
    for w in text.split_whitespace() {
        if n > 0 {
            if n == MAX {
                break;
            }
            out.push(' ');
            n += 1;
        }
        if n + w.len() <= MAX {
            // At most as many characters as bytes.
            out.push_str(w);
            n += w.chars().count();
        } else {
            for c in w.chars() {
                if n == MAX {
                    break;
                }
                out.push(c);
                n += 1;
            }
        }
    }
    out
}
