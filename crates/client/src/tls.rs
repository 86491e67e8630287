//! TLS for talking to the API (security review L2): a client's trusted roots from a PEM file.
//! rustls with the *ring* provider, passed explicitly everywhere (ring is already compiled for
//! libp2p's noise in the node; the default aws-lc-rs provider is a long C build). The node's
//! server side (`tenge_api::tls::server_config`) builds on the same helpers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why a TLS certificate, key or CA bundle cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { path: PathBuf },
    #[error("{path}: {reason}")]
    Rejected { path: PathBuf, reason: String },
}

/// The ring provider, for every rustls configuration we build.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes ring the process's default rustls provider, so that any reqwest client built without a
/// preconfigured TLS setup finds one (reqwest's `rustls-no-provider` panics otherwise). Safe to
/// call many times.
pub fn install_default_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing the same provider is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Every PEM certificate in `path`, in order; none is an error.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read = |e: &dyn std::fmt::Display| TlsError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| read(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read(&e))?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certificates)
}

/// The client side: trust exactly the CA certificates in `ca_file` (no system roots).
pub fn client_config(ca_file: &Path) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates(ca_file)? {
        roots.add(certificate).map_err(|e| TlsError::Rejected {
            path: ca_file.to_owned(),
            reason: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(client_config_with_roots(roots))
}

/// A client configuration trusting `roots` only; with no roots every HTTPS server is refused.
pub fn client_config_with_roots(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}
