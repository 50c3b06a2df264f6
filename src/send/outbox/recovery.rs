//! Message-ID recovery: every message in the mailbox that carries our Message-ID (the
//! draft, or the sent copy), looked up before anything is created or sent again after a doubt.

use super::*;

pub(super) struct Found {
    pub(super) id: String,
    pub(super) is_draft: bool,
    /// The From address.
    pub(super) from: Option<String>,
}

/// Every message in the mailbox carrying our Message-ID (the draft, or the sent copy).
pub(super) async fn find_by_message_id(g: &MailboxGraph, imid: &str) -> Result<Vec<Found>> {
    let filter = format!("internetMessageId eq '{}'", imid.replace('\'', "''"));
    let mut url = format!(
        "/messages?$filter={}&$select=id,isDraft,parentFolderId,from&$top=50",
        enc(&filter)
    );
    let mut out = Vec::new();
    loop {
        let v: Value = g.get_json(&url, Priority::Interactive).await?;
        for m in v
            .get("value")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = m.get("id").and_then(Value::as_str) {
                out.push(Found {
                    id: id.to_owned(),
                    is_draft: m.get("isDraft").and_then(Value::as_bool).unwrap_or(false),
                    from: m
                        .pointer("/from/emailAddress/address")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                });
            }
        }
        match v.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) => url = next.to_owned(),
            None => return Ok(out),
        }
    }
}

/// Percent-encodes a Graph id or query value.
pub fn enc(s: &str) -> String {
    crate::encoding::encode(s, crate::encoding::UNRESERVED)
}
