//! Offer/answer (RFC 3264) for the codecs the gateway carries. Like FreeSWITCH with
//! `inbound-codec-negotiation=generous`, the offerer's order wins: the first codec it
//! lists that we have is the one we answer with.

use std::fmt;
use std::net::SocketAddr;

use super::{Direction, Media, Origin, RtpMap, Sdp};

/// A voice codec the gateway speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
}

impl Codec {
    /// Its static payload type (RFC 3551).
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    fn from_rtpmap(map: &RtpMap) -> Option<Codec> {
        if map.clock_rate != 8000 || map.channels.is_some_and(|c| c != 1) {
            return None;
        }
        [Codec::Pcmu, Codec::Pcma]
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(&map.encoding))
    }
}

/// What our side accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offerable {
    pub codecs: Vec<Codec>,
    /// RFC 4733 DTMF events.
    pub telephone_event: bool,
    /// Packet time we send, ms.
    pub ptime: u32,
}

impl Default for Offerable {
    fn default() -> Self {
        Offerable {
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: true,
            ptime: 20,
        }
    }
}

/// The audio stream both sides agreed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    pub payload_type: u8,
    /// The telephone-event payload type, when both sides have it.
    pub telephone_event: Option<u8>,
    /// Where the other side wants our RTP.
    pub remote: SocketAddr,
    /// Our direction, as answered.
    pub direction: Direction,
    pub ptime: u32,
}

/// Why an offer cannot be answered: the call gets 488 Not Acceptable Here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NegotiateError {
    NoAudio,
    /// Secure RTP offered (RTP/SAVP); we do not do SRTP yet.
    Unsupported {
        proto: String,
    },
    NoCommonCodec {
        offered: Vec<String>,
    },
}

impl fmt::Display for NegotiateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiateError::NoAudio => f.write_str("the offer has no audio stream"),
            NegotiateError::Unsupported { proto } => {
                write!(f, "media transport {proto} is not supported (RTP/AVP only)")
            }
            NegotiateError::NoCommonCodec { offered } => write!(
                f,
                "no common codec: offered {}, we have PCMU, PCMA",
                offered.join(", ")
            ),
        }
    }
}

impl std::error::Error for NegotiateError {}

/// Answers `offer` with our RTP address `local`: the first audio stream is taken, the
/// others rejected with port 0 (RFC 3264 §6).
pub fn answer(
    offer: &Sdp,
    ours: &Offerable,
    local: SocketAddr,
    session_id: u64,
) -> Result<(Sdp, Negotiated), NegotiateError> {
    let mut chosen: Option<(usize, Negotiated)> = None;
    let mut first_error = NegotiateError::NoAudio;
    for (i, m) in offer.media.iter().enumerate() {
        if m.kind != "audio" || m.port == 0 || chosen.is_some() {
            continue;
        }
        match accept(offer, m, ours) {
            Ok(n) => chosen = Some((i, n)),
            Err(e) => {
                if first_error == NegotiateError::NoAudio {
                    first_error = e;
                }
            }
        }
    }
    let (index, negotiated) = chosen.ok_or(first_error)?;

    let media = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if i == index {
                answer_stream(&negotiated, ours, local)
            } else {
                rejected(m)
            }
        })
        .collect();
    Ok((session(local, session_id, media), negotiated))
}

/// The payload type we offer telephone-event on (FreeSWITCH's default too).
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// Our offer (a B-leg's INVITE, a re-INVITE): one audio stream at `local` with our
/// codecs in preference order, telephone-event when we do DTMF, and `direction`.
pub fn offer(ours: &Offerable, local: SocketAddr, session_id: u64, direction: Direction) -> Sdp {
    let voice: Vec<(u8, Codec)> = ours
        .codecs
        .iter()
        .map(|&c| (c.static_payload_type(), c))
        .collect();
    let events = ours.telephone_event.then_some(TELEPHONE_EVENT_PT);
    let media = audio_stream(&voice, events, local, direction, ours.ptime);
    session(local, session_id, vec![media])
}

/// What the far end's answer to our [`offer`] settled: the first audio stream it
/// kept, its first codec we have.
pub fn accept_answer(answer: &Sdp, ours: &Offerable) -> Result<Negotiated, NegotiateError> {
    let mut first_error = NegotiateError::NoAudio;
    for m in &answer.media {
        if m.kind != "audio" || m.port == 0 {
            continue;
        }
        match accept(answer, m, ours) {
            Ok(n) => return Ok(n),
            Err(e) => {
                if first_error == NegotiateError::NoAudio {
                    first_error = e;
                }
            }
        }
    }
    Err(first_error)
}

