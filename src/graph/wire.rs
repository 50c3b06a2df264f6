//! Request bodies the library sends to Graph, as types (names as in Microsoft's mail schema,
//! `microsoft.graph.message`, `recipient`, `fileAttachment`, `attachmentItem`, JSON batching).
//! Answers are read where they are used; these are what goes on the wire.

use crate::error::Result;
use serde::Serialize;
use serde_json::Value;

/// `microsoft.graph.emailAddress`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EmailAddress {
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `microsoft.graph.recipient`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    pub email_address: EmailAddress,
}

/// `microsoft.graph.bodyType`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub enum BodyType {
    #[serde(rename = "Text")]
    Text,
    #[serde(rename = "HTML")]
    Html,
}

/// `microsoft.graph.itemBody`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ItemBody {
    pub content_type: BodyType,
    pub content: String,
}

/// `microsoft.graph.internetMessageHeader`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InternetMessageHeader {
    pub name: String,
    pub value: String,
}

/// The draft `POST /messages` creates (a `microsoft.graph.message`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DraftMessage {
    pub subject: String,
    pub body: ItemBody,
    pub to_recipients: Vec<Recipient>,
    pub cc_recipients: Vec<Recipient>,
    pub bcc_recipients: Vec<Recipient>,
    pub reply_to: Vec<Recipient>,
    pub internet_message_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub importance: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub internet_message_headers: Vec<InternetMessageHeader>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Recipient>,
}

/// The body of `POST /messages/{id}/move`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MoveRequest {
    pub destination_id: String,
}

/// One request inside a JSON `$batch`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BatchRequestItem {
    pub id: String,
    pub method: &'static str,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// `Content-Type: application/json` when there is a body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<BatchHeaders>,
}

/// The headers of a batch item with a JSON body.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BatchHeaders {
    #[serde(rename = "Content-Type")]
    pub content_type: &'static str,
}

impl BatchHeaders {
    pub const JSON: BatchHeaders = BatchHeaders {
        content_type: "application/json",
    };
}

/// The body of `POST /$batch`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BatchRequest {
    pub requests: Vec<BatchRequestItem>,
}

/// `microsoft.graph.fileAttachment`, put on a draft in one request (small files).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FileAttachment {
    #[serde(rename = "@odata.type")]
    pub odata_type: &'static str,
    pub name: String,
    pub content_type: String,
    /// The file, base64.
    pub content_bytes: String,
    /// `true` with a `content_id` (an inline image the body refers to by `cid:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_inline: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
}

impl FileAttachment {
    pub const ODATA_TYPE: &'static str = "#microsoft.graph.fileAttachment";
}

/// `microsoft.graph.attachmentItem`: the file an upload session is opened for.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentItem {
    /// `file`.
    pub attachment_type: &'static str,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_inline: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
}

/// The body of `POST .../attachments/createUploadSession`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CreateUploadSession {
    #[serde(rename = "AttachmentItem")]
    pub attachment_item: AttachmentItem,
}

/// The answer of `createUploadSession` (`microsoft.graph.uploadSession`), as far as it is used.
#[derive(Debug, Clone, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UploadSession {
    pub upload_url: Option<String>,
}

/// A body as the request carries it (requests are kept as JSON so they can be replayed).
pub fn to_body<T: Serialize>(body: &T) -> Result<Value> {
    Ok(serde_json::to_value(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(address: &str, name: Option<&str>) -> Recipient {
        Recipient {
            email_address: EmailAddress {
                address: address.into(),
                name: name.map(Into::into),
            },
        }
    }

    #[test]
    fn a_draft_is_written_with_the_schema_names() {
        let d = DraftMessage {
            subject: "S".into(),
            body: ItemBody {
                content_type: BodyType::Html,
                content: "<p>x</p>".into(),
            },
            to_recipients: vec![r("a@x.de", Some("A"))],
            cc_recipients: vec![],
            bcc_recipients: vec![r("b@x.de", None)],
            reply_to: vec![],
            internet_message_id: "<1@x>".into(),
            importance: Some("high".into()),
            internet_message_headers: vec![InternetMessageHeader {
                name: "X-Crm".into(),
                value: "1".into(),
            }],
            from: None,
        };
        assert_eq!(
            to_body(&d).unwrap(),
            json!({
                "subject": "S",
                "body": {"contentType": "HTML", "content": "<p>x</p>"},
                "toRecipients": [{"emailAddress": {"address": "a@x.de", "name": "A"}}],
                "ccRecipients": [],
                "bccRecipients": [{"emailAddress": {"address": "b@x.de"}}],
                "replyTo": [],
                "internetMessageId": "<1@x>",
                "importance": "high",
                "internetMessageHeaders": [{"name": "X-Crm", "value": "1"}],
            })
        );
    }

    #[test]
    fn attachments_name_inline_parts_only_when_inline() {
        let item = AttachmentItem {
            attachment_type: "file",
            name: "a.pdf".into(),
            size: 5_000_000,
            content_type: "application/pdf".into(),
            is_inline: None,
            content_id: None,
        };
        assert_eq!(
            to_body(&CreateUploadSession {
                attachment_item: item
            })
            .unwrap(),
            json!({"AttachmentItem": {"attachmentType": "file", "name": "a.pdf",
                   "size": 5_000_000, "contentType": "application/pdf"}})
        );
        let inline = FileAttachment {
            odata_type: FileAttachment::ODATA_TYPE,
            name: "logo.png".into(),
            content_type: "image/png".into(),
            content_bytes: "AAE=".into(),
            is_inline: Some(true),
            content_id: Some("logo".into()),
        };
        assert_eq!(
            to_body(&inline).unwrap(),
            json!({"@odata.type": "#microsoft.graph.fileAttachment", "name": "logo.png",
                   "contentType": "image/png", "contentBytes": "AAE=", "isInline": true,
                   "contentId": "logo"})
        );
    }

    #[test]
    fn batch_items_carry_a_content_type_only_with_a_body() {
        let b = BatchRequest {
            requests: vec![
                BatchRequestItem {
                    id: "0".into(),
                    method: "POST",
                    url: "/me/messages/1/move".into(),
                    body: Some(
                        to_body(&MoveRequest {
                            destination_id: "F".into(),
                        })
                        .unwrap(),
                    ),
                    headers: Some(BatchHeaders::JSON),
                },
                BatchRequestItem {
                    id: "1".into(),
                    method: "GET",
                    url: "/me/mailFolders".into(),
                    body: None,
                    headers: None,
                },
            ],
        };
        assert_eq!(
            to_body(&b).unwrap(),
            json!({"requests": [
                {"id": "0", "method": "POST", "url": "/me/messages/1/move",
                 "body": {"destinationId": "F"}, "headers": {"Content-Type": "application/json"}},
                {"id": "1", "method": "GET", "url": "/me/mailFolders"},
            ]})
        );
    }
}
