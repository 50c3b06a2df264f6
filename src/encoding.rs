//! Percent-encoding, with the byte sets named for where they are used (the `percent-encoding`
//! crate does the work). Every set encodes all but ASCII letters and digits, and keeps the
//! characters listed.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// RFC 3986 unreserved (`-._~`): form values and query parameters.
pub const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A Graph id in a path segment: unreserved plus `=` (the padding of Graph's base64 ids,
/// allowed in a path segment by RFC 3986 and kept so ids read as Microsoft prints them).
pub const GRAPH_ID_SEGMENT: &AsciiSet = &UNRESERVED.remove(b'=');

/// An address in `users/{address}`: unreserved plus `@`; `'`, `+`, `#`, `?`, `/` are encoded
/// so they never change the request's meaning.
pub const USER_ADDRESS: &AsciiSet = &UNRESERVED.remove(b'@');

/// RFC 8187 `attr-char` (the `filename*` of a Content-Disposition header).
pub const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `s` percent-encoded (UTF-8, upper-case hex) with every byte outside `keep`.
pub fn encode(s: &str, keep: &'static AsciiSet) -> String {
    utf8_percent_encode(s, keep).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_keep_what_they_name() {
        assert_eq!(encode("a b=c@d~", UNRESERVED), "a%20b%3Dc%40d~");
        assert_eq!(encode("AAMk=/+", GRAPH_ID_SEGMENT), "AAMk=%2F%2B");
        assert_eq!(
            encode("o'brien+x@contoso.com", USER_ADDRESS),
            "o%27brien%2Bx@contoso.com"
        );
        assert_eq!(
            encode("Größe (1).pdf", ATTR_CHAR),
            "Gr%C3%B6%C3%9Fe%20%281%29.pdf"
        );
    }
}
