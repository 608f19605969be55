//! Table tests for [`parse_message`].

use super::*;
use crate::sip::wire::{check_mandatory, Host};

const REG: &str = "REGISTER sip:example.com SIP/2.0\r\n\
    v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
    f: <sip:1001@example.com>;tag=a\r\n\
    t: <sip:1001@example.com>\r\n\
    i: abc\r\n\
    CSeq: 1 REGISTER\r\n\
    Subject : folded\r\n  over lines\r\n\
    X-Odd:   keep me \r\n\
    l: 4\r\n\r\nbodyEXTRA";

fn parse(s: &[u8]) -> Result<Message, ParseError> {
    parse_message(s, Framing::Datagram, &Limits::default())
}

fn request(s: &str) -> Request {
    match parse(s.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("{s:?}: {other:?}"),
    }
}

#[test]
fn parses_compact_folded_and_body() {
    let r = request(REG);
    assert_eq!(r.method, Method::Register);
    assert_eq!(r.headers.call_id().unwrap(), "abc");
    assert_eq!(r.headers.get("Subject"), Some("folded over lines"));
    assert_eq!(r.headers.get("x-odd"), Some("keep me"));
    // Unknown names keep their spelling; compact ones are expanded.
    let names: Vec<&str> = r.headers.iter().map(|h| h.name).collect();
    assert_eq!(
        names,
        [
            "Via",
            "From",
            "To",
            "Call-ID",
            "CSeq",
            "Subject",
            "X-Odd",
            "Content-Length"
        ]
    );
    assert_eq!(r.body, b"body");
    check_mandatory(&r).unwrap();
    let again = parse(&r.to_bytes()).unwrap();
    assert_eq!(Message::Request(r), again);
}

#[test]
fn tolerated_forms() {
    // (message, header to look up, expected value)
    let base = "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n";
    let cases: &[(&str, &str, &str)] = &[
        ("Call-ID:x\r\n\r\n", "call-id", "x"),
        ("Call-ID \t :\t x \r\n\r\n", "i", "x"),
        ("CALL-ID: x\r\n\r\n", "Call-ID", "x"),
        ("Subject:\r\n a\r\n\tb\r\n\r\n", "Subject", "a b"),
        ("Subject: a\r\n \r\n b\r\n\r\n", "Subject", "a b"),
        (
            "X-Y: \"q\\\"uoted, still\"\r\n\r\n",
            "x-y",
            "\"q\\\"uoted, still\"",
        ),
        ("k: 100rel\r\n\r\n", "Supported", "100rel"),
        ("o: presence\r\n\r\n", "Event", "presence"),
        ("x: 1800\r\n\r\n", "Session-Expires", "1800"),
        ("X-Utf8: héllo\r\n\r\n", "X-Utf8", "héllo"),
    ];
    for (extra, name, want) in cases {
        let m =
            parse(format!("{base}{extra}").as_bytes()).unwrap_or_else(|e| panic!("{extra:?}: {e}"));
        assert_eq!(m.headers().get(name), Some(*want), "{extra:?}");
    }
    // LF-only line endings and leading CRLFs.
    let lf = request("\r\n\r\nOPTIONS sip:a@b SIP/2.0\nCall-ID: q\nl: 2\n\nhi");
    assert_eq!(
        (lf.headers.get("Call-ID"), &lf.body[..]),
        (Some("q"), &b"hi"[..])
    );
    // Lower-case version, IPv6 Request-URI, tel: Request-URI.
    let r = request("INFO sip:[2001:db8::1]:5062 sip/2.0\r\n\r\n");
    assert_eq!(r.uri.host, Host::V6("2001:db8::1".parse().unwrap()));
    assert_eq!(r.uri.port, Some(5062));
    assert_eq!(
        request("OPTIONS tel:+15550123 SIP/2.0\r\n\r\n")
            .uri
            .user
            .as_deref(),
        Some("+15550123")
    );
}

