//! TLS: a CA the sim generates (or reloads from the state directory) and a server certificate
//! for `127.0.0.1`, `::1` and `localhost` signed by it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct Tls {
    pub ca_pem: String,
    pub ca_file: PathBuf,
    /// The temporary directory holding the CA when no state directory was given (removed
    /// when the sim is dropped).
    pub temp_dir: Option<PathBuf>,
    pub server_config: Arc<rustls::ServerConfig>,
}

fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "o365-sim test CA");
    dn.push(DnType::OrganizationName, "o365-sim");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2099, 1, 1);
    Ok(p)
}

/// Creates (or reloads from `state_dir`) the CA, writes `ca.pem`, and builds the server config.
pub fn setup(state_dir: Option<&Path>) -> anyhow::Result<Tls> {
    let temp = state_dir.is_none();
    let dir = match state_dir {
        Some(d) => d.to_path_buf(),
        None => {
            let d = std::env::temp_dir().join(format!(
                "o365-sim-{}-{}",
                std::process::id(),
                crate::state::random_token(6).replace(['-', '_'], "x")
            ));
            std::fs::create_dir_all(&d)?;
            d
        }
    };
    let key_path = dir.join("ca-key.pem");
    let ca_path = dir.join("ca.pem");
    let ca_key = if key_path.exists() {
        KeyPair::from_pem(&std::fs::read_to_string(&key_path)?)?
    } else {
        let k = KeyPair::generate()?;
        std::fs::write(&key_path, k.serialize_pem())?;
        k
    };
    // The same key and distinguished name make an equivalent trust anchor, so a reloaded CA
    // keeps validating for clients that trust the ca.pem written the first time.
    let ca_cert = ca_params()?.self_signed(&ca_key)?;
    let ca_pem = if ca_path.exists() && key_path.exists() {
        std::fs::read_to_string(&ca_path)?
    } else {
        String::new()
    };
    let ca_pem = if ca_pem.contains("BEGIN CERTIFICATE") {
        ca_pem
    } else {
        let pem = ca_cert.pem();
        std::fs::write(&ca_path, &pem)?;
        pem
    };

    let mut sp = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "localhost".to_string(),
    ])?;
    sp.distinguished_name
        .push(DnType::CommonName, "o365-sim server");
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    sp.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    sp.not_before = rcgen::date_time_ymd(2020, 1, 1);
    sp.not_after = rcgen::date_time_ymd(2099, 1, 1);
    let server_key = KeyPair::generate()?;
    let server_cert = sp.signed_by(&server_key, &ca_cert, &ca_key)?;

    let certs = vec![CertificateDer::from(server_cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem,
        ca_file: ca_path,
        temp_dir: temp.then(|| dir.clone()),
        server_config: Arc::new(cfg),
    })
}
