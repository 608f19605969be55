//! The challenge: `WWW-Authenticate` (401) / `Proxy-Authenticate` (407) values.

use super::params::{parse_digest, take, write_quoted};
use super::{Algorithm, AuthError};
use std::borrow::Cow;
use std::fmt;

/// A digest challenge. The server builds one to send (see [`Display`](fmt::Display));
/// the client side parses one to [`answer`](super::answer) it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// Protection space; the phone shows it and hashes it into HA1.
    pub realm: String,
    /// Server nonce, echoed back by the client.
    pub nonce: String,
    /// Opaque server data, echoed back unchanged.
    pub opaque: Option<String>,
    /// Hash algorithm; MD5 when the header does not say.
    pub algorithm: Algorithm,
    /// `qop="auth"` offered. Without it the client uses the RFC 2069 form.
    pub qop_auth: bool,
    /// The previous nonce was stale but the digest right: retry without re-prompting.
    pub stale: bool,
}

impl Challenge {
    /// Parses a `WWW-Authenticate` / `Proxy-Authenticate` value (one challenge).
    ///
    /// Errors: not `Digest`, missing realm or nonce, a `-sess` or unknown algorithm, or
    /// a `qop` list that offers only `auth-int` (the client must pick one it offers).
    pub fn parse(header_value: &str) -> Result<Challenge, AuthError> {
        let mut params = parse_digest(header_value)?;
        let realm = take(&mut params, "realm").ok_or(AuthError::Missing("realm"))?;
        let nonce = take(&mut params, "nonce").ok_or(AuthError::Missing("nonce"))?;
        let opaque = take(&mut params, "opaque");
        let algorithm = match take(&mut params, "algorithm") {
            Some(a) => Algorithm::parse(&a)?,
            None => Algorithm::Md5,
        };
        let qop_auth = match take(&mut params, "qop") {
            None => false,
            Some(list) => {
                if list
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth"))
                {
                    true
                } else {
                    return Err(AuthError::Unsupported(format!(
                        "qop {list:?} (only \"auth\" is supported)"
                    )));
                }
            }
        };
        let stale = match take(&mut params, "stale") {
            None => false,
            Some(s) if s.eq_ignore_ascii_case("true") => true,
            Some(s) if s.eq_ignore_ascii_case("false") => false,
            Some(s) => {
                return Err(AuthError::Malformed(format!(
                    "stale={s:?} (expected TRUE or FALSE)"
                )))
            }
        };
        if let Some(u) = take(&mut params, "userhash") {
            if u.eq_ignore_ascii_case("true") {
                return Err(AuthError::Unsupported("userhash=true".into()));
            }
        }
        // domain, charset and extensions are ignored (RFC 7616 §3.3 allows that).
        Ok(Challenge {
            realm: realm.into_owned(),
            nonce: nonce.into_owned(),
            opaque: opaque.map(Cow::into_owned),
            algorithm,
            qop_auth,
            stale,
        })
    }
}

impl fmt::Display for Challenge {
    /// `Digest realm="…", nonce="…", opaque="…", algorithm=MD5, qop="auth", stale=TRUE`;
    /// opaque, qop and stale only when present/true.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest realm=")?;
        write_quoted(f, &self.realm)?;
        f.write_str(", nonce=")?;
        write_quoted(f, &self.nonce)?;
        if let Some(o) = &self.opaque {
            f.write_str(", opaque=")?;
            write_quoted(f, o)?;
        }
        write!(f, ", algorithm={}", self.algorithm)?;
        if self.qop_auth {
            f.write_str(", qop=\"auth\"")?;
        }
        if self.stale {
            f.write_str(", stale=TRUE")?;
        }
        Ok(())
    }
}

/// The digest challenge of a 401 (`WWW-Authenticate`) or 407 (`Proxy-Authenticate`)
/// we can answer, with the header the answer goes in (`Authorization` or
/// `Proxy-Authorization`). None for any other response, or when no challenge parses.
pub fn challenge_in(resp: &crate::sip::wire::Response) -> Option<(Challenge, &'static str)> {
    let (asks, answer_in) = match resp.status.code {
        401 => ("WWW-Authenticate", "Authorization"),
        407 => ("Proxy-Authenticate", "Proxy-Authorization"),
        _ => return None,
    };
    resp.headers
        .get_all(asks)
        .into_iter()
        .find_map(|v| Challenge::parse(v).ok())
        .map(|c| (c, answer_in))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc7616_example_challenge() {
        let c = Challenge::parse(
            "Digest\r\n    realm=\"http-auth@example.org\",\r\n    qop=\"auth, auth-int\",\r\n    \
             algorithm=SHA-256,\r\n    nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n    \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        )
        .unwrap();
        assert_eq!(c.realm, "http-auth@example.org");
        assert_eq!(c.algorithm, Algorithm::Sha256);
        assert!(c.qop_auth);
        assert!(!c.stale);
        assert_eq!(
            c.opaque.as_deref(),
            Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        );
    }

    #[test]
    fn defaults_and_stale() {
        let c = Challenge::parse("Digest nonce=\"n\", realm=\"r\", stale=true").unwrap();
        assert_eq!(c.algorithm, Algorithm::Md5);
        assert!(!c.qop_auth);
        assert!(c.stale);
        assert_eq!(c.opaque, None);
    }

    #[test]
    fn display_round_trips() {
        let c = Challenge {
            realm: "pbx \"one\"".into(),
            nonce: "abc".into(),
            opaque: Some("o".into()),
            algorithm: Algorithm::Sha256,
            qop_auth: true,
            stale: true,
        };
        let s = c.to_string();
        assert_eq!(
            s,
            r#"Digest realm="pbx \"one\"", nonce="abc", opaque="o", algorithm=SHA-256, qop="auth", stale=TRUE"#
        );
        assert_eq!(Challenge::parse(&s).unwrap(), c);
        let plain = Challenge {
            opaque: None,
            qop_auth: false,
            stale: false,
            algorithm: Algorithm::Md5,
            ..c
        };
        assert_eq!(
            plain.to_string(),
            r#"Digest realm="pbx \"one\"", nonce="abc", algorithm=MD5"#
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(
            Challenge::parse("Digest nonce=\"n\""),
            Err(AuthError::Missing("realm"))
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r\""),
            Err(AuthError::Missing("nonce"))
        );
        for bad in [
            "Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess",
            "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"",
            "Digest realm=\"r\", nonce=\"n\", userhash=true",
            "Basic realm=\"r\"",
        ] {
            assert!(
                matches!(Challenge::parse(bad), Err(AuthError::Unsupported(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", stale=maybe"),
            Err(AuthError::Malformed(_))
        ));
    }
}
