//! One direction of an anchored call's RTP: packets from one leg, rewritten in place
//! into the other leg's own stream — its SSRC, a sequence and timestamp space that
//! runs on without jumps when the source changes (a phone's new stream after a
//! re-INVITE, music on hold taking over), its payload type numbers, and its codec
//! (PCMU <-> PCMA, same size, in place). No allocation per packet.
//!
//! Sans-IO: bytes in, the same bytes rewritten out; the socket loop that feeds it
//! lives elsewhere.

use std::fmt;

use rtp_types::RtpPacketMut;

use super::g711;

/// Samples per 20 ms at 8 kHz: how far the timestamp moves on when the source changes.
const DEFAULT_STEP: u32 = 160;

/// What to do with each payload type arriving from the source leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadMap {
    /// The source leg's voice payload type, and the outgoing one.
    pub voice_in: u8,
    pub voice_out: u8,
    /// PCMU <-> PCMA when the legs' codecs differ.
    pub transcode: Option<Transcode>,
    /// telephone-event on each side, when both have it.
    pub events: Option<(u8, u8)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transcode {
    UlawToAlaw,
    AlawToUlaw,
}

/// Why a packet was not relayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// Not RTP version 2, or shorter than its header says.
    Malformed(String),
    /// RTCP on the RTP port (RFC 5761 multiplexing is not negotiated).
    Rtcp,
    /// A payload type the call did not negotiate.
    UnexpectedPayloadType(u8),
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dropped::Malformed(e) => write!(f, "malformed RTP: {e}"),
            Dropped::Rtcp => f.write_str("RTCP on the RTP port"),
            Dropped::UnexpectedPayloadType(pt) => write!(f, "payload type {pt} was not negotiated"),
        }
    }
}

/// Where the current source's numbers land in the outgoing stream.
#[derive(Clone, Copy, Debug)]
struct Anchor {
    source_ssrc: u32,
    seq_offset: u16,
    ts_offset: u32,
}

/// One direction's rewriter.
#[derive(Debug)]
pub struct StreamRewriter {
    out_ssrc: u32,
    map: PayloadMap,
    anchor: Option<Anchor>,
    /// The last sequence number and timestamp sent, to continue from on a new source.
    last_out: Option<(u16, u32)>,
    /// Counters for the CDR's RTP statistics.
    pub relayed: u64,
    pub dropped: u64,
}

impl StreamRewriter {
    pub fn new(out_ssrc: u32, map: PayloadMap) -> StreamRewriter {
        StreamRewriter {
            out_ssrc,
            map,
            anchor: None,
            last_out: None,
            relayed: 0,
            dropped: 0,
        }
    }

    /// Rewrites `packet` in place for the other leg; Err says why it must be dropped.
    pub fn rewrite(&mut self, packet: &mut [u8]) -> Result<(), Dropped> {
        let result = self.rewrite_inner(packet);
        match result {
            Ok(()) => self.relayed += 1,
            Err(_) => self.dropped += 1,
        }
        result
    }

