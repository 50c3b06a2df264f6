//! Outbox rows, pacing slots and the sent log.

use super::text::{dec_json, enc, enc_json, enc_json_opt, enc_opt, opt_text, text};
use super::PgStore;
use crate::error::Result;
use crate::store::outbox::{Insert, OutboxRecord, OutboxStore, OutboxUpdate, SerialRule};
use postgres::Row;

const COLUMNS: &str = "send_id, mailbox_id, idempotency_key, state, internet_message_id, request, \
     request_hash, fingerprint, recipients_hash, draft_id, draft_ready, error, attempts, \
     next_attempt_at, notify, created_at, updated_at, sent_at, submitted_at, sent_from";

fn record(r: &Row) -> OutboxRecord {
    OutboxRecord {
        send_id: r.get(0),
        mailbox_id: r.get(1),
        idempotency_key: text(r, 2),
        state: r.get(3),
        internet_message_id: text(r, 4),
        request: dec_json(r.get(5)),
        request_hash: text(r, 6),
        fingerprint: text(r, 7),
        recipients_hash: text(r, 8),
        draft_id: opt_text(r, 9),
        draft_ready: r.get(10),
        error: r.get::<_, Option<serde_json::Value>>(11).map(dec_json),
        attempts: r.get(12),
        next_attempt_at: r.get(13),
        notify: r.get(14),
        created_at: r.get(15),
        updated_at: r.get(16),
        sent_at: r.get(17),
        submitted_at: r.get(18),
        sent_from: opt_text(r, 19),
    }
}

