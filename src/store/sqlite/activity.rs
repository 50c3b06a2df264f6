use super::SqliteStore;
use crate::error::Result;
use crate::store::activity::{ActivityStore, Candidate};
use rusqlite::params;

impl ActivityStore for SqliteStore {
    fn activity_candidates(
        &self,
        mailbox_id: &str,
        since: i64,
        limit: usize,
    ) -> Result<Vec<Candidate>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT m.id, m.internet_message_id, m.subject, m.from_name, m.from_address, \
                        m.recipients_json, m.sent_at, m.body_preview, m.has_attachments \
                 FROM messages m JOIN folders f ON f.mailbox_id = m.mailbox_id AND f.id = m.folder_id \
                 WHERE m.mailbox_id = ?1 AND f.well_known = 'sentitems' AND m.is_draft = 0 \
                   AND m.internet_message_id IS NOT NULL AND m.sent_at >= ?2 \
                   AND NOT EXISTS (SELECT 1 FROM activities a WHERE a.mailbox_id = m.mailbox_id \
                                   AND a.internet_message_id = m.internet_message_id) \
                   AND NOT EXISTS (SELECT 1 FROM sent_log s \
                                   WHERE s.internet_message_id = m.internet_message_id) \
                   AND NOT EXISTS (SELECT 1 FROM outbox o \
                                   WHERE o.internet_message_id = m.internet_message_id) \
                 ORDER BY m.sent_at LIMIT ?3",
            )?;
            let rows = st.query_map(params![mailbox_id, since, limit as i64], |r| {
                Ok(Candidate {
                    graph_id: r.get(0)?,
                    internet_message_id: r.get(1)?,
                    subject: r.get(2)?,
                    from_name: r.get(3)?,
                    from_address: r.get(4)?,
                    recipients_json: r.get(5)?,
                    sent_at: r.get(6)?,
                    body_preview: r.get(7)?,
                    has_attachments: r.get::<_, i64>(8)? != 0,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn record_activity(
        &self,
        mailbox_id: &str,
        internet_message_id: &str,
        event_id: &str,
        graph_id: &str,
        now: i64,
    ) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.prepare_cached("INSERT OR IGNORE INTO activities (mailbox_id, internet_message_id, event_id, graph_id, booked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)")?.execute(params![mailbox_id, internet_message_id, event_id, graph_id, now],
            )? == 1)
        })
    }
}
