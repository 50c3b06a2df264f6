//! Integration tests of o365-sim: every endpoint, error case and limit.

mod admin;
mod admin_requests;
mod common;
mod coverage;
mod csdl;
mod delta;
mod graph_mail;
mod identity;
mod limits;
mod send;
mod strict;
