//! JSON shapes of Graph resources (property names and types as in the v1.0 CSDL).

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::GErr;
use crate::clock::iso;
use crate::state::{b64std, Addr, Attachment, Folder, Mailbox, Message, User, ROOT};

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
pub fn preview(m: &Message) -> String {
    let text = if m.body_html {
        html_to_text(&m.body)
    } else {
        m.body.clone()
    };
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(255).collect()
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

#[derive(Serialize)]
struct EmailAddressOut<'a> {
    name: &'a str,
    address: &'a str,
}

#[derive(Serialize)]
struct RecipientOut<'a> {
    #[serde(rename = "emailAddress")]
    email_address: EmailAddressOut<'a>,
}

fn rec(a: &Addr) -> RecipientOut<'_> {
    RecipientOut {
        email_address: EmailAddressOut {
            name: &a.name,
            address: &a.address,
        },
    }
}

fn recs(v: &[Addr]) -> Vec<RecipientOut<'_>> {
    v.iter().map(rec).collect()
}

#[derive(Serialize)]
struct BodyOut<'a> {
    #[serde(rename = "contentType")]
    content_type: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct FlagOut<'a> {
    #[serde(rename = "flagStatus")]
    flag_status: &'a str,
}

#[derive(Serialize)]
struct HeaderOut<'a> {
    name: &'a str,
    value: &'a str,
}

/// A message as Graph prints it, serialised straight from the store (no intermediate
/// `Value`): `@odata.etag`, `id`, then the default properties or the `$select`ed ones.
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
    fn entry<M: SerializeMap>(&self, map: &mut M, name: &str) -> Result<(), M::Error> {
        let (mb, m, imm) = (self.mb, self.m, self.immutable);
        match name {
            "id" => map.serialize_entry(name, message_id(m, imm)),
            "createdDateTime" => map.serialize_entry(name, &iso(m.created)),
            "lastModifiedDateTime" => map.serialize_entry(name, &iso(m.last_modified)),
            "changeKey" => map.serialize_entry(name, &m.change_key()),
            "categories" => map.serialize_entry(name, &m.categories),
            "receivedDateTime" => map.serialize_entry(name, &iso(m.received)),
            "sentDateTime" => map.serialize_entry(name, &m.sent.map(iso)),
            "hasAttachments" => map.serialize_entry(name, &m.has_attachments()),
            "internetMessageId" => map.serialize_entry(name, &m.internet_message_id),
            "subject" => map.serialize_entry(name, &m.subject),
            "bodyPreview" => map.serialize_entry(name, &preview(m)),
            "importance" => map.serialize_entry(name, &m.importance),
            "parentFolderId" => map.serialize_entry(name, &mb.folders[m.folder as usize].id),
            "conversationId" => map.serialize_entry(name, &m.conversation_id),
            "conversationIndex" => map.serialize_entry(name, &conversation_index(m)),
            "isDeliveryReceiptRequested" => map.serialize_entry(name, &m.delivery_receipt),
            "isReadReceiptRequested" => map.serialize_entry(name, &m.read_receipt),
            "isRead" => map.serialize_entry(name, &m.is_read),
            "isDraft" => map.serialize_entry(name, &m.is_draft),
            "webLink" => map.serialize_entry(
                name,
                &format!(
                    "https://outlook.office365.com/owa/?ItemID={}&exvsurl=1&viewmodel=ReadMessageItem",
                    url::form_urlencoded::byte_serialize(message_id(m, imm).as_bytes())
                        .collect::<String>()
                ),
            ),
            "inferenceClassification" => map.serialize_entry(name, &m.inference),
            "body" | "uniqueBody" => match (self.body_as_text, m.body_html) {
                (Some(true), true) => map.serialize_entry(
                    name,
                    &BodyOut {
                        content_type: "text",
                        content: &html_to_text(&m.body),
                    },
                ),
                (Some(false), false) => map.serialize_entry(
                    name,
                    &BodyOut {
                        content_type: "html",
                        content: &text_to_html(&m.body),
                    },
                ),
                _ => map.serialize_entry(
                    name,
                    &BodyOut {
                        content_type: if m.body_html { "html" } else { "text" },
                        content: &m.body,
                    },
                ),
            },
            "sender" => map.serialize_entry(name, &m.sender.as_ref().map(rec)),
            "from" => map.serialize_entry(name, &m.from.as_ref().map(rec)),
            "toRecipients" => map.serialize_entry(name, &recs(&m.to)),
            "ccRecipients" => map.serialize_entry(name, &recs(&m.cc)),
            "bccRecipients" => map.serialize_entry(name, &recs(&m.bcc)),
            "replyTo" => map.serialize_entry(name, &recs(&m.reply_to)),
            "flag" => map.serialize_entry(name, &FlagOut { flag_status: &m.flag }),
            "internetMessageHeaders" => map.serialize_entry(
                name,
                &m.headers
                    .iter()
                    .map(|(n, v)| HeaderOut { name: n, value: v })
                    .collect::<Vec<_>>(),
            ),
            _ => Ok(()),
        }
    }
}

impl Serialize for MessageView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if self.odata_type {
            map.serialize_entry("@odata.type", "#microsoft.graph.message")?;
        }
        map.serialize_entry("@odata.etag", &self.m.etag())?;
        map.serialize_entry("id", message_id(self.m, self.immutable))?;
        match self.sel {
            Some(names) => {
                for n in names {
                    if n != "id" {
                        self.entry(&mut map, n)?;
                    }
                }
            }
            None => {
                for n in MESSAGE_DEFAULT {
                    self.entry(&mut map, n)?;
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
            map.serialize_entry("attachments", &atts)?;
        }
        map.end()
    }
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

/// The message as a JSON value (for single-item answers; lists serialise [`MessageView`]s
/// directly).
pub fn message_json(
    mb: &Mailbox,
    m: &Message,
    immutable: bool,
    sel: Option<&[String]>,
    expand_attachments: bool,
) -> Value {
    serde_json::to_value(MessageView {
        mb,
        m,
        immutable,
        sel,
        expand_attachments,
        odata_type: false,
        body_as_text: None,
    })
    .expect("message serialises")
}

/// Writes `{"@odata.context": ctx, "value": [items...], extra...}` without building a
/// `Value` tree for the items.
pub fn collection_bytes<T: Serialize>(
    context: &str,
    items: impl Iterator<Item = T>,
    extra: &[(&str, Value)],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 * 1024);
    out.extend_from_slice(b"{\"@odata.context\":");
    serde_json::to_writer(&mut out, context).expect("write");
    out.extend_from_slice(b",\"value\":[");
    for (i, it) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &it).expect("write");
    }
    out.push(b']');
    for (k, v) in extra {
        out.push(b',');
        serde_json::to_writer(&mut out, k).expect("write");
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