    fn rewrite_inner(&mut self, packet: &mut [u8]) -> Result<(), Dropped> {
        // RTCP's packet types 200-204 show up as RTP payload types 72-76 with the
        // marker bit: refuse them before they are taken for voice.
        if packet.len() >= 2 && (200..=204).contains(&packet[1]) {
            return Err(Dropped::Rtcp);
        }
        let mut rtp =
            RtpPacketMut::parse(packet).map_err(|e| Dropped::Malformed(format!("{e:?}")))?;
        let pt = rtp.payload_type();
        let (out_pt, transcode) = if pt == self.map.voice_in {
            (self.map.voice_out, self.map.transcode)
        } else {
            match self.map.events {
                Some((ev_in, ev_out)) if pt == ev_in => (ev_out, None),
                _ => return Err(Dropped::UnexpectedPayloadType(pt)),
            }
        };
        let (seq, ts, ssrc) = (rtp.sequence_number(), rtp.timestamp(), rtp.ssrc());
        let anchor = match self.anchor {
            Some(a) if a.source_ssrc == ssrc => a,
            _ => {
                // A new source: continue our stream one packet on, and mark it.
                let (next_seq, next_ts) = match self.last_out {
                    Some((s, t)) => (s.wrapping_add(1), t.wrapping_add(DEFAULT_STEP)),
                    None => (seq, ts),
                };
                let a = Anchor {
                    source_ssrc: ssrc,
                    seq_offset: next_seq.wrapping_sub(seq),
                    ts_offset: next_ts.wrapping_sub(ts),
                };
                self.anchor = Some(a);
                if self.last_out.is_some() {
                    rtp.set_marker_bit(true);
                }
                a
            }
        };
        let out_seq = seq.wrapping_add(anchor.seq_offset);
        let out_ts = ts.wrapping_add(anchor.ts_offset);
        rtp.set_sequence_number(out_seq);
        rtp.set_timestamp(out_ts);
        rtp.set_ssrc(self.out_ssrc);
        if out_pt != pt {
            rtp.set_payload_type(out_pt)
                .map_err(|e| Dropped::Malformed(format!("{e:?}")))?;
        }
        match transcode {
            Some(Transcode::UlawToAlaw) => g711::ulaw_to_alaw(rtp.payload_mut()),
            Some(Transcode::AlawToUlaw) => g711::alaw_to_ulaw(rtp.payload_mut()),
            None => {}
        }
        // Keep the newest position (a late packet must not move us backwards).
        let newer = match self.last_out {
            Some((s, _)) => (out_seq.wrapping_sub(s) as i16) > 0,
            None => true,
        };
        if newer {
            self.last_out = Some((out_seq, out_ts));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn fields(p: &[u8]) -> (bool, u8, u16, u32, u32) {
        (
            p[1] & 0x80 != 0,
            p[1] & 0x7f,
            u16::from_be_bytes([p[2], p[3]]),
            u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
            u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
        )
    }

    const PCMU_BOTH: PayloadMap = PayloadMap {
        voice_in: 0,
        voice_out: 0,
        transcode: None,
        events: Some((101, 96)),
    };

    #[test]
    fn the_outgoing_stream_has_our_ssrc_and_runs_on_across_a_source_change() {
        let mut r = StreamRewriter::new(0xAAAA_0001, PCMU_BOTH);
        let mut out = Vec::new();
        for i in 0..3u16 {
            let mut p = packet(
                0,
                65_534u16.wrapping_add(i),
                1000 + 160 * u32::from(i),
                7,
                &[0xFF; 160],
            );
            r.rewrite(&mut p).unwrap();
            out.push(fields(&p));
        }
        // Sequence numbers wrap as the source's did; our SSRC throughout.
        assert_eq!(
            out.iter().map(|f| f.2).collect::<Vec<_>>(),
            [65_534, 65_535, 0]
        );
        assert!(out.iter().all(|f| f.4 == 0xAAAA_0001 && !f.0));
        // The far phone starts a new stream (new SSRC, random numbers): ours goes on.
        let mut p = packet(0, 40_000, 9_999_999, 8, &[0xFF; 160]);
        r.rewrite(&mut p).unwrap();
        let (marker, _, seq, ts, ssrc) = fields(&p);
        assert_eq!((seq, ts, ssrc), (1, 1000 + 160 * 3, 0xAAAA_0001));
        assert!(marker, "a new source starts with the marker bit");
        let mut p = packet(0, 40_001, 9_999_999 + 160, 8, &[0xFF; 160]);
        r.rewrite(&mut p).unwrap();
        assert_eq!(fields(&p).2, 2);
        assert_eq!((r.relayed, r.dropped), (5, 0));
    }

    #[test]
    fn events_get_the_other_legs_payload_type_and_voice_is_transcoded_in_place() {
        let map = PayloadMap {
            voice_in: 0,
            voice_out: 8,
            transcode: Some(Transcode::UlawToAlaw),
            events: Some((101, 96)),
        };
        let mut r = StreamRewriter::new(1, map);
        let mut voice = packet(0, 1, 0, 5, &[g711::ulaw_encode(1000); 160]);
        r.rewrite(&mut voice).unwrap();
        assert_eq!(fields(&voice).1, 8);
        let decoded = g711::alaw_decode(voice[12]);
        assert!((i32::from(decoded) - 1000).abs() < 64, "{decoded}");
        let mut event = packet(101, 2, 0, 5, &[1, 0x0a, 0, 160]);
        r.rewrite(&mut event).unwrap();
        assert_eq!(fields(&event).1, 96);
        assert_eq!(&event[12..], &[1, 0x0a, 0, 160], "event payload untouched");
    }

    #[test]
    fn what_was_not_negotiated_is_dropped_and_counted() {
        let mut r = StreamRewriter::new(1, PCMU_BOTH);
        let mut g729 = packet(18, 1, 0, 5, &[0; 20]);
        assert_eq!(
            r.rewrite(&mut g729),
            Err(Dropped::UnexpectedPayloadType(18))
        );
        let mut rtcp = vec![0x80, 200, 0, 6, 0, 0, 0, 5, 0, 0, 0, 0];
        assert_eq!(r.rewrite(&mut rtcp), Err(Dropped::Rtcp));
        let mut short = vec![0x80, 0, 0];
        assert!(matches!(r.rewrite(&mut short), Err(Dropped::Malformed(_))));
        let mut v1 = packet(0, 1, 0, 5, &[0xFF; 10]);
        v1[0] = 0x40;
        assert!(matches!(r.rewrite(&mut v1), Err(Dropped::Malformed(_))));
        assert_eq!((r.relayed, r.dropped), (0, 4));
    }

    #[test]
    fn a_late_packet_keeps_its_place() {
        let mut r = StreamRewriter::new(1, PCMU_BOTH);
        for seq in [10u16, 12, 11] {
            let mut p = packet(0, seq, u32::from(seq) * 160, 5, &[0xFF; 160]);
            r.rewrite(&mut p).unwrap();
            assert_eq!(fields(&p).2, seq, "same source: the numbers map one to one");
        }
        // A new source continues after 12, the newest, not after the late 11.
        let mut p = packet(0, 500, 0, 6, &[0xFF; 160]);
        r.rewrite(&mut p).unwrap();
        assert_eq!(fields(&p).2, 13);
    }
}
