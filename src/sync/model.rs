//! Graph JSON → cache rows, and cache rows → the JSON the host sees. Pure functions.

use crate::store::cache::{DeltaLink, FolderPage, FolderRow, MessagePage, MessageRow};
use serde_json::{json, Map, Value};

/// Well-known folder names asked for by name (`/mailFolders/{name}`) to find roles. Roles
/// never come from display names: a German mailbox says "Posteingang".
pub const ROLES: &[&str] = &[
    "inbox",
    "drafts",
    "sentitems",
    "deleteditems",
    "junkemail",
    "archive",
    "outbox",
];

/// Properties selected in message delta rounds (metadata only; bodies on demand).
pub const MESSAGE_SELECT: &str = "id,parentFolderId,internetMessageId,conversationId,subject,\
from,toRecipients,ccRecipients,bccRecipients,replyTo,receivedDateTime,sentDateTime,isRead,\
isDraft,hasAttachments,importance,flag,categories,bodyPreview,changeKey";

/// Largest page Graph serves (`Prefer: odata.maxpagesize`).
pub const PAGE_SIZE: usize = 1000;

/// Milliseconds since the epoch for a Graph DateTimeOffset.
pub fn parse_time(v: Option<&Value>) -> Option<i64> {
    let s = v?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

fn string(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn int(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn boolean(v: &Value, key: &str) -> Option<bool> {
    match v.get(key)? {
        Value::Bool(b) => Some(*b),
        // Graph's own doc example prints "isRead": "true".
        Value::String(s) => Some(s.eq_ignore_ascii_case("true")),
        _ => None,
    }
}

fn recipient(v: &Value) -> Value {
    let e = v.get("emailAddress").unwrap_or(v);
    json!({
        "name": e.get("name").and_then(Value::as_str).unwrap_or(""),
        "address": e.get("address").and_then(Value::as_str).unwrap_or(""),
    })
}

fn recipients(v: &Value, key: &str) -> Option<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| Value::Array(a.iter().map(recipient).collect()))
}

/// The page's continuation: `@odata.nextLink` or `@odata.deltaLink`.
pub fn page_link(page: &Value) -> Option<DeltaLink> {
    if let Some(n) = page.get("@odata.nextLink").and_then(Value::as_str) {
        return Some(DeltaLink::Next(n.to_owned()));
    }
    page.get("@odata.deltaLink")
        .and_then(Value::as_str)
        .map(|d| DeltaLink::Delta(d.to_owned()))
}

/// The continuation link of a page, without building the page's items (serde skips them).
pub fn quick_link(body: &[u8]) -> Option<DeltaLink> {
    #[derive(serde::Deserialize)]
    struct Links {
        #[serde(rename = "@odata.nextLink")]
        next: Option<String>,
        #[serde(rename = "@odata.deltaLink")]
        delta: Option<String>,
    }
    let l: Links = serde_json::from_slice(body).ok()?;
    match (l.next, l.delta) {
        (Some(n), _) => Some(DeltaLink::Next(n)),
        (None, Some(d)) => Some(DeltaLink::Delta(d)),
        (None, None) => None,
    }
}

/// One message from Graph (delta item, list item, or a move/patch answer) as a cache row
/// filed under `folder_id`.
pub fn message_row(v: &Value, folder_id: &str) -> Option<MessageRow> {
    let id = string(v, "id")?;
    let from = v.get("from").map(recipient);
    let mut rcpt = Map::new();
    for (key, name) in [
        ("toRecipients", "to"),
        ("ccRecipients", "cc"),
        ("bccRecipients", "bcc"),
        ("replyTo", "reply_to"),
    ] {
        if let Some(r) = recipients(v, key) {
            rcpt.insert(name.into(), r);
        }
    }
    Some(MessageRow {
        id,
        folder_id: folder_id.to_owned(),
        internet_message_id: string(v, "internetMessageId"),
        conversation_id: string(v, "conversationId"),
        subject: string(v, "subject"),
        from_name: from
            .as_ref()
            .and_then(|f| f["name"].as_str().map(str::to_owned)),
        from_address: from
            .as_ref()
            .and_then(|f| f["address"].as_str().map(str::to_owned)),
        recipients_json: (!rcpt.is_empty()).then(|| Value::Object(rcpt).to_string()),
        received_at: parse_time(v.get("receivedDateTime")),
        sent_at: parse_time(v.get("sentDateTime")),
        is_read: boolean(v, "isRead"),
        is_draft: boolean(v, "isDraft"),
        has_attachments: boolean(v, "hasAttachments"),
        importance: string(v, "importance"),
        flag: v
            .get("flag")
            .and_then(|f| f.get("flagStatus"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        categories_json: v.get("categories").map(|c| c.to_string()),
        body_preview: string(v, "bodyPreview"),
        change_key: string(v, "changeKey"),
    })
}

// Typed view of a delta page: far less memory and time than a `Value` tree for pages of a
// thousand messages.

#[derive(serde::Deserialize, Default)]
struct GEmail {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

#[derive(serde::Deserialize)]
struct GRecipient {
    #[serde(rename = "emailAddress", default)]
    email_address: Option<GEmail>,
}

#[derive(serde::Deserialize)]
struct GFlag {
    #[serde(rename = "flagStatus", default)]
    flag_status: Option<String>,
}

fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    // Graph's own doc example prints "isRead": "true".
    let v: Option<Value> = serde::Deserialize::deserialize(d)?;
    Ok(match v {
        Some(Value::Bool(b)) => Some(b),
        Some(Value::String(s)) => Some(s.eq_ignore_ascii_case("true")),
        _ => None,
    })
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GMessage {
    #[serde(default)]
    id: Option<String>,
    #[serde(rename = "@removed", default)]
    removed: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    internet_message_id: Option<String>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    from: Option<GRecipient>,
    #[serde(default)]
    to_recipients: Option<Vec<GRecipient>>,
    #[serde(default)]
    cc_recipients: Option<Vec<GRecipient>>,
    #[serde(default)]
    bcc_recipients: Option<Vec<GRecipient>>,
    #[serde(default)]
    reply_to: Option<Vec<GRecipient>>,
    #[serde(default)]
    received_date_time: Option<String>,
    #[serde(default)]
    sent_date_time: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    is_read: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    is_draft: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    has_attachments: Option<bool>,
    #[serde(default)]
    importance: Option<String>,
    #[serde(default)]
    flag: Option<GFlag>,
    #[serde(default)]
    categories: Option<Vec<String>>,
    #[serde(default)]
    body_preview: Option<String>,
    #[serde(default)]
    change_key: Option<String>,
}

#[derive(serde::Deserialize)]
struct GPage {
    #[serde(default)]
    value: Vec<GMessage>,
}

fn rfc3339_ms(s: Option<&str>) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s?)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// One recipient as cached (fields in the order a JSON map sorts them).
#[derive(serde::Serialize)]
struct Rcpt<'a> {
    address: &'a str,
    name: &'a str,
}

fn rcpt_list(v: &[GRecipient]) -> Vec<Rcpt<'_>> {
    v.iter()
        .map(|r| {
            let e = r.email_address.as_ref();
            Rcpt {
                name: e.and_then(|e| e.name.as_deref()).unwrap_or(""),
                address: e.and_then(|e| e.address.as_deref()).unwrap_or(""),
            }
        })
        .collect()
}

/// The recipient lists of a cached message, written straight to JSON text (keys in the
/// order a JSON map sorts them, as [`message_row`] writes them).
#[derive(serde::Serialize)]
struct Recipients<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    bcc: Option<Vec<Rcpt<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cc: Option<Vec<Rcpt<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<Vec<Rcpt<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<Vec<Rcpt<'a>>>,
}

