//! A leg's RTP statistics: what came in (counts, sequence gaps, interarrival jitter),
//! what went out, and what RTCP told us. Sans-IO: arrival times come in as arguments.
//!
//! The names the CDR sees are FreeSWITCH's (`rtp_audio_in_packet_count`, ...), from
//! `set_stats()` in its `switch_core_media.c`; only the values this engine really
//! measures are given, the jitter-buffer and quality estimates FreeSWITCH computes
//! (`in_jitter_*_variance`, `in_mos`, `in_flaw_total`, ...) are left out rather than
//! invented.

use std::time::Instant;

/// A forward jump of the sequence number larger than this is taken as a restart of
/// the stream (RFC 3550 A.1's MAX_DROPOUT), not as that many lost packets.
const MAX_DROPOUT: u16 = 3000;
/// RTP clock of every codec this engine carries (G.711, telephone-event).
const CLOCK_RATE: u64 = 8000;

/// The statistics of one leg, handed back when its media closes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RtpStats {
    /// Bytes of every RTP packet received from the leg (RTP header included, as
    /// FreeSWITCH counts them).
    pub in_raw_bytes: u64,
    /// Bytes of the voice packets among them.
    pub in_media_bytes: u64,
    pub in_packet_count: u64,
    /// Voice packets (neither telephone-event nor comfort noise).
    pub in_media_packet_count: u64,
    /// Sequence numbers that never arrived (counted when the stream jumps over them).
    pub in_skip_packet_count: u64,
    /// RFC 4733 telephone-event packets.
    pub in_dtmf_packet_count: u64,
    /// Comfort noise (payload type 13) packets.
    pub in_cng_packet_count: u64,
    /// Packets from an address other than the latched one, not taken (NAT latching).
    pub in_ignored_packet_count: u64,
    /// Packets that were not RTP (bad version, too short, RTCP on the RTP port).
    pub in_malformed_packet_count: u64,
    /// Interarrival jitter (RFC 3550 §6.4.1, computed as in §A.8) of the current
    /// source, in milliseconds.
    pub in_jitter_ms: f64,
    pub out_raw_bytes: u64,
    pub out_media_bytes: u64,
    pub out_packet_count: u64,
    pub out_media_packet_count: u64,
    /// Packets the paced sender skipped because the media thread woke too late.
    pub out_skip_packet_count: u64,
    pub out_dtmf_packet_count: u64,
    /// RTCP packets (compound datagrams) and their bytes received on the RTCP port.
    pub rtcp_packets_received: u64,
    pub rtcp_octets_received: u64,
    /// RTCP reports we sent.
    pub rtcp_packets_sent: u64,
    /// The far end's own sender counters from its last sender report (what
    /// FreeSWITCH puts in `rtp_audio_rtcp_packet_count` / `_octet_count`).
    pub peer_sr_packet_count: Option<u32>,
    pub peer_sr_octet_count: Option<u32>,
    /// What the far end last reported about our stream: fraction lost (0..1),
    /// cumulative packets lost, jitter in ms.
    pub peer_fraction_lost: Option<f64>,
    pub peer_cumulative_lost: Option<i32>,
    pub peer_jitter_ms: Option<f64>,
}

impl RtpStats {
    /// Channel variables with FreeSWITCH's names for the CDR. Integers as integers,
    /// fractional values with two decimals (FreeSWITCH's `%0.2f`).
    ///
    /// `rtp_audio_rtcp_packet_count` and `rtp_audio_rtcp_octet_count` are, in
    /// FreeSWITCH, the sender packet and octet counts from the far end's last RTCP
    /// sender report (not a count of RTCP packets); they are given with that meaning,
    /// and only when a sender report arrived.
    pub fn variables(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("rtp_audio_in_raw_bytes", self.in_raw_bytes.to_string()),
            ("rtp_audio_in_media_bytes", self.in_media_bytes.to_string()),
            (
                "rtp_audio_in_packet_count",
                self.in_packet_count.to_string(),
            ),
            (
                "rtp_audio_in_media_packet_count",
                self.in_media_packet_count.to_string(),
            ),
            (
                "rtp_audio_in_skip_packet_count",
                self.in_skip_packet_count.to_string(),
            ),
            (
                "rtp_audio_in_dtmf_packet_count",
                self.in_dtmf_packet_count.to_string(),
            ),
            (
                "rtp_audio_in_cng_packet_count",
                self.in_cng_packet_count.to_string(),
            ),
            ("rtp_audio_out_raw_bytes", self.out_raw_bytes.to_string()),
            (
                "rtp_audio_out_media_bytes",
                self.out_media_bytes.to_string(),
            ),
            (
                "rtp_audio_out_packet_count",
                self.out_packet_count.to_string(),
            ),
            (
                "rtp_audio_out_media_packet_count",
                self.out_media_packet_count.to_string(),
            ),
            (
                "rtp_audio_out_skip_packet_count",
                self.out_skip_packet_count.to_string(),
            ),
            (
                "rtp_audio_out_dtmf_packet_count",
                self.out_dtmf_packet_count.to_string(),
            ),
        ];
        if let (Some(p), Some(o)) = (self.peer_sr_packet_count, self.peer_sr_octet_count) {
            v.push(("rtp_audio_rtcp_packet_count", p.to_string()));
            v.push(("rtp_audio_rtcp_octet_count", o.to_string()));
        }
        v
    }
}

