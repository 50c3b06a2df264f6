//! The C ABI: a thin shell over [`crate::service::Client`].
//!
//! Every export goes through [`guard`]: one panic boundary, NULL checks, size and UTF-8
//! checks, JSON decoding, a blocking wait on the private runtime with a time limit, and the
//! error document on failure. Conventions (README "C ABI conventions"):
//! - inputs are borrowed, NUL-terminated UTF-8, valid only during the call;
//! - `*out_json` receives the result on success and the error document on any other
//!   status; it may be NULL to discard; every returned string is freed with
//!   `o365_string_free`;
//! - `*out_client` is written only on success.

mod auth;
mod client;
mod debug;
mod events;
mod links;
mod mailboxes;
mod maintenance;
mod observe;
mod send;
mod setup;
mod sync;

// Every export, for Rust callers and tests (the C ABI is the same functions).
pub use self::{
    auth::*, client::*, debug::*, events::*, links::*, mailboxes::*, maintenance::*, observe::*,
    send::*, setup::*, sync::*,
};

use crate::error::{status, Error, Fault, Result};
use crate::service::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CString};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, Once};

/// Status code returned by every fallible function. `O365_OK` (0) is success.
#[allow(non_camel_case_types)]
pub type o365_status = i32;

/// Success.
pub const O365_OK: o365_status = 0;
/// NULL argument, invalid UTF-8, malformed JSON, unknown field, schema violation, oversize.
pub const O365_INVALID_ARGUMENT: o365_status = 1;
/// The named mailbox, message, event or link does not exist.
pub const O365_NOT_FOUND: o365_status = 2;
/// The thing to create exists already.
pub const O365_ALREADY_EXISTS: o365_status = 3;
/// The acting CRM user may not do this (e.g. not assigned to the mailbox).
pub const O365_FORBIDDEN: o365_status = 4;
/// The mailbox needs a (new) Microsoft sign-in.
pub const O365_AUTH_REQUIRED: o365_status = 5;
/// The tenant needs an administrator's consent; details.admin_consent_url says where.
pub const O365_CONSENT_REQUIRED: o365_status = 6;
/// Refused by the sending policy (recipient limit, serial mail, ...).
pub const O365_POLICY_VIOLATION: o365_status = 7;
/// Microsoft throttled the mailbox; details.retry_after_ms says when to try again.
pub const O365_THROTTLED: o365_status = 8;
/// Microsoft could not be reached.
pub const O365_NETWORK: o365_status = 9;
/// Graph or Entra ID answered with an error; details.code holds Microsoft's code.
pub const O365_REMOTE: o365_status = 10;
/// The local store failed.
pub const O365_STORE: o365_status = 11;
/// The call did not finish in time, or o365_next_event found no event.
pub const O365_TIMEOUT: o365_status = 12;
/// A client created before fork() was used in the child; create a new client there.
pub const O365_FORKED: o365_status = 13;
/// A bug inside the library (a caught panic). The process keeps working.
pub const O365_INTERNAL: o365_status = 14;
/// Called from one of the library's own runtime threads.
pub const O365_WRONG_THREAD: o365_status = 15;
/// The request conflicts with the current state.
pub const O365_CONFLICT: o365_status = 16;

/// Version of the C ABI described by this header. Compare with o365_abi_version().
pub const O365_ABI_VERSION: u32 = 1;

/// Opaque, thread-safe client handle: one store, one configuration.
/// Created by o365_client_new, released by o365_client_free.
#[allow(non_camel_case_types)]
pub struct o365_client {
    pid: u32,
    client: Client,
}

/// Clients released in a forked child: kept reachable and never dropped, because their
/// SQLite connections belong to the parent process.
static FORKED_LEFTOVERS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Set while an export runs on this thread: only those panics are kept quiet.
    static IN_EXPORT: Cell<bool> = const { Cell::new(false) };
}

/// Installs a panic hook that remembers the message instead of printing to stderr.
fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // In an export, or in a background job on the library's runtime (the supervisor
            // catches it and restarts the job): logged, never printed.
            let inside_library = IN_EXPORT.try_with(|f| f.get()).unwrap_or(false)
                || crate::runtime::on_library_thread();
            let msg = panic_text(info.payload());
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            tracing::error!("panic: {msg}{location}");
            if inside_library {
                let _ = LAST_PANIC.try_with(|p| *p.borrow_mut() = Some(format!("{msg}{location}")));
            } else {
                previous(info);
            }
        }));
    });
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

/// Strings handed to the host and not yet given back to o365_string_free (process-wide;
/// shown by `o365_debug_counters`, so leak tests count instead of measuring memory).
pub(crate) static STRINGS_OUTSTANDING: std::sync::atomic::AtomicI64 =
    std::sync::atomic::AtomicI64::new(0);

/// Hands a string to the host (freed with o365_string_free).
fn give(out: *mut *mut c_char, text: String) {
    if out.is_null() {
        return;
    }
    // JSON never contains a raw NUL (serde escapes it), so this cannot fail.
    let c = CString::new(text).unwrap_or_default();
    STRINGS_OUTSTANDING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    unsafe { *out = c.into_raw() };
}

