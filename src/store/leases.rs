//! Named leases: what must happen once across threads and processes (a token refresh, the
//! sync of a folder, an outbox entry, a throttling window) is claimed here.
//!
//! Owners that [`crate::core::lease::owner`] names read `HOST|PID|TASK`: the host id, the
//! process id and the task. `HOST|PID` (the [`process_key`]) is what a backend that can see
//! live processes on other hosts ([`LeaseStore::holder_alive`]) knows a process by.

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
    /// Whether the process that `owner` names (see [`process_key`]) is still alive, as far as
    /// the backend can tell across hosts: `None` when it cannot (SQLite: one machine; the
    /// caller then checks the local process), or for owners of another form.
    fn holder_alive(&self, owner: &str) -> Result<Option<bool>> {
        let _ = owner;
        Ok(None)
    }
}

/// `HOST|PID` of an owner named `HOST|PID|TASK`, if it has that form.
pub fn process_key(owner: &str) -> Option<&str> {
    let mut bars = owner.match_indices('|').map(|(i, _)| i);
    let (first, second) = (bars.next()?, bars.next()?);
    let pid = &owner[first + 1..second];
    (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then_some(&owner[..second])
}

#[cfg(test)]
mod tests {
    #[test]
    fn process_keys() {
        assert_eq!(super::process_key("h1|42|x:y"), Some("h1|42"));
        assert_eq!(super::process_key("|42|x"), Some("|42"));
        assert_eq!(super::process_key("h1|x|y"), None);
        assert_eq!(super::process_key("other-process"), None);
        assert_eq!(super::process_key("a|1"), None);
    }
}
