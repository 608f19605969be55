//! INVITE dialogs driven like the network would, with a virtual clock.

use crate::sip::core::tests::{core, phone, Clock};
use crate::sip::core::SipCore;
use crate::sip::dialog::{CallEvent, LegEnd, LegId};
use crate::sip::sdp::Sdp;
use std::time::Duration;

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn invite(branch: &str) -> Vec<u8> {
    format!(
        "INVITE sip:1002@example.test SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:1001@example.test>;tag=a1\r\n\
         To: <sip:1002@example.test>\r\n\
         Call-ID: call-1@127.0.0.2\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:1001@127.0.0.2:5070>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{OFFER}",
        OFFER.len()
    )
    .into_bytes()
}

fn request(method: &str, branch: &str, cseq: &str, to_tag: Option<&str>) -> Vec<u8> {
    let to = match to_tag {
        Some(t) => format!("<sip:1002@example.test>;tag={t}"),
        None => "<sip:1002@example.test>".into(),
    };
    format!(
        "{method} sip:1002@example.test SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:1001@example.test>;tag=a1\r\n\
         To: {to}\r\n\
         Call-ID: call-1@127.0.0.2\r\n\
         CSeq: {cseq}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn sent(core: &mut SipCore) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(d) = core.poll_transmit() {
        out.push(String::from_utf8_lossy(&d.bytes).into_owned());
    }
    out
}

fn first_lines(msgs: &[String]) -> Vec<&str> {
    msgs.iter().filter_map(|m| m.lines().next()).collect()
}

/// An INVITE from the phone, up to the Incoming event; returns the leg and the To tag.
fn incoming(core: &mut SipCore, clock: &Clock) -> LegId {
    core.handle_message(&invite("inv1"), phone(), clock.mono, clock.unix_ms);
    let leg = match core.poll_call_event() {
        Some(CallEvent::Incoming { leg, call }) => {
            assert_eq!(call.destination, "1002");
            assert_eq!(call.from_display.as_deref(), Some("Alice"));
            leg
        }
        other => panic!("expected Incoming, got {other:?}"),
    };
    assert_eq!(first_lines(&sent(core)), ["SIP/2.0 100 Trying"]);
    leg
}

fn to_tag(msg: &str) -> String {
    let to = msg.lines().find(|l| l.starts_with("To:")).expect("To");
    to.split("tag=").nth(1).expect("to tag").trim().to_string()
}

#[test]
fn a_200_is_resent_until_the_ack_comes() {
    let mut clock = Clock::new();
    let mut core = core();
    let leg = incoming(&mut core, &clock);
    let answer = Sdp::parse(OFFER).expect("sdp");
    core.answer(leg, &answer, clock.mono);
    let ok = sent(&mut core);
    assert_eq!(first_lines(&ok), ["SIP/2.0 200 OK"]);
    assert!(ok[0].contains("application/sdp"));
    let tag = to_tag(&ok[0]);
    // T1 later, again; then the ACK stops it.
    clock.advance(Duration::from_millis(500));
    core.handle_timeout(clock.mono, clock.unix_ms);
    assert_eq!(first_lines(&sent(&mut core)), ["SIP/2.0 200 OK"]);
    core.handle_message(
        &request("ACK", "ack1", "1 ACK", Some(&tag)),
        phone(),
        clock.mono,
        clock.unix_ms,
    );
    for _ in 0..10 {
        clock.advance(Duration::from_secs(4));
        core.handle_timeout(clock.mono, clock.unix_ms);
    }
    assert!(sent(&mut core).is_empty(), "nothing after the ACK");
    // A BYE from the phone ends the leg; its 200 waits for the record to be written.
    let bye = request("BYE", "bye1", "2 BYE", Some(&tag));
    core.handle_message(&bye, phone(), clock.mono, clock.unix_ms);
    assert!(
        sent(&mut core).is_empty(),
        "no 200 before the record is durable"
    );
    assert!(
        matches!(core.poll_call_event(), Some(CallEvent::Ended { leg: l, end: LegEnd::Bye }) if l == leg)
    );
    assert_eq!(core.leg_count(), 0);
    // Its retransmission is absorbed meanwhile; then the switch says the record is on disk.
    core.handle_message(&bye, phone(), clock.mono, clock.unix_ms);
    assert!(sent(&mut core).is_empty());
    core.acknowledge_bye(leg, clock.mono);
    let ok = sent(&mut core);
    assert_eq!(first_lines(&ok), ["SIP/2.0 200 OK"]);
    assert!(ok[0].contains(&format!("tag={tag}")), "{}", ok[0]);
}

