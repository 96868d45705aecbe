//! A per-run test certificate authority, so the SDKs accept the Entra stand-in's `https://` authority.
//!
//! Both SDKs refuse an `http://` `AZURE_AUTHORITY_HOST` (FIDELITY §3, SDK). Each run makes a fresh CA
//! and a server certificate for `127.0.0.1` and `localhost`; processes under test trust the CA through
//! `SSL_CERT_FILE` (Rust) and `REQUESTS_CA_BUNDLE` (Python), written to a file removed on drop.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The test CA of one run and the TLS configuration of the servers it certifies.
#[derive(Debug)]
pub struct TestCa {
    ca_file: PathBuf,
    server_config: Arc<ServerConfig>,
}

/// The CA could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot generate the test certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot build the TLS configuration: {0}")]
    Config(#[from] tokio_rustls::rustls::Error),
    #[error("cannot write the CA bundle: {0}")]
    Write(#[from] std::io::Error),
}

impl TestCa {
    /// A fresh CA and a server certificate for `127.0.0.1` and `localhost`.
    pub fn generate() -> Result<Self, TlsError> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "session-pool-harness test CA (do not trust)");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate()?;
        let mut server_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        server_params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        let server_cert = server_params.signed_by(&server_key, &issuer)?;

        let chain = vec![
            CertificateDer::from(server_cert.der().to_vec()),
            CertificateDer::from(ca_cert.der().to_vec()),
        ];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let server_config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;

        let ca_file = std::env::temp_dir()
            .join(format!("session-pool-harness-ca-{}.pem", crate::ids::guid()));
        std::fs::write(&ca_file, ca_cert.pem())?;
        Ok(Self { ca_file, server_config: Arc::new(server_config) })
    }

    /// The CA bundle (PEM) for `SSL_CERT_FILE` / `REQUESTS_CA_BUNDLE`.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The TLS configuration for a stand-in.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.server_config.clone()
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}
