//! The token vault's cipher: AES-256-GCM with a random 96-bit nonce per seal.
//!
//! Sealed blobs are `version (1 byte) || nonce (12) || ciphertext+tag`. The associated data
//! binds a blob to its purpose and row (e.g. `token:<mailbox id>`), so a blob copied to
//! another mailbox's row does not open.

use crate::config::{decode_key, key_file_for, Config};
use crate::error::{Error, Fault, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;
use std::path::Path;

const VERSION: u8 = 1;

/// Where the key came from (reported by `o365_client_new`; never the key itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Config,
    Environment,
    KeyFile,
    NewKeyFile,
}

#[derive(Clone)]
pub struct Vault {
    cipher: Aes256Gcm,
    pub source: KeySource,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("source", &self.source)
            .finish()
    }
}

impl Vault {
    pub fn from_key(key: &[u8; 32], source: KeySource) -> Vault {
        Vault {
            cipher: Aes256Gcm::new(key.into()),
            source,
        }
    }

    /// The key from the config, else `O365_ENCRYPTION_KEY`, else the key file beside the
    /// store (created with mode 0600 when missing).
    pub fn load(cfg: &Config) -> Result<Vault> {
        if let Some(k) = &cfg.encryption_key {
            let key = decode_key(k).map_err(|m| Error::invalid_field("encryption_key", m))?;
            return Ok(Vault::from_key(&key, KeySource::Config));
        }
        if let Ok(k) = std::env::var("O365_ENCRYPTION_KEY") {
            let key = decode_key(&k).map_err(|m| {
                Error::invalid_field("encryption_key", format!("O365_ENCRYPTION_KEY: {m}"))
            })?;
            return Ok(Vault::from_key(&key, KeySource::Environment));
        }
        let path = key_file_for(&cfg.store_path());
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let key = decode_key(&text).map_err(|m| {
                    Error::store(format!("key file '{}' is damaged: {m}", path.display()))
                })?;
                Ok(Vault::from_key(&key, KeySource::KeyFile))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = create_key_file(&path)?;
                Ok(Vault::from_key(&key, KeySource::NewKeyFile))
            }
            Err(e) => Err(Error::store(format!(
                "cannot read key file '{}': {e}",
                path.display()
            ))),
        }
    }

    /// Encrypts `plain`, bound to `aad`.
    pub fn seal(&self, aad: &str, plain: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("encryption failed"))?;
        let mut out = Vec::with_capacity(1 + 12 + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts a blob sealed with the same key and `aad`.
    pub fn open(&self, aad: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < 1 + 12 + 16 || sealed[0] != VERSION {
            return Err(Error::Store(Fault::new(
                "sealed_data_damaged",
                "sealed data is damaged",
            )));
        }
        self.cipher
            .decrypt(
                Nonce::from_slice(&sealed[1..13]),
                Payload {
                    msg: &sealed[13..],
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| {
                Error::Store(Fault::new(
                    "wrong_encryption_key",
                    "stored secrets cannot be decrypted with the configured encryption key",
                ))
                .with_hint("use the key the store was created with (config encryption_key, O365_ENCRYPTION_KEY or the key file beside the store), or sign the mailbox in again")
            })
    }
}

fn create_key_file(path: &Path) -> Result<[u8; 32]> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let text = base64::engine::general_purpose::STANDARD.encode(key);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match file {
        Ok(mut f) => {
            f.write_all(text.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| {
                    Error::store(format!("cannot write key file '{}': {e}", path.display()))
                })?;
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            for _ in 0..50 {
                if let Ok(t) = std::fs::read_to_string(path) {
                    if let Ok(k) = decode_key(&t) {
                        return Ok(k);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(Error::store(format!(
                "key file '{}' is unreadable",
                path.display()
            )))
        }
        Err(e) => Err(Error::store(format!(
            "cannot create key file '{}': {e}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_binding() {
        let v = Vault::from_key(&[7u8; 32], KeySource::Config);
        let s = v.seal("token:m1", b"secret-refresh-token").unwrap();
        assert!(!s.windows(6).any(|w| w == b"secret"));
        assert_eq!(v.open("token:m1", &s).unwrap(), b"secret-refresh-token");
        assert_eq!(
            v.open("token:m2", &s).unwrap_err().kind(),
            "wrong_encryption_key"
        );
        let other = Vault::from_key(&[8u8; 32], KeySource::Config);
        assert_eq!(
            other.open("token:m1", &s).unwrap_err().kind(),
            "wrong_encryption_key"
        );
    }

    #[test]
    fn key_file_is_created_0600_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("x.db");
        let cfg = Config::from_json(&format!(r#"{{"store": "{}"}}"#, store.display())).unwrap();
        std::env::remove_var("O365_ENCRYPTION_KEY");
        let v1 = Vault::load(&cfg).unwrap();
        assert_eq!(v1.source, KeySource::NewKeyFile);
        let meta = std::fs::metadata(key_file_for(&store)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let sealed = v1.seal("a", b"b").unwrap();
        let v2 = Vault::load(&cfg).unwrap();
        assert_eq!(v2.source, KeySource::KeyFile);
        assert_eq!(v2.open("a", &sealed).unwrap(), b"b");
    }
}
