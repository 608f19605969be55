//! The switch driven without sockets: a real SIP core (sans-IO), fake RTP ports, and
//! SIP messages written by hand, so a whole bridged call runs in microseconds and the
//! same way every time.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::engine::{Clock, MediaOp, MediaPorts, ProfileCalls, Switch, SwitchConfig};
use super::session::MediaId;
use crate::sip::core::tests::core;
use crate::sip::profiles::Profiles;
use crate::sip::sdp::Offerable;
use crate::store::Binding;

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

const DIALPLAN: &str = r#"<include><context name="default">
  <extension name="office_hours">
    <condition field="destination_number" expression="^7000$"/>
    <condition time-of-day="05:00-07:00">
      <action application="respond" data="486"/>
      <anti-action application="respond" data="403 Closed Now"/>
    </condition>
  </extension>
  <extension name="echo">
    <condition field="destination_number" expression="^9196$">
      <action application="answer"/>
      <action application="echo"/>
    </condition>
  </extension>
  <extension name="limited">
    <condition field="destination_number" expression="^8000$">
      <action application="limit" data="hash test ${caller_id_number} 1 !USER_BUSY"/>
      <action application="answer"/>
      <action application="park"/>
    </condition>
  </extension>
  <extension name="local">
    <condition field="destination_number" expression="^(100[0-9])$">
      <action application="set" data="call_timeout=10"/>
      <action application="bridge" data="user/$1"/>
    </condition>
  </extension>
</context></include>"#;

struct FakePorts(u16);

impl MediaPorts for FakePorts {
    fn open(&mut self, _id: MediaId) -> std::io::Result<SocketAddr> {
        self.0 += 2;
        Ok(SocketAddr::from(([127, 0, 0, 1], self.0)))
    }
}

struct Rig {
    sip: Profiles,
    switch: Switch,
    now: Instant,
    unix_ms: u64,
}

impl Rig {
    fn new() -> Rig {
        Rig::with_zone(crate::tz::Zone::utc())
    }

    fn with_zone(zone: crate::tz::Zone) -> Rig {
        let mut diags = crate::config::Diags::default();
        let mut vars = BTreeMap::new();
        let elements = crate::config::xml::load_str(
            std::path::Path::new("default.xml"),
            DIALPLAN,
            &mut vars,
            &mut diags,
        );
        let dialplan = crate::dialplan::parse_contexts(&elements, &mut diags);
        let users: HashMap<String, BTreeMap<String, String>> = ["1001", "1002"]
            .iter()
            .map(|u| (u.to_string(), BTreeMap::new()))
            .collect();
        let switch = Switch::new(
            SwitchConfig {
                profiles: vec![ProfileCalls {
                    name: "internal".into(),
                    context: "default".into(),
                    codecs: Offerable::default(),
                    outside_rtp: None,
                }],
                domain: "example.test".into(),
                users,
                dialplan,
                zone,
                max_sessions: 100,
                core_uuid: "core".into(),
                hostname: "box".into(),
                api: None,
                limit_max_keys: crate::guard::limit::DEFAULT_MAX_KEYS,
            },
            Box::new(FakePorts(20000)),
        );
        let unix_ms = 1_795_000_000_000;
        let mut sip = core();
        // 1002's phone is registered at 127.0.0.3:5080.
        sip.restore(
            vec![Binding {
                aor: "1002@example.test".into(),
                contact_uri: "sip:1002@127.0.0.3:5080".into(),
                instance: None,
                call_id: "reg".into(),
                cseq: 1,
                expires_at_unix_ms: unix_ms + 3_600_000,
                source: "127.0.0.3:5080".into(),
                transport: "udp".into(),
                user_agent: None,
                registered_at_unix_ms: unix_ms,
                profile: Some("internal".into()),
            }],
            unix_ms,
        );
        Rig {
            sip: Profiles::new(vec![sip]),
            switch,
            now: Instant::now(),
            unix_ms,
        }
    }

