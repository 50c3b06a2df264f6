//! Link tokens: `<id>.<signature>`. The id is 128 random bits; the signature is an HMAC-SHA256
//! of the id (truncated to 128 bits) under a key only the library knows, so a token cannot be
//! guessed, and a changed token is recognised before the store is even asked.
//! Acceptance receipts (`o365_link_accept`) are signed the same way.

use crate::error::{Error, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const SIG_BYTES: usize = 16;
const ID_BYTES: usize = 16;

/// A fresh random link id (22 URL-safe characters).
pub fn new_id() -> String {
    let mut b = [0u8; ID_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut b);
    B64.encode(b)
}

fn mac(key: &[u8], purpose: &str, data: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(purpose.as_bytes());
    m.update(&[0]);
    m.update(data.as_bytes());
    m
}

fn sign(key: &[u8], purpose: &str, data: &str) -> String {
    let tag = mac(key, purpose, data).finalize().into_bytes();
    B64.encode(&tag[..SIG_BYTES])
}

fn verify(key: &[u8], purpose: &str, data: &str, sig: &str) -> bool {
    match B64.decode(sig) {
        Ok(s) if s.len() == SIG_BYTES => mac(key, purpose, data).verify_truncated_left(&s).is_ok(),
        _ => false,
    }
}

pub fn invalid_link() -> Error {
    Error::invalid(
        "link_invalid",
        "this link is not valid: it was changed or cut off",
    )
    .with_detail("field", "token")
    .with_hint("the recipient should open the link exactly as it came in the mail")
}

/// The token for a link id.
pub fn token(key: &[u8], id: &str) -> String {
    format!("{id}.{}", sign(key, "link", id))
}

/// The link id of a genuine token; `link_invalid` for anything changed.
pub fn open(key: &[u8], token: &str) -> Result<String> {
    let token = token.trim();
    let (id, sig) = token.split_once('.').ok_or_else(invalid_link)?;
    let id_ok = B64.decode(id).map(|b| b.len() == ID_BYTES).unwrap_or(false);
    if !id_ok || !verify(key, "link", id, sig) {
        return Err(invalid_link());
    }
    Ok(id.to_owned())
}

/// A receipt proving that acceptance `seq` of link `id` was recorded.
pub fn receipt(key: &[u8], id: &str, seq: i64) -> String {
    let data = format!("{id}.{seq}");
    format!("{data}.{}", sign(key, "accept", &data))
}

/// Checks a receipt for link `id`; returns its acceptance number.
pub fn check_receipt(key: &[u8], id: &str, receipt: &str) -> Option<i64> {
    let (data, sig) = receipt.trim().rsplit_once('.')?;
    let (rid, seq) = data.rsplit_once('.')?;
    if rid != id || !verify(key, "accept", data, sig) {
        return None;
    }
    seq.parse().ok()
}

/// A random nonce of 96 bits, URL-safe.
pub fn nonce() -> String {
    let mut b = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut b);
    B64.encode(b)
}

/// The accept form's anti-forgery token for link `id`: `<issued ms>.<nonce>.<signature>`.
/// The nonce also goes into a SameSite=Strict cookie that must come back with the form.
pub fn form_token(key: &[u8], id: &str, issued_ms: i64, nonce: &str) -> String {
    let data = format!("{issued_ms}.{nonce}");
    let sig = sign(key, "form", &format!("{id}.{data}"));
    format!("{data}.{sig}")
}

/// Checks a form token for link `id` issued at most `max_age_ms` before `now`; returns its
/// nonce.
pub fn check_form_token(
    key: &[u8],
    id: &str,
    token: &str,
    now: i64,
    max_age_ms: i64,
) -> Option<String> {
    let (data, sig) = token.trim().rsplit_once('.')?;
    let (issued, nonce) = data.split_once('.')?;
    let issued: i64 = issued.parse().ok()?;
    if !verify(key, "form", &format!("{id}.{data}"), sig) {
        return None;
    }
    if now < issued - 60_000 || now - issued > max_age_ms {
        return None;
    }
    Some(nonce.to_owned())
}

