//! The SIP codec against its fixture collection (tests/fixtures/sip/, written by
//! generate.py there): every valid message parses, passes the mandatory-header checks
//! and round-trips; every malformed one is rejected with a reason (with its headers
//! salvaged when a server would answer it); and no mutation of any of them makes the
//! parser panic or breaks the round trip.

use loopstart::sip::wire::{
    check_mandatory, check_response, frame_stream, parse_message, Contact, Framing, Limits,
    Message, Response,
};
use std::path::{Path, PathBuf};

fn fixtures(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sip")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sip"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, bytes)
        })
        .collect()
}

fn fixture(kind: &str, name: &str) -> Vec<u8> {
    fixtures(kind)
        .into_iter()
        .find(|(f, _)| f == name)
        .map(|(_, b)| b)
        .unwrap_or_else(|| panic!("no fixture {kind}/{name}"))
}

fn parse(bytes: &[u8]) -> Result<Message, loopstart::sip::wire::ParseError> {
    parse_message(bytes, Framing::Datagram, &Limits::default())
}

/// What the server checks before acting on a message: mandatory headers, and the
/// Contact/Expires values a REGISTER depends on.
fn validate(m: &Message) -> Result<(), String> {
    match m {
        Message::Request(r) => {
            check_mandatory(r).map_err(|e| e.detail)?;
            r.headers.contacts().map_err(|e| e.detail)?;
            r.headers.expires().map_err(|e| e.detail)?;
        }
        Message::Response(r) => check_response(r).map_err(|e| e.detail)?,
    }
    Ok(())
}

/// Parse, then the server's checks: Err(reason) when the message is to be rejected.
fn verdict(bytes: &[u8]) -> Result<Message, String> {
    let m = parse(bytes).map_err(|e| e.detail)?;
    validate(&m)?;
    Ok(m)
}

fn without_length(mut m: Message) -> Message {
    match &mut m {
        Message::Request(r) => r.headers.remove("Content-Length"),
        Message::Response(r) => r.headers.remove("Content-Length"),
    }
    m
}

/// parse(serialize(m)) == m, apart from the Content-Length serialising always writes.
fn assert_round_trips(name: &str, m: &Message) {
    let again = parse(&m.to_bytes()).unwrap_or_else(|e| {
        panic!(
            "{name} after serialising: {e}\n{}",
            String::from_utf8_lossy(&m.to_bytes())
        )
    });
    assert_eq!(
        without_length(m.clone()),
        without_length(again),
        "{name} does not round-trip"
    );
}

