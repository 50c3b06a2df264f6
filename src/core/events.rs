//! Publishing to the durable event queue the host pulls from.

use super::Core;
use crate::error::Result;
use crate::store::EventRecord;
use serde_json::Value;

impl Core {
    /// Stores an event. `id` must be stable per cause (the same cause never yields two
    /// events); `None` makes a fresh one. Returns the id, and whether it was new.
    pub fn publish(
        &self,
        kind: &str,
        mailbox_id: Option<&str>,
        id: Option<String>,
        payload: Value,
    ) -> Result<(String, bool)> {
        let id = id.unwrap_or_else(|| format!("evt_{}", uuid::Uuid::new_v4().simple()));
        let ev = EventRecord {
            id: id.clone(),
            kind: kind.to_owned(),
            mailbox_id: mailbox_id.map(str::to_owned),
            payload,
            created_at: self.now_ms(),
            deliveries: 0,
        };
        let fresh = self.store().push_event(&ev)?;
        if fresh {
            self.events_changed().notify_waiters();
        }
        Ok((id, fresh))
    }
}
