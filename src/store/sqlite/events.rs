use super::SqliteStore;
use crate::error::Result;
use crate::store::{EventFilter, EventRecord, EventStore, MetricsStore};
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension};

impl EventStore for SqliteStore {
    fn push_event(&self, ev: &EventRecord) -> Result<bool> {
        self.write(|tx| {
            let n = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO events (id, type, mailbox_id, payload, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    ev.id,
                    ev.kind,
                    ev.mailbox_id,
                    ev.payload.to_string(),
                    ev.created_at
                ])?;
            Ok(n == 1)
        })
    }

    fn claim_event(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        filter: &EventFilter,
    ) -> Result<Option<EventRecord>> {
        // ?1 owner, ?2 lease end, ?3 now, then the mailbox and the types (only those used).
        let mut args: Vec<Value> = vec![
            Value::Text(owner.to_owned()),
            Value::Integer(now + lease_ms),
            Value::Integer(now),
        ];
        let mut cond = String::new();
        if let Some(m) = &filter.mailbox_id {
            args.push(Value::Text(m.clone()));
            cond.push_str(&format!(" AND mailbox_id = ?{}", args.len()));
        }
        if !filter.types.is_empty() {
            let mut marks = Vec::new();
            for t in &filter.types {
                args.push(Value::Text(t.clone()));
                marks.push(format!("?{}", args.len()));
            }
            cond.push_str(&format!(" AND type IN ({})", marks.join(", ")));
        }
        let sql = format!(
            "UPDATE events SET lease_owner = ?1, lease_until = ?2, deliveries = deliveries + 1 \
             WHERE seq = (SELECT seq FROM events WHERE acked_at IS NULL \
                          AND (lease_until IS NULL OR lease_until <= ?3){cond} ORDER BY seq LIMIT 1) \
             RETURNING id, type, mailbox_id, payload, created_at, deliveries"
        );
        self.write(|tx| {
            let row = tx
                .query_row(&sql, rusqlite::params_from_iter(args.iter()), |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                })
                .optional()?;
            Ok(row.map(
                |(id, kind, mailbox_id, payload, created_at, deliveries)| EventRecord {
                    id,
                    kind,
                    mailbox_id,
                    payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                    created_at,
                    deliveries: deliveries - 1,
                },
            ))
        })
    }

    fn ack_event(&self, id: &str, now: i64) -> Result<bool> {
        self.write(|tx| {
            let exists: Option<Option<i64>> = tx
                .prepare_cached("SELECT acked_at FROM events WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?;
            match exists {
                None => Ok(false),
                Some(Some(_)) => Ok(true),
                Some(None) => {
                    tx.prepare_cached(
                        "UPDATE events SET acked_at = ?2, lease_owner = NULL, lease_until = NULL \
                         WHERE id = ?1",
                    )?
                    .execute(params![id, now])?;
                    Ok(true)
                }
            }
        })
    }

    fn release_events(&self, owner: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE events SET lease_owner = NULL, lease_until = NULL \
                 WHERE lease_owner = ?1 AND acked_at IS NULL",
            )?
            .execute([owner])?;
            Ok(())
        })
    }

    fn pending_events(&self) -> Result<i64> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT count(*) FROM events WHERE acked_at IS NULL")?
                    .query_row([], |r| r.get(0))?,
            )
        })
    }

    fn purge_acked_events(&self, before: i64) -> Result<usize> {
        self.write(|tx| {
            Ok(tx
                .prepare_cached("DELETE FROM events WHERE acked_at IS NOT NULL AND acked_at < ?1")?
                .execute([before])?)
        })
    }
}

impl MetricsStore for SqliteStore {
    fn outbox_by_state(&self) -> Result<Vec<(String, i64)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT state, count(*) FROM outbox GROUP BY state ORDER BY state",
            )?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    fn last_sync_success(&self) -> Result<Vec<(String, String, Option<i64>)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT m.id, m.address, max(s.last_success_at) FROM mailboxes m \
                 LEFT JOIN sync_state s ON s.mailbox_id = m.id GROUP BY m.id, m.address ORDER BY m.address",
            )?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }
}