#[test]
fn valid_fixtures_parse_validate_and_round_trip() {
    let all = fixtures("valid");
    assert!(
        all.len() >= 25,
        "fixture collection is missing ({})",
        all.len()
    );
    for (name, bytes) in all {
        let m = verdict(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_round_trips(&name, &m);
        // Serialising twice gives the same bytes.
        let once = m.to_bytes();
        let twice = parse(&once).map(|m| m.to_bytes());
        assert_eq!(Ok(once), twice.map_err(|e| e.detail), "{name}");
    }
}

#[test]
fn valid_fixtures_mean_what_they_say() {
    let req = |n: &str| match parse(&fixture("valid", n)) {
        Ok(Message::Request(r)) => r,
        other => panic!("{n}: {other:?}"),
    };
    let wsinv = req("wsinv.sip");
    assert_eq!(wsinv.headers.cseq().map(|c| c.seq), Ok(9));
    assert_eq!(wsinv.headers.max_forwards(), Ok(Some(68)));
    assert_eq!(wsinv.headers.vias().map(|v| v.len()), Ok(3));
    assert_eq!(
        wsinv.headers.from().ok().and_then(|f| f.display),
        Some("J Rosenberg \\\"".to_string())
    );
    assert_eq!(
        wsinv
            .headers
            .to()
            .ok()
            .and_then(|t| t.tag().map(str::to_string))
            .as_deref(),
        Some("1918181833n")
    );
    assert_eq!(wsinv.headers.get("Subject"), Some(""));
    assert_eq!(
        wsinv.headers.get("newfangledheader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(wsinv.body.len(), 150);

    let esc01 = req("esc01.sip");
    assert_eq!(esc01.uri.user.as_deref(), Some("sips:user@example.com"));
    assert_eq!(
        esc01.uri.to_string(),
        "sip:sips%3Auser%40example.com@example.net"
    );
    assert_eq!(
        esc01.headers.to().map(|t| t.uri.user),
        Ok(Some("user".into()))
    );
    let escnull = req("escnull.sip");
    assert_eq!(
        escnull.headers.from().map(|f| f.uri.user),
        Ok(Some("null-\0-null".into()))
    );
    let esc02 = req("esc02.sip");
    assert_eq!(esc02.method.as_str(), "RE%47IST%45R");
    assert_eq!(esc02.headers.contacts().map(|c| c.len()), Ok(2));
    assert_eq!(
        esc02.headers.get("C%6Fntact"),
        Some("<sip:alias2@host2.example.com>")
    );
    let semi = req("semiuri.sip");
    assert_eq!(semi.uri.user.as_deref(), Some("user;par=u@example.net"));
    assert!(semi.uri.params.0.is_empty());
    let dbl = req("dblreq.sip");
    assert!(dbl.body.is_empty());
    let nocl = req("nocl.sip");
    assert_eq!(nocl.body, b"hello");
    let v6 = req("reg-zoiper-ipv6.sip");
    assert_eq!(v6.headers.top_via().map(|v| v.port), Ok(Some(37813)));
    let lin = req("reg-linphone-ipv6.sip");
    let auth = lin.headers.get_all("Authorization");
    assert_eq!(auth.len(), 1);
    assert!(
        auth[0].contains("algorithm=MD5, username=\"1004\""),
        "{}",
        auth[0]
    );

    let regescrt = req("regescrt.sip");
    match regescrt.headers.contacts().as_deref() {
        Ok([Contact::Addr(a)]) => assert_eq!(
            a.uri.headers,
            vec![("Route".to_string(), "<sip:sip.example.com>".to_string())]
        ),
        other => panic!("regescrt: {other:?}"),
    }
    let regaut = req("regaut01.sip");
    assert_eq!(regaut.headers.get_all("Authorization").len(), 1);
    let cparam = req("cparam02.sip");
    match cparam.headers.contacts().as_deref() {
        Ok([Contact::Addr(a), Contact::Addr(b)]) => {
            assert_eq!(a.params.get("unknownparam"), Some(Some("a;b,c")));
            assert_eq!(b.display.as_deref(), Some("Two"));
            assert_eq!(b.params.get("expires"), Some(Some("30")));
        }
        other => panic!("cparam02: {other:?}"),
    }
    let inv2543 = req("inv2543.sip");
    assert_eq!(
        inv2543.headers.top_via().map(|v| v.branch().is_none()),
        Ok(true)
    );
    assert_eq!(inv2543.headers.max_forwards(), Ok(None));
    match parse(&fixture("valid", "resp-ipv6.sip")) {
        Ok(Message::Response(r)) => {
            assert_eq!(r.status.code, 180);
            assert_eq!(r.headers.get_all("Record-Route").len(), 2);
            let via = r.headers.top_via().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(via.params.get("received"), Some(Some("[2001:db8::10]")));
        }
        other => panic!("resp-ipv6: {other:?}"),
    }
}

#[test]
fn malformed_fixtures_are_rejected_with_a_reason() {
    let all = fixtures("malformed");
    assert!(
        all.len() >= 40,
        "fixture collection is missing ({})",
        all.len()
    );
    for (name, bytes) in all {
        match verdict(&bytes) {
            Ok(_) => panic!("{name} was accepted"),
            Err(reason) => assert!(!reason.is_empty(), "{name}: empty reason"),
        }
    }
}

#[test]
fn specific_rejections_say_what_was_wrong() {
    for (name, want) in [
        ("scalarlg.sip", "CSeq"),
        ("cseqbig.sip", "32-bit"),
        ("scalar02.sip", "Max-Forwards"),
        ("cseqmeth.sip", "does not match"),
        ("mismatch02.sip", "does not match"),
        ("mcl01.sip", "Content-Length"),
        ("clbig.sip", "Content-Length 300"),
        ("clerr.sip", "Content-Length 9999"),
        ("negcl.sip", "Content-Length"),
        ("nocallid.sip", "Call-ID"),
        ("novia.sip", "Via"),
        ("dupcallid.sip", "Call-ID"),
        ("insuf.sip", "missing"),
        ("toolarge.sip", "exceeds"),
        ("toomanyheaders.sip", "headers"),
        ("longline.sip", "longer"),
        ("regbadct.sip", "Contact"),
        ("baddn.sip", "From"),
        ("badaspec.sip", "To"),
        ("escruri.sip", "Request-URI"),
        ("badvers.sip", "version"),
        ("bigcode.sip", "status code"),
        ("nul.sip", "control character"),
        ("latin1.sip", "UTF-8"),
        ("multi01.sip", "more than one"),
        ("cseqneg.sip", "CSeq"),
        ("badver2.sip", "version"),
        ("badcode.sip", "status code"),
    ] {
        let why = verdict(&fixture("malformed", name))
            .err()
            .unwrap_or_else(|| panic!("{name} accepted"));
        assert!(why.contains(want), "{name}: {why:?} lacks {want:?}");
    }
}

/// A request that fails to parse still yields what a server needs to answer 400.
#[test]
fn unparseable_requests_salvage_their_headers() {
    for name in [
        "ltgtruri",
        "lwsruri",
        "lwsstart",
        "trws",
        "escruri",
        "badvers",
        "mailto",
        "badescape",
        "badhost",
        "badport",
        "nocolon",
        "badname",
        "nul",
        "barecr",
        "latin1",
        "noversion",
        "noblank",
        "toomanyheaders",
        "longline",
        "toolarge",
        "clerr",
        "negcl",
        "clbig",
        "mcl01",
    ] {
        let e = parse(&fixture("malformed", &format!("{name}.sip")))
            .err()
            .unwrap_or_else(|| panic!("{name} parsed"));
        let headers = e
            .salvaged
            .unwrap_or_else(|| panic!("{name}: nothing salvaged ({})", e.detail));
        let resp = Response::to_headers(&headers, 400, &e.detail)
            .unwrap_or_else(|| panic!("{name}: no Via salvaged"));
        assert!(resp.headers.cseq().is_ok(), "{name}");
        assert!(parse(&resp.to_bytes()).is_ok(), "{name}: bad 400");
    }
}

/// Deterministic mutation fuzzing: every truncation, and pseudo-random byte flips,
/// insertions and deletions. Nothing may panic, and whatever parses must round-trip.
#[test]
fn no_mutation_makes_the_parser_panic_or_break_the_round_trip() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    // Bytes that matter to SIP syntax, to make flips interesting.
    const SPECIAL: &[u8] = b"\r\n :;,<>\"\\%@[]?=/\t\0";
    let limits = Limits::default();
    let mut tried = 0;
    let mut parsed = 0;
    for (name, bytes) in fixtures("valid").into_iter().chain(fixtures("malformed")) {
        if bytes.len() > 8192 {
            continue;
        }
        for cut in 0..bytes.len() {
            if let Ok(m) = parse_message(&bytes[..cut], Framing::Datagram, &limits) {
                let _ = validate(&m);
            }
            let _ = parse_message(&bytes[..cut], Framing::Stream, &limits);
            let _ = frame_stream(&bytes[..cut], &limits);
            tried += 1;
        }
        for round in 0..400 {
            let mut b = bytes.clone();
            for _ in 0..1 + next() % 4 {
                let i = next() % b.len().max(1);
                let x = if next() % 2 == 0 {
                    SPECIAL[next() % SPECIAL.len()]
                } else {
                    next() as u8
                };
                match next() % 3 {
                    0 if i < b.len() => b[i] = x,
                    1 => b.insert(i.min(b.len()), x),
                    _ if i < b.len() => {
                        b.remove(i);
                    }
                    _ => {}
                }
            }
            if let Ok(m) = parse_message(&b, Framing::Datagram, &limits) {
                parsed += 1;
                let _ = validate(&m);
                let label = format!("{name} mutation {round}: {:?}", String::from_utf8_lossy(&b));
                assert_round_trips(&label, &m);
            }
            let _ = frame_stream(&b, &limits);
            tried += 1;
        }
    }
    assert!(tried > 20_000, "{tried}");
    assert!(parsed > 1_000, "{parsed}");
}
