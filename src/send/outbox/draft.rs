//! The draft as it goes to Graph (our Message-ID, recipients, body, headers, sender), and
//! the sent-from report of sends from an alias.

use super::*;

/// The draft's JSON: our Message-ID, recipients, body, headers and the sender.
pub fn draft_json(p: &Prepared, imid: &str, mailbox: &MailboxRecord) -> Result<Value> {
    use crate::graph::wire::{BodyType, DraftMessage, InternetMessageHeader, ItemBody};
    let list = |v: &[crate::send::message::Addr]| v.iter().map(|a| a.graph()).collect();
    // Alias and shared mailboxes send as themselves.
    let from = p.from.clone().or_else(|| {
        (mailbox.kind != "user").then(|| crate::send::message::Addr {
            address: mailbox.address.clone(),
            name: None,
        })
    });
    let draft = DraftMessage {
        subject: p.subject.clone(),
        body: ItemBody {
            content_type: if p.body_type == "html" {
                BodyType::Html
            } else {
                BodyType::Text
            },
            content: p.body.clone(),
        },
        to_recipients: list(&p.to),
        cc_recipients: list(&p.cc),
        bcc_recipients: list(&p.bcc),
        reply_to: list(&p.reply_to),
        internet_message_id: imid.to_owned(),
        importance: p.importance.clone(),
        internet_message_headers: p
            .headers
            .iter()
            .map(|(k, v)| InternetMessageHeader {
                name: k.clone(),
                value: v.clone(),
            })
            .collect(),
        from: from.map(|f| f.graph()),
    };
    crate::graph::wire::to_body(&draft)
}

/// Whether the From of the sent copy is checked after sending: a send from an alias (Exchange
/// may send it from the primary address when SendFromAliasEnabled is off).
pub(super) fn checks_from(mailbox: &MailboxRecord, p: &Prepared) -> bool {
    mailbox.kind == "alias" || p.from.is_some()
}

/// The address a mail of this entry asks to be sent from.
pub(super) fn requested_from(mailbox: &MailboxRecord, p: &Prepared) -> String {
    p.from
        .as_ref()
        .map(|a| a.address.clone())
        .unwrap_or_else(|| mailbox.address.clone())
}

/// Hint when Exchange sent a mail from the primary address instead of the alias.
pub const ALIAS_REWRITE_HINT: &str =
    "Microsoft 365 sent this mail from the mailbox's primary address, not from the alias: \
     the organisation does not allow sending from aliases. The Exchange administrator can \
     enable it (Exchange admin center: Settings > Mail flow > \"Send from alias\"), or in \
     Exchange Online PowerShell: Set-OrganizationConfig -SendFromAliasEnabled $true";

/// `sent_from`, `sent_as_requested` (and the hint when they differ) on a send's answer,
/// status or event.
pub fn add_sent_from(v: &mut Value, sent_from: &str, requested: &str) {
    let same = sent_from.eq_ignore_ascii_case(requested);
    v["sent_from"] = json!(sent_from);
    v["sent_as_requested"] = json!(same);
    if !same {
        v["requested_from"] = json!(requested);
        v["hint"] = json!(ALIAS_REWRITE_HINT);
    }
}

/// `sent_from` etc. for a sent row (the answer of `o365_send` and `o365_send_status`).
pub fn describe_sent_from(c: &Core, row: &OutboxRecord, v: &mut Value) -> Result<()> {
    let Some(sent_from) = &row.sent_from else {
        return Ok(());
    };
    let requested = match (
        c.store().find_mailbox(&row.mailbox_id)?,
        serde_json::from_value::<Prepared>(row.request.clone()),
    ) {
        (Some(m), Ok(p)) => requested_from(&m, &p),
        _ => sent_from.clone(),
    };
    add_sent_from(v, sent_from, &requested);
    Ok(())
}
