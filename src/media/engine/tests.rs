//! The engine over real loopback sockets: fake phones are tokio UDP sockets on
//! 127.0.0.1; every test has its own port range (471xx, 472xx, ...) so tests run in
//! parallel, and every wait is bounded by a timeout.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::time::timeout;

use super::session::{Latch, Source, RELATCH_AFTER};
use super::stats::{InboundTracker, Kind};
use super::*;
use super::{rtcp, session};
use crate::media::g711;
use crate::sip::sdp::{Codec, Direction};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(3);

fn config(port_min: u16, port_max: u16) -> MediaConfig {
    MediaConfig {
        rtp_ip: LOCAL,
        port_min,
        port_max,
        rtp_timeout: None,
        hold_timeout: None,
        max_sessions: 64,
    }
}

fn stream(codec: Codec, pt: u8, te: Option<u8>, remote: SocketAddr) -> Negotiated {
    Negotiated {
        codec,
        payload_type: pt,
        telephone_event: te,
        remote,
        direction: Direction::SendRecv,
        ptime: 20,
    }
}

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// (payload type, seq, ts, ssrc) of an RTP packet.
fn header(p: &[u8]) -> (u8, u16, u32, u32) {
    (
        p[1] & 0x7F,
        u16::from_be_bytes([p[2], p[3]]),
        u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
    )
}

async fn phone() -> UdpSocket {
    UdpSocket::bind((LOCAL, 0)).await.unwrap()
}

async fn recv(sock: &UdpSocket) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    let (n, _) = timeout(WAIT, sock.recv_from(&mut buf))
        .await
        .expect("a packet within the wait")
        .unwrap();
    buf[..n].to_vec()
}

async fn close(engine: &MediaEngine, id: MediaId) -> RtpStats {
    let (reply, rx) = oneshot::channel();
    engine.send(MediaCommand::Close { id, reply });
    timeout(WAIT, rx).await.expect("close replies").unwrap()
}