#[test]
fn get_all_splits_lists() {
    let r = request(
        "OPTIONS sip:a@b SIP/2.0\r\n\
         Contact: \"Doe, J\" <sip:a@b>, <sip:c@d;x=1,2>\r\n\
         m: sip:e@f\r\n\
         WWW-Authenticate: Digest realm=\"a\", nonce=\"b\"\r\n\r\n",
    );
    assert_eq!(
        r.headers.get_all("contact"),
        ["\"Doe, J\" <sip:a@b>", "<sip:c@d;x=1,2>", "sip:e@f"]
    );
    assert_eq!(r.headers.contacts().unwrap().len(), 3);
    assert_eq!(r.headers.get_all("www-authenticate").len(), 1);
}

#[test]
fn datagram_and_stream_bodies() {
    let no_len = "MESSAGE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\nhello";
    let l = Limits::default();
    let m = parse_message(no_len.as_bytes(), Framing::Datagram, &l).unwrap();
    assert!(m.to_bytes().ends_with(b"Content-Length: 5\r\n\r\nhello"));
    let m = parse_message(no_len.as_bytes(), Framing::Stream, &l).unwrap();
    assert!(matches!(m, Message::Request(r) if r.body.is_empty()));
    // Extra bytes after the declared body are ignored on UDP.
    let r = request(REG);
    assert_eq!(r.body, b"body");
    // Equal duplicates are fine.
    let dup = REG.replace("l: 4", "l: 4\r\nContent-Length: 4");
    assert_eq!(request(&dup).body, b"body");
}

#[test]
fn errors_say_what_and_salvage() {
    use K::*;
    // (message, kind, whether headers are salvaged)
    let reg = |from: &str, to: &str| REG.replacen(from, to, 1);
    let cases: Vec<(String, K, bool)> = vec![
        (reg("l: 4", "l: 40"), TruncatedBody, true),
        (reg("l: 4", "l: -4"), BadContentLength, true),
        (
            reg("l: 4", "l: 4\r\nContent-Length: 5"),
            BadContentLength,
            true,
        ),
        (reg("l: 4", "l: 4 4"), BadContentLength, true),
        (reg("X-Odd:", "X-Odd"), BadHeaderLine, true),
        (reg("X-Odd:", "X Odd:"), BadHeaderLine, true),
        (reg("X-Odd:", "X-O\u{0}dd:"), BadHeaderLine, true),
        (reg("keep me", "keep\rme"), BadHeaderLine, true),
        (reg("REGISTER sip", " REGISTER sip"), BadStartLine, true),
        (
            reg(
                "REGISTER sip:example.com SIP/2.0",
                "REGISTER  sip:example.com SIP/2.0",
            ),
            BadStartLine,
            true,
        ),
        (reg("SIP/2.0\r\n", "SIP/2.0 \r\n"), BadStartLine, true),
        (reg("SIP/2.0\r\n", "SIP/7.0\r\n"), BadVersion, true),
        (reg("SIP/2.0\r\n", "\r\n"), BadStartLine, true),
        (reg("sip:example.com", "mailto:a@example.com"), BadUri, true),
        (reg("sip:example.com", "<sip:example.com>"), BadUri, true),
        (
            reg("sip:example.com", "sip:example.com?Route=%3Csip:x%3E"),
            BadUri,
            true,
        ),
        (reg("sip:example.com", "sip:a@b:0"), BadUri, true),
        (reg("REGISTER", "REGIS\"TER"), BadStartLine, true),
        (reg("\r\n\r\n", "\r\n"), Incomplete, true),
        (
            " folded\r\nREGISTER sip:a SIP/2.0\r\n\r\n".into(),
            BadStartLine,
            false,
        ),
        (
            "REGISTER sip:a SIP/2.0\r\n continued\r\n\r\n".into(),
            BadHeaderLine,
            false,
        ),
        (
            "SIP/2.0 4294967301 Big\r\nCall-ID: x\r\n\r\n".into(),
            BadStartLine,
            false,
        ),
        ("SIP/2.0 099 Low\r\n\r\n".into(), BadStartLine, false),
        (
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\nl: 9\r\n\r\n".into(),
            TruncatedBody,
            false,
        ),
        (
            "GET / HTTP/1.1\r\nVia: SIP/2.0/UDP h\r\n\r\n".into(),
            BadVersion,
            true,
        ),
        ("SIP/2.0 700 High\r\n\r\n".into(), BadStartLine, false),
        ("SIP/2.0 20x OK\r\n\r\n".into(), BadStartLine, false),
        ("SIP/3.0 200 OK\r\n\r\n".into(), BadVersion, false),
        ("".into(), Incomplete, false),
        ("\r\n\r\n".into(), Incomplete, false),
        ("REGISTER sip:a SIP/2.0".into(), Incomplete, false),
    ];
    for (msg, kind, salvaged) in cases {
        let e = parse(msg.as_bytes()).expect_err(&msg);
        assert_eq!(e.kind, kind, "{msg:?}: {}", e.detail);
        assert!(!e.detail.is_empty());
        assert_eq!(e.salvaged.is_some(), salvaged, "{msg:?}: {e:?}");
        if salvaged && msg.starts_with("REGISTER") {
            let h = e.salvaged.unwrap_or_default();
            assert!(h.top_via().is_ok() && h.cseq().is_ok(), "{msg:?}");
        }
    }
    let bad_utf8 = REG
        .as_bytes()
        .iter()
        .map(|&b| if b == b'k' { 0xff } else { b })
        .collect::<Vec<u8>>();
    let e = parse(&bad_utf8).unwrap_err();
    assert_eq!(e.kind, BadEncoding);
    assert!(e.salvaged.is_some_and(|h| h.get("Call-ID") == Some("abc")));
}