/// The panic boundary and error-document writer every export goes through.
pub(crate) fn guard(out_json: *mut *mut c_char, f: impl FnOnce() -> Result<String>) -> o365_status {
    quiet_panics();
    let outer = IN_EXPORT.with(|f| f.replace(true));
    let caught = catch_unwind(AssertUnwindSafe(f));
    IN_EXPORT.with(|f| f.set(outer));
    let result = caught.unwrap_or_else(|payload| {
        crate::telemetry::panic_caught();
        let msg = LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| panic_text(&*payload));
        Err(Error::internal(format!("internal error (caught panic): {msg}")).with_hint(
            "this is a bug in the o365 library; the process can keep working. Please report the message.",
        ))
    });
    match result {
        Ok(text) => {
            give(out_json, text);
            status::OK
        }
        Err(e) => {
            let doc = catch_unwind(AssertUnwindSafe(|| {
                serde_json::to_string(&crate::service::contract::ErrorBody::from(&e))
                    .expect("an error document always encodes")
            }))
            .unwrap_or_else(|_| {
                format!(
                    "{{\"status\":{},\"error\":\"internal\",\"message\":\"error\"}}",
                    e.status()
                )
            });
            give(out_json, doc);
            e.status()
        }
    }
}

/// Reads a borrowed C string: NULL → `null_argument`, longer than `max` → `request_too_large`,
/// not UTF-8 → `invalid_utf8`.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for the call.
pub(crate) unsafe fn read_str<'a>(p: *const c_char, name: &str, max: usize) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid("null_argument", format!("{name} is NULL"))
            .with_detail("argument", name));
    }
    let len = libc::strnlen(p, max + 1);
    if len > max {
        return Err(Error::invalid(
            "request_too_large",
            format!("{name} is larger than {max} bytes"),
        )
        .with_hint("pass large attachments by file path instead of inline base64")
        .with_detail("limit_bytes", max as u64));
    }
    let bytes = std::slice::from_raw_parts(p as *const u8, len);
    std::str::from_utf8(bytes).map_err(|e| {
        Error::invalid(
            "invalid_utf8",
            format!(
                "{name} is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
        .with_detail("argument", name)
    })
}

/// The client behind a handle: NULL → `null_argument`; used after fork() → `forked`.
///
/// # Safety
/// `c` is NULL or a live handle from o365_client_new.
pub(crate) unsafe fn client_of<'a>(c: *const o365_client) -> Result<&'a Client> {
    let h = c.as_ref().ok_or_else(|| {
        Error::invalid("null_argument", "client is NULL").with_detail("argument", "client")
    })?;
    if h.pid != std::process::id() {
        return Err(Error::Forked(Fault::new(
            "forked",
            format!(
                "this client was created in process {} and cannot be used in forked process {}",
                h.pid,
                std::process::id()
            ),
        ))
        .with_hint("create a new client in the child process (after fork) with o365_client_new"));
    }
    Ok(&h.client)
}

/// The request of an export: read within `limits.max_request_bytes`, decoded strictly.
///
/// # Safety
/// `request_json` is NULL or a NUL-terminated string valid for the call.
pub(crate) unsafe fn request_of<Req: DeserializeOwned>(
    c: &Client,
    request_json: *const c_char,
) -> Result<Req> {
    let text = read_str(
        request_json,
        "request_json",
        c.config().limits.max_request_bytes,
    )?;
    crate::json::from_str(text)
}

/// One request/response export: decode `Req` from `request_json`, run `f` on the runtime
/// within the call time limit, encode the result.
///
/// # Safety
/// Pointers as documented on the export.
pub(crate) unsafe fn call<Req, Res, F, Fut>(
    client: *const o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
    f: F,
) -> o365_status
where
    Req: DeserializeOwned,
    Res: Serialize,
    F: FnOnce(Client, Req) -> Fut,
    Fut: Future<Output = Result<Res>>,
{
    call_warm(client, request_json, out_json, |_, _| Ok(None), f)
}

/// Like [`call`] for work that needs no runtime (answered on the calling thread).
///
/// # Safety
/// Pointers as documented on the export.
pub(crate) unsafe fn call_here<Req, Res, F>(
    client: *const o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
    f: F,
) -> o365_status
where
    Req: DeserializeOwned,
    Res: Serialize,
    F: FnOnce(&Client, Req) -> Result<Res>,
{
    guard(out_json, || {
        let c = client_of(client)?;
        let _in_client = c.span().enter();
        let req: Req = request_of(c, request_json)?;
        Ok(serde_json::to_string(&f(c, req)?)?)
    })
}

/// Like [`call`], trying `warm` first on the calling thread (no runtime): its answer, when it
/// has one, is the result as is.
///
/// # Safety
/// Pointers as documented on the export.
pub(crate) unsafe fn call_warm<Req, Res, W, F, Fut>(
    client: *const o365_client,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
    warm: W,
    f: F,
) -> o365_status
where
    Req: DeserializeOwned,
    Res: Serialize,
    W: FnOnce(&Client, &Req) -> Result<Option<String>>,
    F: FnOnce(Client, Req) -> Fut,
    Fut: Future<Output = Result<Res>>,
{
    guard(out_json, || {
        let c = client_of(client)?;
        let _in_client = c.span().enter();
        let req: Req = request_of(c, request_json)?;
        if let Some(s) = warm(c, &req)? {
            return Ok(s);
        }
        let res =
            crate::runtime::block_on(c.worker_threads(), c.call_timeout(), f(c.clone(), req))?;
        Ok(serde_json::to_string(&res)?)
    })
}
