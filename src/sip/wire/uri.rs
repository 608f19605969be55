//! SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966).

use super::error::ParseError;
use super::header::Params;
use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
}

/// A host: name, IPv4, or IPv6 (written `[...]` on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// Domain name, lower-cased.
    Name(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        todo!()
    }
}

/// A parsed URI. For `tel:` the number is in `user` and `host` is `Host::Name("")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    pub scheme: Scheme,
    /// User part with %-escapes resolved.
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: Host,
    pub port: Option<u16>,
    /// `;name=value` URI parameters (transport, lr, user, ...).
    pub params: Params,
    /// `?name=value&...` URI headers, escapes resolved.
    pub headers: Vec<(String, String)>,
}

impl Uri {
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        todo!()
    }
    /// `user@host` without scheme, port or params: the address-of-record key.
    pub fn aor(&self) -> String {
        todo!()
    }
}

impl std::fmt::Display for Uri {
    /// Writes the URI with escapes re-applied where needed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        todo!()
    }
}
