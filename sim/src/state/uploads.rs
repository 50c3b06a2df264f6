//! Attachment upload sessions (large files added to a draft in chunks).

use serde::{Deserialize, Serialize};

use super::ids::b64_bytes;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UploadSession {
    pub mailbox: String,
    pub message_key: u64,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub is_inline: bool,
    pub content_id: Option<String>,
    pub expires: i64,
    #[serde(with = "b64_bytes")]
    pub data: Vec<u8>,
}