#[test]
fn without_an_ack_the_call_is_hung_up_after_64_t1() {
    let mut clock = Clock::new();
    let mut core = core();
    let leg = incoming(&mut core, &clock);
    core.answer(leg, &Sdp::parse(OFFER).expect("sdp"), clock.mono);
    let mut oks = sent(&mut core).len();
    let mut byes = std::collections::BTreeSet::new();
    for _ in 0..80 {
        clock.advance(Duration::from_millis(500));
        core.handle_timeout(clock.mono, clock.unix_ms);
        for m in sent(&mut core) {
            if m.starts_with("SIP/2.0 200") {
                oks += 1;
            } else if m.starts_with("BYE ") {
                byes.insert(m);
            }
        }
    }
    // 0.5, 1, 2, 4, 4, 4 ... s until 32 s: 11 copies; then one BYE (re-sent by its
    // transaction while unanswered: the same bytes).
    assert!((9..=12).contains(&oks), "{oks} copies of the 200");
    assert_eq!(byes.len(), 1, "{byes:?}");
    assert!(matches!(
        core.poll_call_event(),
        Some(CallEvent::Ended {
            end: LegEnd::Timeout,
            ..
        })
    ));
}

#[test]
fn cancel_before_the_answer_gets_487_and_ends_the_leg() {
    let clock = Clock::new();
    let mut core = core();
    let leg = incoming(&mut core, &clock);
    core.progress(leg, 180, None, clock.mono);
    assert_eq!(first_lines(&sent(&mut core)), ["SIP/2.0 180 Ringing"]);
    core.handle_message(
        &request("CANCEL", "inv1", "1 CANCEL", None),
        phone(),
        clock.mono,
        clock.unix_ms,
    );
    let out = sent(&mut core);
    let lines = first_lines(&out);
    assert!(lines.contains(&"SIP/2.0 200 OK"), "{lines:?}");
    assert!(
        lines.contains(&"SIP/2.0 487 Request Terminated"),
        "{lines:?}"
    );
    assert!(matches!(
        core.poll_call_event(),
        Some(CallEvent::Ended {
            end: LegEnd::Cancelled,
            ..
        })
    ));
    // The ACK for the 487 is absorbed by the transaction; nothing more happens.
    core.handle_message(
        &request("ACK", "inv1", "1 ACK", None),
        phone(),
        clock.mono,
        clock.unix_ms,
    );
    assert!(sent(&mut core).is_empty());
    assert!(core.poll_call_event().is_none());
}

#[test]
fn a_bye_for_no_dialog_gets_481() {
    let clock = Clock::new();
    let mut core = core();
    core.handle_message(
        &request("BYE", "b9", "2 BYE", Some("nope")),
        phone(),
        clock.mono,
        clock.unix_ms,
    );
    assert_eq!(
        first_lines(&sent(&mut core)),
        ["SIP/2.0 481 Call/Transaction Does Not Exist"]
    );
}

#[test]
fn a_retransmitted_invite_after_the_200_gets_no_100_and_no_new_call() {
    let clock = Clock::new();
    let mut core = core();
    let leg = incoming(&mut core, &clock);
    core.answer(leg, &Sdp::parse(OFFER).expect("sdp"), clock.mono);
    assert_eq!(first_lines(&sent(&mut core)), ["SIP/2.0 200 OK"]);
    // The phone missed the 200 and sends the INVITE again (same branch).
    core.handle_message(&invite("inv1"), phone(), clock.mono, clock.unix_ms);
    let out = sent(&mut core);
    assert!(
        !first_lines(&out).contains(&"SIP/2.0 100 Trying"),
        "a 100 after the 200 makes phones abort: {out:?}"
    );
    assert!(core.poll_call_event().is_none(), "no second call");
    assert_eq!(core.leg_count(), 1);
}

