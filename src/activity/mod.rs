//! Activities for mail sent outside the CRM (seed point 10).
//!
//! After Sent Items is synced, every cached message there that the library did not send
//! itself (its internet message id is in neither the outbox nor the sent log) and that was
//! sent while booking was on (`sent_at >= settings.book_external_sent_since`) becomes one
//! `activity` event: type "E-Mail – Ausgang", marker "Externer E-Mail-Versand", the
//! mailbox's main user (at booking time) responsible.
//!
//! Exactly once: the event id is derived from mailbox + internet message id, events are
//! inserted "or ignore" and acked events stay as tombstones, and a row in `activities`
//! records the decision. The event is written before that row, so a crash between the two
//! is repaired by the next pass without a second event. Cache clears, expired delta tokens,
//! moves out of and back into Sent Items, and several processes syncing at once all meet the
//! same id. The pass reads the cache only; it makes no request to Microsoft.

use crate::core::Core;
use crate::error::Result;
use crate::mailbox::Settings;
use crate::store::activity::Candidate;
use crate::store::MailboxRecord;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const ACTIVITY_TYPE: &str = "E-Mail – Ausgang";
pub const ACTIVITY_MARKER: &str = "Externer E-Mail-Versand";

/// The stable event id of the activity for one mail.
pub fn activity_id(mailbox_id: &str, internet_message_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(mailbox_id.as_bytes());
    h.update(b"\n");
    h.update(internet_message_id.trim().to_ascii_lowercase().as_bytes());
    let d = h.finalize();
    format!("act_{}", hex::encode(&d[..16]))
}

fn addresses(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.clone()),
        _ => json!([]),
    }
}

impl Core {
    /// Books the external sends of a mailbox that are not booked yet. Returns how many
    /// activity events were published by this call.
    pub fn book_external_sent(&self, mailbox_id: &str) -> Result<usize> {
        let m = &self.find_mailbox(mailbox_id)?;
        let settings = Settings::from_record(m);
        if !settings.book_external_sent {
            return Ok(0);
        }
        // An alias served by its owner's sign-in books from the owner's first sign-in on.
        let since = match settings.booking_since_ms() {
            Some(s) => s,
            None => match self.signed_in_owner(m)? {
                Some(owner) => match Settings::from_record(&owner).booking_since_ms() {
                    Some(s) => s,
                    None => return Ok(0),
                },
                None => return Ok(0),
            },
        };
        // The records sharing this Microsoft mailbox are read once there is something to book.
        let mut siblings: Option<Vec<MailboxRecord>> = None;
        let mut published = 0;
        loop {
            let batch = self.store().activity_candidates(&m.id, since, 500)?;
            if batch.is_empty() {
                break;
            }
            let siblings = match &mut siblings {
                Some(s) => &*s,
                None => &*siblings.insert(self.same_graph_mailbox(m)?),
            };
            for c in batch {
                let owner = owner_of(m, siblings, &c);
                if owner != m.id {
                    // Another record of the same Microsoft mailbox books it (see owner_of).
                    self.store().record_activity(
                        &m.id,
                        &c.internet_message_id,
                        &format!("owned_by:{owner}"),
                        &c.graph_id,
                        self.now_ms(),
                    )?;
                } else if self.book_one(m, &c)? {
                    published += 1;
                }
            }
        }
        Ok(published)
    }

    /// Every imported record whose mail lives in the same Microsoft mailbox as `m` (an alias
    /// and the mailbox it belongs to), `m` included.
    fn same_graph_mailbox(&self, m: &MailboxRecord) -> Result<Vec<MailboxRecord>> {
        let target = graph_mailbox(m);
        Ok(self
            .store()
            .mailboxes_of_graph_mailbox(target)?
            .into_iter()
            .filter(|o| graph_mailbox(o).eq_ignore_ascii_case(target))
            .collect())
    }

    /// [`Core::book_external_sent`] after a sync; failures are logged, never fatal.
    /// The record is read afresh: the scheduler's copy may be minutes old (main user,
    /// booking settings).
    pub(crate) fn book_external_sent_after_sync(&self, mailbox_id: &str) {
        if let Err(e) = self.book_external_sent(mailbox_id) {
            tracing::warn!(mailbox = %mailbox_id, "booking external sends failed: {e}");
        }
    }