    fn clock(&self) -> Clock {
        Clock {
            now: self.now,
            unix_us: self.unix_ms * 1000,
        }
    }

    /// Feeds `bytes` from `from`, lets the switch react; returns what the core sent.
    fn input(&mut self, bytes: &[u8], from: &str) -> Vec<(SocketAddr, String)> {
        let peer = crate::sip::transaction::Peer {
            addr: from.parse().expect("addr"),
            transport: crate::sip::transaction::TransportKind::Udp,
        };
        if let Some(core) = self.sip.get_mut(0) {
            core.handle_message(bytes, peer, self.now, self.unix_ms);
        }
        self.pump()
    }

    fn pump(&mut self) -> Vec<(SocketAddr, String)> {
        let clock = self.clock();
        while let Some(ev) = self.sip.poll_call_event() {
            self.switch.on_call_event(ev, &mut self.sip, clock);
        }
        let mut out = Vec::new();
        while let Some(d) = self.sip.get_mut(0).and_then(|c| c.poll_transmit()) {
            out.push((d.peer.addr, String::from_utf8_lossy(&d.bytes).into_owned()));
        }
        out
    }

    fn media(&mut self) -> Vec<MediaOp> {
        std::iter::from_fn(|| self.switch.poll_media()).collect()
    }

    fn advance(&mut self, d: Duration) -> Vec<(SocketAddr, String)> {
        self.now += d;
        self.unix_ms += d.as_millis() as u64;
        let clock = self.clock();
        if let Some(core) = self.sip.get_mut(0) {
            core.handle_timeout(clock.now, self.unix_ms);
        }
        self.switch.handle_timeout(&mut self.sip, clock);
        self.pump()
    }
}

fn invite_from_1001(dest: &str) -> Vec<u8> {
    format!(
        "INVITE sip:{dest}@example.test SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKa1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:1001@example.test>;tag=a1\r\n\
         To: <sip:{dest}@example.test>\r\n\
         Call-ID: a-call@127.0.0.2\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:1001@127.0.0.2:5070>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{OFFER}",
        OFFER.len()
    )
    .into_bytes()
}

