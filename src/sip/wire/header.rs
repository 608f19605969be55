//! Typed views of the headers the stack itself needs.

use super::error::{ParseError, ParseErrorKind};
use super::message::Method;
use super::uri::{split_host_port, Host, Uri};
use std::fmt::{self, Write as _};

/// One `;name[=value]` parameter. Names compare case-insensitively; quoted values are
/// kept without their quotes, escapes resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: Option<String>,
}

/// An ordered parameter list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<Param>);

impl Params {
    /// Some(Some(v)) for `name=v`, Some(None) for a bare `name`, None when absent.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref())
    }
    /// Sets or replaces a parameter.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_string);
        match self
            .0
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            Some(p) => p.value = value,
            None => self.0.push(Param {
                name: name.to_string(),
                value,
            }),
        }
    }
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|p| !p.name.eq_ignore_ascii_case(name));
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            write!(f, ";{}", p.name)?;
            if let Some(v) = &p.value {
                f.write_char('=')?;
                if !v.is_empty() && v.bytes().all(is_token_byte) || is_host_like(v) {
                    f.write_str(v)?;
                } else {
                    write_quoted(f, v)?;
                }
            }
        }
        Ok(())
    }
}

/// IPv6 references and host:port values go unquoted (`received=[::1]`, `maddr=...`).
fn is_host_like(v: &str) -> bool {
    v.starts_with('[')
        && v.ends_with(']')
        && v[1..v.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
}

/// RFC 3261 `token` characters.
pub(crate) fn is_token_byte(b: u8) -> bool {
    TOKEN[b as usize]
}

/// Lookup table for [`is_token_byte`]: header names and methods are checked byte by
/// byte on every message.
static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

/// Writes `s` as a quoted-string (RFC 3261 §25.1), escaping `"` and `\\`; runs without
/// either are written whole.
pub(crate) fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    let mut rest = s;
    while let Some(i) = rest.find(['"', '\\']) {
        f.write_str(&rest[..i])?;
        f.write_char('\\')?;
        // The byte at `i` is ASCII, so `i + 1` is a char boundary.
        f.write_str(&rest[i..i + 1])?;
        rest = &rest[i + 1..];
    }
    f.write_str(rest)?;
    f.write_char('"')
}

fn bad(detail: impl Into<String>) -> ParseError {
    ParseError::new(ParseErrorKind::BadHeaderValue, detail)
}

/// Parses `;a=b ; c ;d="x;y"` (leading `;` optional), tolerating whitespace around `;`
/// and `=`.
pub(crate) fn parse_params(s: &str, what: &str) -> Result<Params, ParseError> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        rest = rest
            .strip_prefix(';')
            .ok_or_else(|| bad(format!("{what}: expected ';' before {rest:?}")))?
            .trim_start();
        let name_end = rest
            .find(|c: char| c == '=' || c == ';' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| is_token_byte(b) || b == b'[' || b == b']' || b == b':')
        {
            return Err(bad(format!("{what}: bad parameter name {name:?}")));
        }
        rest = rest[name_end..].trim_start();
        let value = if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            if after.starts_with('"') {
                let (v, used) = take_quoted(after)
                    .ok_or_else(|| bad(format!("{what}: unterminated quoted value")))?;
                rest = after[used..].trim_start();
                Some(v)
            } else {
                let end = after
                    .find(|c: char| c == ';' || c.is_whitespace())
                    .unwrap_or(after.len());
                let v = &after[..end];
                if v.is_empty() {
                    return Err(bad(format!("{what}: parameter {name} has an empty value")));
                }
                rest = after[end..].trim_start();
                Some(v.to_string())
            }
        } else {
            None
        };
        out.push(Param {
            name: name.to_string(),
            value,
        });
    }
    Ok(Params(out))
}

/// Reads a quoted string at the start of `s`: (unescaped content, bytes consumed).
pub(crate) fn take_quoted(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, i + 1)),
            _ => out.push(c),
        }
    }
    None
}

/// A Via value: `SIP/2.0/UDP host[:port];params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport token, upper-cased (UDP, TCP, TLS, WS, ...).
    pub transport: String,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
}