/// What one answer of the link page lets the host stream: bytes `[start, start + len)` of
/// file `file` of link `link`. Signed, so `o365_link_read` takes nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub link: String,
    pub file: i64,
    pub start: u64,
    pub len: u64,
    /// Tells answers apart (one `link_downloaded` event per answer).
    pub nonce: String,
    pub client_address: Option<String>,
}

pub fn ticket(key: &[u8], t: &Ticket) -> String {
    let client = B64.encode(t.client_address.as_deref().unwrap_or(""));
    let data = format!(
        "{}.{}.{}.{}.{}.{client}",
        t.link, t.file, t.start, t.len, t.nonce
    );
    format!("{data}.{}", sign(key, "stream", &data))
}

pub fn open_ticket(key: &[u8], text: &str) -> Result<Ticket> {
    let bad = || {
        Error::invalid(
            "stream_invalid",
            "this stream id was not issued by o365_link_page (changed or cut off)",
        )
        .with_detail("field", "stream")
    };
    let (data, sig) = text.trim().rsplit_once('.').ok_or_else(bad)?;
    if !verify(key, "stream", data, sig) {
        return Err(bad());
    }
    let p: Vec<&str> = data.split('.').collect();
    if p.len() != 6 {
        return Err(bad());
    }
    let client = String::from_utf8(B64.decode(p[5]).map_err(|_| bad())?).map_err(|_| bad())?;
    Ok(Ticket {
        link: p[0].to_owned(),
        file: p[1].parse().map_err(|_| bad())?,
        start: p[2].parse().map_err(|_| bad())?,
        len: p[3].parse().map_err(|_| bad())?,
        nonce: p[4].to_owned(),
        client_address: Some(client).filter(|c| !c.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_tampering_is_caught() {
        let key = [7u8; 32];
        let id = new_id();
        assert_eq!(id.len(), 22);
        assert_ne!(id, new_id());
        let t = token(&key, &id);
        assert_eq!(open(&key, &t).unwrap(), id);
        // every single-character change is refused
        for i in 0..t.len() {
            let mut b = t.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(b).unwrap();
            if changed != t {
                assert_eq!(
                    open(&key, &changed).unwrap_err().kind(),
                    "link_invalid",
                    "{changed}"
                );
            }
        }
        assert!(open(&[8u8; 32], &t).is_err(), "other key");
        assert!(open(&key, &id).is_err(), "no signature");
        assert!(open(&key, "").is_err());
        assert!(open(&key, &format!("{}x", t)).is_err());
    }

    #[test]
    fn form_tokens_and_tickets_are_bound_and_signed() {
        let key = [3u8; 32];
        let f = form_token(&key, "L", 1000, "n1");
        assert_eq!(
            check_form_token(&key, "L", &f, 2000, 3_600_000).as_deref(),
            Some("n1")
        );
        assert_eq!(
            check_form_token(&key, "M", &f, 2000, 3_600_000),
            None,
            "other link"
        );
        assert_eq!(
            check_form_token(&key, "L", &f, 5_000_000, 3_600_000),
            None,
            "too old"
        );
        assert_eq!(
            check_form_token(&key, "L", &f.replace("n1", "n2"), 2000, 3_600_000),
            None
        );
        let t = Ticket {
            link: "L".into(),
            file: 2,
            start: 10,
            len: 20,
            nonce: nonce(),
            client_address: Some("203.0.113.1".into()),
        };
        let s = ticket(&key, &t);
        assert_eq!(open_ticket(&key, &s).unwrap(), t);
        assert!(open_ticket(&key, &s.replace(".10.", ".0.")).is_err());
        assert!(open_ticket(&[4u8; 32], &s).is_err());
        assert!(open_ticket(&key, "x").is_err());
    }

    #[test]
    fn receipts_bind_link_and_number() {
        let key = [1u8; 32];
        let r = receipt(&key, "abc", 5);
        assert_eq!(check_receipt(&key, "abc", &r), Some(5));
        assert_eq!(check_receipt(&key, "abd", &r), None);
        assert_eq!(check_receipt(&key, "abc", &r.replace(".5.", ".6.")), None);
        assert_eq!(check_receipt(&[2u8; 32], "abc", &r), None);
    }
}
