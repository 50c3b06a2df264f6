//! Queue depths and freshness for `o365_metrics`.

use crate::error::Result;

/// Queue depths and freshness for `o365_metrics` (shared by every process on the store).
pub trait MetricsStore {
    /// Outbox entries per state.
    fn outbox_by_state(&self) -> Result<Vec<(String, i64)>>;
    /// Per mailbox: id, address, and the last time any of its sync scopes succeeded.
    fn last_sync_success(&self) -> Result<Vec<(String, String, Option<i64>)>>;
}
