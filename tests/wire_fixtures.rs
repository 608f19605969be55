//! The SIP codec against its fixture collection (tests/fixtures/sip/, written by
//! generate.py there): every valid message parses, passes the mandatory-header checks
//! and round-trips; every malformed one is rejected; and no mutation of any of them
//! makes the parser panic.

use loopstart::sip::wire::{check_mandatory, parse_message, Framing, Limits, Message};
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
            (name, std::fs::read(&p).unwrap_or_default())
        })
        .collect()
}

/// What the server checks before acting on a request: mandatory headers, and the
/// Contact/Expires values a REGISTER depends on.
fn validate(m: &Message) -> Result<(), String> {
    if let Message::Request(r) = m {
        check_mandatory(r).map_err(|e| e.detail)?;
        r.headers.contacts().map_err(|e| e.detail)?;
        r.headers.expires().map_err(|e| e.detail)?;
    }
    Ok(())
}

#[test]
fn valid_fixtures_parse_validate_and_round_trip() {
    let all = fixtures("valid");
    assert!(
        all.len() >= 15,
        "fixture collection is missing ({} files)",
        all.len()
    );
    for (name, bytes) in all {
        let m = parse_message(&bytes, Framing::Datagram, &Limits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        validate(&m).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = parse_message(&m.to_bytes(), Framing::Datagram, &Limits::default())
            .unwrap_or_else(|e| panic!("{name} after serialising: {e}"));
        // Serialising always writes a Content-Length; apart from it, nothing changes.
        assert_eq!(
            without_length(m),
            without_length(again),
            "{name} does not round-trip"
        );
    }
}

#[test]
fn malformed_fixtures_are_rejected_with_a_reason() {
    let all = fixtures("malformed");
    assert!(
        all.len() >= 25,
        "fixture collection is missing ({} files)",
        all.len()
    );
    for (name, bytes) in all {
        let verdict = parse_message(&bytes, Framing::Datagram, &Limits::default())
            .map_err(|e| e.detail)
            .and_then(|m| validate(&m));
        match verdict {
            Ok(()) => panic!("{name} was accepted"),
            Err(reason) => assert!(!reason.is_empty(), "{name}: empty reason"),
        }
    }
}

#[test]
fn specific_rejections_say_what_was_wrong() {
    let read = |n: &str| {
        let all = fixtures("malformed");
        all.into_iter()
            .find(|(f, _)| f == n)
            .map(|(_, b)| b)
            .unwrap_or_default()
    };
    let why = |n: &str| {
        parse_message(&read(n), Framing::Datagram, &Limits::default())
            .map_err(|e| e.detail)
            .and_then(|m| validate(&m))
            .unwrap_err()
    };
    assert!(
        why("scalarlg.sip").contains("CSeq"),
        "{}",
        why("scalarlg.sip")
    );
    assert!(
        why("cseqmeth.sip").contains("does not match"),
        "{}",
        why("cseqmeth.sip")
    );
    assert!(
        why("mcl01.sip").contains("Content-Length"),
        "{}",
        why("mcl01.sip")
    );
    assert!(
        why("clbig.sip").contains("Content-Length 300"),
        "{}",
        why("clbig.sip")
    );
    assert!(
        why("nocallid.sip").contains("Call-ID"),
        "{}",
        why("nocallid.sip")
    );
    assert!(
        why("toolarge.sip").contains("exceeds"),
        "{}",
        why("toolarge.sip")
    );
}

fn without_length(mut m: Message) -> Message {
    match &mut m {
        Message::Request(r) => r.headers.remove("Content-Length"),
        Message::Response(r) => r.headers.remove("Content-Length"),
    }
    m
}

/// Deterministic mutation fuzzing: every truncation, and pseudo-random byte flips.
#[test]
fn no_mutation_makes_the_parser_panic() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        seed >> 33
    };
    let limits = Limits::default();
    let mut tried = 0;
    for (_, bytes) in fixtures("valid").into_iter().chain(fixtures("malformed")) {
        if bytes.len() > 8192 {
            continue;
        }
        for cut in 0..bytes.len() {
            if let Ok(m) = parse_message(&bytes[..cut], Framing::Datagram, &limits) {
                let _ = validate(&m);
            }
            tried += 1;
        }
        for _ in 0..300 {
            let mut b = bytes.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % b.len().max(1);
                if let Some(x) = b.get_mut(i) {
                    *x = (next() & 0xff) as u8;
                }
            }
            if let Ok(m) = parse_message(&b, Framing::Datagram, &limits) {
                let _ = validate(&m);
                let _ = m.to_bytes();
            }
            let _ = loopstart::sip::wire::frame_stream(&b, &limits);
            tried += 1;
        }
    }
    assert!(tried > 10_000);
}