/// A response to `request` (copied Via/From/To/Call-ID/CSeq), with a To tag.
fn answer(request: &str, status: &str, tag: &str, sdp: bool) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in request.lines() {
        for name in ["Via:", "From:", "Call-ID:", "CSeq:"] {
            if line.starts_with(name) {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        if line.starts_with("To:") {
            out.push_str(&format!("{line};tag={tag}\r\n"));
        }
    }
    out.push_str("Contact: <sip:1002@127.0.0.3:5080>\r\n");
    if sdp {
        let body = OFFER
            .replace("127.0.0.2", "127.0.0.3")
            .replace("4000", "6000");
        out.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    } else {
        out.push_str("Content-Length: 0\r\n\r\n");
    }
    out.into_bytes()
}

fn first_lines(out: &[(SocketAddr, String)]) -> Vec<String> {
    out.iter()
        .map(|(a, m)| format!("{a} {}", m.lines().next().unwrap_or_default()))
        .collect()
}

#[test]
fn a_bridged_call_from_invite_to_cdr() {
    let mut rig = Rig::new();
    let out = rig.input(&invite_from_1001("1002"), "127.0.0.2:5070");
    let lines = first_lines(&out);
    assert!(
        lines.contains(&"127.0.0.2:5070 SIP/2.0 100 Trying".to_string()),
        "{lines:?}"
    );
    let b_invite = out
        .iter()
        .find(|(a, m)| {
            a.to_string() == "127.0.0.3:5080" && m.starts_with("INVITE sip:1002@127.0.0.3:5080 ")
        })
        .unwrap_or_else(|| panic!("no INVITE to 1002's contact: {lines:?}"))
        .1
        .clone();
    assert!(
        b_invite.contains("From: \"Alice\" <sip:1001@example.test>"),
        "{b_invite}"
    );
    assert_eq!(rig.switch.session_count(), 2);

    // 1002 rings: the caller hears 180.
    let out = rig.input(
        &answer(&b_invite, "180 Ringing", "b1", false),
        "127.0.0.3:5080",
    );
    assert_eq!(first_lines(&out), ["127.0.0.2:5070 SIP/2.0 180 Ringing"]);

    // 1002 answers: ACK to it, 200 with our SDP to the caller, media bridged.
    let out = rig.input(&answer(&b_invite, "200 OK", "b1", true), "127.0.0.3:5080");
    let lines = first_lines(&out);
    assert!(
        lines.iter().any(|l| l.starts_with("127.0.0.3:5080 ACK ")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"127.0.0.2:5070 SIP/2.0 200 OK".to_string()),
        "{lines:?}"
    );
    let media = rig.media();
    assert!(
        media.iter().any(|m| matches!(m, MediaOp::Bridge { .. })),
        "{media:?}"
    );

    // Ten seconds later the caller hangs up: BYE to 1002, and two records are due.
    rig.advance(Duration::from_secs(10));
    let ok = &out
        .iter()
        .find(|(_, m)| m.starts_with("SIP/2.0 200 OK"))
        .expect("200")
        .1;
    let a_tag = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split("tag=").nth(1))
        .expect("tag")
        .trim()
        .to_string();
    let bye = format!(
        "BYE sip:1002@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKbye1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:1001@example.test>;tag=a1\r\n\
         To: <sip:1002@example.test>;tag={a_tag}\r\n\
         Call-ID: a-call@127.0.0.2\r\n\
         CSeq: 2 BYE\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let out = rig.input(bye.as_bytes(), "127.0.0.2:5070");
    let lines = first_lines(&out);
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("127.0.0.2:5070 SIP/2.0 200")),
        "the BYE's 200 waits for the record: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("127.0.0.3:5080 BYE ")),
        "{lines:?}"
    );
    assert_eq!(rig.switch.session_count(), 0);
    let finished: Vec<_> = std::iter::from_fn(|| rig.switch.poll_finished()).collect();
    assert_eq!(finished.len(), 2);
    let a = finished.iter().find(|f| !f.outbound).expect("A-leg");
    // The CDR writer made it durable: now the caller's BYE is answered.
    rig.sip
        .acknowledge_bye(a.bye.expect("the A-leg's BYE"), rig.now);
    assert_eq!(first_lines(&rig.pump()), ["127.0.0.2:5070 SIP/2.0 200 OK"]);
    assert!(finished
        .iter()
        .find(|f| f.outbound)
        .is_some_and(|b| b.bye.is_none()));
    assert_eq!(
        a.channel.hangup_cause.map(|c| c.name()),
        Some("NORMAL_CLEARING")
    );
    assert_eq!(
        a.channel.get("sip_hangup_disposition").as_deref(),
        Some("recv_bye")
    );
    let billed = a.times.end_us - a.times.answer_us.expect("answered");
    assert_eq!(billed, 10_000_000, "billsec from the virtual clock");
}

#[test]
fn no_answer_at_call_timeout_cancels_the_phone_and_refuses_the_caller_480() {
    let mut rig = Rig::new();
    let out = rig.input(&invite_from_1001("1002"), "127.0.0.2:5070");
    let b_invite = out
        .iter()
        .find(|(_, m)| m.starts_with("INVITE "))
        .expect("B INVITE")
        .1
        .clone();
    rig.input(
        &answer(&b_invite, "180 Ringing", "b1", false),
        "127.0.0.3:5080",
    );
    // call_timeout=10: at 10 s the phone gets CANCEL, the caller 480.
    let out = rig.advance(Duration::from_secs(9));
    assert!(!first_lines(&out).iter().any(|l| l.contains("CANCEL")));
    let out = rig.advance(Duration::from_secs(1));
    let lines = first_lines(&out);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("127.0.0.3:5080 CANCEL ")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"127.0.0.2:5070 SIP/2.0 480 Temporarily Unavailable".to_string()),
        "{lines:?}"
    );
    let finished: Vec<_> = std::iter::from_fn(|| rig.switch.poll_finished()).collect();
    let a = finished.iter().find(|f| !f.outbound).expect("A-leg");
    assert_eq!(a.channel.hangup_cause.map(|c| c.name()), Some("NO_ANSWER"));
    assert_eq!(a.channel.get("DIALSTATUS").as_deref(), Some("NOANSWER"));
}

