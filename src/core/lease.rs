//! Leases for sync work, with take-over from processes that died holding one.
//!
//! A lease's owner names the machine (boot id and pid namespace), the process id and the
//! task. A holder on this machine whose process no longer exists (killed, crashed) cannot
//! renew or release its lease; waiting for its expiry would stall a folder or a move for
//! minutes, so its lease is taken over at once (compare-and-set on the owner).

use crate::core::Core;
use crate::error::Result;
use std::sync::OnceLock;

fn machine() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let ns = std::fs::read_link("/proc/self/ns/pid")
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if boot.is_empty() {
            String::new()
        } else {
            format!("{boot}/{ns}")
        }
    })
}

/// A lease owner name for one task of this client.
pub fn owner(client: &Core, task: &str) -> String {
    format!(
        "{}|{}|{}:{task}",
        machine(),
        std::process::id(),
        client.instance()
    )
}

/// True when `owner` names a process on this machine that no longer exists.
fn holder_is_gone(owner: &str) -> bool {
    let mut parts = owner.splitn(3, '|');
    let (Some(m), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    if m.is_empty() || m != machine() {
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

/// Takes (or renews) the lease; takes it over from a holder whose process is gone.
pub async fn acquire(client: &Core, name: &str, owner: &str, ttl_ms: i64) -> Result<bool> {
    let (n, o, now) = (name.to_owned(), owner.to_owned(), client.now_ms());
    client
        .blocking(move |c| {
            if c.store().try_lease(&n, &o, now, ttl_ms)? {
                return Ok(true);
            }
            match c.store().lease_holder(&n)? {
                Some((holder, _)) if holder_is_gone(&holder) => {
                    tracing::info!(lease = %n, "taking over the lease of a process that is gone");
                    c.store().take_over_lease(&n, &holder, &o, now, ttl_ms)
                }
                _ => Ok(false),
            }
        })
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
        let me = format!("{}|{}|x:y", machine(), std::process::id());
        assert!(!holder_is_gone(&me));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(holder_is_gone(&format!("{}|{pid}|x:y", machine())));
        assert!(!holder_is_gone(&format!("other-machine|{pid}|x:y")));
        assert!(!holder_is_gone("legacy-owner"));
    }
}
