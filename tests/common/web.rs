//! A small HTTPS client for the web page's tests: it trusts exactly the certificate in
//! the gateway's data dir, or the certificate with a given SHA-256 fingerprint (what an
//! operator compares in the browser), so a page served with any other key fails the
//! handshake; one request per connection, from a chosen 127.0.0.x if asked.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};

/// An answer: status, headers (names lower-cased), body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `name=value` of the Set-Cookie header, for the next request's Cookie.
    pub fn cookie(&self) -> Option<String> {
        let c = self.header("set-cookie")?;
        Some(c.split(';').next()?.trim().to_string())
    }
}

#[derive(Clone)]
pub struct WebClient {
    pub addr: SocketAddr,
    from: Option<IpAddr>,
    config: Arc<rustls::ClientConfig>,
}

/// The certificate in a PEM file holding key + certificate (the gateway's
/// secrets/web-tls.pem).
pub fn certificate_in(pem_file: &Path) -> CertificateDer<'static> {
    let pem =
        std::fs::read(pem_file).unwrap_or_else(|e| panic!("read {}: {e}", pem_file.display()));
    CertificateDer::from_pem_slice(&pem).expect("a certificate in the PEM file")
}

impl WebClient {
    /// A client for the page at `addr` that trusts only `cert`.
    pub fn new(addr: SocketAddr, cert: CertificateDer<'static>) -> WebClient {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(cert)
            .expect("the box's certificate as a trust anchor");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        WebClient {
            addr,
            from: None,
            config: Arc::new(config),
        }
    }

    /// A client that trusts only the certificate whose SHA-256 is `fingerprint`
    /// (`AB:CD:...`, as `web status` prints it), whatever names it carries.
    pub fn pinned(addr: SocketAddr, fingerprint: &str) -> WebClient {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(Pinned {
            fingerprint: fingerprint.to_ascii_uppercase(),
            algorithms: provider.signature_verification_algorithms,
        });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        WebClient {
            addr,
            from: None,
            config: Arc::new(config),
        }
    }

    /// The same client, sending from `ip` (a 127.0.0.x: not the whitelisted box).
    pub fn from(&self, ip: &str) -> WebClient {
        WebClient {
            from: Some(ip.parse().expect("an IP")),
            ..self.clone()
        }
    }

    /// A TCP connection to the page, from the chosen address.
    pub fn connect(&self) -> std::io::Result<TcpStream> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(self.addr),
            socket2::Type::STREAM,
            None,
        )?;
        if let Some(ip) = self.from {
            socket.bind(&SocketAddr::new(ip, 0).into())?;
        }
        socket.connect_timeout(&self.addr.into(), Duration::from_secs(5))?;
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(Duration::from_secs(15)))?;
        stream.set_write_timeout(Some(Duration::from_secs(15)))?;
        Ok(stream)
    }

    /// Sends raw bytes over TLS and reads the answer to the end.
    pub fn raw(&self, request: &[u8]) -> std::io::Result<Reply> {
        let tcp = self.connect()?;
        let name = ServerName::try_from("localhost").expect("server name");
        let conn = rustls::ClientConnection::new(self.config.clone(), name)
            .map_err(std::io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(request)?;
        tls.flush()?;
        let mut bytes = Vec::new();
        match tls.read_to_end(&mut bytes) {
            Ok(_) => {}
            // The server closed without close_notify after a whole answer: fine.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !bytes.is_empty() => {}
            Err(e) => return Err(e),
        }
        parse_reply(&bytes)
    }

    pub fn get(&self, path: &str, cookie: Option<&str>) -> std::io::Result<Reply> {
        let cookie = cookie
            .map(|c| format!("Cookie: {c}\r\n"))
            .unwrap_or_default();
        self.raw(
            format!(
                "GET {path} HTTP/1.1\r\nHost: localhost:{}\r\n{cookie}\r\n",
                self.addr.port()
            )
            .as_bytes(),
        )
    }

    pub fn post_form(
        &self,
        path: &str,
        form: &str,
        cookie: Option<&str>,
    ) -> std::io::Result<Reply> {
        let cookie = cookie
            .map(|c| format!("Cookie: {c}\r\n"))
            .unwrap_or_default();
        let port = self.addr.port();
        self.raw(
            format!(
                "POST {path} HTTP/1.1\r\nHost: localhost:{port}\r\n\
                 Origin: https://localhost:{port}\r\n{cookie}\
                 Content-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\n\r\n{form}",
                form.len()
            )
            .as_bytes(),
        )
    }

    /// Logs in; returns the session cookie.
    pub fn login(&self, password: &str) -> String {
        let r = self
            .post_form(
                "/login",
                &format!("password={}", form_encode(password)),
                None,
            )
            .expect("POST /login");
        assert_eq!(r.status, 303, "login refused: {r:?}");
        r.cookie().expect("a session cookie")
    }

    /// Waits until the page answers (its process starts after the gateway's ready line).
    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            match self.get("/login", None) {
                Ok(r) if r.status == 200 => return,
                other if Instant::now() >= deadline => {
                    panic!("the web page did not answer within {timeout:?}: {other:?}")
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn parse_reply(bytes: &[u8]) -> std::io::Result<Reply> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP head in {text:?}")))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: body.to_string(),
    })
}

/// Trusts one certificate, by its SHA-256; the handshake's signatures are still checked.
#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(end_entity.as_ref());
        let got: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
        if got.join(":") == self.fingerprint {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate {} is not the pinned {}",
                got.join(":"),
                self.fingerprint
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
