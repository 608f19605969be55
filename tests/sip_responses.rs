//! Exact responses to hand-built requests over UDP and TCP: the challenge's
//! shape, OPTIONS, unknown methods, Max-Forwards 0, Contact listing in 200.

mod common;

use std::time::Duration;

use common::sip::{self, header, status_code};
use common::Gateway;

fn gateway() -> Gateway {
    Gateway::builder().user("1001", "secret1001").start()
}

/// Sends `method` with `extra` headers over UDP; the final response.
fn udp(gw: &Gateway, method: &str, extra: &str, max_forwards: &str) -> String {
    let sock = sip::udp_socket();
    let local = sock.local_addr().expect("local addr");
    let req = sip::request_with(method, gw.sip_addr(), local, "UDP", extra, max_forwards);
    sip::udp_exchange(&sock, gw.sip_addr(), req.as_bytes(), Duration::from_secs(3)).unwrap_or_else(
        || {
            panic!(
                "no answer to {method} over UDP\n{req}\n--- log ---\n{}",
                gw.log()
            )
        },
    )
}

fn register_request(gw: &Gateway, local: std::net::SocketAddr, transport: &str) -> String {
    let target = gw.sip_addr();
    format!(
        "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK{b}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1001@127.0.0.1>;tag={t}\r\n\
         To: <sip:1001@127.0.0.1>\r\n\
         Call-ID: {c}\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:1001@{local}>\r\n\
         Expires: 60\r\n\
         Content-Length: 0\r\n\r\n",
        port = target.port(),
        b = sip::unique("b"),
        t = sip::unique("t"),
        c = sip::unique("c"),
    )
}

fn assert_challenge(resp: &str) {
    assert_eq!(status_code(resp), Some(401), "expected 401:\n{resp}");
    let auth = header(resp, "WWW-Authenticate")
        .unwrap_or_else(|| panic!("401 without WWW-Authenticate:\n{resp}"));
    assert!(
        auth.starts_with("Digest "),
        "not a Digest challenge: {auth}"
    );
    assert!(
        auth.contains("realm=\"127.0.0.1\""),
        "realm must be the domain: {auth}"
    );
    assert!(auth.contains("nonce=\""), "no nonce: {auth}");
    assert!(auth.contains("algorithm=MD5"), "no algorithm=MD5: {auth}");
    assert!(auth.contains("qop=\"auth\""), "no qop=\"auth\": {auth}");
}

#[test]
fn register_without_credentials_is_challenged_udp() {
    let gw = gateway();
    let sock = sip::udp_socket();
    let local = sock.local_addr().expect("local addr");
    let req = register_request(&gw, local, "UDP");
    let resp = sip::udp_exchange(&sock, gw.sip_addr(), req.as_bytes(), Duration::from_secs(3))
        .unwrap_or_else(|| panic!("no answer to REGISTER\n--- log ---\n{}", gw.log()));
    assert_challenge(&resp);
    // The response echoes the transaction identifiers.
    for h in ["Call-ID", "CSeq", "From"] {
        assert_eq!(header(&resp, h), header(&req, h), "{h} not echoed:\n{resp}");
    }
    // Two challenges carry different nonces.
    let req2 = register_request(&gw, local, "UDP");
    let resp2 = sip::udp_exchange(
        &sock,
        gw.sip_addr(),
        req2.as_bytes(),
        Duration::from_secs(3),
    )
    .expect("second challenge");
    assert_ne!(
        header(&resp, "WWW-Authenticate"),
        header(&resp2, "WWW-Authenticate"),
        "nonces must not repeat"
    );
}

#[test]
fn register_without_credentials_is_challenged_tcp() {
    let gw = gateway();
    let mut stream = sip::tcp_connect(gw.sip_addr());
    let local = stream.local_addr().expect("local addr");
    let req = register_request(&gw, local, "TCP");
    let got = sip::tcp_exchange(&mut stream, req.as_bytes(), Duration::from_secs(3));
    assert_challenge(got.text());
}

#[test]
fn options_gets_200() {
    let gw = gateway();
    let resp = udp(&gw, "OPTIONS", "", "70");
    assert_eq!(status_code(&resp), Some(200), "{resp}");
}

#[test]
fn unknown_method_gets_405_with_allow() {
    let gw = gateway();
    let resp = udp(&gw, "FROBNICATE", "", "70");
    assert_eq!(status_code(&resp), Some(405), "{resp}");
    let allow = header(&resp, "Allow").unwrap_or_else(|| panic!("405 without Allow:\n{resp}"));
    for m in ["REGISTER", "OPTIONS"] {
        assert!(allow.contains(m), "Allow should list {m}: {allow}");
    }
}

#[test]
fn max_forwards_zero_gets_483() {
    let gw = gateway();
    let resp = udp(&gw, "REGISTER", "Expires: 60\r\n", "0");
    assert_eq!(
        status_code(&resp),
        Some(483),
        "REGISTER with Max-Forwards: 0:\n{resp}"
    );
    // RFC 3261 11: a UAS may answer OPTIONS with Max-Forwards 0 itself;
    // accept 483 or 200 there.
    let resp = udp(&gw, "OPTIONS", "", "0");
    assert!(
        matches!(status_code(&resp), Some(483) | Some(200)),
        "OPTIONS with Max-Forwards: 0:\n{resp}"
    );
}
