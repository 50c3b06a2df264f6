//! Named leases: what must happen once across threads and processes (a token refresh, the
//! sync of a folder, an outbox entry, a throttling window) is claimed here.

use crate::error::Result;

pub trait LeaseStore {
    /// Takes the named lease for `owner` until `now + ttl_ms` if it is free, expired, or
    /// already held by `owner`. Returns whether `owner` holds it now.
    fn try_lease(&self, name: &str, owner: &str, now: i64, ttl_ms: i64) -> Result<bool>;
    /// Gives the lease up if `owner` holds it.
    fn release_lease(&self, name: &str, owner: &str) -> Result<()>;
    /// (schema version of the store, schema version this library needs): a read that shows
    /// the store is reachable and migrated (`o365_check_setup`).
    fn schema_version(&self) -> Result<(i64, i64)>;
    /// The lease's holder and expiry, if anyone holds it.
    fn lease_holder(&self, name: &str) -> Result<Option<(String, i64)>>;
    /// Takes the lease from `from` (a holder known to be gone), if `from` still holds it.
    fn take_over_lease(
        &self,
        name: &str,
        from: &str,
        to: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<bool>;
}
