//! Records to store, with every field set to something a real caller would write.

use o365::store::activity::Candidate;
use o365::store::cache::{FolderRow, MessageRow, MoveJob};
use o365::store::links::{LinkFile, LinkRecord};
use o365::store::outbox::{OutboxRecord, OutboxUpdate};
use o365::store::{AuthStateRow, EventRecord, MailboxRecord, Store};
use serde_json::json;

pub fn mailbox(id: &str, address: &str, users: &[&str]) -> MailboxRecord {
    MailboxRecord {
        id: id.to_owned(),
        address: address.to_owned(),
        kind: "user".to_owned(),
        alias_of: None,
        users: users.iter().map(|u| u.to_string()).collect(),
        main_user: users.first().unwrap_or(&"u1").to_string(),
        auth_state: "not_authenticated".to_owned(),
        settings: json!({"signature": "Grüße"}),
        account: None,
        created_at: 1_000,
        updated_at: 1_000,
    }
}

pub fn alias(id: &str, address: &str, of: &str) -> MailboxRecord {
    MailboxRecord {
        kind: "alias".to_owned(),
        alias_of: Some(of.to_owned()),
        ..mailbox(id, address, &["u1"])
    }
}

/// Inserts a plain user mailbox `id` with address `<id>@contoso.example`.
pub fn add_mailbox(s: &dyn Store, id: &str) -> MailboxRecord {
    let m = mailbox(id, &format!("{id}@contoso.example"), &["u1"]);
    s.insert_mailbox(&m).expect("insert mailbox");
    m
}

pub fn event(id: &str, kind: &str, mailbox_id: Option<&str>, created_at: i64) -> EventRecord {
    EventRecord {
        id: id.to_owned(),
        kind: kind.to_owned(),
        mailbox_id: mailbox_id.map(str::to_owned),
        payload: json!({"cause": id}),
        created_at,
        deliveries: 0,
    }
}

pub fn auth_state(hash: &str, mailbox_id: &str, flow: &str, created_at: i64) -> AuthStateRow {
    AuthStateRow {
        state_hash: hash.to_owned(),
        mailbox_id: mailbox_id.to_owned(),
        user: "u1".to_owned(),
        flow: flow.to_owned(),
        sealed: vec![1, 2, 3, 0, 255],
        created_at,
        expires_at: created_at + 600_000,
        used_at: None,
    }
}

pub fn outbox(send_id: &str, mailbox_id: &str, key: &str, created_at: i64) -> OutboxRecord {
    OutboxRecord {
        send_id: send_id.to_owned(),
        mailbox_id: mailbox_id.to_owned(),
        idempotency_key: key.to_owned(),
        state: "queued".to_owned(),
        internet_message_id: format!("<{send_id}@o365.contoso.example>"),
        request: json!({"subject": "Angebot", "to": ["kunde@fabrikam.example"]}),
        request_hash: format!("hash-{key}"),
        fingerprint: "fp-angebot".to_owned(),
        recipients_hash: format!("rcpt-{send_id}"),
        draft_id: None,
        draft_ready: false,
        error: None,
        attempts: 0,
        next_attempt_at: created_at,
        notify: true,
        created_at,
        updated_at: created_at,
        sent_at: None,
        submitted_at: None,
        sent_from: None,
    }
}

pub fn link(id: &str, mailbox_id: &str, expires_at: i64, sealed: bool) -> LinkRecord {
    LinkRecord {
        id: id.to_owned(),
        mailbox_id: mailbox_id.to_owned(),
        send_id: format!("send-{id}"),
        kind: "agreement".to_owned(),
        agreement_text: Some("Ich stimme zu".to_owned()),
        created_at: 1_000,
        expires_at,
        purged_at: None,
        subject: Some("Vertrag".to_owned()),
        file_key: sealed.then(|| vec![9; 48]),
        files: (0..2)
            .map(|i| LinkFile {
                index: i,
                name: format!("datei-{i}.pdf"),
                content_type: "application/pdf".to_owned(),
                size: 1_000 + i,
                sha256: format!("{i:064}"),
                path: format!("{id}/{i}"),
                sealed,
            })
            .collect(),
    }
}

pub fn folder(id: &str, well_known: Option<&str>) -> FolderRow {
    FolderRow {
        id: id.to_owned(),
        parent_id: Some("root".to_owned()),
        display_name: format!("Folder {id}"),
        well_known: well_known.map(str::to_owned),
        unread_count: 2,
        total_count: 5,
        child_count: 0,
        hidden: false,
    }
}

/// A message with every property set (as in a full delta round).
pub fn message(id: &str, folder_id: &str, received_at: i64) -> MessageRow {
    MessageRow {
        id: id.to_owned(),
        folder_id: folder_id.to_owned(),
        internet_message_id: Some(format!("<{id}@fabrikam.example>")),
        conversation_id: Some("conv-1".to_owned()),
        subject: Some(format!("Subject {id}")),
        from_name: Some("Kunde".to_owned()),
        from_address: Some("kunde@fabrikam.example".to_owned()),
        recipients_json: Some(r#"{"to":["a@contoso.example"]}"#.to_owned()),
        received_at: Some(received_at),
        sent_at: Some(received_at - 10),
        is_read: Some(false),
        is_draft: Some(false),
        has_attachments: Some(false),
        importance: Some("normal".to_owned()),
        flag: Some("notFlagged".to_owned()),
        categories_json: Some("[]".to_owned()),
        body_preview: Some(format!("Preview {id}")),
        change_key: Some(format!("ck-{id}-1")),
    }
}

/// The candidate `message(id, ..)` in a Sent Items folder turns into.
pub fn candidate_of(m: &MessageRow) -> Candidate {
    Candidate {
        graph_id: m.id.clone(),
        internet_message_id: m.internet_message_id.clone().unwrap(),
        subject: m.subject.clone(),
        from_name: m.from_name.clone(),
        from_address: m.from_address.clone(),
        recipients_json: m.recipients_json.clone(),
        sent_at: m.sent_at,
        body_preview: m.body_preview.clone(),
        has_attachments: m.has_attachments.unwrap(),
    }
}

pub fn move_job(id: &str, from: &str, to: &str, now: i64) -> MoveJob {
    MoveJob {
        id: id.to_owned(),
        from_id: from.to_owned(),
        from_name: format!("Folder {from}"),
        to_id: to.to_owned(),
        to_name: format!("Folder {to}"),
        state: "running".to_owned(),
        moved: 0,
        total: 10,
        last_error: None,
        created_at: now,
        updated_at: now,
    }
}

/// Moves an outbox row to `state` (the state machine's step, nothing else changed).
pub fn set_outbox_state(s: &dyn Store, send_id: &str, state: &str, now: i64) {
    let u = OutboxUpdate {
        state: Some(state.to_owned()),
        ..Default::default()
    };
    s.update_outbox(send_id, &u, now).unwrap();
}
