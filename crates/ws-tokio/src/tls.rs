//! rustls configuration from PEM files.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn invalid(what: &str, path: &Path, err: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} {}: {err}", path.display()),
    )
}

/// A server configuration from a PEM certificate chain and private key, offering HTTP/1.1.
pub fn server_config(cert_path: &Path, key_path: &Path) -> io::Result<Arc<rustls::ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| invalid("reading certificates from", cert_path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| invalid("parsing certificates in", cert_path, e))?;
    if certs.is_empty() {
        return Err(invalid("no certificate in", cert_path, "empty"));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| invalid("reading private key from", key_path, e))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid("using certificate", cert_path, e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration trusting the Mozilla roots plus any certificates in `extra_ca`.
pub fn client_config(extra_ca: Option<&Path>) -> io::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = extra_ca {
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| invalid("reading", path, e))? {
            let cert = cert.map_err(|e| invalid("parsing", path, e))?;
            roots.add(cert).map_err(|e| invalid("trusting", path, e))?;
        }
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
