//! SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966).

use super::error::{ParseError, ParseErrorKind};
use super::header::{Param, Params};
use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
}

impl Scheme {
    pub fn as_str(&self) -> &'static str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
        }
    }
}

/// A host: name, IPv4, or IPv6 (written `[...]` on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// Domain name, lower-cased.
    Name(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl Host {
    /// Parses `name`, `1.2.3.4` or `[v6]`.
    pub fn parse(s: &str) -> Result<Host, ParseError> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| bad_uri(format!("unterminated IPv6 reference {s:?}")))?;
            return inner
                .parse::<Ipv6Addr>()
                .map(Host::V6)
                .map_err(|_| bad_uri(format!("bad IPv6 address {inner:?}")));
        }
        if s.is_empty() {
            return Err(bad_uri("empty host"));
        }
        if let Ok(v4) = s.parse::<Ipv4Addr>() {
            return Ok(Host::V4(v4));
        }
        let valid = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !valid || s.starts_with('.') || s.starts_with('-') {
            return Err(bad_uri(format!("bad host name {s:?}")));
        }
        Ok(Host::Name(s.to_ascii_lowercase()))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(a) => write_ipv4(f, a),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Dotted-quad IPv4, built on the stack and written in one piece: hosts are written
/// into every Via, Contact and transaction key.
pub(crate) fn write_ipv4(f: &mut impl fmt::Write, ip: &std::net::Ipv4Addr) -> fmt::Result {
    let mut buf = [0u8; 15];
    let mut len = 0;
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            buf[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            buf[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            buf[len] = b'0' + octet / 10 % 10;
            len += 1;
        }
        buf[len] = b'0' + octet % 10;
        len += 1;
    }
    // Only ASCII digits and dots were written.
    f.write_str(std::str::from_utf8(&buf[..len]).map_err(|_| fmt::Error)?)
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

fn bad_uri(detail: impl Into<String>) -> ParseError {
    ParseError::new(ParseErrorKind::BadUri, detail)
}

impl Uri {
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        let s = s.trim();
        let (scheme, rest) = s
            .split_once(':')
            .ok_or_else(|| bad_uri(format!("URI {s:?} has no scheme")))?;
        let scheme = if scheme.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if scheme.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            return Err(bad_uri(format!("unsupported URI scheme {scheme:?}")));
        };
        if rest
            .bytes()
            .any(|b| b <= b' ' || b == b'<' || b == b'>' || b == b'"' || b >= 0x7f)
        {
            return Err(bad_uri(format!(
                "URI {s:?} contains characters that must be escaped"
            )));
        }
        if scheme == Scheme::Tel {
            let (number, params) = match rest.split_once(';') {
                Some((n, p)) => (n, parse_uri_params(p)?),
                None => (rest, Params::default()),
            };
            if number.is_empty() {
                return Err(bad_uri("tel URI without a number"));
            }
            return Ok(Uri {
                scheme,
                user: Some(unescape(number)?),
                password: None,
                host: Host::Name(String::new()),
                port: None,
                params,
                headers: Vec::new(),
            });
        }
        let (userinfo, hostpart) = match rest.find('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.split_once(':') {
                    Some((u, p)) => (u, Some(unescape(p)?)),
                    None => (ui, None),
                };
                if u.is_empty() {
                    return Err(bad_uri("empty user part before @"));
                }
                (Some(unescape(u)?), p)
            }
        };
        let (hostpart, headers) = match hostpart.split_once('?') {
            Some((h, hs)) => (h, parse_uri_headers(hs)?),
            None => (hostpart, Vec::new()),
        };
        let (hostport, params) = match hostpart.split_once(';') {
            Some((h, p)) => (h, parse_uri_params(p)?),
            None => (hostpart, Params::default()),
        };
        let (host, port) = split_host_port(hostport)?;
        Ok(Uri {
            scheme,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    /// `user@host` without scheme, port or params: the address-of-record key.
    pub fn aor(&self) -> String {
        match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.to_string(),
        }
    }
}

