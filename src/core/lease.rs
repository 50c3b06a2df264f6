//! Leases for sync work, with take-over from processes that died holding one.
//!
//! A lease's owner names the host (`host_id`, by default a tag of the machine), the process
//! id and the task. A holder whose process no longer exists (killed, crashed) cannot renew
//! or release its lease; waiting for its expiry would stall a refresh, a folder or a send
//! for minutes, so its lease is taken over at once (compare-and-set on the owner). Whether
//! the holder is gone: the store tells when it can see processes on every host
//! ([`LeaseStore::holder_alive`]: PostgreSQL, by each process's presence connection);
//! otherwise a holder on this host is checked by its pid.
//!
//! [`LeaseStore::holder_alive`]: crate::store::LeaseStore::holder_alive

use crate::core::Core;
use crate::error::Result;
use crate::store::Store;

/// A lease owner name for one task of this client: `HOST|PID|INSTANCE:TASK`.
pub fn owner(client: &Core, task: &str) -> String {
    format!(
        "{}|{}|{}:{task}",
        client.host_id(),
        std::process::id(),
        client.instance()
    )
}

/// True when `owner` names a process of this host (`host`) that no longer exists.
fn local_holder_is_gone(owner: &str, host: &str) -> bool {
    let mut parts = owner.splitn(3, '|');
    let (Some(m), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    if m.is_empty() || m != host {
        return false;
    }
    let Ok(pid) = pid.parse::<i32>() else {
        return false;
    };
    if pid <= 0 || pid as u32 == std::process::id() {
        return false;
    }
    // SAFETY: signal 0 only checks whether the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// True when the holder of a lease is known to be gone: the store says so (it sees the
/// processes of every host), or it cannot tell and the holder is a dead process of this host.
pub fn holder_is_gone(store: &dyn Store, holder: &str, host: &str) -> Result<bool> {
    Ok(match store.holder_alive(holder)? {
        Some(alive) => !alive,
        None => local_holder_is_gone(holder, host),
    })
}

/// Takes the lease `name` for `owner` (`now` on the client's clock) if it is free, expired,
/// held by `owner`, or held by a process that is gone (see [`holder_is_gone`]).
pub fn take(
    store: &dyn Store,
    host: &str,
    name: &str,
    owner: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<bool> {
    if store.try_lease(name, owner, now, ttl_ms)? {
        return Ok(true);
    }
    match store.lease_holder(name)? {
        Some((holder, _)) if holder != owner && holder_is_gone(store, &holder, host)? => {
            tracing::info!(lease = %name, holder = %holder, "taking over the lease of a process that is gone");
            store.take_over_lease(name, &holder, owner, now, ttl_ms)
        }
        _ => Ok(false),
    }
}

/// Takes (or renews) the lease; takes it over from a holder whose process is gone.
pub async fn acquire(client: &Core, name: &str, owner: &str, ttl_ms: i64) -> Result<bool> {
    let (n, o, now) = (name.to_owned(), owner.to_owned(), client.now_ms());
    client
        .blocking(move |c| take(c.store(), c.host_id(), &n, &o, now, ttl_ms))
        .await
}

/// Gives the lease up.
pub async fn release(client: &Core, name: &str, owner: &str) {
    let (n, o) = (name.to_owned(), owner.to_owned());
    let _ = client
        .blocking(move |c| c.store().release_lease(&n, &o))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dead_local_processes_are_gone() {
        let host = crate::config::machine_tag();
        let me = format!("{host}|{}|x:y", std::process::id());
        assert!(!local_holder_is_gone(&me, host));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(local_holder_is_gone(&format!("{host}|{pid}|x:y"), host));
        assert!(!local_holder_is_gone(
            &format!("other-machine|{pid}|x:y"),
            host
        ));
        assert!(!local_holder_is_gone("legacy-owner", host));
        // With host ids configured, only the holders of this host id are checked locally.
        assert!(local_holder_is_gone(&format!("web1|{pid}|x:y"), "web1"));
        assert!(!local_holder_is_gone(&format!("web2|{pid}|x:y"), "web1"));
    }
}
