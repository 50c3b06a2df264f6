//! RS256 JSON Web Tokens: the signing key, signing, verification and the JWKS document.

use std::path::Path;
use std::sync::OnceLock;

use base64::Engine;
use rsa::pkcs1v15::Pkcs1v15Sign;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::state::b64url;

pub struct Keys {
    private: RsaPrivateKey,
    public: RsaPublicKey,
    pub kid: String,
}

static PROCESS_KEY: OnceLock<RsaPrivateKey> = OnceLock::new();

fn generate() -> RsaPrivateKey {
    RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key generation")
}

impl Keys {
    /// Loads the key from `dir/jwt-key.pem` or creates it there. Without a directory, one key
    /// is generated per process and shared by all sims in it (RSA key generation is slow).
    pub fn load_or_create(dir: Option<&Path>) -> anyhow::Result<Keys> {
        let private = match dir {
            Some(d) => {
                let p = d.join("jwt-key.pem");
                if p.exists() {
                    RsaPrivateKey::from_pkcs8_pem(&std::fs::read_to_string(&p)?)
                        .map_err(|e| anyhow::anyhow!("bad key {}: {e}", p.display()))?
                } else {
                    let k = PROCESS_KEY.get_or_init(generate).clone();
                    let pem = k
                        .to_pkcs8_pem(LineEnding::LF)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    std::fs::write(&p, pem.as_bytes())?;
                    k
                }
            }
            None => PROCESS_KEY.get_or_init(generate).clone(),
        };
        let public = RsaPublicKey::from(&private);
        // The key id names the key; without a state directory it also names this sim
        // instance, so tokens of another sim in the same process (which shares the RSA key,
        // as generating one is slow) are refused like tokens signed with an unknown key.
        let kid = {
            let mut h = Sha256::new();
            h.update(public.n().to_bytes_be());
            if dir.is_none() {
                h.update(crate::state::random_bytes(16));
            }
            b64url(&h.finalize()[..20])
        };
        Ok(Keys {
            private,
            public,
            kid,
        })
    }

    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": "RS256", "x5t": self.kid, "kid": self.kid});
        let h = b64url(header.to_string().as_bytes());
        let p = b64url(claims.to_string().as_bytes());
        let signing_input = format!("{h}.{p}");
        let digest = Sha256::digest(signing_input.as_bytes());
        let sig = self
            .private
            .sign(Pkcs1v15Sign::new::<Sha256>(), &digest)
            .expect("RSA sign");
        format!("{signing_input}.{}", b64url(&sig))
    }

    /// Verifies the signature and returns the claims. Expiry is checked by the caller.
    pub fn verify(&self, token: &str) -> Result<Value, &'static str> {
        let mut parts = token.split('.');
        let (h, p, s) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(h), Some(p), Some(s), None) => (h, p, s),
            _ => return Err("IDX14100: JWT is not well formed, there are no dots (.)."),
        };
        let dec = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header: Value = dec
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("IDX14102: Unable to decode the header as Base64Url encoded string.")?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err("IDX10511: Signature validation failed. Unsupported algorithm.");
        }
        if header.get("kid").and_then(Value::as_str) != Some(self.kid.as_str()) {
            return Err("IDX10503: Signature validation failed. Token does not have a kid that matches a known key.");
        }
        let sig = dec
            .decode(s)
            .map_err(|_| "IDX10511: Signature validation failed.")?;
        let digest = Sha256::digest(format!("{h}.{p}").as_bytes());
        self.public
            .verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &sig)
            .map_err(|_| "IDX10511: Signature validation failed.")?;
        dec.decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("IDX14101: Unable to decode the payload as Base64Url encoded string.")
    }

    pub fn jwks(&self, issuer: &str) -> Value {
        json!({"keys": [{
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": b64url(&self.public.n().to_bytes_be()),
            "e": b64url(&self.public.e().to_bytes_be()),
            "issuer": issuer,
        }]})
    }
}

/// Decodes the claims of a JWT without verifying it (for tests and the browser helper).
pub fn decode_unverified(token: &str) -> Option<Value> {
    let p = token.split('.').nth(1)?;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .ok()?;
    serde_json::from_slice(&b).ok()
}
