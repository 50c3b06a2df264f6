//! Outbox rows, pacing slots and the sent log.

use super::SqliteStore;
use crate::error::Result;
use crate::store::outbox::{Insert, OutboxRecord, OutboxStore, OutboxUpdate, SerialRule};
use rusqlite::{params, OptionalExtension, Row};

const COLUMNS: &str = "send_id, mailbox_id, idempotency_key, state, internet_message_id, request, \
     request_hash, fingerprint, recipients_hash, draft_id, draft_ready, error, attempts, \
     next_attempt_at, notify, created_at, updated_at, sent_at, submitted_at, sent_from";

fn record(r: &Row<'_>) -> rusqlite::Result<OutboxRecord> {
    let request: String = r.get(5)?;
    let error: Option<String> = r.get(11)?;
    Ok(OutboxRecord {
        send_id: r.get(0)?,
        mailbox_id: r.get(1)?,
        idempotency_key: r.get(2)?,
        state: r.get(3)?,
        internet_message_id: r.get(4)?,
        request: serde_json::from_str(&request).unwrap_or(serde_json::Value::Null),
        request_hash: r.get(6)?,
        fingerprint: r.get(7)?,
        recipients_hash: r.get(8)?,
        draft_id: r.get(9)?,
        draft_ready: r.get::<_, i64>(10)? != 0,
        error: error.and_then(|e| serde_json::from_str(&e).ok()),
        attempts: r.get(12)?,
        next_attempt_at: r.get(13)?,
        notify: r.get::<_, i64>(14)? != 0,
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
        sent_at: r.get(17)?,
        submitted_at: r.get(18)?,
        sent_from: r.get(19)?,
    })
}

