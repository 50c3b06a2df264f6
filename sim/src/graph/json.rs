//! JSON shapes of Graph resources (property names and types as in the v1.0 CSDL).

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

/// Text of a body with tags removed, whitespace collapsed, at most 255 characters.
pub fn preview(m: &Message) -> String {
    let text = if m.body_html {
        let mut out = String::with_capacity(m.body.len());
        let mut in_tag = false;
        let lower = m.body.to_ascii_lowercase();
        let start = lower.find("<body").unwrap_or(0);
        for c in m.body[start..].chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    out.push(' ');
                }
                _ if !in_tag => out.push(c),
                _ => {}
            }
        }
        out.replace("&nbsp;", " ")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
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

fn opt_addr(a: &Option<Addr>) -> Value {
    a.as_ref().map(recipient).unwrap_or(Value::Null)
}

pub fn message_prop(mb: &Mailbox, m: &Message, name: &str, immutable: bool) -> Option<Value> {
    Some(match name {
        "id" => json!(message_id(m, immutable)),
        "createdDateTime" => json!(iso(m.created)),
        "lastModifiedDateTime" => json!(iso(m.last_modified)),
        "changeKey" => json!(m.change_key()),
        "categories" => json!(m.categories),
        "receivedDateTime" => json!(iso(m.received)),
        "sentDateTime" => m.sent.map(|s| json!(iso(s))).unwrap_or(Value::Null),
        "hasAttachments" => json!(m.has_attachments()),
        "internetMessageId" => json!(m.internet_message_id),
        "subject" => json!(m.subject),
        "bodyPreview" => json!(preview(m)),
        "importance" => json!(m.importance),
        "parentFolderId" => json!(mb.folders[m.folder as usize].id),
        "conversationId" => json!(m.conversation_id),
        "conversationIndex" => json!(conversation_index(m)),
        "isDeliveryReceiptRequested" => json!(m.delivery_receipt),
        "isReadReceiptRequested" => json!(m.read_receipt),
        "isRead" => json!(m.is_read),
        "isDraft" => json!(m.is_draft),
        "webLink" => json!(format!(
            "https://outlook.office365.com/owa/?ItemID={}&exvsurl=1&viewmodel=ReadMessageItem",
            url::form_urlencoded::byte_serialize(message_id(m, immutable).as_bytes())
                .collect::<String>()
        )),
        "inferenceClassification" => json!(m.inference),
        "body" | "uniqueBody" => json!({
            "contentType": if m.body_html { "html" } else { "text" },
            "content": m.body,
        }),
        "sender" => opt_addr(&m.sender),
        "from" => opt_addr(&m.from),
        "toRecipients" => recipients(&m.to),
        "ccRecipients" => recipients(&m.cc),
        "bccRecipients" => recipients(&m.bcc),
        "replyTo" => recipients(&m.reply_to),
        "flag" => json!({"flagStatus": m.flag}),
        "internetMessageHeaders" => Value::Array(
            m.headers
                .iter()
                .map(|(n, v)| json!({"name": n, "value": v}))
                .collect(),
        ),
        _ => return None,
    })
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

pub fn message_json(
    mb: &Mailbox,
    m: &Message,
    immutable: bool,
    sel: Option<&[String]>,
    expand_attachments: bool,
) -> Value {
    let mut o = Map::new();
    o.insert("@odata.etag".into(), json!(m.etag()));
    o.insert("id".into(), json!(message_id(m, immutable)));
    match sel {
        Some(names) => {
            for n in names {
                if n == "id" {
                    continue;
                }
                if let Some(v) = message_prop(mb, m, n, immutable) {
                    o.insert(n.clone(), v);
                }
            }
        }
        None => {
            for n in MESSAGE_DEFAULT {
                if let Some(v) = message_prop(mb, m, n, immutable) {
                    o.insert((*n).to_string(), v);
                }
            }
        }
    }
    if expand_attachments {
        o.insert(
            "attachments".into(),
            Value::Array(
                m.attachments
                    .iter()
                    .map(|a| attachment_json(a, true))
                    .collect(),
            ),
        );
    }
    Value::Object(o)
}

pub fn folder_json(mb: &Mailbox, f: &Folder, sel: Option<&[String]>) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(f.id));
    let parent = match f.parent {
        Some(p) => mb.folders[p as usize].id.clone(),
        None => format!("{}AAE=", mb.folders[ROOT as usize].id.trim_end_matches('=')),
    };
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
