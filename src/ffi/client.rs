//! Library identity, client lifetime, string release.

use super::{
    client_of, guard, o365_client, o365_status, read_str, FORKED_LEFTOVERS, O365_ABI_VERSION,
};
use crate::error::Error;
use crate::service::contract::ClientInfo;
use crate::service::Client;
use std::ffi::{c_char, CString};

static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library version ("MAJOR.MINOR.PATCH"). Static: never free it.
#[no_mangle]
pub extern "C" fn o365_version() -> *const c_char {
    VERSION.as_ptr() as *const c_char
}

/// The ABI version of the loaded library. Hosts compare it with O365_ABI_VERSION from the
/// header they were built against and refuse to run on a mismatch.
#[no_mangle]
pub extern "C" fn o365_abi_version() -> u32 {
    O365_ABI_VERSION
}

/// Opens a client on the store named in `config_json` (see README "Configuration").
///
/// On O365_OK `*out_client` holds the new handle (free it with o365_client_free) and
/// `*out_json` (if not NULL) a JSON object `{"version", "store", "warnings": [...]}`.
/// On any other status `*out_client` is untouched and `*out_json` holds the error document;
/// invalid config is O365_INVALID_ARGUMENT with `details.field` naming the field.
/// Starts no thread unless `sync.scheduler` is on (the default): then the process runtime
/// is built here and the client's background scheduler starts on it. With a PostgreSQL
/// store one thread per process (and store) keeps the process's presence connection (dead
/// lease holders on any host, event wake-ups; README "PostgreSQL store").
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `out_client` is NULL or writable;
/// `out_json` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn o365_client_new(
    config_json: *const c_char,
    out_client: *mut *mut o365_client,
    out_json: *mut *mut c_char,
) -> o365_status {
    guard(out_json, || {
        if out_client.is_null() {
            return Err(Error::invalid("null_argument", "out_client is NULL")
                .with_detail("argument", "out_client"));
        }
        let text = read_str(
            config_json,
            "config_json",
            crate::config::DEFAULT_MAX_REQUEST_BYTES,
        )?;
        let client = Client::from_json(text)?;
        let info = serde_json::to_string(&ClientInfo {
            abi_version: O365_ABI_VERSION,
            store: client.config().store_display(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            warnings: client.warnings().to_vec(),
        })?;
        let handle = Box::new(o365_client {
            pid: std::process::id(),
            client,
        });
        *out_client = Box::into_raw(handle);
        Ok(info)
    })
}

/// Closes a client: events it reserved but the host did not ack go back to the queue.
/// NULL-safe. In a process forked after the client was created the handle is only
/// forgotten (its store connections belong to the parent).
///
/// # Safety
/// `client` is NULL or a handle from o365_client_new not freed before.
#[no_mangle]
pub unsafe extern "C" fn o365_client_free(client: *mut o365_client) {
    if client.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if client_of(client).is_err() {
            // Forked child: never drop; keep it reachable.
            FORKED_LEFTOVERS
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(client as usize);
            return;
        }
        drop(Box::from_raw(client));
    }));
}

/// Frees a string returned by this library (every `char *` it hands out). NULL-safe.
///
/// # Safety
/// `s` is NULL or a string returned by this library and not freed before.
#[no_mangle]
pub unsafe extern "C" fn o365_string_free(s: *mut c_char) {
    if !s.is_null() {
        super::STRINGS_OUTSTANDING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        drop(CString::from_raw(s));
    }
}