/// The INVITE asked for session timers (RFC 4028): the 200 carries the interval, and
/// an UPDATE without SDP (the refresh) is answered at once, the switch not bothered.
#[test]
fn session_timers_are_granted_and_refreshes_answered() {
    let clock = Clock::new();
    let mut core = core();
    let with_timer = String::from_utf8(invite("inv1")).expect("utf8").replace(
        "CSeq: 1 INVITE\r\n",
        "CSeq: 1 INVITE\r\nSupported: timer\r\nSession-Expires: 1800;refresher=uac\r\n",
    );
    core.handle_message(with_timer.as_bytes(), phone(), clock.mono, clock.unix_ms);
    let Some(CallEvent::Incoming { leg, .. }) = core.poll_call_event() else {
        panic!("no call");
    };
    sent(&mut core);
    core.answer(leg, &Sdp::parse(OFFER).expect("sdp"), clock.mono);
    let ok = sent(&mut core).remove(0);
    assert!(ok.contains("Session-Expires: 1800;refresher=uac"), "{ok}");
    assert!(ok.contains("Require: timer"), "{ok}");
    let tag = to_tag(&ok);
    core.handle_message(
        &request("ACK", "ack1", "1 ACK", Some(&tag)),
        phone(),
        clock.mono,
        clock.unix_ms,
    );
    core.handle_message(
        &request("UPDATE", "up1", "2 UPDATE", Some(&tag)),
        phone(),
        clock.mono,
        clock.unix_ms,
    );
    assert_eq!(first_lines(&sent(&mut core)), ["SIP/2.0 200 OK"]);
    assert!(
        core.poll_call_event().is_none(),
        "a refresh is not the switch's business"
    );
    // INFO (e.g. DTMF relay) is answered 200 too.
    core.handle_message(
        &request("INFO", "in1", "3 INFO", Some(&tag)),
        phone(),
        clock.mono,
        clock.unix_ms,
    );
    assert_eq!(first_lines(&sent(&mut core)), ["SIP/2.0 200 OK"]);
    // Too short an interval is refused with the minimum (RFC 4028 §6).
    let short = with_timer
        .replace("Session-Expires: 1800", "Session-Expires: 30")
        .replace("Call-ID: call-1", "Call-ID: call-2")
        .replace("branch=z9hG4bKinv1", "branch=z9hG4bKinv2");
    core.handle_message(short.as_bytes(), phone(), clock.mono, clock.unix_ms);
    let out = sent(&mut core);
    assert!(
        out.iter()
            .any(|m| m.starts_with("SIP/2.0 422") && m.contains("Min-SE: 90")),
        "{out:?}"
    );
}

