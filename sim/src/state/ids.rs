//! Random ids and tokens as Microsoft hands them out (GUIDs, Exchange-looking opaque ids,
//! Message-IDs), and the base64 flavours they are written in.

use base64::Engine;
use rand::Rng;

pub fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

pub fn b64std(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::thread_rng().fill(&mut v[..]);
    v
}

/// An opaque random token (URL-safe).
pub fn random_token(bytes: usize) -> String {
    b64url(&random_bytes(bytes))
}

pub fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An Exchange-looking opaque id: prefix + URL-safe base64 with `=` padding.
pub fn exchange_id(prefix: &str, bytes: usize) -> String {
    let b = base64::engine::general_purpose::URL_SAFE.encode(random_bytes(bytes));
    format!("{prefix}{b}")
}

/// Serde helper: bytes as standard base64 (attachment and upload contents in state.json).
pub(crate) mod b64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

pub fn new_message_id() -> String {
    let hex: String = random_bytes(16)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("<{}@EUR01.prod.outlook.example>", hex.to_uppercase())
}
