//! # o365
//!
//! Microsoft 365 / Exchange Online mailboxes for a host CRM, through Microsoft Graph.
//! The core ([`Client`]) is usable from Rust; [`ffi`] is the C ABI the host loads
//! (`libo365.so`, header `include/o365.h`).

/// cbindgen:ignore
pub mod activity;
/// cbindgen:ignore
pub mod auth;
/// cbindgen:ignore
pub mod clock;
/// cbindgen:ignore
pub mod config;
/// cbindgen:ignore
pub mod core;
/// cbindgen:ignore
pub mod encoding;
/// cbindgen:ignore
pub mod error;
pub mod ffi;
/// cbindgen:ignore
pub(crate) mod files;
/// cbindgen:ignore
pub mod graph;
/// cbindgen:ignore
pub mod json;
/// cbindgen:ignore
pub mod links;
/// cbindgen:ignore
pub mod mailbox;
/// cbindgen:ignore
pub mod runtime;
/// cbindgen:ignore
pub mod send;
/// cbindgen:ignore
pub mod service;
pub mod status;
/// cbindgen:ignore
pub mod store;
/// cbindgen:ignore
pub mod sync;
/// cbindgen:ignore
pub mod telemetry;

pub use config::Config;
pub use error::{Error, Result};
pub use service::Client;