impl Via {
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch").flatten()
    }

    /// Parses one Via value (whitespace around the slashes is allowed, §25.1).
    pub fn parse(value: &str) -> Result<Via, ParseError> {
        let mut rest = value.trim();
        let mut parts = [""; 3];
        for (i, part) in parts.iter_mut().enumerate() {
            let end = if i < 2 {
                rest.find('/')
            } else {
                rest.find(|c: char| c.is_whitespace())
            }
            .ok_or_else(|| bad(format!("Via {value:?}: bad sent-protocol")))?;
            *part = rest[..end].trim();
            rest = rest[end..].trim_start();
            if i < 2 {
                rest = rest[1..].trim_start();
            }
        }
        if !parts[0].eq_ignore_ascii_case("SIP") || parts[1] != "2.0" {
            return Err(bad(format!("Via {value:?}: protocol is not SIP/2.0")));
        }
        if parts[2].is_empty() || !parts[2].bytes().all(is_token_byte) {
            return Err(bad(format!("Via {value:?}: bad transport")));
        }
        let end = rest
            .find(|c: char| c == ';' || c.is_whitespace())
            .unwrap_or(rest.len());
        let (host, port) =
            split_host_port(&rest[..end]).map_err(|e| bad(format!("Via sent-by: {}", e.detail)))?;
        let params = parse_params(&rest[end..], "Via")?;
        Ok(Via {
            transport: parts[2].to_ascii_uppercase(),
            host,
            port,
            params,
        })
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

/// `"Display" <uri>;params` or `uri;params` (From, To, Contact, Route, ...).
/// In the bare `uri;params` form, `;params` belong to the header, not the URI (§20.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name with quotes removed and escapes resolved.
    pub display: Option<String>,
    pub uri: Uri,
    pub params: Params,
}

impl NameAddr {
    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag").flatten()
    }

    pub fn parse(value: &str) -> Result<NameAddr, ParseError> {
        let v = value.trim();
        let (display, rest) = if v.starts_with('"') {
            let (d, used) =
                take_quoted(v).ok_or_else(|| bad(format!("unbalanced quotes in {value:?}")))?;
            let rest = v[used..].trim_start();
            if !rest.starts_with('<') {
                return Err(bad(format!(
                    "{value:?}: display name must be followed by <uri>"
                )));
            }
            (Some(d), rest)
        } else if let Some(lt) = v.find('<') {
            let d = v[..lt].trim();
            if d.contains('"') {
                return Err(bad(format!("unbalanced quotes in {value:?}")));
            }
            // An unquoted display name is `*(token LWS)` (§25.1), but phones do send
            // unquoted UTF-8 and parentheses: only reject the separators that change how
            // the header reads (RFC 4475 baddn's comma, and the like).
            if d.contains([',', ';', '<', '>', '@', ':', '\\']) {
                return Err(bad(format!(
                    "{value:?}: display name with separators must be quoted"
                )));
            }
            (
                if d.is_empty() {
                    None
                } else {
                    Some(d.to_string())
                },
                &v[lt..],
            )
        } else {
            let end = v.find(';').unwrap_or(v.len());
            // §20.10: a URI with a comma, question mark or semicolon needs <> (regbadct).
            if v[..end].contains(['?', ',']) {
                return Err(bad(format!(
                    "{value:?}: a URI with '?' or ',' must be enclosed in <>"
                )));
            }
            let uri = Uri::parse(&v[..end]).map_err(|e| bad(e.detail))?;
            let params = parse_params(&v[end..], "header")?;
            return Ok(NameAddr {
                display: None,
                uri,
                params,
            });
        };
        let inner = &rest[1..];
        let gt = inner
            .find('>')
            .ok_or_else(|| bad(format!("{value:?}: missing '>'")))?;
        let spec = &inner[..gt];
        if spec.starts_with(char::is_whitespace) || spec.ends_with(char::is_whitespace) {
            // RFC 4475 badaspec: no LWS inside the angle brackets.
            return Err(bad(format!("{value:?}: whitespace inside <>")));
        }
        let uri = Uri::parse(spec).map_err(|e| bad(e.detail))?;
        let params = parse_params(&inner[gt + 1..], "header")?;
        Ok(NameAddr {
            display,
            uri,
            params,
        })
    }
}

impl fmt::Display for NameAddr {
    /// Always writes the `<uri>` form, quoting the display name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write_quoted(f, d)?;
            f.write_char(' ')?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// One Contact value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// `Contact: *` (only valid with Expires: 0 in REGISTER).
    Star,
    Addr(NameAddr),
}