impl OutboxStore for PgStore {
    fn insert_outbox(&self, o: &OutboxRecord, serial: Option<SerialRule>) -> Result<Insert> {
        self.write(|tx| {
            let existing = tx.query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM outbox WHERE mailbox_id = $1 AND idempotency_key = $2"
                ),
                &[&o.mailbox_id, &enc(&o.idempotency_key)],
            )?;
            if let Some(e) = existing {
                return Ok(Insert::Existing(Box::new(record(&e))));
            }
            if let Some(rule) = serial {
                let copies: i64 = tx
                    .query_one(
                        "SELECT COUNT(DISTINCT recipients_hash) FROM outbox \
                         WHERE mailbox_id = $1 AND fingerprint = $2 AND created_at >= $3 \
                         AND recipients_hash <> $4",
                        &[
                            &o.mailbox_id,
                            &enc(&o.fingerprint),
                            &rule.since,
                            &enc(&o.recipients_hash),
                        ],
                    )?
                    .get(0);
                if copies > rule.max_other_copies {
                    return Ok(Insert::Serial { copies });
                }
            }
            tx.execute(
                &format!(
                    "INSERT INTO outbox ({COLUMNS}) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
                ),
                &[
                    &o.send_id,
                    &o.mailbox_id,
                    &enc(&o.idempotency_key),
                    &o.state,
                    &enc(&o.internet_message_id),
                    &*enc_json(&o.request),
                    &enc(&o.request_hash),
                    &enc(&o.fingerprint),
                    &enc(&o.recipients_hash),
                    &enc_opt(&o.draft_id),
                    &o.draft_ready,
                    &enc_json_opt(&o.error).as_deref(),
                    &o.attempts,
                    &o.next_attempt_at,
                    &o.notify,
                    &o.created_at,
                    &o.updated_at,
                    &o.sent_at,
                    &o.submitted_at,
                    &enc_opt(&o.sent_from),
                ],
            )?;
            Ok(Insert::Inserted)
        })
    }

    fn retry_outbox(&self, o: &OutboxRecord) -> Result<bool> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE outbox SET state = $2, request = $3, draft_id = NULL, draft_ready = false, \
                 submitted_at = NULL, sent_from = NULL, error = NULL, attempts = $4, \
                 next_attempt_at = $5, notify = $6, updated_at = $7 \
                 WHERE send_id = $1 AND state = 'failed'",
                &[
                    &o.send_id,
                    &o.state,
                    &*enc_json(&o.request),
                    &o.attempts,
                    &o.next_attempt_at,
                    &o.notify,
                    &o.updated_at,
                ],
            )?;
            Ok(n == 1)
        })
    }

    fn get_outbox(&self, send_id: &str) -> Result<Option<OutboxRecord>> {
        self.read(|c| {
            Ok(c.query_opt(
                &format!("SELECT {COLUMNS} FROM outbox WHERE send_id = $1"),
                &[&send_id],
            )?
            .as_ref()
            .map(record))
        })
    }

    fn find_outbox(&self, mailbox_id: &str, key: &str) -> Result<Option<OutboxRecord>> {
        self.read(|c| {
            Ok(c.query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM outbox WHERE mailbox_id = $1 AND idempotency_key = $2"
                ),
                &[&mailbox_id, &enc(key)],
            )?
            .as_ref()
            .map(record))
        })
    }

    fn update_outbox(&self, send_id: &str, u: &OutboxUpdate, now: i64) -> Result<()> {
        // One statement: each named field is set, the others keep their value ($n IS NULL
        // flags say which are named, so a field can also be set to NULL).
        let draft_id = u.draft_id.as_ref().map(|d| d.as_deref().map(enc));
        let submitted = u.submitted_at;
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET \
                 state = COALESCE($2, state), \
                 draft_id = CASE WHEN $3 THEN $4 ELSE draft_id END, \
                 draft_ready = COALESCE($5, draft_ready), \
                 error = COALESCE($6, error), \
                 next_attempt_at = COALESCE($7, next_attempt_at), \
                 notify = COALESCE($8, notify), \
                 submitted_at = CASE WHEN $9 THEN $10 ELSE submitted_at END, \
                 sent_from = COALESCE($11, sent_from), \
                 attempts = attempts + $12, \
                 updated_at = $13 \
                 WHERE send_id = $1",
                &[
                    &send_id,
                    &u.state,
                    &draft_id.is_some(),
                    &draft_id.clone().flatten(),
                    &u.draft_ready,
                    &enc_json_opt(&u.error).as_deref(),
                    &u.next_attempt_at,
                    &u.notify,
                    &submitted.is_some(),
                    &submitted.flatten(),
                    &enc_opt(&u.sent_from),
                    &(u.add_attempt as i64),
                    &now,
                ],
            )?;
            Ok(())
        })
    }

    fn mark_sent(&self, send_id: &str, now: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET state = 'sent', sent_at = COALESCE(sent_at, $2), updated_at = $2, \
                 error = NULL WHERE send_id = $1",
                &[&send_id, &now],
            )?;
            tx.execute(
                "INSERT INTO sent_log (mailbox_id, internet_message_id, send_id, sent_at) \
                 SELECT mailbox_id, internet_message_id, send_id, $2 FROM outbox WHERE send_id = $1 \
                 ON CONFLICT DO NOTHING",
                &[&send_id, &now],
            )?;
            Ok(())
        })
    }

    fn due_outbox(&self, now: i64, limit: usize) -> Result<Vec<OutboxRecord>> {
        self.read(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {COLUMNS} FROM outbox WHERE state IN ('queued', 'sending') \
                     AND next_attempt_at <= $1 ORDER BY next_attempt_at, created_at LIMIT $2"
                ),
                &[&now, &(limit as i64)],
            )?
            .iter()
            .map(record)
            .collect())
        })
    }

    fn unfinished_outbox(&self) -> Result<i64> {
        self.read(|c| {
            Ok(c.query_one(
                "SELECT COUNT(*) FROM outbox WHERE state IN ('queued', 'sending')",
                &[],
            )?
            .get(0))
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
            tx.execute(
                "DELETE FROM send_slots WHERE mailbox_id = $1 AND at < $2",
                &[&mailbox_id, &since],
            )?;
            let r = tx.query_one(
                "SELECT COUNT(*), MIN(at) FROM send_slots WHERE mailbox_id = $1 AND at >= $2",
                &[&mailbox_id, &since],
            )?;
            let (n, oldest): (i64, Option<i64>) = (r.get(0), r.get(1));
            if n >= max {
                // The slot that leaves the window first frees the next send.
                let nth: i64 = tx
                    .query_opt(
                        "SELECT at FROM send_slots WHERE mailbox_id = $1 AND at >= $2 \
                         ORDER BY at LIMIT 1 OFFSET $3",
                        &[&mailbox_id, &since, &(n - max)],
                    )?
                    .map(|r| r.get(0))
                    .or(oldest)
                    .unwrap_or(now);
                return Ok(Some(nth));
            }
            tx.execute(
                "INSERT INTO send_slots (mailbox_id, at) VALUES ($1, $2)",
                &[&mailbox_id, &now],
            )?;
            Ok(None)
        })
    }

    fn release_send_slot(&self, mailbox_id: &str, at: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM send_slots WHERE ctid = (SELECT ctid FROM send_slots \
                 WHERE mailbox_id = $1 AND at = $2 LIMIT 1)",
                &[&mailbox_id, &at],
            )?;
            Ok(())
        })
    }

    fn sent_by_library(&self, mailbox_id: &str, internet_message_id: &str) -> Result<bool> {
        self.read(|c| {
            Ok(c.query_opt(
                "SELECT 1 FROM sent_log WHERE mailbox_id = $1 AND internet_message_id = $2",
                &[&mailbox_id, &enc(internet_message_id)],
            )?
            .is_some())
        })
    }
}