    fn book_one(&self, m: &MailboxRecord, c: &Candidate) -> Result<bool> {
        let id = activity_id(&m.id, &c.internet_message_id);
        let r: Value = c
            .recipients_json
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null);
        let payload = json!({
            "activity_type": ACTIVITY_TYPE,
            "marker": ACTIVITY_MARKER,
            "responsible_user": m.main_user,
            "mailbox_address": m.address,
            "internet_message_id": c.internet_message_id,
            "subject": c.subject,
            "from": {"name": c.from_name, "address": c.from_address},
            "to": addresses(&r["to"]),
            "cc": addresses(&r["cc"]),
            "bcc": addresses(&r["bcc"]),
            "sent_at": c.sent_at.map(crate::clock::rfc3339),
            "body_preview": c.body_preview,
            "has_attachments": c.has_attachments,
            "graph_id": c.graph_id,
        });
        // Event first (idempotent by id), then the decision row.
        let (_, fresh) = self.publish("activity", Some(&m.id), Some(id.clone()), payload)?;
        self.store().record_activity(
            &m.id,
            &c.internet_message_id,
            &id,
            &c.graph_id,
            self.now_ms(),
        )?;
        Ok(fresh)
    }
}

/// The Microsoft mailbox a record reads and sends through.
fn graph_mailbox(m: &MailboxRecord) -> &str {
    match (m.kind.as_str(), m.alias_of.as_deref()) {
        ("alias", Some(of)) => of,
        _ => &m.address,
    }
}

/// Which record books a mail found in a Sent Items that several records share: the one whose
/// address sent it (an alias's mail is the alias's activity), else the record of the mailbox
/// itself, else the oldest record. Every record decides the same way, so each mail is booked
/// once.
fn owner_of(m: &MailboxRecord, siblings: &[MailboxRecord], c: &Candidate) -> String {
    if siblings.len() <= 1 {
        return m.id.clone();
    }
    let from = c.from_address.as_deref().unwrap_or("");
    let target = graph_mailbox(m);
    siblings
        .iter()
        .find(|s| s.address.eq_ignore_ascii_case(from))
        .or_else(|| {
            siblings
                .iter()
                .find(|s| s.address.eq_ignore_ascii_case(target))
        })
        .or_else(|| siblings.iter().min_by_key(|s| (s.created_at, s.id.clone())))
        .map_or_else(|| m.id.clone(), |s| s.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, address: &str, alias_of: Option<&str>, created_at: i64) -> MailboxRecord {
        MailboxRecord {
            id: id.into(),
            address: address.into(),
            kind: if alias_of.is_some() { "alias" } else { "user" }.into(),
            alias_of: alias_of.map(Into::into),
            users: vec!["u1".into()],
            main_user: "u1".into(),
            auth_state: "authenticated".into(),
            settings: json!({}),
            account: None,
            created_at,
            updated_at: created_at,
        }
    }

    fn sent_by(from: &str) -> Candidate {
        Candidate {
            graph_id: "g".into(),
            internet_message_id: "<x@y>".into(),
            subject: None,
            from_name: None,
            from_address: Some(from.into()),
            recipients_json: None,
            sent_at: Some(0),
            body_preview: None,
            has_attachments: false,
        }
    }

    #[test]
    fn a_shared_sent_items_books_each_mail_for_one_record() {
        let anna = record("m_anna", "anna@contoso.example", None, 1);
        let info = record(
            "m_info",
            "info@contoso.example",
            Some("anna@contoso.example"),
            2,
        );
        let sales = record(
            "m_sales",
            "sales@contoso.example",
            Some("anna@contoso.example"),
            3,
        );
        let all = vec![anna.clone(), info.clone(), sales.clone()];
        for (from, owner) in [
            ("anna@contoso.example", "m_anna"),
            ("INFO@contoso.example", "m_info"),
            ("sales@contoso.example", "m_sales"),
            ("other-alias@contoso.example", "m_anna"),
        ] {
            for m in [&anna, &info, &sales] {
                assert_eq!(
                    owner_of(m, &all, &sent_by(from)),
                    owner,
                    "{from} seen by {}",
                    m.id
                );
            }
        }
        // Only aliases imported: the oldest one books mail from other addresses.
        let aliases = vec![info.clone(), sales.clone()];
        assert_eq!(
            owner_of(&sales, &aliases, &sent_by("anna@contoso.example")),
            "m_info"
        );
        // A record alone books everything in its Sent Items.
        assert_eq!(
            owner_of(
                &info,
                std::slice::from_ref(&info),
                &sent_by("anna@contoso.example")
            ),
            "m_info"
        );
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = activity_id("m1", "<x@y>");
        assert_eq!(a, activity_id("m1", " <X@Y> "));
        assert_ne!(a, activity_id("m2", "<x@y>"));
        assert_ne!(a, activity_id("m1", "<z@y>"));
        assert!(a.starts_with("act_") && a.len() == 36);
    }
}
