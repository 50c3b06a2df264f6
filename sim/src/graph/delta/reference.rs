//! The `messages/delta` page as the sim wrote it before the page was made faster (the
//! by-sequence scan of the whole mailbox and the `serde` serialisation of `MessageView`),
//! kept verbatim as the reference the tests compare the fast path with byte for byte. The one
//! change: the by-sequence index the mailbox no longer keeps is derived from its messages.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::super::json::attachment_json;
use super::{PageOpts, Token};
use crate::state::{b64std, b64url, Addr, Mailbox, Message};

pub fn iso(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn change_key(m: &Message) -> String {
    let mut b = m.key.to_le_bytes().to_vec();
    b.extend_from_slice(&m.version.to_le_bytes());
    format!("CQAAABYAAA{}", b64url(&b))
}

fn etag(m: &Message) -> String {
    format!("W/\"{}\"", change_key(m))
}

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
            "changeKey" => map.serialize_entry(name, &change_key(m)),
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
        map.serialize_entry("@odata.etag", &etag(self.m))?;
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

enum Item {
    Msg(u64),
    Gone(usize),
}

/// The page as [`super::message_page`] wrote it originally.
pub fn message_page(
    mb: &Mailbox,
    folder: u32,
    t: &Token,
    flt: Option<&crate::graph::filter::Expr>,
    ps: usize,
    o: &PageOpts,
) -> Vec<u8> {
    let ct = t.ct.clone();
    let want = |kind: &str| ct.as_deref().map(|c| c == kind).unwrap_or(true);
    // The mailbox's `by_seq` index (changed_seq -> key) of the time, derived from the messages.
    let by_seq: std::collections::BTreeMap<u64, u64> = mb
        .messages
        .values()
        .map(|m| (m.changed_seq, m.key))
        .collect();
    // Messages changed in (after, hi] that are in the folder now.
    let mut msgs = by_seq
        .range(if t.hi > t.after {
            (t.after + 1)..=t.hi
        } else {
            // BTreeMap::range panics when start > end.
            u64::MAX..=u64::MAX
        })
        .filter_map(|(seq, k)| {
            let m = &mb.messages[k];
            if m.folder != folder {
                return None;
            }
            let created = m.arrived_seq > t.lo;
            if (created && !want("created")) || (!created && !want("updated")) {
                return None;
            }
            if let Some(f) = flt {
                if !crate::graph::filter::eval(mb, m, f).unwrap_or(false) {
                    return None;
                }
            }
            Some((*seq, Item::Msg(*k)))
        });
    // Removals in (max(lo, after), hi] (none in the first round).
    let ts = &mb.tombstones;
    let start = ts.partition_point(|x| x.seq <= t.after.max(t.lo));
    let mut gones = ts[start..]
        .iter()
        .enumerate()
        .take_while(|(_, x)| x.seq <= t.hi)
        .filter(|(_, x)| t.lo > 0 && x.folder == folder && want("deleted"))
        .map(|(i, x)| (x.seq, Item::Gone(start + i)));
    let mut out: Vec<(u64, Item)> = vec![];
    let mut a = msgs.next();
    let mut b = gones.next();
    let mut more = false;
    loop {
        let pick_a = match (&a, &b) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(x), Some(y)) => x.0 < y.0,
        };
        if out.len() == ps {
            more = true;
            break;
        }
        if pick_a {
            out.push(a.take().unwrap());
            a = msgs.next();
        } else {
            out.push(b.take().unwrap());
            b = gones.next();
        }
    }
    let link_base = format!(
        "{}/{}/mailFolders('{}')/messages/delta",
        o.base,
        o.mb_path,
        super::folder_ref_for_link(mb, folder, o.folder_ref)
    );
    let link = if more {
        let mut nt = t.clone();
        nt.after = out.last().map(|x| x.0).unwrap_or(t.after);
        (
            "@odata.nextLink",
            json!(format!("{link_base}?$skiptoken={}", super::encode(&nt))),
        )
    } else {
        let mut nt = t.clone();
        nt.lo = t.hi;
        nt.hi = 0;
        nt.after = 0;
        (
            "@odata.deltaLink",
            json!(format!("{link_base}?$deltatoken={}", super::encode(&nt))),
        )
    };
    let items = out.iter().map(|(_, it)| match it {
        Item::Msg(k) => DeltaItem::Msg(MessageView {
            mb,
            m: &mb.messages[k],
            immutable: o.immutable,
            sel: t.sel.as_deref(),
            expand_attachments: false,
            odata_type: true,
            body_as_text: o.body_as_text,
        }),
        Item::Gone(i) => {
            let x = &ts[*i];
            DeltaItem::Gone(json!({
                "@odata.type": "#microsoft.graph.message",
                "id": if o.immutable { &x.immutable_id } else { &x.rest_id },
                "@removed": {"reason": "deleted"},
            }))
        }
    });
    collection_bytes(
        &format!("{}/$metadata#Collection(message)", o.base),
        items,
        &[link],
    )
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum DeltaItem<'a> {
    Msg(MessageView<'a>),
    Gone(Value),
}
