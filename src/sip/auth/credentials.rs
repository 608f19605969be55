//! The answer: `Authorization` / `Proxy-Authorization` values, parsed on the server
//! side and built by [`answer`] on the client side.

use super::digest::{ha1, response};
use super::params::{parse_digest, take, write_quoted};
use super::{Algorithm, AuthError, Challenge};
use std::borrow::Cow;
use std::fmt;

/// Digest credentials as sent in `Authorization` / `Proxy-Authorization`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// Who claims to be asking.
    pub username: String,
    /// Realm the client hashed into HA1.
    pub realm: String,
    /// Our nonce, echoed.
    pub nonce: String,
    /// digest-uri: the Request-URI as the client wrote it.
    pub uri: String,
    /// The digest, hex.
    pub response: String,
    /// MD5 when the header does not say.
    pub algorithm: Algorithm,
    /// Client nonce; present with `qop`.
    pub cnonce: Option<String>,
    /// Nonce count; present with `qop`, 8 hex digits on the wire.
    pub nc: Option<u32>,
    /// `auth` or absent (RFC 2069 form).
    pub qop: Option<String>,
    /// Echo of the challenge's opaque.
    pub opaque: Option<String>,
}

impl Credentials {
    /// Parses an `Authorization` / `Proxy-Authorization` value.
    ///
    /// Parameters may come in any order with any spacing; names are case-insensitive;
    /// unknown parameters are ignored. Missing username/realm/nonce/uri/response, or
    /// `qop` without `cnonce`/`nc`, is an error, as is an `nc` that is not 8 hex digits.
    pub fn parse(header_value: &str) -> Result<Credentials, AuthError> {
        let mut params = parse_digest(header_value)?;
        if take(&mut params, "userhash").is_some_and(|u| u.eq_ignore_ascii_case("true")) {
            return Err(AuthError::Unsupported("userhash=true".into()));
        }
        let username = match take(&mut params, "username") {
            Some(u) => u,
            None if take(&mut params, "username*").is_some() => {
                return Err(AuthError::Unsupported(
                    "username* (RFC 5987 encoded user names)".into(),
                ))
            }
            None => return Err(AuthError::Missing("username")),
        };
        let realm = take(&mut params, "realm").ok_or(AuthError::Missing("realm"))?;
        let nonce = take(&mut params, "nonce").ok_or(AuthError::Missing("nonce"))?;
        let uri = take(&mut params, "uri").ok_or(AuthError::Missing("uri"))?;
        let response = take(&mut params, "response").ok_or(AuthError::Missing("response"))?;
        if response.is_empty() || !response.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthError::Malformed(format!(
                "response {:?} is not hex",
                response.chars().take(70).collect::<String>()
            )));
        }
        let algorithm = match take(&mut params, "algorithm") {
            Some(a) => Algorithm::parse(&a)?,
            None => Algorithm::Md5,
        };
        let opaque = take(&mut params, "opaque");
        let cnonce = take(&mut params, "cnonce");
        let nc = take(&mut params, "nc").map(|s| parse_nc(&s)).transpose()?;
        let qop = take(&mut params, "qop");
        if let Some(q) = &qop {
            if !q.eq_ignore_ascii_case("auth") {
                return Err(AuthError::Unsupported(format!(
                    "qop={q:?} (only auth is supported)"
                )));
            }
            if cnonce.is_none() {
                return Err(AuthError::Missing("cnonce"));
            }
            if nc.is_none() {
                return Err(AuthError::Missing("nc"));
            }
        }
        Ok(Credentials {
            username: username.into_owned(),
            realm: realm.into_owned(),
            nonce: nonce.into_owned(),
            uri: uri.into_owned(),
            response: response.into_owned(),
            algorithm,
            cnonce: cnonce.map(Cow::into_owned),
            nc,
            qop: qop.map(Cow::into_owned),
            opaque: opaque.map(Cow::into_owned),
        })
    }
}

/// nc is exactly 8 hex digits (RFC 7616 §3.4): the digest hashes it as written, so a
/// shorter form could not be reproduced from the number.
fn parse_nc(s: &str) -> Result<u32, AuthError> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::Malformed(format!(
            "nc={:?} (expected 8 hex digits)",
            s.chars().take(20).collect::<String>()
        )));
    }
    u32::from_str_radix(s, 16).map_err(|e| AuthError::Malformed(format!("nc={s:?}: {e}")))
}