/// A carrier challenges our INVITE with 407: the same INVITE goes again (same Call-ID
/// and From tag, next CSeq, new branch) with a Proxy-Authorization the carrier can
/// verify; a second challenge for the same nonce fails the leg with the 407.
#[test]
fn a_carriers_407_on_our_invite_is_answered_once_with_proxy_authorization() {
    use crate::sip::auth::{ha1, response, Algorithm, Credentials};
    use crate::sip::dialog::{Login, OutboundCall};
    use crate::sip::transaction::{Peer, TransportKind};
    let clock = Clock::new();
    let mut core = core();
    let carrier = Peer {
        addr: "127.0.0.9:5060".parse().expect("addr"),
        transport: TransportKind::Udp,
    };
    let call = OutboundCall {
        request_uri: "sip:5550123@carrier.test".into(),
        peer: carrier,
        to: "<sip:5550123@carrier.test>".into(),
        from_user: "1001".into(),
        from_display: "Alice".into(),
        from_host: Some("carrier.test".into()),
        sdp: Sdp::parse(OFFER).expect("sdp"),
        headers: Vec::new(),
        login: Some(Login {
            username: "acme".into(),
            password: "pw-9".into(),
        }),
    };
    let leg = core.invite(&call, clock.mono).expect("leg");
    let first = sent(&mut core).pop().expect("INVITE");
    let header = |msg: &str, name: &str| {
        msg.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    let challenge = |msg: &str, nonce: &str| {
        format!(
            "SIP/2.0 407 Proxy Authentication Required\r\n{}\r\nFrom: {}\r\nTo: <sip:5550123@carrier.test>;tag=c1\r\n\
             Call-ID: {}\r\nCSeq: {}\r\n\
             Proxy-Authenticate: Digest realm=\"carrier.test\", nonce=\"{nonce}\", qop=\"auth\"\r\n\
             Content-Length: 0\r\n\r\n",
            msg.lines().find(|l| l.starts_with("Via:")).expect("Via"),
            header(msg, "From:"),
            header(msg, "Call-ID:"),
            header(msg, "CSeq:"),
        )
    };
    core.handle_message(
        challenge(&first, "n-1").as_bytes(),
        carrier,
        clock.mono,
        clock.unix_ms,
    );
    let out = sent(&mut core);
    // The transaction layer ACKs the 407; then the INVITE again, authorised.
    let again = out
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("a second INVITE");
    assert!(out.iter().any(|m| m.starts_with("ACK ")), "{out:?}");
    assert_eq!(header(again, "Call-ID:"), header(&first, "Call-ID:"));
    assert_eq!(header(again, "From:"), header(&first, "From:"));
    assert_eq!(header(again, "CSeq:"), "2 INVITE");
    assert_ne!(header(again, "Via:"), header(&first, "Via:"));
    assert!(!header(again, "To:").contains("tag="), "{again}");
    let creds = Credentials::parse(&header(again, "Proxy-Authorization:")).expect("credentials");
    let (nc, cnonce) = (
        format!("{:08x}", creds.nc.expect("nc")),
        creds.cnonce.clone().expect("cnonce"),
    );
    let expected = response(
        Algorithm::Md5,
        &ha1(Algorithm::Md5, "acme", "carrier.test", "pw-9"),
        "INVITE",
        &creds.uri,
        "n-1",
        Some((&nc, &cnonce)),
    );
    assert_eq!(
        (creds.username.as_str(), creds.uri.as_str()),
        ("acme", "sip:5550123@carrier.test")
    );
    assert_eq!(creds.response, expected);
    // The same nonce again: our credentials are wrong; the leg ends with the 407.
    core.handle_message(
        challenge(again, "n-1").as_bytes(),
        carrier,
        clock.mono,
        clock.unix_ms,
    );
    let _ = sent(&mut core);
    match core.poll_call_event() {
        Some(CallEvent::Ended {
            leg: ended,
            end: LegEnd::Refused { code: 407, .. },
        }) => assert_eq!(ended, leg),
        other => panic!("expected the leg refused with 407, got {other:?}"),
    }
}

#[test]
fn an_info_digit_is_answered_and_reported_and_one_is_sent_as_dtmf_relay() {
    let clock = Clock::new();
    let mut core = core();
    let leg = incoming(&mut core, &clock);
    core.answer(leg, &Sdp::parse(OFFER).expect("sdp"), clock.mono);
    let tag = to_tag(&sent(&mut core)[0]);
    core.handle_message(
        &request("ACK", "ack1", "1 ACK", Some(&tag)),
        phone(),
        clock.mono,
        clock.unix_ms,
    );
    let info = |branch: &str, cseq: &str, content_type: &str, body: &str| {
        let plain = String::from_utf8(request("INFO", branch, cseq, Some(&tag))).expect("utf8");
        plain
            .replace(
                "Content-Length: 0\r\n\r\n",
                &format!(
                    "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                ),
            )
            .into_bytes()
    };
    core.handle_message(
        &info(
            "i1",
            "2 INFO",
            "application/dtmf-relay",
            "Signal=#\r\nDuration=120\r\n",
        ),
        phone(),
        clock.mono,
        clock.unix_ms,
    );
    assert_eq!(first_lines(&sent(&mut core)), ["SIP/2.0 200 OK"]);
    match core.poll_call_event() {
        Some(CallEvent::Dtmf { leg: l, dtmf }) => {
            assert_eq!(l, leg);
            assert_eq!((dtmf.digit, dtmf.duration_ms), ('#', 120));
        }
        other => panic!("expected Dtmf, got {other:?}"),
    }
    // An INFO that is not DTMF, or unreadable DTMF, is answered and nothing more.
    for (branch, cseq, ct, body) in [
        ("i2", "3 INFO", "application/media_control+xml", "<x/>"),
        ("i3", "4 INFO", "application/dtmf-relay", "Signal=x\r\n"),
    ] {
        core.handle_message(
            &info(branch, cseq, ct, body),
            phone(),
            clock.mono,
            clock.unix_ms,
        );
        assert_eq!(first_lines(&sent(&mut core)), ["SIP/2.0 200 OK"]);
        assert!(core.poll_call_event().is_none());
    }
    // Our own digit goes out in the dialog as mod_sofia writes it.
    core.send_info_dtmf(
        leg,
        crate::sip::dialog::Dtmf {
            digit: '7',
            duration_ms: 250,
        },
        clock.mono,
    );
    let out = sent(&mut core);
    assert_eq!(first_lines(&out), ["INFO sip:1001@127.0.0.2:5070 SIP/2.0"]);
    assert!(
        out[0].contains("Content-Type: application/dtmf-relay"),
        "{}",
        out[0]
    );
    assert!(
        out[0].ends_with("Signal=7\r\nDuration=250\r\n"),
        "{}",
        out[0]
    );
    // In the dialog: our From carries the tag our 200 gave.
    let from = out[0]
        .lines()
        .find(|l| l.starts_with("From:"))
        .unwrap_or_default();
    assert!(from.ends_with(&format!(";tag={tag}")), "{}", out[0]);
}
