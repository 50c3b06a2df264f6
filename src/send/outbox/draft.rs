//! The draft as it goes to Graph (our Message-ID, recipients, body, headers, sender), and
//! the sent-from report of sends from an alias.

use super::*;

/// The draft's JSON: our Message-ID, recipients, body, headers and the sender.
pub fn draft_json(p: &Prepared, imid: &str, mailbox: &MailboxRecord) -> Value {
    let list = |v: &[crate::send::message::Addr]| v.iter().map(|a| a.graph()).collect::<Vec<_>>();
    let mut m = json!({
        "subject": p.subject,
        "body": {
            "contentType": if p.body_type == "html" { "HTML" } else { "Text" },
            "content": p.body,
        },
        "toRecipients": list(&p.to),
        "ccRecipients": list(&p.cc),
        "bccRecipients": list(&p.bcc),
        "replyTo": list(&p.reply_to),
        "internetMessageId": imid,
    });
    if let Some(i) = &p.importance {
        m["importance"] = json!(i);
    }
    if !p.headers.is_empty() {
        m["internetMessageHeaders"] = Value::Array(
            p.headers
                .iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect(),
        );
    }
    // Alias and shared mailboxes send as themselves.
    let from = p.from.clone().or_else(|| {
        (mailbox.kind != "user").then(|| crate::send::message::Addr {
            address: mailbox.address.clone(),
            name: None,
        })
    });
    if let Some(f) = from {
        m["from"] = f.graph();
    }
    m
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