/// Time conditions read the box's local time: 11:06 UTC is 06:06 in New York.
#[test]
fn time_conditions_use_the_boxs_time_zone() {
    let status = |zone| {
        let mut rig = Rig::with_zone(zone);
        let out = rig.input(&invite_from_1001("7000"), "127.0.0.2:5070");
        first_lines(&out)
            .into_iter()
            .find(|l| !l.contains(" 100 "))
            .unwrap_or_default()
    };
    let new_york = crate::tz::Zone::named("America/New_York").expect("tzdata");
    assert_eq!(status(new_york), "127.0.0.2:5070 SIP/2.0 486 Busy Here");
    assert_eq!(
        status(crate::tz::Zone::utc()),
        "127.0.0.2:5070 SIP/2.0 403 Closed Now"
    );
}

/// A late offer: no SDP in the INVITE; our 200 offers, the ACK answers, and only then
/// does the media engine learn where the caller's RTP goes.
#[test]
fn a_late_offer_is_answered_in_the_ack() {
    let mut rig = Rig::new();
    let invite = String::from_utf8(invite_from_1001("9196")).expect("utf8");
    let head = invite
        .split("Content-Type")
        .next()
        .expect("head")
        .to_string();
    let late = format!("{head}Content-Length: 0\r\n\r\n");
    let out = rig.input(late.as_bytes(), "127.0.0.2:5070");
    let ok = &out
        .iter()
        .find(|(_, m)| m.starts_with("SIP/2.0 200"))
        .expect("200")
        .1;
    assert!(
        ok.contains("m=audio 20002 RTP/AVP 0 8 101"),
        "our offer: {ok}"
    );
    let media = rig.media();
    assert!(
        !media.iter().any(|m| matches!(m, MediaOp::Remote { .. })),
        "no remote before the answer: {media:?}"
    );
    let tag = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split("tag=").nth(1))
        .expect("tag")
        .trim()
        .to_string();
    let answer = OFFER
        .replace("RTP/AVP 0", "RTP/AVP 8")
        .replace("0 PCMU", "8 PCMA");
    let ack = format!(
        "ACK sip:9196@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKack1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:1001@example.test>;tag=a1\r\n\
         To: <sip:9196@example.test>;tag={tag}\r\n\
         Call-ID: a-call@127.0.0.2\r\n\
         CSeq: 1 ACK\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{answer}",
        answer.len()
    );
    rig.input(ack.as_bytes(), "127.0.0.2:5070");
    let media = rig.media();
    let remote = media.iter().find_map(|m| match m {
        MediaOp::Remote { stream, .. } => Some(stream.clone()),
        _ => None,
    });
    let stream = remote.unwrap_or_else(|| panic!("no remote after the ACK: {media:?}"));
    assert_eq!((stream.codec.name(), stream.remote.port()), ("PCMA", 4000));
}

#[path = "limit_tests.rs"]
mod limit_tests;

