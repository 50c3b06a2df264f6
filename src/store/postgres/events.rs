use super::presence::channel;
use super::text::{dec_json, enc_json};
use super::PgStore;
use crate::error::Result;
use crate::store::events::Wake;
use crate::store::{EventFilter, EventRecord, EventStore, MetricsStore};
use postgres::types::ToSql;

impl EventStore for PgStore {
    fn push_event(&self, ev: &EventRecord) -> Result<bool> {
        self.write(|tx| {
            let n = tx.execute(
                "INSERT INTO events (id, type, mailbox_id, payload, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                &[
                    &ev.id,
                    &ev.kind,
                    &ev.mailbox_id,
                    &*enc_json(&ev.payload),
                    &ev.created_at,
                ],
            )?;
            if n == 1 {
                // Delivered at commit to every process listening (see `presence`).
                tx.execute("SELECT pg_notify($1, '')", &[&channel(&self.schema)])?;
            }
            Ok(n == 1)
        })
    }

    fn watch(&self, wake: Wake) {
        self.presence.watch(&wake);
        self.watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(wake);
    }

    fn claim_event(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        filter: &EventFilter,
    ) -> Result<Option<EventRecord>> {
        // Reservations are judged by the database's clock, like leases (see `misc`): a host
        // whose clock runs ahead does not take events another host holds.
        let now = now + self.db_lead()?;
        // $1 owner, $2 lease end, $3 now, then the mailbox and the types (only those used).
        let until = now + lease_ms;
        let mut args: Vec<&(dyn ToSql + Sync)> = vec![&owner, &until, &now];
        let mut cond = String::new();
        if let Some(m) = &filter.mailbox_id {
            args.push(m);
            cond.push_str(&format!(" AND mailbox_id = ${}", args.len()));
        }
        if !filter.types.is_empty() {
            args.push(&filter.types);
            cond.push_str(&format!(" AND type = ANY(${})", args.len()));
        }
        // The oldest free event, skipping those another consumer is claiming right now:
        // consumers on any host never wait for each other and never get one event twice.
        let sql = format!(
            "UPDATE events SET lease_owner = $1, lease_until = $2, deliveries = deliveries + 1 \
             WHERE seq = (SELECT seq FROM events WHERE acked_at IS NULL \
                          AND (lease_until IS NULL OR lease_until <= $3){cond} \
                          ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING id, type, mailbox_id, payload, created_at, deliveries"
        );
        self.write_committed(|tx| {
            let row = tx.query_opt(&sql, &args)?;
            Ok(row.map(|r| EventRecord {
                id: r.get(0),
                kind: r.get(1),
                mailbox_id: r.get(2),
                payload: dec_json(r.get(3)),
                created_at: r.get(4),
                deliveries: r.get::<_, i64>(5) - 1,
            }))
        })
    }

    fn ack_event(&self, id: &str, now: i64) -> Result<bool> {
        self.write(|tx| {
            let exists = tx.query_opt("SELECT acked_at FROM events WHERE id = $1", &[&id])?;
            match exists.map(|r| r.get::<_, Option<i64>>(0)) {
                None => Ok(false),
                Some(Some(_)) => Ok(true),
                Some(None) => {
                    tx.execute(
                        "UPDATE events SET acked_at = $2, lease_owner = NULL, lease_until = NULL \
                         WHERE id = $1",
                        &[&id, &now],
                    )?;
                    Ok(true)
                }
            }
        })
    }

    fn release_events(&self, owner: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE events SET lease_owner = NULL, lease_until = NULL \
                 WHERE lease_owner = $1 AND acked_at IS NULL",
                &[&owner],
            )?;
            Ok(())
        })
    }

    fn pending_events(&self) -> Result<i64> {
        self.read(|c| {
            Ok(
                c.query_one("SELECT count(*) FROM events WHERE acked_at IS NULL", &[])?
                    .get(0),
            )
        })
    }

    fn purge_acked_events(&self, before: i64) -> Result<usize> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM events WHERE acked_at IS NOT NULL AND acked_at < $1",
                &[&before],
            )? as usize)
        })
    }
}

impl MetricsStore for PgStore {
    fn outbox_by_state(&self) -> Result<Vec<(String, i64)>> {
        self.read(|c| {
            Ok(c.query(
                "SELECT state, count(*) FROM outbox GROUP BY state ORDER BY state COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        })
    }

    fn last_sync_success(&self) -> Result<Vec<(String, String, Option<i64>)>> {
        self.read(|c| {
            Ok(c.query(
                "SELECT m.id, m.address, max(s.last_success_at) FROM mailboxes m \
                 LEFT JOIN sync_state s ON s.mailbox_id = m.id \
                 GROUP BY m.id, m.address, m.address_key ORDER BY m.address_key COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
        })
    }
}
