//! SDP parsing, emitting and offer/answer against phones' real offers.

use super::*;
use std::net::{Ipv4Addr, SocketAddr};

/// baresip's offer (trimmed): opus first, then G.711, telephone-event 101.
const BARESIP: &str = "v=0\r\n\
o=- 1906381523 2146124398 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 22530 RTP/AVP 96 0 8 101\r\n\
b=AS:64\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 stereo=1;sprop-stereo=1\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=label:1\r\n";

fn local() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 16384))
}

#[test]
fn a_phone_offer_parses_and_round_trips() {
    let sdp = Sdp::parse(BARESIP).unwrap();
    assert_eq!(sdp.origin.session_id, 1_906_381_523);
    let m = &sdp.media[0];
    assert_eq!(
        (m.kind.as_str(), m.port, m.formats.as_slice()),
        ("audio", 22530, &[96, 0, 8, 101][..])
    );
    assert_eq!(sdp.address_of(m), Some("192.0.2.10".parse().unwrap()));
    assert_eq!(m.ptime, Some(20));
    assert_eq!(m.direction, Direction::SendRecv);
    assert_eq!(m.rtpmaps[0].channels, Some(2));
    assert!(m.attributes.iter().any(|a| a.name == "label"));
    let again = Sdp::parse(&sdp.to_string()).unwrap();
    assert_eq!(again, sdp);
}

#[test]
fn the_offerers_first_common_codec_is_answered() {
    let offer = Sdp::parse(BARESIP).unwrap();
    let (answer_sdp, n) = answer(&offer, &Offerable::default(), local(), 42).unwrap();
    assert_eq!(
        (n.codec, n.payload_type, n.telephone_event),
        (Codec::Pcmu, 0, Some(101))
    );
    assert_eq!(n.remote, "192.0.2.10:22530".parse().unwrap());
    let text = answer_sdp.to_string();
    assert!(text.contains("c=IN IP4 192.0.2.1\r\n"), "{text}");
    assert!(text.contains("m=audio 16384 RTP/AVP 0 101\r\n"), "{text}");
    assert!(
        text.contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"),
        "{text}"
    );
    assert!(text.ends_with("a=sendrecv\r\n"), "{text}");

    // A-law first in the offer: A-law it is.
    let pcma_first = BARESIP.replace("RTP/AVP 96 0 8 101", "RTP/AVP 8 0 101");
    let (_, n) = answer(
        &Sdp::parse(&pcma_first).unwrap(),
        &Offerable::default(),
        local(),
        1,
    )
    .unwrap();
    assert_eq!(n.codec, Codec::Pcma);
    // PCMU on a dynamic payload type is still PCMU.
    let dynamic = BARESIP
        .replace("RTP/AVP 96 0 8 101", "RTP/AVP 97 101")
        .replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:97 pcmu/8000");
    let (_, n) = answer(
        &Sdp::parse(&dynamic).unwrap(),
        &Offerable::default(),
        local(),
        1,
    )
    .unwrap();
    assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 97));
}

#[test]
fn hold_is_answered_in_the_mirror_direction() {
    for (offered, answered) in [
        ("sendonly", Direction::RecvOnly),
        ("recvonly", Direction::SendOnly),
        ("inactive", Direction::Inactive),
    ] {
        let offer = BARESIP.replace("a=sendrecv", &format!("a={offered}"));
        let (sdp, n) = answer(
            &Sdp::parse(&offer).unwrap(),
            &Offerable::default(),
            local(),
            1,
        )
        .unwrap();
        assert_eq!(n.direction, answered);
        assert!(sdp
            .to_string()
            .contains(&format!("a={}\r\n", answered.name())));
    }
    // A session-level direction applies to a stream without its own.
    let session_level = BARESIP
        .replace("a=sendrecv\r\n", "")
        .replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
    let sdp = Sdp::parse(&session_level).unwrap();
    assert_eq!(sdp.media[0].direction, Direction::SendOnly);
}

#[test]
fn streams_we_do_not_take_are_rejected_with_port_zero() {
    let offer = format!(
        "{BARESIP}m=video 22532 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\nm=audio 22534 RTP/AVP 0\r\n"
    );
    let (sdp, _) = answer(
        &Sdp::parse(&offer).unwrap(),
        &Offerable::default(),
        local(),
        1,
    )
    .unwrap();
    let text = sdp.to_string();
    assert!(text.contains("m=video 0 RTP/AVP 97\r\n"), "{text}");
    assert!(text.contains("m=audio 0 RTP/AVP 0\r\n"), "{text}");
    assert_eq!(sdp.media.len(), 3);
}

#[test]
fn nothing_in_common_is_a_488_reason() {
    let g729 = BARESIP
        .replace("RTP/AVP 96 0 8 101", "RTP/AVP 18 96")
        .replace("a=rtpmap:0 PCMU/8000\r\n", "a=rtpmap:18 G729/8000\r\n");
    let err = answer(
        &Sdp::parse(&g729).unwrap(),
        &Offerable::default(),
        local(),
        1,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no common codec: offered G729/8000, opus/48000, we have PCMU, PCMA"
    );
    let srtp = BARESIP.replace("RTP/AVP 96 0 8 101", "RTP/SAVP 0 8");
    assert!(matches!(
        answer(
            &Sdp::parse(&srtp).unwrap(),
            &Offerable::default(),
            local(),
            1
        ),
        Err(NegotiateError::Unsupported { .. })
    ));
    let only_video = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=video 5000 RTP/AVP 97\r\n";
    assert_eq!(
        answer(
            &Sdp::parse(only_video).unwrap(),
            &Offerable::default(),
            local(),
            1
        ),
        Err(NegotiateError::NoAudio)
    );
}

#[test]
fn bad_bodies_are_refused_with_the_line() {
    let no_c = BARESIP.replace("c=IN IP4 192.0.2.10\r\n", "");
    assert_eq!(
        Sdp::parse(&no_c).unwrap_err().to_string(),
        "SDP: audio stream has no connection address (c=)"
    );
    let bad_port = BARESIP.replace("m=audio 22530", "m=audio 99999");
    assert_eq!(Sdp::parse(&bad_port).unwrap_err().line, 6);
    let bad_pt = BARESIP.replace("RTP/AVP 96 0 8 101", "RTP/AVP 0 300");
    assert!(Sdp::parse(&bad_pt)
        .unwrap_err()
        .reason
        .contains("not 0-127"));
    let host_name = BARESIP.replace("c=IN IP4 192.0.2.10", "c=IN IP4 phone.example");
    assert!(Sdp::parse(&host_name)
        .unwrap_err()
        .reason
        .contains("not an IP address"));
    assert_eq!(Sdp::parse("hello\r\n").unwrap_err().line, 1);
    assert!(Sdp::parse("").is_err());
    let v1 = BARESIP.replace("v=0", "v=1");
    assert!(Sdp::parse(&v1).is_err());
}