/// 1001 calls 1002, who answers (its SDP with `te` telephone-event or without);
/// returns the caller's To tag.
fn bridged_call(rig: &mut Rig, te: bool) -> String {
    let out = rig.input(&invite_from_1001("1002"), "127.0.0.2:5070");
    let b_invite = out
        .iter()
        .find(|(_, m)| m.starts_with("INVITE sip:1002@"))
        .expect("INVITE to 1002")
        .1
        .clone();
    let mut ok = String::from_utf8(answer(&b_invite, "200 OK", "b1", true)).expect("utf8");
    if te {
        let with_te = |sdp: &str| {
            sdp.replace("RTP/AVP 0\r\n", "RTP/AVP 0 101\r\n").replace(
                "PCMU/8000\r\n",
                "PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
            )
        };
        let (head, body) = ok.split_once("\r\n\r\n").expect("body");
        let body = with_te(body);
        let head = head
            .lines()
            .map(|l| {
                if l.starts_with("Content-Length:") {
                    format!("Content-Length: {}", body.len())
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\r\n");
        ok = format!("{head}\r\n\r\n{body}");
    }
    let out = rig.input(ok.as_bytes(), "127.0.0.3:5080");
    out.iter()
        .find(|(_, m)| m.starts_with("SIP/2.0 200 OK"))
        .and_then(|(_, m)| m.lines().find(|l| l.starts_with("To:")))
        .and_then(|l| l.split("tag=").nth(1))
        .expect("the caller's 200")
        .trim()
        .to_string()
}

fn info_from_1001(a_tag: &str, cseq: u32, digit: char) -> Vec<u8> {
    let body = format!("Signal={digit}\r\nDuration=100\r\n");
    format!(
        "INFO sip:1002@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKinfo{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:1001@example.test>;tag=a1\r\n\
         To: <sip:1002@example.test>;tag={a_tag}\r\n\
         Call-ID: a-call@127.0.0.2\r\n\
         CSeq: {cseq} INFO\r\n\
         Content-Type: application/dtmf-relay\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn an_info_digit_goes_on_in_info_only_to_a_channel_that_takes_info() {
    // 1002 negotiated no telephone-event: it takes INFO.
    let mut rig = Rig::new();
    let a_tag = bridged_call(&mut rig, false);
    let out = rig.input(&info_from_1001(&a_tag, 2, '4'), "127.0.0.2:5070");
    let lines = first_lines(&out);
    assert!(
        lines.contains(&"127.0.0.2:5070 SIP/2.0 200 OK".to_string()),
        "{lines:?}"
    );
    let relayed = out
        .iter()
        .find(|(a, m)| a.to_string() == "127.0.0.3:5080" && m.starts_with("INFO "))
        .unwrap_or_else(|| panic!("no INFO to 1002: {lines:?}"));
    assert!(
        relayed.1.ends_with("Signal=4\r\nDuration=100\r\n"),
        "{}",
        relayed.1
    );
    let dtmf = std::iter::from_fn(|| rig.switch.poll_event())
        .find(|e| e.name == super::event::EventName::Dtmf)
        .expect("a DTMF event");
    let header = |n: &str| {
        dtmf.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("DTMF-Digit"), Some("4"));
    assert_eq!(header("DTMF-Duration"), Some("800"));

    // 1002 negotiated telephone-event: the digit goes into its RTP, not in an INFO.
    let mut rig = Rig::new();
    let a_tag = bridged_call(&mut rig, true);
    let before = rig.media();
    let out = rig.input(&info_from_1001(&a_tag, 2, '4'), "127.0.0.2:5070");
    assert!(
        !out.iter().any(|(_, m)| m.starts_with("INFO ")),
        "{:?}",
        first_lines(&out)
    );
    let ops = rig.media();
    let dtmf: Vec<_> = ops
        .iter()
        .filter_map(|op| match op {
            MediaOp::Dtmf {
                id,
                digit,
                duration_ms,
            } => Some((*id, *digit, *duration_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(dtmf.len(), 1, "{ops:?}");
    let (id, digit, ms) = dtmf[0];
    assert_eq!((digit, ms), ('4', 100));
    // To the callee's leg, the one whose stream has telephone-event.
    let with_events: Vec<MediaId> = before
        .iter()
        .filter_map(|op| match op {
            MediaOp::Remote { id, stream } if stream.telephone_event.is_some() => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(with_events, [id], "{before:?}");
}
