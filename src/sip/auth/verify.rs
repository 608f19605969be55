//! Server side decision: credentials in, [`Verdict`] out.

use super::credentials::nc_hex;
use super::digest::{ct_eq_hex, response};
use super::nonce::{NonceManager, NonceStatus};
use super::{Algorithm, Credentials};
use std::fmt;

/// What the registrar / call handler does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The digest is right, the nonce fresh and not replayed.
    Authorized {
        /// As the client wrote it.
        username: String,
    },
    /// Send a fresh challenge. `stale: true` when the digest was right but the nonce had
    /// expired or was not ours (e.g. from before a restart): the phone retries at once
    /// without asking its user.
    Challenge {
        /// Put `stale=TRUE` in the challenge.
        stale: bool,
    },
    /// Refuse (403, or a fresh 401 for `Replayed`, at the caller's choice).
    Rejected {
        /// Why, for the operator's log and fail2ban. The wire answer must not depend
        /// on [`RejectReason::BadCredentials`]'s `user_known`.
        reason: RejectReason,
    },
}

/// Why credentials were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// Wrong password or unknown user: the same answer on the wire for both.
    BadCredentials {
        /// For the operator's log only, never for the wire: whether the directory
        /// knew the user.
        user_known: bool,
    },
    /// Right digest, but a nonce-count already used: a replayed request. A genuine
    /// (buggy) phone recovers if answered with a fresh challenge.
    Replayed,
    /// Credentials unusable (e.g. qop=auth without nc); the text says why.
    Malformed(String),
    /// The realm is not ours.
    RealmMismatch,
    /// The digest-uri is not this request's Request-URI.
    UriMismatch,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::BadCredentials { user_known: true } => f.write_str("wrong password"),
            RejectReason::BadCredentials { user_known: false } => f.write_str("unknown user"),
            RejectReason::Replayed => f.write_str("replayed nonce-count"),
            RejectReason::Malformed(m) => write!(f, "malformed credentials: {m}"),
            RejectReason::RealmMismatch => f.write_str("realm is not ours"),
            RejectReason::UriMismatch => f.write_str("digest uri differs from Request-URI"),
        }
    }
}

fn rejected(reason: RejectReason) -> Verdict {
    Verdict::Rejected { reason }
}

/// Checks `creds` sent with a request `method request_uri`.
///
/// `ha1_for(username, algorithm)` returns the user's HA1 (lowercase or uppercase hex)
/// for that algorithm, or `None` for an unknown user (or an algorithm the operator
/// does not allow for that user). An unknown user costs the same hashing as a known
/// one, against a secret dummy HA1, and ends in the same `BadCredentials`.
///
/// Order: shape, realm and uri first (they do not depend on the user), then the digest,
/// then the nonce; the nonce-count is recorded only once the digest is right, so a
/// forged request cannot burn a genuine phone's counts. A wrong digest is
/// `BadCredentials` whatever the nonce, so brute force is always counted.
pub fn verify(
    nonces: &mut NonceManager,
    creds: &Credentials,
    method: &str,
    request_uri: &str,
    expected_realm: &str,
    ha1_for: impl FnOnce(&str, Algorithm) -> Option<String>,
    now_unix_ms: u64,
) -> Verdict {
    let qop = match (&creds.qop, creds.nc, &creds.cnonce) {
        (None, _, _) => None,
        (Some(q), Some(nc), Some(cnonce)) if q.eq_ignore_ascii_case("auth") => {
            Some((nc_hex(nc), cnonce.as_str()))
        }
        (Some(q), _, _) if !q.eq_ignore_ascii_case("auth") => {
            return rejected(RejectReason::Malformed(format!(
                "qop={q:?} (only auth is supported)"
            )))
        }
        (Some(_), _, _) => {
            return rejected(RejectReason::Malformed(
                "qop=auth without nc and cnonce".into(),
            ))
        }
    };
    if creds.realm != expected_realm {
        return rejected(RejectReason::RealmMismatch);
    }
    if !uri_matches(&creds.uri, request_uri) {
        return rejected(RejectReason::UriMismatch);
    }

    let alg = creds.algorithm;
    let (ha1, user_known) = match ha1_for(&creds.username, alg) {
        Some(h) => (h.to_ascii_lowercase(), true),
        None => (nonces.dummy_ha1(alg, &creds.username), false),
    };
    let expected = response(
        alg,
        &ha1,
        method,
        &creds.uri,
        &creds.nonce,
        qop.as_ref().map(|(nc, cnonce)| (nc.as_str(), *cnonce)),
    );
    // Both operands are evaluated whatever user_known is: same work either way.
    let digest_ok = ct_eq_hex(&expected, &creds.response) & user_known;
    let nc = qop.as_ref().map(|_| creds.nc.unwrap_or(0));
    let status = nonces.peek(&creds.nonce, nc, now_unix_ms);

    if !digest_ok {
        return rejected(RejectReason::BadCredentials { user_known });
    }
    match status {
        NonceStatus::Valid => {
            // Commit the nonce-count now that the digest is known good; nothing ran
            // between the peek and here, so the peek still holds.
            nonces.commit(&creds.nonce, nc, now_unix_ms);
            Verdict::Authorized {
                username: creds.username.clone(),
            }
        }
        NonceStatus::Replayed => rejected(RejectReason::Replayed),
        NonceStatus::Stale | NonceStatus::Invalid => Verdict::Challenge { stale: true },
    }
}

/// Lenient Request-URI equality: ASCII case-insensitive, ignoring `<>`, surrounding
/// space, URI parameters and headers, and an explicit default port (5060 for sip:,
/// 5061 for sips:). The digest covers the uri as the client wrote it, so leniency here
/// only widens which request a captured header may be replayed on — within nonce rules.
fn uri_matches(digest_uri: &str, request_uri: &str) -> bool {
    fn norm(u: &str) -> String {
        let u = u
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        let base = u.split([';', '?']).next().unwrap_or(u);
        let mut s = base.to_ascii_lowercase();
        for (scheme, port) in [("sip:", ":5060"), ("sips:", ":5061")] {
            if s.starts_with(scheme) && s.ends_with(port) && s.len() > scheme.len() + port.len() {
                s.truncate(s.len() - port.len());
            }
        }
        s
    }
    // Some callers (SIPp's [authentication], older ATAs) hash the Request-URI without
    // its user part: `sip:host:port` for `sip:1002@host:port`. FreeSWITCH does not
    // compare the two at all; we still insist on the same host and port.
    fn without_user(u: &str) -> String {
        match (u.split_once(':'), u.find('@')) {
            (Some((scheme, _)), Some(at)) => format!("{scheme}:{}", &u[at + 1..]),
            _ => u.to_string(),
        }
    }
    let (d, r) = (norm(digest_uri), norm(request_uri));
    digest_uri.trim().eq_ignore_ascii_case(request_uri.trim())
        || d == r
        || (!d.contains('@') && d == without_user(&r))
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
