//! Sign-in and tokens: OAuth flows, the token vault, the refresh lease.

pub mod vault;
