//! The paced sender: the media a call's own applications make (`playback` of a tone,
//! silence, `echo`'s replies) leave as one RTP packet every ptime, with the stream's
//! own SSRC, sequence and timestamp. Sans-IO like the rest: `poll_timeout` says when
//! the next packet is due, `handle_timeout(now)` writes it into the caller's buffer.
//!
//! When the driver wakes late (a busy box), the packets due meanwhile go out at once,
//! up to [`MAX_CATCH_UP`]; beyond that the stream skips ahead (sequence numbers and
//! timestamps move on as if the packets had been lost), so the far end's jitter
//! buffer sees a gap, not a burst.

use std::time::{Duration, Instant};

/// At most this many overdue packets are sent back to back.
pub const MAX_CATCH_UP: u32 = 3;
/// RTP header without CSRCs or extension.
pub const HEADER_LEN: usize = 12;

/// Where a packet's payload comes from.
pub trait FrameSource {
    /// Writes one frame of payload (already encoded) and returns its length; 0 when
    /// the source has nothing more.
    fn next_frame(&mut self, payload: &mut [u8]) -> usize;
}

#[derive(Debug)]
pub struct Pacer {
    ptime: Duration,
    samples_per_packet: u32,
    payload_type: u8,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    next_due: Instant,
    /// The first packet of a stream carries the marker bit.
    first: bool,
    pub sent: u64,
    pub skipped: u64,
}

impl Pacer {
    /// A stream starting now, `ptime` ms per packet at 8 kHz.
    pub fn new(
        now: Instant,
        ptime_ms: u32,
        payload_type: u8,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
    ) -> Pacer {
        Pacer {
            ptime: Duration::from_millis(u64::from(ptime_ms.max(10))),
            samples_per_packet: 8 * ptime_ms.max(10),
            payload_type,
            ssrc,
            seq,
            timestamp,
            next_due: now,
            first: true,
            sent: 0,
            skipped: 0,
        }
    }

    pub fn poll_timeout(&self) -> Instant {
        self.next_due
    }

    /// If a packet is due at `now`, writes it into `out` (header + payload) and
    /// returns its length. Call again until it returns None: several may be due.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        source: &mut dyn FrameSource,
        out: &mut [u8],
    ) -> Option<usize> {
        if now < self.next_due || out.len() <= HEADER_LEN {
            return None;
        }
        let behind = now.duration_since(self.next_due).as_nanos() / self.ptime.as_nanos().max(1);
        if behind > u128::from(MAX_CATCH_UP) {
            // Too late to catch up: leave a gap of the packets we will never send.
            let skip = u32::try_from(behind).unwrap_or(u32::MAX) - MAX_CATCH_UP;
            self.seq = self.seq.wrapping_add(skip as u16);
            self.timestamp = self
                .timestamp
                .wrapping_add(skip.wrapping_mul(self.samples_per_packet));
            self.next_due += self.ptime * skip;
            self.skipped += u64::from(skip);
        }
        let len = source.next_frame(&mut out[HEADER_LEN..]);
        if len == 0 {
            return None;
        }
        out[0] = 0x80;
        out[1] = self.payload_type | if self.first { 0x80 } else { 0 };
        out[2..4].copy_from_slice(&self.seq.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        self.first = false;
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(self.samples_per_packet);
        self.next_due += self.ptime;
        self.sent += 1;
        Some(HEADER_LEN + len)
    }
}

/// A tone or silence as G.711 frames.
pub struct ToneSource {
    generator: super::tone::ToneGenerator,
    encode: fn(i16) -> u8,
    samples: Vec<i16>,
}

impl ToneSource {
    pub fn new(
        generator: super::tone::ToneGenerator,
        encode: fn(i16) -> u8,
        frame_samples: usize,
    ) -> ToneSource {
        ToneSource {
            generator,
            encode,
            samples: vec![0; frame_samples],
        }
    }
}

