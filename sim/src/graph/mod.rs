//! Microsoft Graph v1.0 mail. `dispatch` takes every request (body limit, token from `auth`,
//! mailbox access, throttling) into a `request::Ctx` and routes it to the resource modules
//! (`users`, `folders`, `messages`, `attachments`, `delta`, `send`), which answer through
//! `respond` and `errors`; `json` shapes the resources, `filter` reads `$filter`/`$orderby`.

pub mod attachments;
pub mod auth;
pub mod delta;
pub mod dispatch;
pub mod errors;
pub mod filter;
pub mod folders;
pub mod json;
pub mod messages;
pub mod request;
pub mod respond;
pub mod send;
pub mod users;

pub use auth::{authenticate, Auth};
pub use dispatch::{dispatch, finish};
pub use errors::{method_not_allowed, GErr, GResult};
pub use request::{next_link, paging, parse_query, percent_decode, select, Ctx, Perm};
pub use respond::{bytes_response, empty_response, json_response, JSON_CT};
