//! JSON shapes of Graph resources (property names and types as in the v1.0 CSDL).

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::GErr;
use crate::clock::{iso, iso_bytes};
use crate::state::{
    b64std, Addr, Attachment, Folder, Mailbox, Message, User, CHANGE_KEY_PREFIX, ROOT,
};

pub const MESSAGE_DEFAULT: &[&str] = &[
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "receivedDateTime",
    "sentDateTime",
    "hasAttachments",
    "internetMessageId",
    "subject",
    "bodyPreview",
    "importance",
    "parentFolderId",
    "conversationId",
    "conversationIndex",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "isRead",
    "isDraft",
    "webLink",
    "inferenceClassification",
    "body",
    "sender",
    "from",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "flag",
];

/// Only returned when asked for with `$select`.
pub const MESSAGE_EXTRA: &[&str] = &["uniqueBody", "internetMessageHeaders"];

pub const FOLDER_PROPS: &[&str] = &[
    "displayName",
    "parentFolderId",
    "childFolderCount",
    "unreadItemCount",
    "totalItemCount",
    "isHidden",
];

pub fn recipient(a: &Addr) -> Value {
    json!({"emailAddress": {"name": a.name, "address": a.address}})
}

pub fn recipients(v: &[Addr]) -> Value {
    Value::Array(v.iter().map(recipient).collect())
}

