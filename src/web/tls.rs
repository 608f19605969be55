//! The web page's TLS identity: a key and a self-signed certificate the box makes at
//! first start, and the rustls configuration that serves them.
//!
//! Self-signed because a box on a LAN has no public name a CA could vouch for. The
//! browser warns once; the operator checks the SHA-256 fingerprint it shows against the
//! one the box prints (`loopstart web fingerprint`, and its log at every start). The
//! key is ECDSA P-256: made in milliseconds on a small ARM core, and every browser takes
//! it. Key and certificate are one PEM file, written whole (app::secrets::file_secret),
//! so a power cut at first boot cannot leave a key without its certificate.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest as _, Sha256};

/// What went wrong with the identity, worded for the operator.
#[derive(Debug)]
pub enum TlsError {
    Generate(String),
    /// The PEM file is unreadable as key + certificate.
    Pem(String),
    Config(String),
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsError::Generate(e) => write!(f, "cannot make the web page's TLS key: {e}"),
            TlsError::Pem(e) => write!(
                f,
                "the web page's TLS file is damaged ({e}): delete it and restart to make a new one"
            ),
            TlsError::Config(e) => write!(f, "cannot set up TLS for the web page: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// A fresh key and self-signed certificate for `names` (host names or IP addresses),
/// as one PEM text: the private key, then the certificate.
pub fn generate_pem(names: &[String]) -> Result<String, TlsError> {
    let key = rcgen::KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let cn = names.first().map(String::as_str).unwrap_or("loopstart");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("loopstart {cn}"));
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "loopstart gateway");
    let cert = params
        .self_signed(&key)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok(format!("{}{}", key.serialize_pem(), cert.pem()))
}

/// The names a box's certificate carries: its host name (and `.local`, for mDNS),
/// `localhost`, and the loopback addresses.
pub fn default_names(hostname: &str) -> Vec<String> {
    let mut names = Vec::new();
    let host = hostname.trim();
    if !host.is_empty() && host != "localhost" {
        names.push(host.to_string());
        if !host.contains('.') {
            names.push(format!("{host}.local"));
        }
    }
    names.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    names
}

/// A key and certificate read back from the PEM file.
pub struct Identity {
    pub cert: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    pub fn from_pem(pem: &str) -> Result<Identity, TlsError> {
        let key = PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| TlsError::Pem(format!("private key: {e:?}")))?;
        let cert = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| TlsError::Pem(format!("certificate: {e:?}")))?;
        Ok(Identity { cert, key })
    }

    /// The certificate's SHA-256, as browsers show it (`AB:CD:...`).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.cert)
    }

    /// rustls' server settings: TLS 1.2 and 1.3 on ring, HTTP/1.1 only.
    pub fn server_config(self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert], self.key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// SHA-256 of a DER certificate, upper-case hex pairs joined by colons.
pub fn fingerprint(cert_der: &[u8]) -> String {
    let digest = Sha256::digest(cert_der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_identity_reads_back_and_serves() {
        let pem = generate_pem(&default_names("gw1")).unwrap();
        assert!(pem.contains("BEGIN PRIVATE KEY"), "{pem}");
        assert!(pem.contains("BEGIN CERTIFICATE"), "{pem}");
        let id = Identity::from_pem(&pem).unwrap();
        let fp = id.fingerprint();
        assert_eq!(fp.len(), 32 * 3 - 1, "{fp}");
        assert!(id.server_config().is_ok());
        // Each box its own key.
        let other = Identity::from_pem(&generate_pem(&default_names("gw1")).unwrap()).unwrap();
        assert_ne!(other.fingerprint(), fp);
    }

    #[test]
    fn names_cover_the_host_mdns_and_loopback() {
        assert_eq!(
            default_names("gw1\n"),
            ["gw1", "gw1.local", "localhost", "127.0.0.1", "::1"]
        );
        assert_eq!(default_names(""), ["localhost", "127.0.0.1", "::1"]);
        assert_eq!(
            default_names("gw.example.net")[0..2],
            ["gw.example.net", "localhost"]
        );
    }

    #[test]
    fn a_damaged_file_says_what_to_do() {
        let e = Identity::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("delete it and restart"), "{e}");
    }
}
