//! Tests of [`verify`](fn@super::verify): the server-side decisions end to end.

use super::*;
use crate::sip::auth::{answer, ha1, Challenge};
use std::time::Duration;

const T0: u64 = 1_700_000_000_000;
const REALM: &str = "pbx.example";
const RURI: &str = "sip:pbx.example";

fn mgr() -> NonceManager {
    NonceManager::new([42; 32], Duration::from_secs(60), 64)
}

/// The directory: user 1000 with password "s3cret", HA1 per algorithm.
fn dir(user: &str, alg: Algorithm) -> Option<String> {
    (user == "1000").then(|| ha1(alg, "1000", REALM, "s3cret"))
}

fn run(m: &mut NonceManager, c: &Credentials, now: u64) -> Verdict {
    verify(m, c, "REGISTER", RURI, REALM, dir, now)
}

fn authorized() -> Verdict {
    Verdict::Authorized {
        username: "1000".into(),
    }
}

fn bad(user_known: bool) -> Verdict {
    Verdict::Rejected {
        reason: RejectReason::BadCredentials { user_known },
    }
}

/// What the caller puts on the wire: it may look only at the reason.
fn wire(v: &Verdict) -> String {
    match v {
        Verdict::Authorized { .. } => "200".into(),
        Verdict::Challenge { stale } => format!("401 stale={stale}"),
        Verdict::Rejected {
            reason: RejectReason::BadCredentials { .. },
        } => "403 Forbidden".into(),
        Verdict::Rejected { reason } => format!("403 {reason}"),
    }
}

#[test]
fn round_trip_both_algorithms_with_and_without_qop() {
    for alg in [Algorithm::Md5, Algorithm::Sha256] {
        for qop in [true, false] {
            let mut m = mgr();
            let mut ch = m.challenge(REALM, alg, false, T0);
            ch.qop_auth = qop;
            // Through the wire text and back, as a phone would.
            let ch = Challenge::parse(&ch.to_string()).unwrap();
            let c = answer(&ch, "REGISTER", RURI, "1000", "s3cret", "c0ffee", 1);
            let c = Credentials::parse(&c.to_string()).unwrap();
            assert_eq!(run(&mut m, &c, T0 + 5), authorized(), "{alg} qop={qop}");
        }
    }
}

#[test]
fn sipp_style_headers_verify() {
    // SIPp [authentication] with qop=auth: nc=00000001, its own cnonce, no spaces.
    let mut m = mgr();
    let n = m.issue(T0);
    let h = ha1(Algorithm::Md5, "1000", REALM, "s3cret");
    let r = response(
        Algorithm::Md5,
        &h,
        "REGISTER",
        "sip:pbx.example:5060",
        &n,
        Some(("00000001", "6b8b4567")),
    );
    let hdr = format!(
        "Digest username=\"1000\",realm=\"{REALM}\",cnonce=\"6b8b4567\",nc=00000001,qop=auth,\
         uri=\"sip:pbx.example:5060\",nonce=\"{n}\",response=\"{r}\",algorithm=MD5"
    );
    let c = Credentials::parse(&hdr).unwrap();
    let v = verify(
        &mut m,
        &c,
        "REGISTER",
        "sip:pbx.example:5060",
        REALM,
        dir,
        T0,
    );
    assert_eq!(v, authorized());

    // Without qop SIPp sends the RFC 2069 form.
    let n = m.issue(T0);
    let r = response(
        Algorithm::Md5,
        &h,
        "INVITE",
        "sip:2000@pbx.example",
        &n,
        None,
    );
    let hdr = format!(
        "Digest username=\"1000\",realm=\"{REALM}\",uri=\"sip:2000@pbx.example\",\
         nonce=\"{n}\",response=\"{r}\",algorithm=MD5"
    );
    let c = Credentials::parse(&hdr).unwrap();
    let v = verify(&mut m, &c, "INVITE", "sip:2000@pbx.example", REALM, dir, T0);
    assert_eq!(v, authorized());
    // The RFC 2069 form may be reused on its nonce while fresh (no counter to check).
    let v = verify(
        &mut m,
        &c,
        "INVITE",
        "sip:2000@pbx.example",
        REALM,
        dir,
        T0 + 1,
    );
    assert_eq!(v, authorized());
}

#[test]
fn unknown_user_and_wrong_password_look_the_same() {
    let mut m = mgr();
    let ch = m.challenge(REALM, Algorithm::Md5, false, T0);
    let wrong = answer(&ch, "REGISTER", RURI, "1000", "guess", "a", 1);
    let unknown = answer(&ch, "REGISTER", RURI, "9999", "s3cret", "a", 1);
    let v1 = run(&mut m, &wrong, T0);
    let v2 = run(&mut m, &unknown, T0);
    assert_eq!(v1, bad(true));
    assert_eq!(v2, bad(false));
    assert_eq!(wire(&v1), wire(&v2));
    // Even with a stale nonce, both stay BadCredentials (counted by fail2ban).
    let v1 = run(&mut m, &wrong, T0 + 3_600_000);
    let v2 = run(&mut m, &unknown, T0 + 3_600_000);
    assert_eq!(wire(&v1), wire(&v2));
    assert_eq!(v1, bad(true));
}

