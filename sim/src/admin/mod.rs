//! The test bench under `/_sim/` (JSON over HTTPS, no authentication: loopback only). See
//! sim/README.md for the route list.
//!
//! One module per area. Every request body or query string is a typed struct with
//! `deny_unknown_fields`, read through [`extract::Body`] / [`extract::Params`] (a `POST` or
//! `DELETE` without fields through [`extract::NoFields`]: no body or `{}`), so a misspelt field
//! is a 400 naming it; every answer is a typed struct; every error is
//! `{"error": {"code", "message"}}` ([`reply::AdminErr`]).

mod apps;
mod clock;
mod counters;
mod extract;
mod faults;
mod instance;
mod limits;
mod mailboxes;
mod message_input;
mod outbound;
mod outlook;
mod reply;
mod tenants;
mod tokens;
mod users;

use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::server::AppState;

pub use extract::{Body, NoFields, Params};
pub use reply::{AdminErr, ErrorBody, ErrorCode, ErrorDetail};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(instance::health))
        .route("/save", post(instance::save))
        .route("/tenants", get(tenants::list).post(tenants::create))
        .route("/tenants/{t}", get(tenants::get).patch(tenants::patch))
        .route("/tenants/{t}/consents", post(tenants::add_consent))
        .route(
            "/tenants/{t}/consents/{client}",
            delete(tenants::remove_consent),
        )
        .route("/apps", get(apps::list).post(apps::register))
        .route("/apps/{id}", get(apps::get).delete(apps::remove))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{u}", get(users::get).patch(users::patch))
        .route("/users/{u}/grants", post(users::add_grant))
        .route("/users/{u}/grants/{g}", delete(users::remove_grant))
        .route("/mailboxes/{u}", get(mailboxes::state))
        .route("/mailboxes/{u}/messages", get(mailboxes::messages))
        .route(
            "/mailboxes/{u}/submission-delay",
            get(mailboxes::get_submission_delay).put(mailboxes::put_submission_delay),
        )
        .route("/mailboxes/{u}/folders", post(mailboxes::create_folder))
        .route("/mailboxes/{u}/seed", post(mailboxes::seed))
        .route(
            "/mailboxes/{u}/invalidate-sync",
            post(mailboxes::invalidate_sync),
        )
        .route("/mailboxes/{u}/deliver", post(outlook::deliver))
        .route("/mailboxes/{u}/outlook-send", post(outlook::send))
        .route(
            "/mailboxes/{u}/messages/{id}/outlook",
            post(outlook::action),
        )
        .route("/outbound", get(outbound::list).delete(outbound::clear))
        .route("/tokens/revoke", post(tokens::revoke))
        .route("/tokens/expire", post(tokens::expire))
        .route("/tokens/revoke-access", post(tokens::revoke_access))
        .route(
            "/token-lifetimes",
            get(tokens::get_lifetimes).put(tokens::put_lifetimes),
        )
        .route(
            "/faults",
            get(faults::list).post(faults::add).delete(faults::clear),
        )
        .route("/faults/{id}", delete(faults::remove))
        .route("/counters", get(counters::get))
        .route("/counters/reset", post(counters::reset))
        .route("/limits", get(limits::get).put(limits::put))
        .route("/latency", put(limits::put_latency))
        .route("/clock", get(clock::get))
        .route("/clock/advance", post(clock::advance))
        .fallback(reply::no_route)
        .method_not_allowed_fallback(reply::wrong_method)
}

/// The id of the user (member or shared mailbox) `u` names (object id, UPN, address or alias).
fn owner_id(w: &crate::state::World, u: &str) -> Result<String, AdminErr> {
    w.user(u)
        .map(|x| x.id.clone())
        .ok_or_else(|| AdminErr::not_found("no such mailbox"))
}