impl Recipients<'_> {
    fn is_empty(&self) -> bool {
        self.bcc.is_none() && self.cc.is_none() && self.reply_to.is_none() && self.to.is_none()
    }
}

fn typed_page(page: GPage, folder_id: &str) -> MessagePage {
    let mut out = MessagePage::default();
    for m in page.value {
        let Some(id) = m.id else { continue };
        if m.removed.is_some() {
            out.removed.push(id);
            continue;
        }
        let rcpt = Recipients {
            bcc: m.bcc_recipients.as_deref().map(rcpt_list),
            cc: m.cc_recipients.as_deref().map(rcpt_list),
            reply_to: m.reply_to.as_deref().map(rcpt_list),
            to: m.to_recipients.as_deref().map(rcpt_list),
        };
        let from = m.from.and_then(|f| f.email_address);
        out.upserts.push(MessageRow {
            id,
            folder_id: folder_id.to_owned(),
            internet_message_id: m.internet_message_id,
            conversation_id: m.conversation_id,
            subject: m.subject,
            from_name: from.as_ref().map(|f| f.name.clone().unwrap_or_default()),
            from_address: from.and_then(|f| f.address),
            recipients_json: (!rcpt.is_empty())
                .then(|| serde_json::to_string(&rcpt).unwrap_or_default()),
            received_at: rfc3339_ms(m.received_date_time.as_deref()),
            sent_at: rfc3339_ms(m.sent_date_time.as_deref()),
            is_read: m.is_read,
            is_draft: m.is_draft,
            has_attachments: m.has_attachments,
            importance: m.importance,
            flag: m.flag.and_then(|f| f.flag_status),
            categories_json: m
                .categories
                .map(|c| serde_json::to_string(&c).unwrap_or_default()),
            body_preview: m.body_preview,
            change_key: m.change_key,
        });
    }
    out
}

