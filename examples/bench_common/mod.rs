//! Helpers the bench examples share (included with `#[path]`; not an example itself).

use o365::ffi::*;
use serde_json::Value;
use std::ffi::{c_char, CStr, CString};

/// The value after `name` on the command line, else `default`.
pub fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

/// The library's answer as text, freed (empty for none).
pub fn take_text(out: *mut c_char) -> String {
    if out.is_null() {
        return String::new();
    }
    let s = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_owned();
    unsafe { o365_string_free(out) };
    s
}

/// A client on `cfg`; panics with the library's answer when it cannot open.
pub fn open_client(cfg: &Value) -> *mut o365_client {
    let c_cfg = CString::new(cfg.to_string()).unwrap();
    let mut client: *mut o365_client = std::ptr::null_mut();
    let mut out = std::ptr::null_mut();
    let st = unsafe { o365_client_new(c_cfg.as_ptr(), &mut client, &mut out) };
    let v = take_text(out);
    assert_eq!(st, O365_OK, "o365_client_new: {v}");
    client
}