/// Relative power at `freq` in 8 kHz samples (Goertzel).
fn power_at(samples: &[i16], freq: f64) -> f64 {
    let k = 2.0 * (2.0 * std::f64::consts::PI * freq / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - k * s1 * s2
}

#[tokio::test]
async fn open_gives_even_ports_in_range_errors_when_exhausted_and_close_frees() {
    let (engine, _events) = MediaEngine::start(config(47101, 47105)).unwrap();
    // 47101 is odd: the pairs are 47102/47103 and 47104/47105.
    let a = engine.open(1).unwrap();
    let b = engine.open(2).unwrap();
    for addr in [a, b] {
        assert_eq!(addr.ip(), LOCAL);
        assert_eq!(addr.port() % 2, 0, "{addr}");
        assert!((47102..=47104).contains(&addr.port()), "{addr}");
    }
    assert_ne!(a.port(), b.port());
    let e = engine.open(3).unwrap_err();
    assert!(e.to_string().contains("exhausted"), "{e}");
    let status = engine.status();
    assert_eq!(
        (status.sessions, status.port_pairs, status.refused_opens),
        (2, 2, 1)
    );
    assert!(engine.open(1).is_err(), "an id already open");
    close(&engine, 1).await;
    // Freed and closed by the time the reply came: the pair binds again.
    assert_eq!(engine.status().sessions, 1);
    let again = engine.open(3).unwrap();
    assert_eq!(again.port(), a.port());

    let mut small = config(47110, 47119);
    small.max_sessions = 1;
    let (engine, _events) = MediaEngine::start(small).unwrap();
    engine.open(1).unwrap();
    let e = engine.open(2).unwrap_err();
    assert!(e.to_string().contains("max_sessions"), "{e}");
}

#[tokio::test]
async fn a_busy_pair_is_skipped() {
    let taken = std::net::UdpSocket::bind((LOCAL, 47121)).unwrap();
    let (engine, _events) = MediaEngine::start(config(47120, 47123)).unwrap();
    let addr = engine.open(1).unwrap();
    assert_eq!(
        addr.port(),
        47122,
        "47120's RTCP port 47121 is held elsewhere"
    );
    drop(taken);
}

#[tokio::test]
async fn play_sends_a_paced_1khz_tone_then_reports_done() {
    let (engine, mut events) = MediaEngine::start(config(47200, 47209)).unwrap();
    let phone = phone().await;
    engine.open(1).unwrap();
    engine.send(MediaCommand::Remote {
        id: 1,
        stream: stream(Codec::Pcmu, 0, Some(101), phone.local_addr().unwrap()),
    });
    let tone = ToneSpec::parse("tone_stream://%(1000,0,1000)").unwrap();
    engine.send(MediaCommand::Play {
        id: 1,
        tone,
        token: 42,
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    let done = loop {
        tokio::select! {
            r = phone.recv_from(&mut buf) => {
                let (n, _) = r.unwrap();
                got.push((Instant::now(), buf[..n].to_vec()));
            }
            e = events.recv() => break e,
            () = tokio::time::sleep(WAIT) => panic!("no PlaybackDone; {} packets", got.len()),
        }
    };
    assert_eq!(done, Some(MediaEvent::PlaybackDone { id: 1, token: 42 }));
    // Packets still in flight when the event came.
    while let Ok(Ok((n, _))) = timeout(Duration::from_millis(50), phone.recv_from(&mut buf)).await {
        got.push((Instant::now(), buf[..n].to_vec()));
    }
    assert!(
        (46..=50).contains(&got.len()),
        "{} packets for 1 s",
        got.len()
    );
    let span = got.last().unwrap().0 - got[0].0;
    assert!(
        span > Duration::from_millis(800) && span < Duration::from_millis(1400),
        "paced over ~1 s, not a burst: {span:?}"
    );
    let (_, seq0, ts0, ssrc) = header(&got[0].1);
    let mut samples = Vec::new();
    for (i, (_, p)) in got.iter().enumerate() {
        let (pt, seq, ts, s) = header(p);
        assert_eq!((pt, s), (0, ssrc));
        assert_eq!(seq, seq0.wrapping_add(i as u16), "contiguous");
        assert_eq!(ts, ts0.wrapping_add(160 * i as u32));
        assert_eq!(p.len(), 12 + 160);
        samples.extend(p[12..].iter().map(|&b| g711::ulaw_decode(b)));
    }
    let at_1k = power_at(&samples, 1000.0);
    assert!(at_1k > 100.0 * power_at(&samples, 500.0), "1 kHz dominates");
    assert!(
        at_1k > 100.0 * power_at(&samples, 1500.0),
        "1 kHz dominates"
    );
}

#[tokio::test]
async fn echo_returns_each_packet_in_the_sessions_own_stream() {
    let (engine, _events) = MediaEngine::start(config(47300, 47309)).unwrap();
    let phone = phone().await;
    let local = engine.open(1).unwrap();
    engine.send(MediaCommand::Remote {
        id: 1,
        stream: stream(Codec::Pcma, 8, Some(101), phone.local_addr().unwrap()),
    });
    engine.send(MediaCommand::Echo { id: 1 });
    let mut echoed = Vec::new();
    for i in 0..5u16 {
        let payload = [i as u8 + 1; 160];
        let sent = packet(8, 1000 + i, 50_000 + 160 * u32::from(i), 0x1111, &payload);
        phone.send_to(&sent, local).await.unwrap();
        let back = recv(&phone).await;
        assert_eq!(&back[12..], &payload, "same payload");
        echoed.push(header(&back));
    }
    let ssrc = echoed[0].3;
    assert_ne!(ssrc, 0x1111, "the session's own SSRC, not the phone's");
    for (i, h) in echoed.iter().enumerate() {
        assert_eq!((h.0, h.3), (8, ssrc));
        assert_eq!(h.1, echoed[0].1.wrapping_add(i as u16));
    }
    // The same stream goes on when the session plays: same SSRC, next sequence number.
    engine.send(MediaCommand::Play {
        id: 1,
        tone: ToneSpec::parse("silence_stream://20").unwrap(),
        token: 1,
    });
    let tone = header(&recv(&phone).await);
    assert_eq!(tone.3, ssrc);
    assert_eq!(tone.1, echoed[4].1.wrapping_add(1));
    let stats = close(&engine, 1).await;
    assert_eq!(stats.in_packet_count, 5);
    assert_eq!(stats.out_packet_count, 6);
}

#[tokio::test]
async fn bridge_relays_both_ways_transcoding_and_follows_the_real_address() {
    let (engine, _events) = MediaEngine::start(config(47400, 47409)).unwrap();
    let phone_a = phone().await;
    // Phone B advertises one address in its SDP and really sends from another (NAT).
    let b_sdp = phone().await;
    let b_real = phone().await;
    let local_a = engine.open(1).unwrap();
    let local_b = engine.open(2).unwrap();
    engine.send(MediaCommand::Remote {
        id: 1,
        stream: stream(Codec::Pcmu, 0, Some(101), phone_a.local_addr().unwrap()),
    });
    engine.send(MediaCommand::Remote {
        id: 2,
        stream: stream(Codec::Pcma, 8, Some(96), b_sdp.local_addr().unwrap()),
    });
    engine.send(MediaCommand::Bridge { a: 1, b: 2 });

    let voice_u = [g711::ulaw_encode(4000); 160];
    let mut at_b = Vec::new();
    // A -> B, before B sent anything: to B's SDP address.
    for i in 0..3u16 {
        let p = packet(0, 7000 + i, 160 * u32::from(i), 0xA, &voice_u);
        phone_a.send_to(&p, local_a).await.unwrap();
        let got = recv(&b_sdp).await;
        let decoded = g711::alaw_decode(got[12]);
        assert!(
            (i32::from(decoded) - 4000).abs() < 200,
            "PCMU -> PCMA: {decoded}"
        );
        at_b.push(header(&got));
    }
    // B -> A from its real address: latches B, and reaches A as PCMU.
    let voice_a = [g711::alaw_encode(-3000); 160];
    let mut at_a = Vec::new();
    for i in 0..3u16 {
        let p = packet(8, 100 + i, 9000 + 160 * u32::from(i), 0xB, &voice_a);
        b_real.send_to(&p, local_b).await.unwrap();
        let got = recv(&phone_a).await;
        let decoded = g711::ulaw_decode(got[12]);
        assert!(
            (i32::from(decoded) + 3000).abs() < 200,
            "PCMA -> PCMU: {decoded}"
        );
        at_a.push(header(&got));
    }
    assert!(at_a
        .iter()
        .all(|h| h.0 == 0 && h.3 == at_a[0].3 && h.3 != 0xB));
    assert_eq!(
        at_a.iter()
            .map(|h| h.1.wrapping_sub(at_a[0].1))
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
    // A -> B again: now to where B really is; a DTMF event gets B's event type.
    for i in 3..5u16 {
        let p = packet(0, 7000 + i, 160 * u32::from(i), 0xA, &voice_u);
        phone_a.send_to(&p, local_a).await.unwrap();
        at_b.push(header(&recv(&b_real).await));
    }
    let event = packet(101, 7005, 800, 0xA, &[5, 0x0a, 0, 160]);
    phone_a.send_to(&event, local_a).await.unwrap();
    let got = recv(&b_real).await;
    assert_eq!(&got[12..], &[5, 0x0a, 0, 160]);
    at_b.push(header(&got));
    assert!(
        at_b.iter().take(5).all(|h| h.0 == 8),
        "B's voice payload type"
    );
    assert_eq!(at_b[5].0, 96, "B's telephone-event payload type");
    assert!(at_b.iter().all(|h| h.3 == at_b[0].3 && h.3 != 0xA));
    assert_eq!(
        at_b.iter()
            .map(|h| h.1.wrapping_sub(at_b[0].1))
            .collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5],
        "contiguous sequence numbers across the latch"
    );
    assert!(
        timeout(Duration::from_millis(100), b_sdp.recv_from(&mut [0u8; 64]))
            .await
            .is_err(),
        "nothing more to the SDP address once latched"
    );
    let a = close(&engine, 1).await;
    let b = close(&engine, 2).await;
    assert_eq!((a.in_packet_count, a.out_packet_count), (6, 3));
    assert_eq!((b.in_packet_count, b.out_packet_count), (3, 6));
    assert_eq!((a.in_dtmf_packet_count, b.out_dtmf_packet_count), (1, 1));
}

#[tokio::test]
async fn a_dtmf_digit_goes_into_a_bridged_legs_stream_and_its_audio_resumes_after_it() {
    let (engine, _events) = MediaEngine::start(config(47440, 47449)).unwrap();
    let phone_a = phone().await;
    let phone_b = phone().await;
    let local_a = engine.open(1).unwrap();
    engine.open(2).unwrap();
    engine.send(MediaCommand::Remote {
        id: 1,
        stream: stream(Codec::Pcmu, 0, None, phone_a.local_addr().unwrap()),
    });
    engine.send(MediaCommand::Remote {
        id: 2,
        stream: stream(Codec::Pcmu, 0, Some(101), phone_b.local_addr().unwrap()),
    });
    engine.send(MediaCommand::Bridge { a: 1, b: 2 });
    let voice = [g711::ulaw_encode(1000); 160];
    let mut seq = 500u16;
    let mut ts = 80_000u32;
    let mut talk = async || {
        let p = packet(0, seq, ts, 0xA, &voice);
        seq += 1;
        ts += 160;
        phone_a.send_to(&p, local_a).await.unwrap();
    };
    // Audio A -> B first, to set B's stream.
    talk().await;
    let before = header(&recv(&phone_b).await);

    // A digit for B (as an INFO from A would give): 60 ms, while A keeps talking.
    engine.send(MediaCommand::Dtmf {
        id: 2,
        digit: '7',
        duration_ms: 60,
    });
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < 8 && Instant::now() < deadline {
        talk().await;
        let mut buf = [0u8; 256];
        while let Ok(Ok((n, _))) =
            timeout(Duration::from_millis(20), phone_b.recv_from(&mut buf)).await
        {
            got.push(buf[..n].to_vec());
        }
    }
    let events: Vec<&Vec<u8>> = got.iter().filter(|p| p[1] & 0x7F == 101).collect();
    // 60 ms at 20 ms: durations 160, 320, 480, the last three times (E bit).
    let durations: Vec<u16> = events
        .iter()
        .map(|p| u16::from_be_bytes([p[14], p[15]]))
        .collect();
    assert_eq!(durations, [160, 320, 480, 480, 480], "{got:?}");
    assert!(events.iter().all(|p| p[12] == 7 && header(p).3 == before.3));
    assert!(
        events[0][1] & 0x80 != 0,
        "the event starts with the marker bit"
    );
    assert!(
        events[2..].iter().all(|p| p[13] & 0x80 != 0),
        "E bit on the ends"
    );
    // B's stream is one sequence: the audio stops during the event and resumes
    // after it, past the event's end in time, as a new talkspurt.
    let first_event = got.iter().position(|p| p[1] & 0x7F == 101).unwrap();
    let last_event = got.iter().rposition(|p| p[1] & 0x7F == 101).unwrap();
    assert!(
        got[first_event..=last_event]
            .iter()
            .all(|p| p[1] & 0x7F == 101),
        "no audio inside the event: {got:?}"
    );
    let seqs: Vec<u16> = got.iter().map(|p| header(p).1).collect();
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0].wrapping_add(1), "contiguous: {seqs:?}");
    }
    assert_eq!(seqs[0], before.1.wrapping_add(1 + first_event as u16));
    let after = got.get(last_event + 1).expect("audio after the event");
    let event_start = header(events[0]).2;
    assert_eq!(header(after).0, 0);
    assert!(
        after[1] & 0x80 != 0,
        "marker bit on the audio after the event"
    );
    assert_eq!(header(after).2, event_start.wrapping_add(480), "{got:?}");
    close(&engine, 1).await;
    let b = close(&engine, 2).await;
    assert_eq!(b.out_dtmf_packet_count, 5);
}