/// A messages delta page (raw JSON) for `folder_id`: changed messages and removed ids.
pub fn message_page_bytes(body: &[u8], folder_id: &str) -> crate::error::Result<MessagePage> {
    let page: GPage = serde_json::from_slice(body).map_err(|e| {
        crate::error::Error::Remote(crate::error::Fault::new(
            "unexpected_response",
            format!("a messages/delta page this library does not understand: {e}"),
        ))
    })?;
    Ok(typed_page(page, folder_id))
}

/// A messages delta page for `folder_id`: changed messages, removed ids and the link.
pub fn message_page(page: &Value, folder_id: &str) -> (MessagePage, Option<DeltaLink>) {
    let typed: GPage = serde_json::from_value(page.clone()).unwrap_or(GPage { value: vec![] });
    (typed_page(typed, folder_id), page_link(page))
}

/// One mailFolder as a cache row (role from `wellKnownName` when Graph sends it).
pub fn folder_row(v: &Value) -> Option<FolderRow> {
    Some(FolderRow {
        id: string(v, "id")?,
        parent_id: string(v, "parentFolderId"),
        display_name: string(v, "displayName").unwrap_or_default(),
        well_known: string(v, "wellKnownName").map(|s| s.to_ascii_lowercase()),
        unread_count: int(v, "unreadItemCount"),
        total_count: int(v, "totalItemCount"),
        child_count: int(v, "childFolderCount"),
        hidden: boolean(v, "isHidden").unwrap_or(false),
    })
}

/// Adds a mailFolders delta page to `acc`; returns the page's link.
pub fn folder_page(page: &Value, acc: &mut FolderPage) -> Option<DeltaLink> {
    for item in page
        .get("value")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if item.get("@removed").is_some() {
            if let Some(id) = string(item, "id") {
                acc.upserts.retain(|f| f.id != id);
                acc.removed.push(id);
            }
        } else if item.get("@odata.type").and_then(Value::as_str)
            == Some("#microsoft.graph.mailSearchFolder")
        {
            // Search folders are views over other folders: nothing of their own to sync.
            continue;
        } else if let Some(row) = folder_row(item) {
            acc.removed.retain(|r| *r != row.id);
            acc.upserts.retain(|f| f.id != row.id);
            acc.upserts.push(row);
        }
    }
    page_link(page)
}

