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
    fn receipts_bind_link_and_number() {
        let key = [1u8; 32];
        let r = receipt(&key, "abc", 5);
        assert_eq!(check_receipt(&key, "abc", &r), Some(5));
        assert_eq!(check_receipt(&key, "abd", &r), None);
        assert_eq!(check_receipt(&key, "abc", &r.replace(".5.", ".6.")), None);
        assert_eq!(check_receipt(&[2u8; 32], "abc", &r), None);
    }
}
