//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760), sans-IO.
//!
//! Server side: a [`NonceManager`] issues stateless nonces (timestamp + MAC) and
//! remembers the highest nonce-count seen per nonce in a bounded table;
//! [`verify`](fn@verify) turns an `Authorization` header into a [`Verdict`] such that an
//! unknown user and a wrong password look the same on the wire.
//!
//! Client side (trunks): [`Challenge::parse`] reads a `WWW-Authenticate` /
//! `Proxy-Authenticate` value and [`answer`] builds the [`Credentials`] to send back.
//!
//! Supported: algorithms MD5 and SHA-256, `qop=auth`, and the RFC 2069 no-qop form that
//! old phones (and SIPp without qop) still use. Not supported: `-sess` algorithms,
//! `qop=auth-int`, `userhash`.
//!
//! Nothing here reads a clock or a socket: `now_unix_ms` is always an argument.

use std::fmt;

mod challenge;
mod credentials;
mod digest;
mod nonce;
mod params;
mod verify;

pub use challenge::{challenge_in, Challenge};
pub use credentials::{answer, Credentials};
pub(crate) use digest::hex;
pub use digest::{ct_eq, ha1, response};
pub use nonce::{random_secret, NonceManager, NonceStatus};
pub use verify::{verify, RejectReason, Verdict};

/// Digest hash algorithm. The `-sess` variants are recognised but refused
/// ([`AuthError::Unsupported`]) because no SIP peer we target needs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5`: the default when a header has no `algorithm` parameter.
    Md5,
    /// `SHA-256` (RFC 7616, RFC 8760).
    Sha256,
}

impl Algorithm {
    /// The name as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses a wire name, case-insensitively.
    pub fn parse(s: &str) -> Result<Algorithm, AuthError> {
        if s.eq_ignore_ascii_case("MD5") {
            Ok(Algorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Ok(Algorithm::Sha256)
        } else if s.eq_ignore_ascii_case("MD5-sess") || s.eq_ignore_ascii_case("SHA-256-sess") {
            Err(AuthError::Unsupported(format!(
                "algorithm {s} (session variants are not supported; use MD5 or SHA-256)"
            )))
        } else {
            Err(AuthError::Unsupported(format!(
                "algorithm {s:?} (supported: MD5, SHA-256)"
            )))
        }
    }

    /// Length in hex characters of a digest made with this algorithm.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 => 64,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an authentication header could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// The header is not well formed; the text says where.
    Malformed(String),
    /// A required parameter is absent.
    Missing(&'static str),
    /// Well formed but asks for something we do not implement (scheme, algorithm, qop).
    Unsupported(String),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Malformed(m) => write!(f, "malformed digest header: {m}"),
            AuthError::Missing(p) => write!(f, "digest header lacks required parameter {p}"),
            AuthError::Unsupported(m) => write!(f, "unsupported digest feature: {m}"),
        }
    }
}

impl std::error::Error for AuthError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names() {
        assert_eq!(Algorithm::parse("md5"), Ok(Algorithm::Md5));
        assert_eq!(Algorithm::parse("sha-256"), Ok(Algorithm::Sha256));
        assert_eq!(
            Algorithm::parse("SHA-256").map(|a| a.to_string()),
            Ok("SHA-256".into())
        );
        assert!(matches!(
            Algorithm::parse("MD5-sess"),
            Err(AuthError::Unsupported(_))
        ));
        assert!(matches!(
            Algorithm::parse("sha-256-SESS"),
            Err(AuthError::Unsupported(_))
        ));
        assert!(matches!(
            Algorithm::parse("SHA-512-256"),
            Err(AuthError::Unsupported(_))
        ));
    }
}