/// `host[:port]` with IPv6 references.
pub(crate) fn split_host_port(s: &str) -> Result<(Host, Option<u16>), ParseError> {
    let (host, port) = if s.starts_with('[') {
        match s.find(']') {
            Some(end) => {
                let rest = &s[end + 1..];
                let port = match rest.strip_prefix(':') {
                    Some(p) => Some(p),
                    None if rest.is_empty() => None,
                    None => return Err(bad_uri(format!("junk after IPv6 reference in {s:?}"))),
                };
                (&s[..=end], port)
            }
            None => return Err(bad_uri(format!("unterminated IPv6 reference {s:?}"))),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| bad_uri(format!("bad port {p:?}")))?,
        ),
        None => None,
    };
    Ok((Host::parse(host)?, port))
}

fn parse_uri_params(s: &str) -> Result<Params, ParseError> {
    let mut out = Vec::new();
    for p in s.split(';') {
        if p.is_empty() {
            return Err(bad_uri("empty URI parameter"));
        }
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n, Some(unescape(v)?)),
            None => (p, None),
        };
        out.push(Param {
            name: unescape(name)?,
            value,
        });
    }
    Ok(Params(out))
}

fn parse_uri_headers(s: &str) -> Result<Vec<(String, String)>, ParseError> {
    s.split('&')
        .filter(|h| !h.is_empty())
        .map(|h| {
            let (n, v) = h.split_once('=').unwrap_or((h, ""));
            Ok((unescape(n)?, unescape(v)?))
        })
        .collect()
}

/// Resolves %XX escapes; a malformed escape is an error.
pub(crate) fn unescape(s: &str) -> Result<String, ParseError> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad_uri(format!("bad %-escape in {s:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad_uri(format!("escapes in {s:?} are not UTF-8")))
}

/// Writes `s` escaping every byte outside `allowed` (alphanumerics are always allowed).
fn escape_into(f: &mut fmt::Formatter<'_>, s: &str, allowed: &[u8]) -> fmt::Result {
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || allowed.contains(&b) {
            f.write_char(b as char)?;
        } else {
            write!(f, "%{b:02X}")?;
        }
    }
    Ok(())
}

const UNRESERVED_MARK: &[u8] = b"-_.!~*'()";
const USER_CHARS: &[u8] = b"-_.!~*'()&=+$,;?/";
const PASSWORD_CHARS: &[u8] = b"-_.!~*'()&=+$,";
const PARAM_CHARS: &[u8] = b"-_.!~*'()[]/:&+$";
const HEADER_CHARS: &[u8] = b"-_.!~*'()[]/?:+$";

