//! Sending under Microsoft's limits (seed points 9, 11, 12): the send policy, the body
//! macros, the exactly-once outbox with pacing, upload sessions for large attachments.
//!
//! Flow: request → policy and checks ([`message`]) → macros ([`macros`], links) → outbox
//! entry (durable, before any request) → draft with our Message-ID → attachments → pacing
//! slot → send → sent log. On doubt the outbox looks for the Message-ID before trying again.

pub mod macros;
pub mod message;
pub mod outbox;
pub mod worker;
