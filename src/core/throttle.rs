//! Throttling windows kept in the store's lease table (`throttle:<mailbox id>`, expiry = end
//! of the window), so that a second process learns them and sends nothing until then.

use super::Core;

pub struct StoreThrottleBook {
    pub core: Core,
}

const THROTTLE_OWNER: &str = "graph-throttle";

impl crate::graph::ThrottleBook for StoreThrottleBook {
    fn now_ms(&self) -> i64 {
        self.core.now_ms()
    }

    fn window_until(&self, mailbox_key: &str) -> Option<i64> {
        let name = format!("throttle:{mailbox_key}");
        match self.core.store().lease_holder(&name) {
            Ok(h) => h.map(|(_, until)| until),
            Err(e) => {
                tracing::warn!("cannot read the throttling window: {e}");
                None
            }
        }
    }

    fn record_window(&self, mailbox_key: &str, until_ms: i64) {
        if self.window_until(mailbox_key).unwrap_or(0) >= until_ms {
            return;
        }
        let now = self.now_ms();
        let name = format!("throttle:{mailbox_key}");
        if let Err(e) = self
            .core
            .store()
            .try_lease(&name, THROTTLE_OWNER, now, until_ms - now)
        {
            tracing::warn!("cannot record the throttling window: {e}");
        }
    }
}
