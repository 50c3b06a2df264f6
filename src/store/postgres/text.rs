//! Strings that PostgreSQL cannot hold as they are: TEXT refuses U+0000 and JSONB refuses
//! `\u0000`, yet Graph and the host may hand us either (a subject, a display name, a payload
//! field). Every host- or Graph-supplied string is stored through [`enc`] / [`enc_json`] and
//! read back through [`dec`] / [`dec_json`], so it round-trips exactly.
//!
//! The escape: U+0000 is stored as U+0001 U+0001 and U+0001 as U+0001 U+0002; every other
//! character as it is. Strings without either character (nearly all) are stored unchanged, so
//! equality, `ANY`, `strpos` searches of encoded terms and the byte order of `COLLATE "C"`
//! all still hold (the code is prefix-free and keeps the order of characters). A lone U+0001
//! not followed by U+0001 / U+0002 cannot come from [`enc`] and is read back as it is.

use postgres::Row;
use serde_json::Value;
use std::borrow::Cow;

const ESC: char = '\u{1}';

fn needs_escape(s: &str) -> bool {
    s.contains(['\0', ESC])
}

/// The stored form of `s` (see the module doc).
pub(crate) fn enc(s: &str) -> Cow<'_, str> {
    if !needs_escape(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\u{1}\u{1}"),
            ESC => out.push_str("\u{1}\u{2}"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`enc`] of an optional string.
pub(crate) fn enc_opt(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(enc)
}

/// The string a stored value stands for (the inverse of [`enc`]).
pub(crate) fn dec(s: String) -> String {
    if !s.contains(ESC) {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ESC {
            match chars.peek() {
                Some('\u{1}') => {
                    chars.next();
                    out.push('\0');
                }
                Some('\u{2}') => {
                    chars.next();
                    out.push(ESC);
                }
                _ => out.push(ESC),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// [`dec`] of an optional string.
pub(crate) fn dec_opt(s: Option<String>) -> Option<String> {
    s.map(dec)
}

/// Column `i` of `r`, a TEXT written through [`enc`].
pub(crate) fn text(r: &Row, i: usize) -> String {
    dec(r.get(i))
}

/// Column `i` of `r`, a nullable TEXT written through [`enc`].
pub(crate) fn opt_text(r: &Row, i: usize) -> Option<String> {
    dec_opt(r.get(i))
}

fn json_needs_escape(v: &Value) -> bool {
    match v {
        Value::String(s) => needs_escape(s),
        Value::Array(a) => a.iter().any(json_needs_escape),
        Value::Object(o) => o
            .iter()
            .any(|(k, v)| needs_escape(k) || json_needs_escape(v)),
        _ => false,
    }
}

fn map_json(v: &Value, f: &impl Fn(&str) -> String) -> Value {
    match v {
        Value::String(s) => Value::String(f(s)),
        Value::Array(a) => Value::Array(a.iter().map(|v| map_json(v, f)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (f(k), map_json(v, f))).collect()),
        v => v.clone(),
    }
}

/// The stored form of a JSON document for a JSONB column: every string and key through
/// [`enc`] (so no `\u0000` reaches PostgreSQL).
pub(crate) fn enc_json(v: &Value) -> Cow<'_, Value> {
    if json_needs_escape(v) {
        Cow::Owned(map_json(v, &|s| enc(s).into_owned()))
    } else {
        Cow::Borrowed(v)
    }
}

/// [`enc_json`] of an optional document.
pub(crate) fn enc_json_opt(v: &Option<Value>) -> Option<Cow<'_, Value>> {
    v.as_ref().map(enc_json)
}

/// The document a stored JSONB value stands for (the inverse of [`enc_json`]).
pub(crate) fn dec_json(v: Value) -> Value {
    if json_has_esc(&v) {
        map_json(&v, &|s| dec(s.to_owned()))
    } else {
        v
    }
}

fn json_has_esc(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains(ESC),
        Value::Array(a) => a.iter().any(json_has_esc),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains(ESC) || json_has_esc(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_round_trip_and_plain_ones_stay_as_they_are() {
        for s in [
            "",
            "plain",
            "\0",
            "a\0b",
            "\u{1}",
            "\u{1}\u{1}",
            "\u{1}\u{2}",
            "\0\u{1}\0\u{2}",
            "ü\0€",
        ] {
            let e = enc(s);
            assert!(!e.contains('\0'), "{s:?} stored with a NUL: {e:?}");
            assert_eq!(dec(e.into_owned()), s);
        }
        assert!(matches!(enc("plain"), Cow::Borrowed("plain")));
        // Lone escapes that `enc` never writes are read as they are.
        assert_eq!(dec("x\u{1}".into()), "x\u{1}");
        assert_eq!(dec("\u{1}y".into()), "\u{1}y");
    }

    #[test]
    fn stored_forms_keep_the_order_of_the_strings() {
        let mut v = [
            "a", "a\0", "a\0\0", "a\u{1}", "a\u{2}", "\0", "b", "a\u{1}\0",
        ];
        v.sort();
        let mut stored: Vec<String> = v.iter().map(|s| enc(s).into_owned()).collect();
        let before = stored.clone();
        stored.sort();
        assert_eq!(stored, before);
    }

    #[test]
    fn json_round_trips_with_nul_in_keys_and_values() {
        let v = json!({"a\0": ["x\0y", {"\u{1}": "\u{1}\0"}], "n": 1, "plain": "p"});
        let e = enc_json(&v).into_owned();
        assert!(!e.to_string().contains("\\u0000"));
        assert_eq!(dec_json(e), v);
        let plain = json!({"k": "v"});
        assert!(matches!(enc_json(&plain), Cow::Borrowed(_)));
    }
}