#[test]
fn unknown_user_cannot_match_a_guessable_ha1() {
    let mut m = mgr();
    let n = m.issue(T0);
    for fake_ha1 in ["", &"0".repeat(32)] {
        let r = response(Algorithm::Md5, fake_ha1, "REGISTER", RURI, &n, None);
        let c = Credentials {
            username: "ghost".into(),
            realm: REALM.into(),
            nonce: n.clone(),
            uri: RURI.into(),
            response: r,
            algorithm: Algorithm::Md5,
            cnonce: None,
            nc: None,
            qop: None,
            opaque: None,
        };
        assert_eq!(run(&mut m, &c, T0), bad(false));
    }
}

#[test]
fn stale_nonce_with_right_digest_asks_for_a_stale_retry() {
    let mut m = mgr();
    let ch = m.challenge(REALM, Algorithm::Sha256, false, T0);
    let c = answer(&ch, "REGISTER", RURI, "1000", "s3cret", "x", 1);
    assert_eq!(
        run(&mut m, &c, T0 + 61_000),
        Verdict::Challenge { stale: true }
    );
    // Nothing was recorded for the stale attempt.
    assert_eq!(m.tracked(), 0);
}

#[test]
fn forged_or_foreign_nonce() {
    let mut m = mgr();
    // A nonce from another secret (e.g. before a restart), right password: stale retry.
    let mut before_restart = NonceManager::new([1; 32], Duration::from_secs(60), 4);
    let ch = before_restart.challenge(REALM, Algorithm::Md5, false, T0);
    let c = answer(&ch, "REGISTER", RURI, "1000", "s3cret", "x", 1);
    assert_eq!(m.check(&c.nonce, c.nc, T0), NonceStatus::Invalid);
    assert_eq!(run(&mut m, &c, T0), Verdict::Challenge { stale: true });
    // A made-up nonce with a wrong password: rejected.
    let ch = Challenge {
        nonce: "made-up".into(),
        ..ch
    };
    let c = answer(&ch, "REGISTER", RURI, "1000", "nope", "x", 1);
    assert_eq!(run(&mut m, &c, T0), bad(true));
}

#[test]
fn nc_replay_is_refused_and_forgeries_do_not_burn_counts() {
    let mut m = mgr();
    let ch = m.challenge(REALM, Algorithm::Md5, false, T0);
    let c1 = answer(&ch, "REGISTER", RURI, "1000", "s3cret", "x", 1);
    assert_eq!(run(&mut m, &c1, T0), authorized());
    let replayed = Verdict::Rejected {
        reason: RejectReason::Replayed,
    };
    assert_eq!(run(&mut m, &c1, T0 + 1), replayed);
    // An attacker with a wrong digest and a huge nc is just BadCredentials…
    let forged = answer(&ch, "REGISTER", RURI, "1000", "guess", "y", 0xffff_ffff);
    assert_eq!(run(&mut m, &forged, T0 + 2), bad(true));
    // …and the genuine phone's next count still works.
    let c2 = answer(&ch, "REGISTER", RURI, "1000", "s3cret", "z", 2);
    assert_eq!(run(&mut m, &c2, T0 + 3), authorized());
    assert_eq!(run(&mut m, &c2, T0 + 4), replayed);
}

#[test]
fn realm_uri_and_shape_checks() {
    let mut m = mgr();
    let ch = m.challenge(REALM, Algorithm::Md5, false, T0);
    let c = answer(&ch, "REGISTER", RURI, "1000", "s3cret", "x", 1);
    let v = verify(&mut m, &c, "REGISTER", RURI, "other.realm", dir, T0);
    assert_eq!(
        v,
        Verdict::Rejected {
            reason: RejectReason::RealmMismatch
        }
    );
    let v = verify(&mut m, &c, "REGISTER", "sip:evil.example", REALM, dir, T0);
    assert_eq!(
        v,
        Verdict::Rejected {
            reason: RejectReason::UriMismatch
        }
    );
    let mut no_nc = c.clone();
    no_nc.nc = None;
    assert!(matches!(
        run(&mut m, &no_nc, T0),
        Verdict::Rejected {
            reason: RejectReason::Malformed(_),
            ..
        }
    ));
    let mut auth_int = c.clone();
    auth_int.qop = Some("auth-int".into());
    assert!(matches!(
        run(&mut m, &auth_int, T0),
        Verdict::Rejected {
            reason: RejectReason::Malformed(_),
            ..
        }
    ));
    // Uppercase hex in the response is fine.
    let mut upper = c.clone();
    upper.response = upper.response.to_ascii_uppercase();
    assert_eq!(run(&mut m, &upper, T0), authorized());
}

#[test]
fn uri_leniency() {
    assert!(uri_matches("sip:pbx.example", "SIP:PBX.example"));
    assert!(uri_matches("<sip:pbx.example>", "sip:pbx.example"));
    assert!(uri_matches(
        "sip:pbx.example;transport=udp",
        "sip:pbx.example"
    ));
    assert!(uri_matches("sip:pbx.example:5060", "sip:pbx.example"));
    assert!(uri_matches("sips:[::1]:5061", "sips:[::1]"));
    assert!(!uri_matches("sip:pbx.example:5070", "sip:pbx.example"));
    assert!(!uri_matches("sip:1000@pbx.example", "sip:pbx.example"));
    assert!(!uri_matches("sip:5060", "sip:"));
    // The Request-URI without its user (SIPp, some ATAs), same host and port only.
    assert!(uri_matches("sip:127.0.0.1:5070", "sip:1002@127.0.0.1:5070"));
    assert!(!uri_matches(
        "sip:127.0.0.1:5071",
        "sip:1002@127.0.0.1:5070"
    ));
    assert!(!uri_matches("sip:10.0.0.1:5070", "sip:1002@127.0.0.1:5070"));
}