impl OutboxStore for SqliteStore {
    fn insert_outbox(&self, o: &OutboxRecord, serial: Option<SerialRule>) -> Result<Insert> {
        self.write(|tx| {
            let existing = tx
                .query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM outbox WHERE mailbox_id = ?1 AND idempotency_key = ?2"
                    ),
                    params![o.mailbox_id, o.idempotency_key],
                    record,
                )
                .optional()?;
            if let Some(e) = existing {
                return Ok(Insert::Existing(Box::new(e)));
            }
            if let Some(rule) = serial {
                let copies: i64 = tx.prepare_cached("SELECT COUNT(DISTINCT recipients_hash) FROM outbox \
                     WHERE mailbox_id = ?1 AND fingerprint = ?2 AND created_at >= ?3 \
                     AND recipients_hash <> ?4")?.query_row(params![o.mailbox_id, o.fingerprint, rule.since, o.recipients_hash],
                    |r| r.get(0),
                )?;
                if copies > rule.max_other_copies {
                    return Ok(Insert::Serial { copies });
                }
            }
            tx.execute(
                &format!(
                    "INSERT INTO outbox ({COLUMNS}) VALUES \
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)"
                ),
                params![
                    o.send_id,
                    o.mailbox_id,
                    o.idempotency_key,
                    o.state,
                    o.internet_message_id,
                    o.request.to_string(),
                    o.request_hash,
                    o.fingerprint,
                    o.recipients_hash,
                    o.draft_id,
                    o.draft_ready as i64,
                    o.error.as_ref().map(|e| e.to_string()),
                    o.attempts,
                    o.next_attempt_at,
                    o.notify as i64,
                    o.created_at,
                    o.updated_at,
                    o.sent_at,
                    o.submitted_at,
                    o.sent_from,
                ],
            )?;
            Ok(Insert::Inserted)
        })
    }

    fn retry_outbox(&self, o: &OutboxRecord) -> Result<bool> {
        self.write(|tx| {
            let n = tx.prepare_cached("UPDATE outbox SET state = ?2, request = ?3, draft_id = NULL, draft_ready = 0, \
                 submitted_at = NULL, sent_from = NULL, error = NULL, attempts = ?4, next_attempt_at = ?5, notify = ?6, updated_at = ?7 \
                 WHERE send_id = ?1 AND state = 'failed'")?.execute(params![
                    o.send_id,
                    o.state,
                    o.request.to_string(),
                    o.attempts,
                    o.next_attempt_at,
                    o.notify as i64,
                    o.updated_at,
                ],
            )?;
            Ok(n == 1)
        })
    }

    fn get_outbox(&self, send_id: &str) -> Result<Option<OutboxRecord>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM outbox WHERE send_id = ?1"),
                [send_id],
                record,
            )
            .optional()?)
        })
    }

    fn find_outbox(&self, mailbox_id: &str, key: &str) -> Result<Option<OutboxRecord>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!(
                    "SELECT {COLUMNS} FROM outbox WHERE mailbox_id = ?1 AND idempotency_key = ?2"
                ),
                params![mailbox_id, key],
                record,
            )
            .optional()?)
        })
    }

    fn update_outbox(&self, send_id: &str, u: &OutboxUpdate, now: i64) -> Result<()> {
        self.write(|tx| {
            if let Some(s) = &u.state {
                tx.prepare_cached("UPDATE outbox SET state = ?2 WHERE send_id = ?1")?
                    .execute(params![send_id, s])?;
            }
            if let Some(d) = &u.draft_id {
                tx.prepare_cached("UPDATE outbox SET draft_id = ?2 WHERE send_id = ?1")?
                    .execute(params![send_id, d])?;
            }
            if let Some(r) = u.draft_ready {
                tx.prepare_cached("UPDATE outbox SET draft_ready = ?2 WHERE send_id = ?1")?
                    .execute(params![send_id, r as i64])?;
            }
            if let Some(e) = &u.error {
                tx.prepare_cached("UPDATE outbox SET error = ?2 WHERE send_id = ?1")?
                    .execute(params![send_id, e.to_string()])?;
            }
            if let Some(t) = u.next_attempt_at {
                tx.prepare_cached("UPDATE outbox SET next_attempt_at = ?2 WHERE send_id = ?1")?
                    .execute(params![send_id, t])?;
            }
            if let Some(n) = u.notify {
                tx.prepare_cached("UPDATE outbox SET notify = ?2 WHERE send_id = ?1")?
                    .execute(params![send_id, n as i64])?;
            }
            if let Some(t) = u.submitted_at {
                tx.prepare_cached("UPDATE outbox SET submitted_at = ?2 WHERE send_id = ?1")?
                    .execute(params![send_id, t])?;
            }
            if let Some(f) = &u.sent_from {
                tx.prepare_cached("UPDATE outbox SET sent_from = ?2 WHERE send_id = ?1")?
                    .execute(params![send_id, f])?;
            }
            if u.add_attempt {
                tx.prepare_cached("UPDATE outbox SET attempts = attempts + 1 WHERE send_id = ?1")?
                    .execute([send_id])?;
            }
            tx.prepare_cached("UPDATE outbox SET updated_at = ?2 WHERE send_id = ?1")?
                .execute(params![send_id, now])?;
            Ok(())
        })
    }

    fn mark_sent(&self, send_id: &str, now: i64) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached("UPDATE outbox SET state = 'sent', sent_at = COALESCE(sent_at, ?2), updated_at = ?2, \
                 error = NULL WHERE send_id = ?1")?.execute(params![send_id, now],
            )?;
            tx.prepare_cached("INSERT OR IGNORE INTO sent_log (mailbox_id, internet_message_id, send_id, sent_at) \
                 SELECT mailbox_id, internet_message_id, send_id, ?2 FROM outbox WHERE send_id = ?1")?.execute(params![send_id, now],
            )?;
            Ok(())
        })
    }

    fn due_outbox(&self, now: i64, limit: usize) -> Result<Vec<OutboxRecord>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE state IN ('queued', 'sending') \
                 AND next_attempt_at <= ?1 ORDER BY next_attempt_at, created_at LIMIT ?2"
            ))?;
            let rows = st.query_map(params![now, limit as i64], record)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn unfinished_outbox(&self) -> Result<i64> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT COUNT(*) FROM outbox WHERE state IN ('queued', 'sending')",
            )?
            .query_row([], |r| r.get(0))?)
        })
    }

    fn reserve_send_slot(
        &self,
        mailbox_id: &str,
        now: i64,
        since: i64,
        max: i64,
    ) -> Result<Option<i64>> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM send_slots WHERE mailbox_id = ?1 AND at < ?2")?
                .execute(params![mailbox_id, since])?;
            let (n, oldest): (i64, Option<i64>) = tx
                .prepare_cached(
                    "SELECT COUNT(*), MIN(at) FROM send_slots WHERE mailbox_id = ?1 AND at >= ?2",
                )?
                .query_row(params![mailbox_id, since], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if n >= max {
                // The slot that leaves the window first frees the next send.
                let nth: i64 = tx
                    .prepare_cached(
                        "SELECT at FROM send_slots WHERE mailbox_id = ?1 AND at >= ?2 \
                         ORDER BY at LIMIT 1 OFFSET ?3",
                    )?
                    .query_row(params![mailbox_id, since, n - max], |r| r.get(0))
                    .optional()?
                    .or(oldest)
                    .unwrap_or(now);
                return Ok(Some(nth));
            }
            tx.prepare_cached("INSERT INTO send_slots (mailbox_id, at) VALUES (?1, ?2)")?
                .execute(params![mailbox_id, now])?;
            Ok(None)
        })
    }

    fn release_send_slot(&self, mailbox_id: &str, at: i64) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "DELETE FROM send_slots WHERE rowid = (SELECT rowid FROM send_slots \
                 WHERE mailbox_id = ?1 AND at = ?2 LIMIT 1)",
            )?
            .execute(params![mailbox_id, at])?;
            Ok(())
        })
    }

    fn sent_by_library(&self, mailbox_id: &str, internet_message_id: &str) -> Result<bool> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT 1 FROM sent_log WHERE mailbox_id = ?1 AND internet_message_id = ?2",
            )?
            .query_row(params![mailbox_id, internet_message_id], |_| Ok(()))
            .optional()?
            .is_some())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MailboxRecord, MailboxStore};
    use serde_json::json;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        s.insert_mailbox(&MailboxRecord {
            id: "m1".into(),
            address: "a@x.de".into(),
            kind: "user".into(),
            alias_of: None,
            users: vec!["u1".into()],
            main_user: "u1".into(),
            auth_state: "authenticated".into(),
            settings: json!({}),
            account: None,
            created_at: 0,
            updated_at: 0,
        })
        .unwrap();
        (dir, s)
    }

    fn row(id: &str, key: &str, fp: &str, rcpt: &str, at: i64) -> OutboxRecord {
        OutboxRecord {
            send_id: id.into(),
            mailbox_id: "m1".into(),
            idempotency_key: key.into(),
            state: "queued".into(),
            internet_message_id: format!("<{id}@x.de>"),
            request: json!({"subject": "s"}),
            request_hash: "h".into(),
            fingerprint: fp.into(),
            recipients_hash: rcpt.into(),
            draft_id: None,
            draft_ready: false,
            error: None,
            attempts: 0,
            next_attempt_at: at,
            notify: false,
            created_at: at,
            updated_at: at,
            sent_at: None,
            submitted_at: None,
            sent_from: None,
        }
    }

    #[test]
    fn first_row_per_key_wins() {
        let (_d, s) = store();
        assert_eq!(
            s.insert_outbox(&row("s1", "k", "f", "r1", 10), None)
                .unwrap(),
            Insert::Inserted
        );
        match s
            .insert_outbox(&row("s2", "k", "f", "r1", 11), None)
            .unwrap()
        {
            Insert::Existing(e) => assert_eq!(e.send_id, "s1"),
            other => panic!("{other:?}"),
        }
        assert!(s.get_outbox("s2").unwrap().is_none());
    }

    #[test]
    fn serial_rule_counts_other_recipient_sets_in_window() {
        let (_d, s) = store();
        let rule = |since| {
            Some(SerialRule {
                since,
                max_other_copies: 1,
            })
        };
        assert_eq!(
            s.insert_outbox(&row("s1", "k1", "f", "r1", 100), rule(0))
                .unwrap(),
            Insert::Inserted
        );
        // same recipients again: a resend, not a mass mailing
        assert_eq!(
            s.insert_outbox(&row("s2", "k2", "f", "r1", 101), rule(0))
                .unwrap(),
            Insert::Inserted
        );
        assert_eq!(
            s.insert_outbox(&row("s3", "k3", "f", "r2", 102), rule(0))
                .unwrap(),
            Insert::Inserted
        );
        assert_eq!(
            s.insert_outbox(&row("s4", "k4", "f", "r3", 103), rule(0))
                .unwrap(),
            Insert::Serial { copies: 2 }
        );
        // other content is fine; outside the window too
        assert_eq!(
            s.insert_outbox(&row("s5", "k5", "g", "r3", 104), rule(0))
                .unwrap(),
            Insert::Inserted
        );
        assert_eq!(
            s.insert_outbox(&row("s6", "k6", "f", "r3", 105), rule(103))
                .unwrap(),
            Insert::Inserted
        );
    }

    #[test]
    fn send_slots_pace_per_window() {
        let (_d, s) = store();
        for t in 0..3 {
            assert_eq!(s.reserve_send_slot("m1", t, t - 60, 3).unwrap(), None);
        }
        // full: the oldest slot (0) frees the next one
        assert_eq!(s.reserve_send_slot("m1", 10, -50, 3).unwrap(), Some(0));
        // once slot 0 left the window, there is room again
        assert_eq!(s.reserve_send_slot("m1", 61, 1, 3).unwrap(), None);
        s.release_send_slot("m1", 61).unwrap();
        assert_eq!(s.reserve_send_slot("m1", 62, 2, 3).unwrap(), None);
        assert_eq!(s.reserve_send_slot("m2", 62, 2, 3).unwrap(), None);
    }

    #[test]
    fn mark_sent_records_the_message_id() {
        let (_d, s) = store();
        s.insert_outbox(&row("s1", "k", "f", "r", 1), None).unwrap();
        assert!(!s.sent_by_library("m1", "<s1@x.de>").unwrap());
        assert_eq!(s.due_outbox(5, 10).unwrap().len(), 1);
        s.mark_sent("s1", 7).unwrap();
        s.mark_sent("s1", 8).unwrap();
        assert!(s.sent_by_library("m1", "<s1@x.de>").unwrap());
        let r = s.get_outbox("s1").unwrap().unwrap();
        assert_eq!(r.state, "sent");
        assert_eq!(r.sent_at, Some(7));
        assert!(s.due_outbox(5, 10).unwrap().is_empty());
        assert_eq!(s.unfinished_outbox().unwrap(), 0);
    }
}
