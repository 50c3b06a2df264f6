//! # o365
//!
//! Microsoft 365 / Exchange Online mailboxes for a host CRM, through Microsoft Graph.
//! The core ([`Client`]) is usable from Rust; [`ffi`] is the C ABI the host loads
//! (`libo365.so`, header `include/o365.h`).

pub mod activity;
pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod ffi;
pub mod graph;
pub mod json;
pub mod links;
mod logging;
pub mod mailbox;
pub mod runtime;
pub mod send;
pub mod service;
pub mod store;
pub mod sync;

pub use config::Config;
pub use error::{Error, Result};
pub use service::Client;
