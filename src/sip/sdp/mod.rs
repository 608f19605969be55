//! SDP (RFC 4566) as calls need it: parse an offer or answer into a typed session
//! with its audio streams, emit one, and negotiate an answer (`negotiate.rs`, RFC
//! 3264) for the codecs the gateway speaks: PCMU, PCMA and telephone-event.
//!
//! Parsing keeps what it does not model (other attributes, bandwidth lines) so that an
//! SDP passed through is not stripped; it refuses what would make the call's media
//! wrong (a missing connection address, an m= line without formats), with the line.

mod negotiate;

pub use negotiate::{
    accept_answer, answer, offer, Codec, NegotiateError, Negotiated, Offerable, TELEPHONE_EVENT_PT,
};

use std::fmt;
use std::net::IpAddr;

/// A session description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sdp {
    pub origin: Origin,
    pub session_name: String,
    /// Session-level `c=`; a stream's own overrides it.
    pub connection: Option<IpAddr>,
    /// Session-level attributes, in order.
    pub attributes: Vec<Attribute>,
    pub media: Vec<Media>,
}

/// `o=username sess-id sess-version IN IP4 address`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: u64,
    pub session_version: u64,
    pub address: IpAddr,
}

/// One `m=` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, ...
    pub kind: String,
    /// 0 means the stream is rejected or disabled.
    pub port: u16,
    /// `RTP/AVP`, `RTP/SAVP`, ...
    pub proto: String,
    /// Payload types in preference order.
    pub formats: Vec<u8>,
    pub connection: Option<IpAddr>,
    pub rtpmaps: Vec<RtpMap>,
    /// `a=fmtp:PT params`.
    pub fmtps: Vec<(u8, String)>,
    pub direction: Direction,
    pub ptime: Option<u32>,
    /// Other attributes, kept as written.
    pub attributes: Vec<Attribute>,
}

/// `a=rtpmap:PT encoding/clock[/channels]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u8>,
}

/// `a=name` or `a=name:value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub value: Option<String>,
}

/// Which way media flows, from the describing side's point of view (RFC 3264 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answer gives to an offer's (RFC 3264 §6.1): hold (sendonly) is
    /// answered recvonly, and so on.
    pub fn answer_to(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }
}

/// Why an SDP body was refused (the answer to such an offer is 488).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpError {
    /// 1-based line in the body (0: the body as a whole).
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for SdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "SDP: {}", self.reason)
        } else {
            write!(f, "SDP line {}: {}", self.line, self.reason)
        }
    }
}

impl std::error::Error for SdpError {}

/// At most this many m= sections and attributes per section: bodies are bounded.
const MAX_MEDIA: usize = 16;
const MAX_ATTRIBUTES: usize = 64;