/// A session description from this box around `media`.
fn session(local: SocketAddr, session_id: u64, media: Vec<Media>) -> Sdp {
    Sdp {
        origin: Origin {
            username: "loopstart".into(),
            session_id,
            session_version: session_id,
            address: local.ip(),
        },
        session_name: "loopstart".into(),
        connection: Some(local.ip()),
        attributes: Vec::new(),
        media,
    }
}

fn accept(offer: &Sdp, m: &Media, ours: &Offerable) -> Result<Negotiated, NegotiateError> {
    if m.proto != "RTP/AVP" && m.proto != "RTP/AVPF" {
        return Err(NegotiateError::Unsupported {
            proto: m.proto.clone(),
        });
    }
    let codec_of = |pt: u8| -> Option<Codec> {
        match m.rtpmaps.iter().find(|r| r.payload_type == pt) {
            Some(map) => Codec::from_rtpmap(map),
            None => match pt {
                0 => Some(Codec::Pcmu),
                8 => Some(Codec::Pcma),
                _ => None,
            },
        }
    };
    let picked = m.formats.iter().find_map(|&pt| {
        codec_of(pt)
            .filter(|c| ours.codecs.contains(c))
            .map(|c| (pt, c))
    });
    let Some((payload_type, codec)) = picked else {
        let offered = m
            .formats
            .iter()
            .map(
                |&pt| match m.rtpmaps.iter().find(|r| r.payload_type == pt) {
                    Some(r) => format!("{}/{}", r.encoding, r.clock_rate),
                    None => format!("PT {pt}"),
                },
            )
            .collect();
        return Err(NegotiateError::NoCommonCodec { offered });
    };
    let telephone_event = ours
        .telephone_event
        .then(|| {
            m.rtpmaps.iter().find(|r| {
                r.encoding.eq_ignore_ascii_case("telephone-event")
                    && r.clock_rate == 8000
                    && m.formats.contains(&r.payload_type)
            })
        })
        .flatten()
        .map(|r| r.payload_type);
    // The stream's address was checked at parse time for every port != 0.
    let ip = offer.address_of(m).unwrap_or(offer.origin.address);
    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event,
        remote: SocketAddr::new(ip, m.port),
        direction: m.direction.answer_to(),
        ptime: ours.ptime,
    })
}

fn answer_stream(n: &Negotiated, ours: &Offerable, local: SocketAddr) -> Media {
    let voice = [(n.payload_type, n.codec)];
    audio_stream(&voice, n.telephone_event, local, n.direction, ours.ptime)
}

/// Our audio `m=` line at `local`: the voice payload types in order, then
/// telephone-event (0-16) when `events` gives its payload type.
fn audio_stream(
    voice: &[(u8, Codec)],
    events: Option<u8>,
    local: SocketAddr,
    direction: Direction,
    ptime: u32,
) -> Media {
    let map = |payload_type: u8, encoding: &str| RtpMap {
        payload_type,
        encoding: encoding.into(),
        clock_rate: 8000,
        channels: None,
    };
    let mut formats: Vec<u8> = voice.iter().map(|(pt, _)| *pt).collect();
    let mut rtpmaps: Vec<RtpMap> = voice.iter().map(|(pt, c)| map(*pt, c.name())).collect();
    let mut fmtps = Vec::new();
    if let Some(te) = events {
        formats.push(te);
        rtpmaps.push(map(te, "telephone-event"));
        fmtps.push((te, "0-16".to_string()));
    }
    Media {
        kind: "audio".into(),
        port: local.port(),
        proto: "RTP/AVP".into(),
        formats,
        connection: None,
        rtpmaps,
        fmtps,
        direction,
        ptime: Some(ptime),
        attributes: Vec::new(),
    }
}

/// A stream we do not take: same kind, proto and formats, port 0.
fn rejected(m: &Media) -> Media {
    Media {
        kind: m.kind.clone(),
        port: 0,
        proto: m.proto.clone(),
        formats: m.formats.clone(),
        connection: None,
        rtpmaps: Vec::new(),
        fmtps: Vec::new(),
        direction: Direction::Inactive,
        ptime: None,
        attributes: Vec::new(),
    }
}
