//! DTMF into RTP as telephone-events (RFC 4733, which replaced RFC 2833): a digit that
//! arrived some other way (a SIP INFO) sent to a leg that takes its digits in the media.
//!
//! Sans-IO like the pacer: `poll_timeout` says when the next packet is due,
//! `handle_timeout(now)` writes it. One event is a run of packets a ptime apart, all
//! with the event's start timestamp and a growing duration; the first carries the
//! marker bit; the last (E bit) is sent three times (§2.5.1.4), each with its own
//! sequence number. The packets continue the leg's own stream (SSRC, sequence), and
//! the audio after the event continues from its end ([`EventSender::stream_after`]).

use std::time::{Duration, Instant};

use super::pacer::HEADER_LEN;

/// How often the final packet goes out.
const END_REPEATS: u8 = 3;
/// The events' volume: -10 dBm0, as phones send it.
const VOLUME: u8 = 10;
/// Shortest and longest event we send (ms): shorter ones are not recognised, longer
/// ones would hold the leg's audio back.
const MIN_MS: u32 = 40;
const MAX_MS: u32 = 5000;

/// The RFC 4733 event code of a DTMF digit (0-9, *, #, A-D).
pub fn event_code(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

/// One digit being sent.
#[derive(Debug)]
pub struct EventSender {
    event: u8,
    payload_type: u8,
    ssrc: u32,
    /// Next sequence number.
    seq: u16,
    /// The event's start, in every packet.
    timestamp: u32,
    /// Samples per packet.
    step: u32,
    ptime: Duration,
    /// The whole event, in samples.
    total: u32,
    /// Duration in the last packet sent.
    sent: u32,
    ends_sent: u8,
    next_due: Instant,
}

impl EventSender {
    /// The digit as events on a stream whose last packet had `last_out` (sequence,
    /// timestamp), `ptime_ms` per packet at 8 kHz. None for a character that is no
    /// DTMF digit.
    pub fn new(
        digit: char,
        duration_ms: u32,
        payload_type: u8,
        ssrc: u32,
        last_out: Option<(u16, u32)>,
        ptime_ms: u32,
        now: Instant,
    ) -> Option<EventSender> {
        let event = event_code(digit)?;
        let ptime_ms = ptime_ms.clamp(10, 60);
        let step = 8 * ptime_ms;
        let (seq, timestamp) = match last_out {
            Some((s, t)) => (s.wrapping_add(1), t.wrapping_add(step)),
            None => (ssrc as u16, ssrc.rotate_left(16)),
        };
        Some(EventSender {
            event,
            payload_type: payload_type & 0x7F,
            ssrc,
            seq,
            timestamp,
            step,
            ptime: Duration::from_millis(u64::from(ptime_ms)),
            total: 8 * duration_ms.clamp(MIN_MS, MAX_MS),
            sent: 0,
            ends_sent: 0,
            next_due: now,
        })
    }

    /// When the next packet is due; None once the event is over.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.ends_sent < END_REPEATS).then_some(self.next_due)
    }

    /// If a packet is due at `now`, writes it into `out` and returns its length.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        if now < self.poll_timeout()? || out.len() < HEADER_LEN + 4 {
            return None;
        }
        let first = self.sent == 0;
        self.sent = (self.sent + self.step).min(self.total);
        let end = self.sent == self.total;
        out[0] = 0x80;
        out[1] = self.payload_type | if first { 0x80 } else { 0 };
        out[2..4].copy_from_slice(&self.seq.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        out[12] = self.event;
        out[13] = if end { 0x80 } else { 0 } | VOLUME;
        // The duration field is 16 bits; MAX_MS keeps it below 65536 samples.
        out[14..16].copy_from_slice(&(self.sent as u16).to_be_bytes());
        self.seq = self.seq.wrapping_add(1);
        if end {
            self.ends_sent += 1;
        }
        self.next_due += self.ptime;
        // A late wake-up does not send a burst: the next packet is a ptime from now.
        if self.next_due < now {
            self.next_due = now + self.ptime;
        }
        Some(HEADER_LEN + 4)
    }

    /// Where the leg's stream stands after the event, for the audio that follows it:
    /// its last sequence number, and the timestamp of the last packet's worth of
    /// samples the event covered (the next packet continues one step on, past its end).
    pub fn stream_after(&self) -> (u16, u32) {
        let covered = self.sent.max(self.step);
        (
            self.seq.wrapping_sub(1),
            self.timestamp.wrapping_add(covered - self.step),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(s: &mut EventSender, t0: Instant, ms: u64) -> Vec<(Duration, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        for t in 0..=ms {
            let now = t0 + Duration::from_millis(t);
            while let Some(n) = s.handle_timeout(now, &mut buf) {
                out.push((now - t0, buf[..n].to_vec()));
            }
        }
        out
    }

    #[test]
    fn a_digit_is_a_run_of_events_then_three_ends_continuing_the_stream() {
        let t0 = Instant::now();
        let mut s = EventSender::new('5', 100, 101, 0xAABBCCDD, Some((999, 16_000)), 20, t0)
            .expect("a digit");
        let sent = packets(&mut s, t0, 500);
        // 100 ms at 20 ms: durations 160..800, the last (800) three times.
        let durations: Vec<u16> = sent
            .iter()
            .map(|(_, p)| u16::from_be_bytes([p[14], p[15]]))
            .collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        for (i, (at, p)) in sent.iter().enumerate() {
            assert_eq!(*at, Duration::from_millis(20 * i as u64), "paced");
            assert_eq!(p.len(), 16);
            assert_eq!(p[1] & 0x7F, 101);
            assert_eq!(p[1] & 0x80 != 0, i == 0, "marker on the first only");
            assert_eq!(u16::from_be_bytes([p[2], p[3]]), 1000 + i as u16);
            assert_eq!(u32::from_be_bytes([p[4], p[5], p[6], p[7]]), 16_160);
            assert_eq!(u32::from_be_bytes([p[8], p[9], p[10], p[11]]), 0xAABBCCDD);
            assert_eq!(p[12], 5);
            assert_eq!(p[13] & 0x80 != 0, i >= 4, "E bit on the final three");
            assert_eq!(p[13] & 0x3F, VOLUME);
        }
        assert_eq!(s.poll_timeout(), None);
        // Audio goes on from the event's end: next packet seq 1007, ts 16160 + 800.
        let (seq, ts) = s.stream_after();
        assert_eq!((seq.wrapping_add(1), ts.wrapping_add(160)), (1007, 16_960));
    }

    #[test]
    fn digits_map_to_rfc_4733_codes_and_others_are_refused() {
        let codes: Vec<u8> = "0123456789*#ABCDd"
            .chars()
            .map(|c| event_code(c).unwrap())
            .collect();
        assert_eq!(
            codes,
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15]
        );
        assert!(EventSender::new('x', 100, 101, 1, None, 20, Instant::now()).is_none());
    }

    #[test]
    fn a_late_wake_up_sends_one_packet_not_a_burst() {
        let t0 = Instant::now();
        let mut s = EventSender::new('1', 200, 101, 1, None, 20, t0).unwrap();
        let mut buf = [0u8; 32];
        assert!(s.handle_timeout(t0, &mut buf).is_some());
        let late = t0 + Duration::from_millis(90);
        assert!(s.handle_timeout(late, &mut buf).is_some());
        assert!(s.handle_timeout(late, &mut buf).is_none());
        assert_eq!(s.poll_timeout(), Some(late + Duration::from_millis(20)));
    }
}
