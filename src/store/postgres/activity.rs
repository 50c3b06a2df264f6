use super::text::{enc, opt_text, text};
use super::PgStore;
use crate::error::Result;
use crate::store::activity::{ActivityStore, Candidate};

impl ActivityStore for PgStore {
    fn activity_candidates(
        &self,
        mailbox_id: &str,
        since: i64,
        limit: usize,
    ) -> Result<Vec<Candidate>> {
        self.read(|c| {
            Ok(c.query(
                "SELECT m.id, m.internet_message_id, m.subject, m.from_name, m.from_address, \
                        m.recipients_json, m.sent_at, m.body_preview, m.has_attachments \
                 FROM messages m JOIN folders f ON f.mailbox_id = m.mailbox_id AND f.id = m.folder_id \
                 WHERE m.mailbox_id = $1 AND f.well_known = 'sentitems' AND NOT m.is_draft \
                   AND m.internet_message_id IS NOT NULL AND m.sent_at >= $2 \
                   AND NOT EXISTS (SELECT 1 FROM activities a WHERE a.mailbox_id = m.mailbox_id \
                                   AND a.internet_message_id = m.internet_message_id) \
                   AND NOT EXISTS (SELECT 1 FROM sent_log s \
                                   WHERE s.internet_message_id = m.internet_message_id) \
                   AND NOT EXISTS (SELECT 1 FROM outbox o \
                                   WHERE o.internet_message_id = m.internet_message_id) \
                 ORDER BY m.sent_at LIMIT $3",
                &[&mailbox_id, &since, &(limit as i64)],
            )?
            .iter()
            .map(|r| Candidate {
                graph_id: text(r, 0),
                internet_message_id: text(r, 1),
                subject: opt_text(r, 2),
                from_name: opt_text(r, 3),
                from_address: opt_text(r, 4),
                recipients_json: opt_text(r, 5),
                sent_at: r.get(6),
                body_preview: opt_text(r, 7),
                has_attachments: r.get(8),
            })
            .collect())
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
            Ok(tx.execute(
                "INSERT INTO activities (mailbox_id, internet_message_id, event_id, graph_id, booked_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[
                    &mailbox_id,
                    &enc(internet_message_id),
                    &enc(event_id),
                    &enc(graph_id),
                    &now,
                ],
            )? == 1)
        })
    }
}
