//! Sign-in and tokens: OAuth flows against Entra ID, the token vault, the refresh lease.

pub mod entra;
pub mod tokens;
pub mod vault;