impl Sdp {
    pub fn parse(body: &str) -> Result<Sdp, SdpError> {
        let err = |line: usize, reason: String| SdpError { line, reason };
        let mut origin = None;
        let mut session_name = String::new();
        let mut connection = None;
        let mut attributes = Vec::new();
        let mut media: Vec<Media> = Vec::new();
        // Whether each stream set its own direction (else the session's applies).
        let mut own_direction: Vec<bool> = Vec::new();
        let mut saw_version = false;
        for (i, raw) in body.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let (kind, value) = match line.split_once('=') {
                Some((k, v)) if k.len() == 1 => (k, v),
                _ => return Err(err(n, format!("{line:?} is not a type=value line"))),
            };
            match kind {
                "v" => {
                    if value != "0" {
                        return Err(err(n, format!("version {value:?} (only 0 exists)")));
                    }
                    saw_version = true;
                }
                "o" => origin = Some(parse_origin(value).map_err(|r| err(n, r))?),
                "s" => session_name = value.to_string(),
                "c" => {
                    let addr = parse_connection(value).map_err(|r| err(n, r))?;
                    match media.last_mut() {
                        Some(m) => m.connection = Some(addr),
                        None => connection = Some(addr),
                    }
                }
                "m" => {
                    if media.len() == MAX_MEDIA {
                        return Err(err(n, format!("more than {MAX_MEDIA} media sections")));
                    }
                    media.push(parse_media(value).map_err(|r| err(n, r))?);
                    own_direction.push(false);
                }
                "a" => {
                    let attr = parse_attribute(value);
                    match media.last_mut() {
                        Some(m) => {
                            let set = apply_media_attribute(m, attr).map_err(|r| err(n, r))?;
                            if let Some(own) = own_direction.last_mut() {
                                *own |= set;
                            }
                        }
                        None => {
                            if attributes.len() == MAX_ATTRIBUTES {
                                return Err(err(n, "too many attributes".into()));
                            }
                            attributes.push(attr);
                        }
                    }
                }
                // t=, b=, k=, i=, u=, e=, p=, z=, r=: not needed to carry a call.
                _ => {}
            }
        }
        if !saw_version {
            return Err(err(0, "no v=0 line".into()));
        }
        let origin = origin.ok_or_else(|| err(0, "no o= line".into()))?;
        // A session-level direction attribute applies to every stream without one.
        if let Some(d) = attributes.iter().find_map(direction_of) {
            for (m, own) in media.iter_mut().zip(&own_direction) {
                if !own {
                    m.direction = d;
                }
            }
        }
        for m in &media {
            if m.port != 0 && m.connection.is_none() && connection.is_none() {
                return Err(err(
                    0,
                    format!("{} stream has no connection address (c=)", m.kind),
                ));
            }
        }
        Ok(Sdp {
            origin,
            session_name,
            connection,
            attributes,
            media,
        })
    }

    /// Where a stream's media goes: its own c= or the session's.
    pub fn address_of(&self, media: &Media) -> Option<IpAddr> {
        media.connection.or(self.connection)
    }
}

fn direction_of(a: &Attribute) -> Option<Direction> {
    match a.name.as_str() {
        "sendrecv" => Some(Direction::SendRecv),
        "sendonly" => Some(Direction::SendOnly),
        "recvonly" => Some(Direction::RecvOnly),
        "inactive" => Some(Direction::Inactive),
        _ => None,
    }
}

fn parse_origin(v: &str) -> Result<Origin, String> {
    let f: Vec<&str> = v.split_whitespace().collect();
    if f.len() != 6 || f[3] != "IN" {
        return Err(format!(
            "o={v:?}: expected 'user id version IN IP4 address'"
        ));
    }
    let number = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("o=: {s:?} is not a number"))
    };
    Ok(Origin {
        username: f[0].to_string(),
        session_id: number(f[1])?,
        session_version: number(f[2])?,
        address: parse_address(f[4], f[5])?,
    })
}

fn parse_connection(v: &str) -> Result<IpAddr, String> {
    let f: Vec<&str> = v.split_whitespace().collect();
    if f.len() != 3 || f[0] != "IN" {
        return Err(format!("c={v:?}: expected 'IN IP4 address'"));
    }
    // Multicast TTL suffixes (a.b.c.d/127) are not for phones; take the address.
    parse_address(f[1], f[2].split('/').next().unwrap_or(""))
}

fn parse_address(family: &str, addr: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address (host names are not resolved)"))?;
    match (family, ip) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Ok(ip),
        _ => Err(format!("{addr} is not an {family} address")),
    }
}

fn parse_media(v: &str) -> Result<Media, String> {
    let f: Vec<&str> = v.split_whitespace().collect();
    if f.len() < 4 {
        return Err(format!("m={v:?}: expected 'kind port proto format...'"));
    }
    // `port/count` (several ports) is not used by phones; take the first.
    let port = f[1]
        .split('/')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or_else(|| format!("m=: port {:?} is not a number", f[1]))?;
    let formats = if f[2].starts_with("RTP/") {
        f[3..]
            .iter()
            .map(|pt| {
                pt.parse::<u8>()
                    .ok()
                    .filter(|&p| p < 128)
                    .ok_or_else(|| format!("m=: payload type {pt:?} is not 0-127"))
            })
            .collect::<Result<Vec<u8>, String>>()?
    } else {
        Vec::new() // not RTP: kept only to be rejected in the answer
    };
    Ok(Media {
        kind: f[0].to_string(),
        port,
        proto: f[2].to_string(),
        formats,
        connection: None,
        rtpmaps: Vec::new(),
        fmtps: Vec::new(),
        direction: Direction::SendRecv,
        ptime: None,
        attributes: Vec::new(),
    })
}