/// nc as the digest hashes it.
pub(crate) fn nc_hex(nc: u32) -> String {
    format!("{nc:08x}")
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest username=")?;
        write_quoted(f, &self.username)?;
        f.write_str(", realm=")?;
        write_quoted(f, &self.realm)?;
        f.write_str(", nonce=")?;
        write_quoted(f, &self.nonce)?;
        f.write_str(", uri=")?;
        write_quoted(f, &self.uri)?;
        f.write_str(", response=")?;
        write_quoted(f, &self.response)?;
        write!(f, ", algorithm={}", self.algorithm)?;
        if let Some(c) = &self.cnonce {
            f.write_str(", cnonce=")?;
            write_quoted(f, c)?;
        }
        if let Some(o) = &self.opaque {
            f.write_str(", opaque=")?;
            write_quoted(f, o)?;
        }
        if let Some(q) = &self.qop {
            write!(f, ", qop={q}")?;
        }
        if let Some(nc) = self.nc {
            write!(f, ", nc={}", nc_hex(nc))?;
        }
        Ok(())
    }
}

/// Client side: the credentials answering `challenge` for a request.
///
/// With `qop="auth"` offered, answers with qop=auth, `nc` and `cnonce` (the caller
/// counts `nc` up per request on the same nonce and picks a fresh random `cnonce`);
/// otherwise with the RFC 2069 form, in which `nc` and `cnonce` are not used.
pub fn answer(
    challenge: &Challenge,
    method: &str,
    digest_uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
) -> Credentials {
    let alg = challenge.algorithm;
    let ha1 = ha1(alg, username, &challenge.realm, password);
    let nc_s = nc_hex(nc);
    let qop = challenge.qop_auth.then_some((nc_s.as_str(), cnonce));
    let resp = response(alg, &ha1, method, digest_uri, &challenge.nonce, qop);
    Credentials {
        username: username.to_string(),
        realm: challenge.realm.clone(),
        nonce: challenge.nonce.clone(),
        uri: digest_uri.to_string(),
        response: resp,
        algorithm: alg,
        cnonce: challenge.qop_auth.then(|| cnonce.to_string()),
        nc: challenge.qop_auth.then_some(nc),
        qop: challenge.qop_auth.then(|| "auth".to_string()),
        opaque: challenge.opaque.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC7616_SHA256: &str = "Digest username=\"Mufasa\",\r\n    \
        realm=\"http-auth@example.org\",\r\n    uri=\"/dir/index.html\",\r\n    \
        algorithm=SHA-256,\r\n    nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n    \
        nc=00000001,\r\n    cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\",\r\n    \
        qop=auth,\r\n    \
        response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\",\r\n    \
        opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

    #[test]
    fn parses_rfc7616_example() {
        let c = Credentials::parse(RFC7616_SHA256).unwrap();
        assert_eq!(c.username, "Mufasa");
        assert_eq!(c.algorithm, Algorithm::Sha256);
        assert_eq!(c.nc, Some(1));
        assert_eq!(c.qop.as_deref(), Some("auth"));
        assert_eq!(
            c.cnonce.as_deref(),
            Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
        );
        // And the digest checks out against the password.
        let h = ha1(Algorithm::Sha256, "Mufasa", &c.realm, "Circle of Life");
        let want = response(
            c.algorithm,
            &h,
            "GET",
            &c.uri,
            &c.nonce,
            Some(("00000001", c.cnonce.as_deref().unwrap_or_default())),
        );
        assert_eq!(want, c.response);
    }

    #[test]
    fn odd_spacing_escapes_order_and_case() {
        let c = Credentials::parse(
            "DIGEST   RESPONSE=\"ABCDEF0123456789abcdef0123456789\" ,URI = \"sip:1000@pbx\",\
             nOnCe=\"n\\\"1\",Realm=\"r\\\\x\",X-Vendor=\"whatever\" , UserName = \"al\\ice\", \
             foo=bar",
        )
        .unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.realm, "r\\x");
        assert_eq!(c.nonce, "n\"1");
        assert_eq!(c.uri, "sip:1000@pbx");
        assert_eq!(c.algorithm, Algorithm::Md5);
        assert_eq!((c.qop, c.nc, c.cnonce, c.opaque), (None, None, None, None));
    }

    #[test]
    fn missing_and_bad() {
        let base = "realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"00\"";
        assert_eq!(
            Credentials::parse(&format!("Digest {base}")),
            Err(AuthError::Missing("username"))
        );
        for (drop, want) in [
            ("realm", "realm"),
            ("nonce", "nonce"),
            ("uri", "uri"),
            ("response", "response"),
        ] {
            let v: Vec<&str> = base
                .split(", ")
                .filter(|p| !p.starts_with(&format!("{drop}=")))
                .collect();
            let h = format!("Digest username=\"u\", {}", v.join(", "));
            assert_eq!(Credentials::parse(&h), Err(AuthError::Missing(want)));
        }
        let ok = format!("Digest username=\"u\", {base}");
        assert!(Credentials::parse(&ok).is_ok());
        assert_eq!(
            Credentials::parse(&format!("{ok}, qop=auth, nc=00000001")),
            Err(AuthError::Missing("cnonce"))
        );
        assert_eq!(
            Credentials::parse(&format!("{ok}, qop=auth, cnonce=\"c\"")),
            Err(AuthError::Missing("nc"))
        );
        for bad_nc in ["1", "000000001", "0000000g", "+0000001"] {
            let e = Credentials::parse(&format!("{ok}, qop=auth, cnonce=\"c\", nc={bad_nc}"));
            assert!(matches!(e, Err(AuthError::Malformed(_))), "{bad_nc}");
        }
        assert!(matches!(
            Credentials::parse(&format!("{ok}, qop=auth-int, cnonce=\"c\", nc=00000001")),
            Err(AuthError::Unsupported(_))
        ));
        assert!(matches!(
            Credentials::parse(&format!("{ok}, algorithm=SHA-256-sess")),
            Err(AuthError::Unsupported(_))
        ));
        assert!(matches!(
            Credentials::parse(
                "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"x\", response=\"zz\""
            ),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            Credentials::parse(&format!("Digest username*=UTF-8''%C3%A4, {base}")),
            Err(AuthError::Unsupported(_))
        ));
        // nc quoted (seen in the wild) still parses.
        let c = Credentials::parse(&format!(
            "{ok}, qop=\"auth\", cnonce=\"c\", nc=\"0000000a\""
        ));
        assert_eq!(c.map(|c| c.nc), Ok(Some(10)));
    }

    #[test]
    fn display_round_trips() {
        let c = Credentials::parse(RFC7616_SHA256).unwrap();
        let s = c.to_string();
        assert!(s.contains("nc=00000001"), "{s}");
        assert!(s.contains("qop=auth"), "{s}");
        assert_eq!(Credentials::parse(&s).unwrap(), c);
    }

    #[test]
    fn answer_matches_rfc7616_md5() {
        let ch = Challenge {
            realm: "http-auth@example.org".into(),
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
            opaque: Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS".into()),
            algorithm: Algorithm::Md5,
            qop_auth: true,
            stale: false,
        };
        let c = answer(
            &ch,
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle of Life",
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            1,
        );
        assert_eq!(c.response, "8ca523f5e9506fed4657c9700eebdbec");
        assert_eq!(c.opaque, ch.opaque);
        assert_eq!(c.nc, Some(1));
        // Without qop the RFC 2069 form: no nc/cnonce/qop on the wire.
        let c2 = answer(
            &Challenge {
                qop_auth: false,
                ..ch
            },
            "REGISTER",
            "sip:pbx",
            "u",
            "p",
            "ignored",
            7,
        );
        assert_eq!((c2.nc, c2.cnonce, c2.qop), (None, None, None));
        let s = Credentials::parse(
            &answer(
                &Challenge::parse("Digest realm=\"r\", nonce=\"n\"").unwrap(),
                "REGISTER",
                "sip:r",
                "u",
                "p",
                "c",
                1,
            )
            .to_string(),
        )
        .unwrap();
        assert!(!s.to_string().contains("nc="));
    }
}
