//! RTCP (RFC 3550 §6), kept small: we send one compound packet every few seconds — a
//! sender report when we sent RTP since the last one, a receiver report otherwise, with
//! one report block about the stream we receive, and the SDES CNAME every compound
//! packet must carry — and we read the far end's SR/RR for its counters, the loss and
//! jitter it sees on our stream. Sans-IO: bytes and times in, bytes out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::stats::Reception;

const SR: u8 = 200;
const RR: u8 = 201;
const SDES: u8 = 202;
/// Seconds from 1900 (NTP's epoch) to 1970.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// The CNAME we give (RFC 3550 §6.5.1 wants it stable per host; the SSRC tells
/// streams apart).
const CNAME: &[u8] = b"loopstart";
/// The largest compound packet we build: SR (28) + one block (24) + SDES (20).
pub(crate) const MAX_REPORT_LEN: usize = 28 + 24 + 20;

/// What we sent since the stream began, for a sender report.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SenderInfo {
    pub rtp_timestamp: u32,
    pub packets: u32,
    pub octets: u32,
}

/// The last sender report the far end sent, for our report block's LSR/DLSR.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LastSr {
    /// The middle 32 bits of its NTP timestamp.
    pub lsr: u32,
    /// How long ago it arrived.
    pub age: Duration,
}

/// 64-bit NTP timestamp of `now`.
pub(crate) fn ntp_time(now: SystemTime) -> u64 {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs().wrapping_add(NTP_UNIX_OFFSET);
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// Builds our compound report into `out` (at least [`MAX_REPORT_LEN`] bytes); returns
/// its length, 0 if `out` is too small.
pub(crate) fn build_report(
    out: &mut [u8],
    ssrc: u32,
    ntp: u64,
    sender: Option<SenderInfo>,
    block: Option<(Reception, Option<LastSr>)>,
) -> usize {
    if out.len() < MAX_REPORT_LEN {
        return 0;
    }
    let count = u8::from(block.is_some());
    let mut at = 8;
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    let pt = if let Some(s) = sender {
        out[8..16].copy_from_slice(&ntp.to_be_bytes());
        out[16..20].copy_from_slice(&s.rtp_timestamp.to_be_bytes());
        out[20..24].copy_from_slice(&s.packets.to_be_bytes());
        out[24..28].copy_from_slice(&s.octets.to_be_bytes());
        at = 28;
        SR
    } else {
        RR
    };
    if let Some((r, last_sr)) = block {
        let b = &mut out[at..at + 24];
        b[0..4].copy_from_slice(&r.source.to_be_bytes());
        let lost = (r.cumulative_lost as u32) & 0x00FF_FFFF;
        b[4..8].copy_from_slice(&(u32::from(r.fraction_lost) << 24 | lost).to_be_bytes());
        b[8..12].copy_from_slice(&r.extended_max.to_be_bytes());
        b[12..16].copy_from_slice(&r.jitter.to_be_bytes());
        let (lsr, dlsr) = match last_sr {
            // DLSR in units of 1/65536 s.
            Some(l) => (
                l.lsr,
                u32::try_from(l.age.as_micros() * 65_536 / 1_000_000).unwrap_or(u32::MAX),
            ),
            None => (0, 0),
        };
        b[16..20].copy_from_slice(&lsr.to_be_bytes());
        b[20..24].copy_from_slice(&dlsr.to_be_bytes());
        at += 24;
    }
    out[0] = 0x80 | count;
    out[1] = pt;
    out[2..4].copy_from_slice(&((at / 4 - 1) as u16).to_be_bytes());
    // SDES: one chunk, our SSRC, CNAME item, end, padded to 32 bits.
    let sdes_start = at;
    let item_len = 2 + CNAME.len();
    let chunk_len = (4 + item_len + 1).div_ceil(4) * 4;
    let sdes_len = 4 + chunk_len;
    let s = &mut out[sdes_start..sdes_start + sdes_len];
    s.fill(0);
    s[0] = 0x81;
    s[1] = SDES;
    s[2..4].copy_from_slice(&((sdes_len / 4 - 1) as u16).to_be_bytes());
    s[4..8].copy_from_slice(&ssrc.to_be_bytes());
    s[8] = 1; // CNAME
    s[9] = CNAME.len() as u8;
    s[10..10 + CNAME.len()].copy_from_slice(CNAME);
    sdes_start + sdes_len
}

/// What a received compound packet said.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Received {
    /// From a sender report: the middle of its NTP time, its packet and octet counts.
    pub sender_report: Option<(u32, u32, u32)>,
    /// The report block about our stream: fraction lost (x/256), cumulative lost,
    /// jitter (timestamp units).
    pub about_us: Option<(u8, i32, u32)>,
}

/// Reads a compound RTCP packet; Err with a reason when it is not RTCP.
pub(crate) fn parse(data: &[u8], our_ssrc: u32) -> Result<Received, &'static str> {
    let mut seen = Received::default();
    let mut rest = data;
    if rest.len() < 4 {
        return Err("shorter than an RTCP header");
    }
    while rest.len() >= 4 {
        if rest[0] >> 6 != 2 {
            return Err("not RTCP version 2");
        }
        let count = usize::from(rest[0] & 0x1F);
        let pt = rest[1];
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        let Some(packet) = rest.get(..len) else {
            return Err("length beyond the datagram");
        };
        let blocks_at = match pt {
            SR if packet.len() >= 28 => {
                let word = |i: usize| {
                    u32::from_be_bytes([packet[i], packet[i + 1], packet[i + 2], packet[i + 3]])
                };
                let (msw, lsw) = (word(8), word(12));
                seen.sender_report = Some(((msw << 16) | (lsw >> 16), word(20), word(24)));
                Some(28)
            }
            RR if packet.len() >= 8 => Some(8),
            SR | RR => return Err("truncated report"),
            _ => None,
        };
        if let Some(start) = blocks_at {
            for b in packet[start..].chunks_exact(24).take(count) {
                let ssrc = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                if ssrc == our_ssrc {
                    // 24-bit signed cumulative loss.
                    let lost = (i32::from_be_bytes([b[5], b[6], b[7], 0])) >> 8;
                    let jitter = u32::from_be_bytes([b[12], b[13], b[14], b[15]]);
                    seen.about_us = Some((b[4], lost, jitter));
                }
            }
        }
        rest = &rest[len..];
    }
    Ok(seen)
}