impl fmt::Display for Uri {
    /// Writes the URI with escapes re-applied where needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme.as_str())?;
        f.write_char(':')?;
        if self.scheme == Scheme::Tel {
            if let Some(u) = &self.user {
                escape_into(f, u, b"-_.!~*'()+=/?:&$,")?;
            }
        } else {
            if let Some(u) = &self.user {
                escape_into(f, u, USER_CHARS)?;
                if let Some(p) = &self.password {
                    f.write_char(':')?;
                    escape_into(f, p, PASSWORD_CHARS)?;
                }
                f.write_char('@')?;
            }
            write!(f, "{}", self.host)?;
            if let Some(p) = self.port {
                write!(f, ":{p}")?;
            }
        }
        for p in &self.params.0 {
            f.write_char(';')?;
            escape_into(f, &p.name, PARAM_CHARS)?;
            if let Some(v) = &p.value {
                f.write_char('=')?;
                escape_into(f, v, PARAM_CHARS)?;
            }
        }
        for (i, (n, v)) in self.headers.iter().enumerate() {
            f.write_char(if i == 0 { '?' } else { '&' })?;
            escape_into(f, n, HEADER_CHARS)?;
            f.write_char('=')?;
            escape_into(f, v, HEADER_CHARS)?;
        }
        let _ = UNRESERVED_MARK;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_hosts_print_as_std_does() {
        let mut x: u32 = 0x1234_5678;
        let mut samples = vec![0u32, u32::MAX, 0x0a00_0001, 0x7f00_0001, 0x6464_6464];
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            samples.push(x);
        }
        for n in samples {
            let ip = std::net::Ipv4Addr::from(n);
            assert_eq!(Host::V4(ip).to_string(), ip.to_string());
        }
    }

    #[test]
    fn parses_and_displays() {
        let cases = [
            "sip:1001@example.com",
            "sip:1001:pw@192.0.2.1:5070;transport=tcp;lr",
            "sips:alice@[2001:db8::1]:5061",
            "sip:example.com",
            "sip:user;par=u%40example.net@example.com",
            "tel:+1-201-555-0123;phone-context=example.com",
            "sip:a@b?Subject=hi&Priority=urgent",
        ];
        for c in cases {
            let u = Uri::parse(c).unwrap_or_else(|e| panic!("{c}: {e}"));
            let again = Uri::parse(&u.to_string()).unwrap();
            assert_eq!(u, again, "{c} -> {u}");
        }
        let u = Uri::parse("sip:sips%3Auser%40example.com@example.net").unwrap();
        assert_eq!(u.user.as_deref(), Some("sips:user@example.com"));
        assert_eq!(u.host, Host::Name("example.net".into()));
        let u = Uri::parse("sip:[::1]:5060").unwrap();
        assert_eq!(u.host, Host::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(u.port, Some(5060));
        assert_eq!(
            Uri::parse("SIP:Bob@EXAMPLE.com").unwrap().aor(),
            "Bob@example.com"
        );
    }

    #[test]
    fn rejects_bad_uris() {
        for c in [
            "mailto:a@b",
            "sip:",
            "sip:a@",
            "sip:a@b:99999",
            "sip:a@[::1",
            "sip:a b@c",
            "sip:<a@b>",
            "sip:%zz@b",
            "nocolon",
            "sip:a@b;",
        ] {
            assert!(Uri::parse(c).is_err(), "{c} should be rejected");
        }
    }
}

/// Deterministic byte mutations of `seeds`, for round-trip property tests.
#[cfg(test)]
pub(crate) fn mutations(seeds: &[&str], rounds: usize) -> Vec<String> {
    const SPECIAL: &[u8] = b" :;,<>\"\\%@[]?=/&+.-*09aZ\t";
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    let mut out = Vec::new();
    for s in seeds {
        for _ in 0..rounds {
            let mut b = s.as_bytes().to_vec();
            for _ in 0..1 + next() % 3 {
                let i = next() % (b.len() + 1);
                let x = SPECIAL[next() % SPECIAL.len()];
                match next() % 3 {
                    0 if i < b.len() => b[i] = x,
                    1 => b.insert(i, x),
                    _ if i < b.len() => {
                        b.remove(i);
                    }
                    _ => {}
                }
            }
            out.push(String::from_utf8_lossy(&b).into_owned());
        }
    }
    out
}

#[cfg(test)]
mod roundtrip_tests {
    use super::*;

    #[test]
    fn whatever_parses_displays_back_to_itself() {
        let seeds = [
            "sip:1001:pw@192.0.2.1:5070;transport=tcp;lr",
            "sips:alice@[2001:db8::1]:5061;maddr=[::1]",
            "sip:user;par=u%40example.net@example.com",
            "tel:+1-201-555-0123;phone-context=example.com",
            "sip:a@b?Subject=hi&Priority=urgent",
            "sip:%00@h;%6C%72;n%61me=v%61lue%25%34%31",
        ];
        let mut parsed = 0;
        for m in mutations(&seeds, 3000) {
            if let Ok(u) = Uri::parse(&m) {
                parsed += 1;
                let shown = u.to_string();
                let again =
                    Uri::parse(&shown).unwrap_or_else(|e| panic!("{m:?} -> {shown:?}: {e}"));
                assert_eq!(u, again, "{m:?} -> {shown:?}");
            }
        }
        assert!(parsed > 1000, "{parsed}");
    }
}
