//! TLS for the API (security review L2): the server's certificate and key from PEM files. The
//! client side (trusted roots, the ring provider, the error type) lives in `tenge-client` and is
//! re-exported here.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
pub use tenge_client::tls::{
    ClientConfig, TlsError, certificates, client_config, client_config_with_roots,
    install_default_provider, provider,
};

/// The server side: the certificate chain (leaf first) and its private key.
pub fn server_config(
    certificate_file: &Path,
    key_file: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = certificates(certificate_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: key_file.to_owned(),
        },
        e => TlsError::Read {
            path: key_file.to_owned(),
            reason: e.to_string(),
        },
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rejected {
            path: certificate_file.to_owned(),
            reason: e.to_string(),
        })?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Rejected {
            path: key_file.to_owned(),
            reason: format!("certificate and key do not form a usable pair: {e}"),
        })?;
    // The API serves HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