/// The text of an HTML body: tags removed, block ends as line breaks, entities decoded.
pub fn html_to_text(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<body").unwrap_or(0);
    let mut out = String::with_capacity(html.len());
    let mut tag = String::new();
    let mut in_tag = false;
    for c in html[start..].chars() {
        match c {
            '<' => {
                in_tag = true;
                tag.clear();
            }
            '>' if in_tag => {
                in_tag = false;
                let t = tag.trim_start_matches('/').to_ascii_lowercase();
                let name = t
                    .split(|c: char| c.is_whitespace() || c == '/')
                    .next()
                    .unwrap_or("");
                if matches!(name, "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3")
                    && !out.ends_with('\n')
                {
                    out.push_str("\r\n");
                }
            }
            _ if in_tag => tag.push(c),
            _ => out.push(c),
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .trim()
        .to_string()
}

/// A text body as HTML (escaped, line breaks as `<br>`).
pub fn text_to_html(text: &str) -> String {
    let esc = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("\r\n", "<br>")
        .replace('\n', "<br>");
    format!("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head><body><div>{esc}</div></body></html>")
}

/// Text of a body with tags removed, whitespace collapsed, at most 255 characters.
pub fn preview(m: &Message) -> &str {
    m.preview()
}

fn conversation_index(m: &Message) -> String {
    let h = Sha256::digest(m.conversation_id.as_bytes());
    b64std(&h[..22])
}

pub fn message_id(m: &Message, immutable: bool) -> &str {
    if immutable {
        &m.immutable_id
    } else {
        &m.rest_id
    }
}

/// Appends `s` as a JSON string, escaped exactly as `serde_json` escapes it.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        serde_json::to_writer(&mut *out, s).expect("write");
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Whether `b` has a byte `serde_json` escapes (a control character, `"` or `\`), eight bytes
/// at a time.
fn needs_escape(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        // Bytes below 0x20 (high bit clear and below 0x20), `"` (0x22) and `\` (0x5c).
        let below = v.wrapping_sub(ONES * 0x20) & !v & HIGH;
        if below | zero_byte(v ^ (ONES * 0x22)) | zero_byte(v ^ (ONES * 0x5c)) != 0 {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&c| c < 0x20 || c == b'"' || c == b'\\')
}

/// Appends `"2024-05-01T10:00:00Z"` (see [`iso`]).
fn write_date(out: &mut Vec<u8>, secs: i64) {
    match iso_bytes(secs) {
        Some(b) => {
            out.push(b'"');
            out.extend_from_slice(&b);
            out.push(b'"');
        }
        None => write_str(out, &iso(secs)),
    }
}

fn write_bool(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

/// `{"emailAddress":{"name":..,"address":..}}`
fn write_rec(out: &mut Vec<u8>, a: &Addr) {
    out.extend_from_slice(br#"{"emailAddress":{"name":"#);
    write_str(out, &a.name);
    out.extend_from_slice(br#","address":"#);
    write_str(out, &a.address);
    out.extend_from_slice(b"}}");
}

fn write_opt_rec(out: &mut Vec<u8>, a: Option<&Addr>) {
    match a {
        Some(a) => write_rec(out, a),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_array<T>(out: &mut Vec<u8>, v: &[T], mut item: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, x);
    }
    out.push(b']');
}

/// `{"contentType":..,"content":..}`
fn write_body(out: &mut Vec<u8>, content_type: &str, content: &str) {
    out.extend_from_slice(br#"{"contentType":"#);
    write_str(out, content_type);
    out.extend_from_slice(br#","content":"#);
    write_str(out, content);
    out.push(b'}');
}

/// A message as Graph prints it, written straight from the store as JSON text (no
/// intermediate `Value`): `@odata.etag`, `id`, then the default properties or the `$select`ed
/// ones.
pub struct MessageView<'a> {
    pub mb: &'a Mailbox,
    pub m: &'a Message,
    pub immutable: bool,
    pub sel: Option<&'a [String]>,
    pub expand_attachments: bool,
    /// Adds `"@odata.type": "#microsoft.graph.message"` (delta items).
    pub odata_type: bool,
    /// `Prefer: outlook.body-content-type="text"|"html"`: Some(true) converts bodies to text,
    /// Some(false) to HTML.
    pub body_as_text: Option<bool>,
}

impl MessageView<'_> {
    /// Writes `,"name":value` for a known property; nothing for an unknown one.
    fn entry(&self, out: &mut Vec<u8>, name: &str) {
        let (mb, m, imm) = (self.mb, self.m, self.immutable);
        let mark = out.len();
        out.push(b',');
        write_str(out, name);
        out.push(b':');
        match name {
            "id" => write_str(out, message_id(m, imm)),
            "createdDateTime" => write_date(out, m.created),
            "lastModifiedDateTime" => write_date(out, m.last_modified),
            "changeKey" => {
                out.push(b'"');
                out.extend_from_slice(CHANGE_KEY_PREFIX.as_bytes());
                out.extend_from_slice(&m.change_key_tail());
                out.push(b'"');
            }
            "categories" => write_array(out, &m.categories, |out, c| write_str(out, c)),
            "receivedDateTime" => write_date(out, m.received),
            "sentDateTime" => match m.sent {
                Some(t) => write_date(out, t),
                None => out.extend_from_slice(b"null"),
            },
            "hasAttachments" => write_bool(out, m.has_attachments()),
            "internetMessageId" => write_str(out, &m.internet_message_id),
            "subject" => write_str(out, &m.subject),
            "bodyPreview" => write_str(out, preview(m)),
            "importance" => write_str(out, &m.importance),
            "parentFolderId" => write_str(out, &mb.folders[m.folder as usize].id),
            "conversationId" => write_str(out, &m.conversation_id),
            "conversationIndex" => write_str(out, &conversation_index(m)),
            "isDeliveryReceiptRequested" => write_bool(out, m.delivery_receipt),
            "isReadReceiptRequested" => write_bool(out, m.read_receipt),
            "isRead" => write_bool(out, m.is_read),
            "isDraft" => write_bool(out, m.is_draft),
            "webLink" => {
                write_str(
                    out,
                    &format!(
                        "https://outlook.office365.com/owa/?ItemID={}&exvsurl=1&viewmodel=ReadMessageItem",
                        url::form_urlencoded::byte_serialize(message_id(m, imm).as_bytes())
                            .collect::<String>()
                    ),
                );
            }
            "inferenceClassification" => write_str(out, &m.inference),
            "body" | "uniqueBody" => match (self.body_as_text, m.body_html) {
                (Some(true), true) => write_body(out, "text", &html_to_text(&m.body)),
                (Some(false), false) => write_body(out, "html", &text_to_html(&m.body)),
                _ => write_body(out, if m.body_html { "html" } else { "text" }, &m.body),
            },
            "sender" => write_opt_rec(out, m.sender.as_ref()),
            "from" => write_opt_rec(out, m.from.as_ref()),
            "toRecipients" => write_array(out, &m.to, write_rec),
            "ccRecipients" => write_array(out, &m.cc, write_rec),
            "bccRecipients" => write_array(out, &m.bcc, write_rec),
            "replyTo" => write_array(out, &m.reply_to, write_rec),
            "flag" => {
                out.extend_from_slice(br#"{"flagStatus":"#);
                write_str(out, &m.flag);
                out.push(b'}');
            }
            "internetMessageHeaders" => {
                write_array(out, &m.headers, |out, (n, v)| {
                    out.extend_from_slice(br#"{"name":"#);
                    write_str(out, n);
                    out.extend_from_slice(br#","value":"#);
                    write_str(out, v);
                    out.push(b'}');
                });
            }
            _ => out.truncate(mark),
        }
    }

    /// Appends the message as one JSON object.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        if self.odata_type {
            out.extend_from_slice(br##""@odata.type":"#microsoft.graph.message","##);
        }
        out.extend_from_slice(br#""@odata.etag":"W/\""#);
        out.extend_from_slice(CHANGE_KEY_PREFIX.as_bytes());
        out.extend_from_slice(&self.m.change_key_tail());
        out.extend_from_slice(br#"\"","id":"#);
        write_str(out, message_id(self.m, self.immutable));
        match self.sel {
            Some(names) => {
                for n in names {
                    if n != "id" {
                        self.entry(out, n);
                    }
                }
            }
            None => {
                for n in MESSAGE_DEFAULT {
                    self.entry(out, n);
                }
            }
        }
        if self.expand_attachments {
            let atts: Vec<Value> = self
                .m
                .attachments
                .iter()
                .map(|a| attachment_json(a, true))
                .collect();
            out.extend_from_slice(br#","attachments":"#);
            serde_json::to_writer(&mut *out, &atts).expect("write");
        }
        out.push(b'}');
    }

    /// The message as a JSON value (for single-item answers).
    pub fn to_value(&self) -> Value {
        let mut out = Vec::with_capacity(2048);
        self.write_json(&mut out);
        serde_json::from_slice(&out).expect("message JSON")
    }
}

impl JsonItem for MessageView<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        MessageView::write_json(self, out)
    }
}

/// An item of a collection answer that writes itself as JSON text.
pub trait JsonItem {
    fn write_json(&self, out: &mut Vec<u8>);
}

/// Validates `$select` names for messages.
pub fn check_message_select(sel: &Option<Vec<String>>) -> Result<(), GErr> {
    if let Some(s) = sel {
        for n in s {
            if n != "id"
                && !MESSAGE_DEFAULT.contains(&n.as_str())
                && !MESSAGE_EXTRA.contains(&n.as_str())
            {
                return Err(GErr::bad(
                    "RequestBroker--ParseUri",
                    format!(
                        "Could not find a property named '{n}' on type 'microsoft.graph.message'."
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The message as a JSON value (for single-item answers; lists write [`MessageView`]s
/// directly).
pub fn message_json(
    mb: &Mailbox,
    m: &Message,
    immutable: bool,
    sel: Option<&[String]>,
    expand_attachments: bool,
) -> Value {
    MessageView {
        mb,
        m,
        immutable,
        sel,
        expand_attachments,
        odata_type: false,
        body_as_text: None,
    }
    .to_value()
}

/// Writes `{"@odata.context": ctx, "value": [items...], extra...}` without building a
/// `Value` tree for the items; `size_hint` (bytes) sizes the buffer.
pub fn collection_bytes<T: JsonItem>(
    context: &str,
    items: impl Iterator<Item = T>,
    extra: &[(&str, Value)],
    size_hint: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(size_hint.max(16 * 1024));
    out.extend_from_slice(b"{\"@odata.context\":");
    write_str(&mut out, context);
    out.extend_from_slice(b",\"value\":[");
    for (i, it) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        it.write_json(&mut out);
    }
    out.push(b']');
    for (k, v) in extra {
        out.push(b',');
        write_str(&mut out, k);
        out.push(b':');
        serde_json::to_writer(&mut out, v).expect("write");
    }
    out.push(b'}');
    out
}

/// A folder's `parentFolderId` (the root's parent is an id Graph makes up from the root's).
pub fn parent_folder_id(mb: &Mailbox, f: &Folder) -> String {
    match f.parent {
        Some(p) => mb.folders[p as usize].id.clone(),
        None => format!("{}AAE=", mb.folders[ROOT as usize].id.trim_end_matches('=')),
    }
}

pub fn folder_json(mb: &Mailbox, f: &Folder, sel: Option<&[String]>) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(f.id));
    let parent = parent_folder_id(mb, f);
    for n in FOLDER_PROPS {
        if let Some(s) = sel {
            if !s.iter().any(|x| x == n) {
                continue;
            }
        }
        let v = match *n {
            "displayName" => json!(f.display_name),
            "parentFolderId" => json!(parent),
            "childFolderCount" => json!(mb.child_count(f.key)),
            "unreadItemCount" => json!(f.unread),
            "totalItemCount" => json!(f.items.len()),
            "isHidden" => json!(f.hidden),
            _ => continue,
        };
        o.insert((*n).to_string(), v);
    }
    Value::Object(o)
}

pub fn check_folder_select(sel: &Option<Vec<String>>) -> Result<(), GErr> {
    if let Some(s) = sel {
        for n in s {
            if n != "id" && !FOLDER_PROPS.contains(&n.as_str()) {
                return Err(GErr::bad(
                    "RequestBroker--ParseUri",
                    format!("Could not find a property named '{n}' on type 'microsoft.graph.mailFolder'."),
                ));
            }
        }
    }
    Ok(())
}

pub fn attachment_json(a: &Attachment, with_bytes: bool) -> Value {
    let mut v = json!({
        "@odata.type": "#microsoft.graph.fileAttachment",
        "@odata.mediaContentType": a.content_type,
        "id": a.id,
        "lastModifiedDateTime": iso(a.last_modified),
        "name": a.name,
        "contentType": a.content_type,
        "size": a.data.len(),
        "isInline": a.is_inline,
        "contentId": a.content_id,
        "contentLocation": Value::Null,
    });
    if with_bytes {
        v["contentBytes"] = json!(b64std(&a.data));
    }
    v
}

pub const USER_DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

pub const USER_EXTRA: &[&str] = &[
    "proxyAddresses",
    "accountEnabled",
    "userType",
    "otherMails",
    "mailNickname",
    "usageLocation",
];

pub fn user_prop(u: &User, n: &str) -> Option<Value> {
    Some(match n {
        "id" => json!(u.id),
        "businessPhones" => json!([]),
        "displayName" => json!(u.display_name),
        "givenName" => json!(u.given_name),
        "jobTitle" => json!(u.job_title),
        "mail" => json!(u.mail),
        "mobilePhone" => Value::Null,
        "officeLocation" => Value::Null,
        "preferredLanguage" => json!(u.locale),
        "surname" => json!(u.surname),
        "userPrincipalName" => json!(u.upn),
        "proxyAddresses" => json!(u.proxy_addresses()),
        "accountEnabled" => json!(u.password.is_some()),
        "userType" => json!("Member"),
        "otherMails" => json!([]),
        "mailNickname" => json!(u.mail.split('@').next().unwrap_or("")),
        "usageLocation" => json!(u.locale.split('-').nth(1).unwrap_or("US")),
        _ => return None,
    })
}