/// `CSeq: 42 INVITE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(value: &str) -> Result<CSeq, ParseError> {
        let mut it = value.split_whitespace();
        let (Some(num), Some(method), None) = (it.next(), it.next(), it.next()) else {
            return Err(bad(format!(
                "bad CSeq {value:?}: expected number and method"
            )));
        };
        if !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!("bad CSeq {value:?}: sequence is not a number")));
        }
        let seq = num.parse::<u32>().map_err(|_| {
            bad(format!(
                "bad CSeq {value:?}: sequence number is not a 32-bit integer"
            ))
        })?;
        if !method.bytes().all(is_token_byte) {
            return Err(bad(format!("bad CSeq {value:?}: method is not a token")));
        }
        Ok(CSeq {
            seq,
            method: Method::from_token(method),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_escape_quotes_and_backslashes_only() {
        let quote = |s: &str| {
            let mut out = String::new();
            write_quoted(&mut out, s).unwrap();
            out
        };
        assert_eq!(quote(""), r#""""#);
        assert_eq!(quote("plain, text"), r#""plain, text""#);
        assert_eq!(quote(r#"a"b\c""#), r#""a\"b\\c\"""#);
        assert_eq!(quote("Jürgen \"J\""), r#""Jürgen \"J\"""#);
        // What is written reads back as it was.
        let (back, used) = take_quoted(&quote(r#"x\"y"#)).unwrap();
        assert_eq!((back.as_str(), used), (r#"x\"y"#, 8));
    }

    #[test]
    fn via_forms() {
        let v = Via::parse("SIP / 2.0 / udp 192.0.2.1:5060 ; branch = z9hG4bK776 ;rport").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch(), Some("z9hG4bK776"));
        assert_eq!(v.params.get("rport"), Some(None));
        let v6 =
            Via::parse("SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bKx;received=[2001:db8::7]")
                .unwrap();
        assert_eq!(Via::parse(&v6.to_string()).unwrap(), v6);
        assert!(Via::parse("SIP/3.0/UDP a").is_err());
        assert!(Via::parse("SIP/2.0/UDP").is_err());
        assert!(Via::parse("SIP/2.0/UDP a;branch=\"x").is_err());
    }

    #[test]
    fn name_addr_forms() {
        let n =
            NameAddr::parse("\"Bob \\\"B\\\" Smith\" <sip:bob@example.com;transport=tcp>;tag=abc")
                .unwrap();
        assert_eq!(n.display.as_deref(), Some("Bob \"B\" Smith"));
        assert_eq!(n.tag(), Some("abc"));
        assert_eq!(n.uri.params.get("transport"), Some(Some("tcp")));
        assert_eq!(NameAddr::parse(&n.to_string()).unwrap(), n);
        let bare = NameAddr::parse("sip:bob@example.com;tag=1").unwrap();
        assert_eq!(bare.tag(), Some("1"));
        assert!(bare.uri.params.0.is_empty());
        let tok = NameAddr::parse("Bob Smith <sip:b@c>").unwrap();
        assert_eq!(tok.display.as_deref(), Some("Bob Smith"));
        let inst = NameAddr::parse("<sip:a@b>;+sip.instance=\"<urn:uuid:1>\";reg-id=1").unwrap();
        assert_eq!(inst.params.get("+sip.instance"), Some(Some("<urn:uuid:1>")));
        assert_eq!(NameAddr::parse(&inst.to_string()).unwrap(), inst);
        let utf8 = NameAddr::parse("Jürgen (Work) <sip:j@example.com>").unwrap();
        assert_eq!(utf8.display.as_deref(), Some("Jürgen (Work)"));
        for bad in [
            "\"unbalanced <sip:a@b>",
            "<sip:a@b",
            "<mailto:a@b>",
            "\"x\" sip:a@b",
            "Bell, Alexander <sip:a.g.bell@example.com>",
            "a;b <sip:a.g.bell@example.com>",
            "Watson <sip:t.watson@example.org >",
            "< sip:t.watson@example.org>",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            "<sip:a@b>;tag=1;;x",
            "<sip:a@b> junk",
            "",
        ] {
            assert!(NameAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cseq_forms() {
        assert_eq!(CSeq::parse(" 4711   INVITE ").unwrap().seq, 4711);
        assert!(CSeq::parse("99999999999 INVITE").is_err());
        assert!(CSeq::parse("-1 INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
        assert!(CSeq::parse("1 INV<ITE").is_err());
    }
}

#[cfg(test)]
mod roundtrip_tests {
    use super::*;
    use crate::sip::wire::uri::mutations;

    #[test]
    fn typed_headers_display_back_to_themselves() {
        let vias = [
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport;received=192.0.2.9",
            "SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bKx;received=[2001:db8::7]",
        ];
        let mut parsed = 0;
        for m in mutations(&vias, 3000) {
            if let Ok(v) = Via::parse(&m) {
                parsed += 1;
                let shown = v.to_string();
                assert_eq!(Via::parse(&shown).as_ref(), Ok(&v), "{m:?} -> {shown:?}");
            }
        }
        let addrs = [
            "\"Bob \\\"B\\\" Smith\" <sip:bob@example.com;transport=tcp>;tag=abc",
            "<sip:a@[::1]:5060>;+sip.instance=\"<urn:uuid:1>\";reg-id=1;q=0.5",
            "Bob Smith <tel:+1555;phone-context=x>;expires=60",
            "sip:+19725552222@gw1.example.net;unknownparam",
        ];
        for m in mutations(&addrs, 3000) {
            if let Ok(n) = NameAddr::parse(&m) {
                parsed += 1;
                let shown = n.to_string();
                assert_eq!(
                    NameAddr::parse(&shown).as_ref(),
                    Ok(&n),
                    "{m:?} -> {shown:?}"
                );
            }
        }
        assert!(parsed > 2000, "{parsed}");
    }
}