fn parse_attribute(v: &str) -> Attribute {
    match v.split_once(':') {
        Some((name, value)) => Attribute {
            name: name.to_string(),
            value: Some(value.to_string()),
        },
        None => Attribute {
            name: v.to_string(),
            value: None,
        },
    }
}

/// Applies one of a stream's attributes; true when it was the stream's direction.
fn apply_media_attribute(m: &mut Media, a: Attribute) -> Result<bool, String> {
    if let Some(d) = direction_of(&a) {
        m.direction = d;
        return Ok(true);
    }
    let value = a.value.as_deref().unwrap_or("");
    match a.name.as_str() {
        "rtpmap" => {
            let (pt, rest) = value
                .split_once(' ')
                .ok_or_else(|| format!("a=rtpmap:{value:?}: expected 'PT encoding/clock'"))?;
            let pt: u8 = pt
                .parse()
                .map_err(|_| format!("a=rtpmap: payload type {pt:?} is not a number"))?;
            let mut parts = rest.trim().split('/');
            let encoding = parts.next().unwrap_or("").to_string();
            let clock_rate = parts
                .next()
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("a=rtpmap:{value:?}: no clock rate"))?;
            let channels = parts.next().and_then(|c| c.parse().ok());
            m.rtpmaps.push(RtpMap {
                payload_type: pt,
                encoding,
                clock_rate,
                channels,
            });
        }
        "fmtp" => {
            if let Some((pt, params)) = value.split_once(' ') {
                if let Ok(pt) = pt.parse() {
                    m.fmtps.push((pt, params.trim().to_string()));
                }
            }
        }
        "ptime" => m.ptime = value.trim().parse().ok(),
        _ => {
            if m.attributes.len() == MAX_ATTRIBUTES {
                return Err("too many attributes".into());
            }
            m.attributes.push(a);
        }
    }
    Ok(false)
}

impl fmt::Display for Sdp {
    /// The body as sent: CRLF line ends, the lines in RFC 4566's order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let family = |ip: &IpAddr| if ip.is_ipv4() { "IP4" } else { "IP6" };
        let o = &self.origin;
        write!(f, "v=0\r\n")?;
        write!(
            f,
            "o={} {} {} IN {} {}\r\n",
            o.username,
            o.session_id,
            o.session_version,
            family(&o.address),
            o.address
        )?;
        let name = if self.session_name.is_empty() {
            "-"
        } else {
            &self.session_name
        };
        write!(f, "s={name}\r\n")?;
        if let Some(c) = &self.connection {
            write!(f, "c=IN {} {c}\r\n", family(c))?;
        }
        write!(f, "t=0 0\r\n")?;
        for a in &self.attributes {
            write_attribute(f, a)?;
        }
        for m in &self.media {
            write!(f, "m={} {} {}", m.kind, m.port, m.proto)?;
            if m.formats.is_empty() {
                write!(f, " 0")?;
            }
            for pt in &m.formats {
                write!(f, " {pt}")?;
            }
            write!(f, "\r\n")?;
            if let Some(c) = &m.connection {
                write!(f, "c=IN {} {c}\r\n", family(c))?;
            }
            for r in &m.rtpmaps {
                write!(
                    f,
                    "a=rtpmap:{} {}/{}",
                    r.payload_type, r.encoding, r.clock_rate
                )?;
                if let Some(ch) = r.channels {
                    write!(f, "/{ch}")?;
                }
                write!(f, "\r\n")?;
            }
            for (pt, params) in &m.fmtps {
                write!(f, "a=fmtp:{pt} {params}\r\n")?;
            }
            if let Some(p) = m.ptime {
                write!(f, "a=ptime:{p}\r\n")?;
            }
            for a in &m.attributes {
                write_attribute(f, a)?;
            }
            if m.port != 0 {
                write!(f, "a={}\r\n", m.direction.name())?;
            }
        }
        Ok(())
    }
}

fn write_attribute(f: &mut fmt::Formatter<'_>, a: &Attribute) -> fmt::Result {
    match &a.value {
        Some(v) => write!(f, "a={}:{v}\r\n", a.name),
        None => write!(f, "a={}\r\n", a.name),
    }
}

#[cfg(test)]
mod tests;