impl FrameSource for ToneSource {
    fn next_frame(&mut self, payload: &mut [u8]) -> usize {
        let n = self.samples.len().min(payload.len());
        let got = self.generator.fill(&mut self.samples[..n]);
        if got == 0 {
            return 0;
        }
        // A short last frame is padded with silence: every packet is ptime long.
        self.samples[got..n].fill(0);
        for (b, &s) in payload[..n].iter_mut().zip(&self.samples[..n]) {
            *b = (self.encode)(s);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::super::g711;
    use super::super::tone::{ToneGenerator, ToneSpec};
    use super::*;

    fn tone(spec: &str) -> ToneSource {
        ToneSource::new(
            ToneGenerator::new(ToneSpec::parse(spec).unwrap()),
            g711::ulaw_encode,
            160,
        )
    }

    fn header(p: &[u8]) -> (bool, u8, u16, u32) {
        (
            p[1] & 0x80 != 0,
            p[1] & 0x7f,
            u16::from_be_bytes([p[2], p[3]]),
            u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        )
    }

    #[test]
    fn one_packet_every_20_ms_under_a_virtual_clock() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, 20, 0, 0x1234, 100, 8000);
        let mut src = tone("tone_stream://%(1000,0,440)");
        let mut buf = [0u8; 1500];
        let mut sent = Vec::new();
        let mut now = t0;
        while now < t0 + Duration::from_millis(1000) {
            while let Some(n) = pacer.handle_timeout(now, &mut src, &mut buf) {
                assert_eq!(n, HEADER_LEN + 160);
                sent.push((now - t0, header(&buf)));
            }
            now = pacer.poll_timeout();
        }
        assert_eq!(sent.len(), 50, "1 s of 20 ms packets");
        for (i, (at, (marker, pt, seq, ts))) in sent.iter().enumerate() {
            assert_eq!(*at, Duration::from_millis(20 * i as u64));
            assert_eq!((*marker, *pt), (i == 0, 0));
            assert_eq!(*seq, 100 + i as u16);
            assert_eq!(*ts, 8000 + 160 * i as u32);
        }
        // The tone was 1 s: the source is dry and nothing more goes out.
        assert!(pacer.handle_timeout(now, &mut src, &mut buf).is_none());
    }

    #[test]
    fn a_late_wake_up_catches_up_a_little_then_skips() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, 20, 8, 1, 0, 0);
        let mut src = tone("silence_stream://10000");
        let mut buf = [0u8; 1500];
        assert!(pacer.handle_timeout(t0, &mut src, &mut buf).is_some());
        // Woken 30 ms late: the packet due at 20 ms and the one due at 40 ms.
        let late = t0 + Duration::from_millis(50);
        let mut burst = 0;
        while pacer.handle_timeout(late, &mut src, &mut buf).is_some() {
            burst += 1;
        }
        assert_eq!(burst, 2);
        // Woken 300 ms late: at most MAX_CATCH_UP + 1 back to back, the rest skipped.
        let very_late = t0 + Duration::from_millis(360);
        let mut seqs = Vec::new();
        while pacer
            .handle_timeout(very_late, &mut src, &mut buf)
            .is_some()
        {
            seqs.push(header(&buf).2);
        }
        assert_eq!(seqs.len(), MAX_CATCH_UP as usize + 1);
        assert_eq!(pacer.skipped, 12);
        // Sequence numbers and timestamps moved on over the gap.
        assert_eq!(seqs[0], 3 + 12);
        assert_eq!(header(&buf).3, 160 * u32::from(*seqs.last().unwrap()));
    }

    #[test]
    fn a_short_last_frame_is_padded_with_silence() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, 20, 0, 1, 0, 0);
        let mut src = tone("tone_stream://%(30,0,440)");
        let mut buf = [0u8; 1500];
        let first = pacer.handle_timeout(t0, &mut src, &mut buf);
        let second = pacer.handle_timeout(t0 + Duration::from_millis(20), &mut src, &mut buf);
        assert_eq!((first, second), (Some(172), Some(172)));
        assert!(buf[12 + 80..172].iter().all(|&b| b == g711::ulaw_encode(0)));
        assert_eq!(
            pacer.handle_timeout(t0 + Duration::from_millis(40), &mut src, &mut buf),
            None
        );
    }
}