/// What kind of packet arrived, by payload type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Voice,
    Dtmf,
    ComfortNoise,
}

/// Tracks the incoming stream's sequence numbers and jitter (RFC 3550 A.1, A.3, A.8,
/// without A.1's probation: a new SSRC is believed at once, as a B2BUA must).
#[derive(Debug)]
pub(crate) struct InboundTracker {
    epoch: Instant,
    source: Option<u32>,
    max_seq: u16,
    /// Sequence number wraps times 65536.
    cycles: u32,
    base_seq: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    last_transit: Option<i32>,
    /// In timestamp units, scaled by 16 (A.8's integer form).
    jitter_x16: u32,
}

/// RFC 3550 report-block numbers for the stream we receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reception {
    pub source: u32,
    pub fraction_lost: u8,
    pub cumulative_lost: i32,
    pub extended_max: u32,
    pub jitter: u32,
}

impl InboundTracker {
    pub fn new(epoch: Instant) -> InboundTracker {
        InboundTracker {
            epoch,
            source: None,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            last_transit: None,
            jitter_x16: 0,
        }
    }

    /// One packet from the latched source; returns how many sequence numbers it
    /// jumped over (to count as skipped).
    pub fn on_packet(&mut self, now: Instant, ssrc: u32, seq: u16, ts: u32, kind: Kind) -> u64 {
        if self.source != Some(ssrc) {
            // A new stream (first packet, or the phone restarted it): start over.
            *self = InboundTracker::new(self.epoch);
            self.source = Some(ssrc);
            self.restart(seq);
        }
        self.received = self.received.wrapping_add(1);
        let delta = seq.wrapping_sub(self.max_seq);
        let mut skipped = 0;
        if delta == 0 || delta >= 0x8000 {
            // A duplicate or a late packet: no news about the sequence.
        } else if delta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(1 << 16);
            }
            self.max_seq = seq;
            skipped = u64::from(delta - 1);
        } else {
            // A big jump: the sender restarted its numbering.
            self.restart(seq);
            self.received = 1;
        }
        // Jitter over voice only: an event's timestamp is the event's start, repeated.
        if kind == Kind::Voice {
            let arrival = (now.saturating_duration_since(self.epoch).as_micros() as u64)
                .wrapping_mul(CLOCK_RATE)
                / 1_000_000;
            let transit = (arrival as u32).wrapping_sub(ts) as i32;
            if let Some(last) = self.last_transit {
                let d = transit.wrapping_sub(last).unsigned_abs();
                // J += (|D| - J) / 16, kept scaled by 16.
                self.jitter_x16 = self
                    .jitter_x16
                    .wrapping_add(d.min(1 << 20))
                    .wrapping_sub((self.jitter_x16 + 8) >> 4);
            }
            self.last_transit = Some(transit);
        }
        skipped
    }

    fn restart(&mut self, seq: u16) {
        self.max_seq = seq;
        self.cycles = 0;
        self.base_seq = u32::from(seq);
        self.received = 0;
        self.expected_prior = 0;
        self.received_prior = 0;
        self.last_transit = None;
    }

    /// Jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter_x16 >> 4
    }

    pub fn jitter_ms(&self) -> f64 {
        f64::from(self.jitter_x16) / 16.0 * 1000.0 / CLOCK_RATE as f64
    }

    /// The numbers for a report block, and the start of the next interval (A.3).
    pub fn reception(&mut self) -> Option<Reception> {
        let source = self.source?;
        let extended_max = self.cycles.wrapping_add(u32::from(self.max_seq));
        let expected = extended_max.wrapping_sub(self.base_seq).wrapping_add(1);
        let lost = i64::from(expected) - i64::from(self.received);
        let cumulative_lost = lost.clamp(-0x80_0000, 0x7F_FFFF) as i32;
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        Some(Reception {
            source,
            fraction_lost,
            cumulative_lost,
            extended_max,
            jitter: self.jitter(),
        })
    }
}

/// Timestamp units (8 kHz) to milliseconds.
pub(crate) fn ts_units_to_ms(units: u32) -> f64 {
    f64::from(units) * 1000.0 / CLOCK_RATE as f64
}