#[tokio::test]
async fn rtp_timeout_fires_when_the_leg_goes_quiet() {
    let mut cfg = config(47500, 47509);
    cfg.rtp_timeout = Some(Duration::from_millis(300));
    let (engine, mut events) = MediaEngine::start(cfg).unwrap();
    let phone = phone().await;
    let local = engine.open(1).unwrap();
    engine.send(MediaCommand::Remote {
        id: 1,
        stream: stream(Codec::Pcmu, 0, None, phone.local_addr().unwrap()),
    });
    // Talking for 400 ms (longer than the timeout) keeps it alive.
    for i in 0..20u16 {
        let p = packet(0, i, 160 * u32::from(i), 9, &[0xFF; 160]);
        phone.send_to(&p, local).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let quiet_since = Instant::now();
    let event = timeout(WAIT, events.recv()).await.expect("a timeout event");
    assert_eq!(event, Some(MediaEvent::RtpTimeout { id: 1 }));
    let after = quiet_since.elapsed();
    assert!(
        after >= Duration::from_millis(250) && after < Duration::from_millis(1000),
        "{after:?}"
    );
}

#[tokio::test]
async fn close_returns_what_was_received_and_sent() {
    let (engine, _events) = MediaEngine::start(config(47600, 47609)).unwrap();
    let phone = phone().await;
    let local = engine.open(1).unwrap();
    engine.send(MediaCommand::Remote {
        id: 1,
        stream: stream(Codec::Pcmu, 0, Some(101), phone.local_addr().unwrap()),
    });
    // A sender report first (sender counts 1234 packets, 5678 octets).
    let mut sr = vec![0x80, 200, 0, 6, 0, 0, 0, 9];
    sr.extend_from_slice(&[0; 8]); // NTP
    sr.extend_from_slice(&0u32.to_be_bytes());
    sr.extend_from_slice(&1234u32.to_be_bytes());
    sr.extend_from_slice(&5678u32.to_be_bytes());
    let rtcp_port = SocketAddr::new(LOCAL, local.port() + 1);
    phone.send_to(&sr, rtcp_port).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    engine.send(MediaCommand::Echo { id: 1 });
    // 6 voice packets with seq 3 missing, then 2 events.
    let mut raw = 0;
    for seq in [1u16, 2, 4, 5, 6, 7] {
        let p = packet(0, seq, 160 * u32::from(seq), 9, &[0xFF; 160]);
        raw += p.len() as u64;
        phone.send_to(&p, local).await.unwrap();
        recv(&phone).await;
    }
    for seq in [8u16, 9] {
        let p = packet(101, seq, 1280, 9, &[1, 0, 0, 160]);
        raw += p.len() as u64;
        phone.send_to(&p, local).await.unwrap();
        recv(&phone).await;
    }
    let stats = close(&engine, 1).await;
    assert_eq!(stats.in_packet_count, 8);
    assert_eq!(stats.in_media_packet_count, 6);
    assert_eq!(stats.in_dtmf_packet_count, 2);
    assert_eq!(stats.in_skip_packet_count, 1);
    assert_eq!(stats.in_raw_bytes, raw);
    assert_eq!(stats.in_media_bytes, 6 * 172);
    assert_eq!(
        (stats.out_packet_count, stats.out_dtmf_packet_count),
        (8, 2)
    );
    assert_eq!(stats.out_raw_bytes, raw);
    assert_eq!(stats.rtcp_packets_received, 1);
    assert_eq!(stats.rtcp_octets_received, sr.len() as u64);
    let vars = stats.variables();
    let var = |name: &str| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(var("rtp_audio_in_packet_count").as_deref(), Some("8"));
    assert_eq!(var("rtp_audio_in_skip_packet_count").as_deref(), Some("1"));
    assert_eq!(var("rtp_audio_in_dtmf_packet_count").as_deref(), Some("2"));
    assert_eq!(var("rtp_audio_out_packet_count").as_deref(), Some("8"));
    assert_eq!(var("rtp_audio_rtcp_packet_count").as_deref(), Some("1234"));
    assert_eq!(var("rtp_audio_rtcp_octet_count").as_deref(), Some("5678"));
    assert_eq!(var("rtp_audio_in_mos"), None, "not measured, not invented");
}

#[tokio::test]
async fn commands_for_unknown_sessions_are_ignored() {
    let (engine, _events) = MediaEngine::start(config(47700, 47709)).unwrap();
    engine.send(MediaCommand::Echo { id: 99 });
    engine.send(MediaCommand::Bridge { a: 98, b: 99 });
    let (reply, rx) = oneshot::channel();
    engine.send(MediaCommand::Close { id: 99, reply });
    assert!(
        timeout(WAIT, rx).await.unwrap().is_err(),
        "no stats for no session"
    );
    // The thread is still serving.
    engine.open(1).unwrap();
    close(&engine, 1).await;
}

#[test]
fn latching_takes_the_first_source_and_moves_only_after_silence() {
    let sdp: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    let nat: SocketAddr = "198.51.100.7:31000".parse().unwrap();
    let intruder: SocketAddr = "203.0.113.9:5000".parse().unwrap();
    let t0 = Instant::now();
    let mut l = Latch::default();
    l.reset(sdp);
    assert_eq!(l.destination(), Some(sdp));
    assert_eq!(l.accept(nat, t0), Source::Latched);
    assert_eq!(l.destination(), Some(nat));
    assert_eq!(
        l.accept(intruder, t0 + Duration::from_millis(500)),
        Source::Ignored
    );
    assert_eq!(
        l.accept(nat, t0 + Duration::from_millis(600)),
        Source::Taken
    );
    // The latched source silent for RELATCH_AFTER: a new one takes over.
    let later = t0 + Duration::from_millis(600) + RELATCH_AFTER;
    assert_eq!(l.accept(intruder, later), Source::Latched);
    assert_eq!(l.destination(), Some(intruder));
    // A re-INVITE starts over from the SDP address.
    l.reset(sdp);
    assert_eq!(l.destination(), Some(sdp));
}

#[test]
fn inbound_tracker_counts_gaps_and_jitter() {
    let t0 = Instant::now();
    let mut t = InboundTracker::new(t0);
    let mut skipped = 0;
    // Perfectly paced: no jitter. Then seq 10..12 lost.
    for seq in 0..10u16 {
        let at = t0 + Duration::from_millis(20 * u64::from(seq));
        skipped += t.on_packet(at, 1, seq, 160 * u32::from(seq), Kind::Voice);
    }
    assert_eq!((skipped, t.jitter()), (0, 0));
    skipped += t.on_packet(
        t0 + Duration::from_millis(260),
        1,
        13,
        160 * 13,
        Kind::Voice,
    );
    assert_eq!(skipped, 3);
    // Arrivals 10 ms off their timestamps: jitter grows towards 80 units.
    for seq in 14..200u16 {
        let off = if seq % 2 == 0 { 10 } else { 0 };
        let at = t0 + Duration::from_millis(20 * u64::from(seq) + off);
        t.on_packet(at, 1, seq, 160 * u32::from(seq), Kind::Voice);
    }
    assert!((70..=80).contains(&t.jitter()), "{}", t.jitter());
    let r = t.reception().unwrap();
    assert_eq!(r.cumulative_lost, 3);
    assert_eq!(r.extended_max, 199);
}

#[test]
fn rtcp_reports_round_trip() {
    let mut out = [0u8; rtcp::MAX_REPORT_LEN];
    let reception = super::stats::Reception {
        source: 77,
        fraction_lost: 64,
        cumulative_lost: 12,
        extended_max: 70_000,
        jitter: 40,
    };
    let n = rtcp::build_report(
        &mut out,
        5,
        0x0102_0304_0506_0708,
        Some(rtcp::SenderInfo {
            rtp_timestamp: 1,
            packets: 10,
            octets: 1600,
        }),
        Some((reception, None)),
    );
    assert_eq!(n, 72);
    assert_eq!((out[0], out[1]), (0x81, 200));
    // Read back as if we were the source the block is about.
    let seen = rtcp::parse(&out[..n], 77).unwrap();
    assert_eq!(seen.sender_report, Some((0x0304_0506, 10, 1600)));
    assert_eq!(seen.about_us, Some((64, 12, 40)));
    assert!(rtcp::parse(&out[..n - 4], 77).is_err(), "truncated");
    assert!(rtcp::parse(&[0x40, 200, 0, 0], 77).is_err(), "version 1");
}

#[tokio::test]
async fn a_leg_that_holds_us_gets_nothing_and_the_hold_timeout_applies() {
    let mut cfg = config(47800, 47809);
    cfg.rtp_timeout = Some(Duration::from_millis(150));
    cfg.hold_timeout = Some(Duration::from_millis(600));
    let (engine, mut events) = MediaEngine::start(cfg).unwrap();
    let phone = phone().await;
    engine.open(1).unwrap();
    // The phone's re-INVITE said sendonly: we answered recvonly.
    let mut held = stream(Codec::Pcmu, 0, None, phone.local_addr().unwrap());
    held.direction = Direction::RecvOnly;
    let start = Instant::now();
    engine.send(MediaCommand::Remote {
        id: 1,
        stream: held,
    });
    engine.send(MediaCommand::Play {
        id: 1,
        tone: ToneSpec::parse("tone_stream://%(100,0,440)").unwrap(),
        token: 5,
    });
    let first = timeout(WAIT, events.recv()).await.unwrap();
    assert_eq!(first, Some(MediaEvent::PlaybackDone { id: 1, token: 5 }));
    assert!(
        timeout(Duration::from_millis(50), phone.recv_from(&mut [0u8; 64]))
            .await
            .is_err(),
        "nothing is sent to a leg that holds us"
    );
    let second = timeout(WAIT, events.recv()).await.unwrap();
    assert_eq!(second, Some(MediaEvent::RtpTimeout { id: 1 }));
    assert!(
        start.elapsed() >= Duration::from_millis(550),
        "the hold timeout, not rtp_timeout: {:?}",
        start.elapsed()
    );
    let stats = close(&engine, 1).await;
    assert_eq!(stats.out_packet_count, 0);
}

#[test]
fn rtcp_reports_go_to_the_rtp_port_plus_one_with_what_we_sent() {
    let t0 = Instant::now();
    let remote: SocketAddr = "192.0.2.5:4000".parse().unwrap();
    let mut leg = session::LegState::new(1, 0xABCD, t0, None, None);
    leg.set_remote(stream(Codec::Pcmu, 0, None, remote), t0);
    let mut out = [0u8; 256];
    let wall = std::time::SystemTime::now();
    assert!(leg.rtcp_report(t0, wall, &mut out).is_none(), "not due yet");
    let p = packet(0, 1, 160, 0xABCD, &[0xFF; 160]);
    leg.on_sent(&p);
    leg.on_sent(&p);
    let heard = packet(0, 50, 0, 0x77, &[0xFF; 160]);
    assert!(leg.on_rtp(t0, remote, &heard));
    let (n, dest) = leg
        .rtcp_report(t0 + session::RTCP_INTERVAL, wall, &mut out)
        .expect("a report after the interval");
    assert_eq!(dest, "192.0.2.5:4001".parse().unwrap());
    assert_eq!(out[1], 200, "we sent RTP: a sender report");
    assert_eq!(u32::from_be_bytes([out[4], out[5], out[6], out[7]]), 0xABCD);
    assert_eq!(u32::from_be_bytes([out[20], out[21], out[22], out[23]]), 2);
    assert_eq!(
        u32::from_be_bytes([out[24], out[25], out[26], out[27]]),
        320
    );
    assert_eq!(
        rtcp::parse(&out[..n], 0x77).unwrap().about_us,
        Some((0, 0, 0))
    );
    // Nothing sent since: the next one is a receiver report.
    let (_, _) = leg
        .rtcp_report(t0 + 3 * session::RTCP_INTERVAL, wall, &mut out)
        .unwrap();
    assert_eq!(out[1], 201);
}

/// Both phones talk at 50 packets/s for 6 s (past the first RTCP report), each from its own socket, with running
/// sequence numbers and one SSRC, as a real call does: everything crosses.
#[tokio::test]
async fn a_bridged_call_relays_every_packet_for_seconds() {
    let (engine, _events) = MediaEngine::start(config(47420, 47429)).unwrap();
    let phone_a = phone().await;
    let phone_b = phone().await;
    let local_a = engine.open(1).unwrap();
    let local_b = engine.open(2).unwrap();
    engine.send(MediaCommand::Remote {
        id: 1,
        stream: stream(Codec::Pcmu, 0, Some(101), phone_a.local_addr().unwrap()),
    });
    engine.send(MediaCommand::Remote {
        id: 2,
        stream: stream(Codec::Pcmu, 0, Some(101), phone_b.local_addr().unwrap()),
    });
    engine.send(MediaCommand::Bridge { a: 1, b: 2 });
    let voice = [g711::ulaw_encode(1000); 160];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let (mut at_a, mut at_b) = (0u32, 0u32);
    let mut buf = [0u8; 1500];
    for i in 0..300u16 {
        tick.tick().await;
        let pa = packet(0, 1000 + i, 160 * u32::from(i), 0xAAAA, &voice);
        let pb = packet(0, 5000 + i, 320 * u32::from(i), 0xBBBB, &voice);
        phone_a.send_to(&pa, local_a).await.unwrap();
        phone_b.send_to(&pb, local_b).await.unwrap();
        while let Ok((_, _)) = phone_b.try_recv_from(&mut buf) {
            at_b += 1;
        }
        while let Ok((_, _)) = phone_a.try_recv_from(&mut buf) {
            at_a += 1;
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    while let Ok((_, _)) = phone_b.try_recv_from(&mut buf) {
        at_b += 1;
    }
    while let Ok((_, _)) = phone_a.try_recv_from(&mut buf) {
        at_a += 1;
    }
    assert_eq!((at_a, at_b), (300, 300), "packets that crossed each way");
}

/// A timer firing on a bridged or echoing leg (here the RTP timeout check, in a real
/// call the RTCP report 5 s in) must leave it bridged or echoing: it once left it Idle
/// and the call went silent (found with baresip, tests/calls_baresip.rs).
#[tokio::test]
async fn a_timer_on_a_bridged_or_echoing_leg_keeps_the_media_flowing() {
    let mut cfg = config(47900, 47909);
    cfg.rtp_timeout = Some(Duration::from_millis(100));
    let (engine, _events) = MediaEngine::start(cfg).unwrap();
    let (a, b, c) = (phone().await, phone().await, phone().await);
    let (la, lb, lc) = (
        engine.open(1).unwrap(),
        engine.open(2).unwrap(),
        engine.open(3).unwrap(),
    );
    for (id, p) in [(1, &a), (2, &b), (3, &c)] {
        engine.send(MediaCommand::Remote {
            id,
            stream: stream(Codec::Pcmu, 0, None, p.local_addr().unwrap()),
        });
    }
    engine.send(MediaCommand::Bridge { a: 1, b: 2 });
    engine.send(MediaCommand::Echo { id: 3 });
    // 400 ms of talk: the 100 ms timeout check fires on every leg several times.
    for i in 0..20u16 {
        let p = packet(0, i, 160 * u32::from(i), 7, &[i as u8; 160]);
        a.send_to(&p, la).await.unwrap();
        b.send_to(&p, lb).await.unwrap();
        c.send_to(&p, lc).await.unwrap();
        for (who, sock) in [("b from a", &b), ("a from b", &a), ("c's echo", &c)] {
            let got = recv(sock).await;
            assert_eq!(got[12], i as u8, "{who}: packet {i}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