#[test]
fn limits_are_enforced_with_salvage() {
    let l = Limits {
        max_message_bytes: 400,
        max_headers: 5,
        max_line_bytes: 48,
    };
    let long_line = REG.replace("keep me", &"k".repeat(50));
    let e = parse_message(long_line.as_bytes(), Framing::Datagram, &l).unwrap_err();
    assert_eq!(e.kind, K::TooManyHeaders);
    let roomy = Limits {
        max_headers: 50,
        ..l
    };
    let e = parse_message(long_line.as_bytes(), Framing::Datagram, &roomy).unwrap_err();
    assert_eq!(e.kind, K::LineTooLong);
    assert!(e.salvaged.is_some_and(|h| h.get("Call-ID") == Some("abc")));
    let folded = REG.replace("  over lines", &["  more"; 10].join("\r\n"));
    let e = parse_message(folded.as_bytes(), Framing::Datagram, &roomy).unwrap_err();
    assert_eq!(e.kind, K::LineTooLong);
    let big = format!("{REG}{}", "x".repeat(500));
    let e = parse_message(big.as_bytes(), Framing::Datagram, &roomy).unwrap_err();
    assert_eq!(e.kind, K::TooLarge);
    assert!(e.salvaged.is_some_and(|h| h.cseq().is_ok()));
    let fits = Limits {
        max_message_bytes: REG.len(),
        ..roomy
    };
    assert!(parse_message(REG.as_bytes(), Framing::Datagram, &fits).is_ok());
}

#[test]
fn round_trips_keep_everything() {
    let msgs = [
        REG.to_string(),
        "SIP/2.0 180 \r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nX-A:\r\n\r\n".to_string(),
        "OPTIONS sip:%61lice;p=%2C@example.com;maddr=[::1] SIP/2.0\r\ns:\r\n\r\n".to_string(),
        "INVITE tel:12%3B34;phone-context=x SIP/2.0\r\nContent-Type: a/b\r\n\r\n\0\r\n\r\n"
            .to_string(),
    ];
    for m in msgs {
        let once = parse(m.as_bytes()).unwrap_or_else(|e| panic!("{m:?}: {e}"));
        let twice = parse(&once.to_bytes()).unwrap_or_else(|e| panic!("{m:?} again: {e}"));
        let mut a = once.clone();
        let mut b = twice;
        for x in [&mut a, &mut b] {
            match x {
                Message::Request(r) => r.headers.remove("l"),
                Message::Response(r) => r.headers.remove("l"),
            }
        }
        assert_eq!(a, b, "{m:?}");
    }
}