/// Percent-encodes an id for a URL path segment.
pub fn path_segment(id: &str) -> String {
    crate::encoding::encode(id, crate::encoding::GRAPH_ID_SEGMENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_page_splits_changes_removals_and_link() {
        let page = json!({
            "@odata.nextLink": "https://g/next?$skiptoken=1",
            "value": [
                {"id": "A", "@removed": {"reason": "deleted"}},
                {"id": "B", "subject": "Hallo", "isRead": "true",
                 "from": {"emailAddress": {"name": "Dana", "address": "dana@x.example"}},
                 "toRecipients": [{"emailAddress": {"address": "a@x.example"}}],
                 "receivedDateTime": "2024-01-02T03:04:05Z", "changeKey": "ck"}
            ]
        });
        let (p, link) = message_page(&page, "F1");
        assert_eq!(p.removed, vec!["A"]);
        assert_eq!(p.upserts.len(), 1);
        let m = &p.upserts[0];
        assert_eq!(m.folder_id, "F1");
        assert_eq!(m.is_read, Some(true));
        assert_eq!(m.from_address.as_deref(), Some("dana@x.example"));
        assert_eq!(m.received_at, Some(1_704_164_645_000));
        assert_eq!(
            m.is_draft, None,
            "absent stays absent (keeps the stored value)"
        );
        assert_eq!(
            link,
            Some(DeltaLink::Next("https://g/next?$skiptoken=1".into()))
        );
        assert!(m
            .recipients_json
            .as_deref()
            .is_some_and(|r| r.contains("a@x.example")));
    }

    #[test]
    fn quick_link_skips_items() {
        let body = br#"{"value":[{"id":"x","subject":"a \"b\""}],"@odata.deltaLink":"https://d"}"#;
        assert_eq!(quick_link(body), Some(DeltaLink::Delta("https://d".into())));
        assert_eq!(quick_link(b"{\"value\":[]}"), None);
    }

    #[test]
    fn folder_delta_removal_wins_over_earlier_upsert() {
        let mut acc = FolderPage::default();
        folder_page(
            &json!({"value": [{"id": "X", "displayName": "Posteingang", "totalItemCount": 3}]}),
            &mut acc,
        );
        let link = folder_page(
            &json!({"@odata.deltaLink": "d", "value": [
                {"id": "X", "@removed": {}},
                {"id": "S", "displayName": "Ungelesen", "@odata.type": "#microsoft.graph.mailSearchFolder"}
            ]}),
            &mut acc,
        );
        assert!(acc.upserts.is_empty());
        assert_eq!(acc.removed, vec!["X"]);
        assert_eq!(link, Some(DeltaLink::Delta("d".into())));
    }

    #[test]
    fn roles_never_come_from_display_names() {
        let f = folder_row(&json!({"id": "1", "displayName": "Inbox"})).unwrap();
        assert_eq!(f.well_known, None);
        let f =
            folder_row(&json!({"id": "1", "displayName": "Posteingang", "wellKnownName": "Inbox"}))
                .unwrap();
        assert_eq!(f.well_known.as_deref(), Some("inbox"));
    }

    #[test]
    fn ids_are_escaped_for_paths() {
        assert_eq!(path_segment("AAMk+a/b="), "AAMk%2Ba%2Fb=");
    }

    #[test]
    fn a_delta_page_and_a_single_message_make_the_same_row() {
        let item = json!({
            "id": "B", "subject": "Grüße \"x\"", "isRead": true, "isDraft": false,
            "from": {"emailAddress": {"name": "Dana", "address": "dana@x.example"}},
            "toRecipients": [{"emailAddress": {"name": "A", "address": "a@x.example"}},
                             {"emailAddress": {"address": "b@x.example"}}],
            "ccRecipients": [],
            "replyTo": [{"emailAddress": {"name": "R", "address": "r@x.example"}}],
            "receivedDateTime": "2024-01-02T03:04:05Z", "sentDateTime": "2024-01-02T03:04:00Z",
            "categories": ["Rot"], "flag": {"flagStatus": "flagged"}, "changeKey": "ck",
            "bodyPreview": "Hallo", "importance": "high", "hasAttachments": true
        });
        let page = serde_json::to_vec(&json!({"value": [item.clone()]})).unwrap();
        let typed = message_page_bytes(&page, "F1").unwrap().upserts.remove(0);
        assert_eq!(Some(typed), message_row(&item, "F1"));
        let bare = json!({"id": "C"});
        let page = serde_json::to_vec(&json!({"value": [bare.clone()]})).unwrap();
        let typed = message_page_bytes(&page, "F1").unwrap().upserts.remove(0);
        assert_eq!(typed.recipients_json, None);
        assert_eq!(Some(typed), message_row(&bare, "F1"));
    }
}
