//! One leg's media state, sans-IO: where to send (SDP address, then NAT latching),
//! what the leg is doing (idle, playing, echoing, bridged), its counters, RTP timeout
//! and RTCP schedule. The driver feeds it datagrams and `now` and does the sending.

use std::net::SocketAddr;
use std::rc::Weak;
use std::time::{Duration, Instant, SystemTime};

use crate::media::dtmf::EventSender;
use crate::media::g711;
use crate::media::pacer::{Pacer, ToneSource};
use crate::media::relay::{PayloadMap, StreamRewriter, Transcode};
use crate::media::tone::{ToneGenerator, ToneSpec};
use crate::sip::sdp::Direction;
use crate::sip::sdp::{Codec, Negotiated};

use super::driver::Leg;
use super::rtcp::{self, LastSr, SenderInfo};
use super::stats::{ts_units_to_ms, InboundTracker, Kind, RtpStats};
use super::MediaId;

/// A latched source silent this long may be replaced by a new one. Long enough that a
/// stray packet (a scan, another call's late packet reaching a reused port) cannot
/// steal a live call's media; short enough that a phone whose NAT mapping changed
/// mid-call is followed within a second.
pub(crate) const RELATCH_AFTER: Duration = Duration::from_secs(1);
/// How often we send an RTCP report (RFC 3550's recommended minimum).
pub(crate) const RTCP_INTERVAL: Duration = Duration::from_secs(5);
/// Comfort noise's static payload type (RFC 3389).
const CN: u8 = 13;

/// Symmetric RTP with latching (RFC 4961, "comedia"): send to the SDP address until
/// the leg's packets arrive, then to the address they really come from — a phone
/// behind NAT advertises a private address its packets never come from.
#[derive(Debug, Default)]
pub(crate) struct Latch {
    sdp: Option<SocketAddr>,
    latched: Option<SocketAddr>,
    last_heard: Option<Instant>,
}

/// What latching made of a packet's source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The latched source (or the first one).
    Taken,
    /// A new source replaced a silent one (or was the first): log it.
    Latched,
    /// Another source while the latched one is alive: ignore the packet.
    Ignored,
}

impl Latch {
    /// A new SDP address (first answer, re-INVITE): latching starts over.
    pub fn reset(&mut self, sdp: SocketAddr) {
        *self = Latch {
            sdp: Some(sdp),
            latched: None,
            last_heard: None,
        };
    }

    pub fn accept(&mut self, from: SocketAddr, now: Instant) -> Source {
        let result = match (self.latched, self.last_heard) {
            (Some(l), _) if l == from => Source::Taken,
            (Some(_), Some(heard)) if now.saturating_duration_since(heard) < RELATCH_AFTER => {
                return Source::Ignored;
            }
            _ => {
                self.latched = Some(from);
                Source::Latched
            }
        };
        self.last_heard = Some(now);
        result
    }

    /// Where the leg's RTP goes now.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.latched.or(self.sdp)
    }
}

/// A tone being played to the leg.
pub(crate) struct Playback {
    pub pacer: Pacer,
    pub source: ToneSource,
    pub token: u64,
}

/// What the leg's incoming packets and its timer do.
pub(crate) enum Mode {
    Idle,
    Play(Box<Playback>),
    /// Packets go back to the leg, rewritten into its own stream (None until the leg
    /// has a negotiated stream).
    Echo(Option<StreamRewriter>),
    /// Packets go to `peer`, rewritten into its stream (None until both legs have a
    /// negotiated stream). Weak: closing the peer ends the relay, and its sockets close.
    Bridged {
        peer_id: MediaId,
        peer: Weak<Leg>,
        rewriter: Option<StreamRewriter>,
    },
}

/// One leg.
pub(crate) struct LegState {
    pub id: MediaId,
    /// Our SSRC towards this leg, for everything we send it.
    pub ssrc: u32,
    pub stream: Option<Negotiated>,
    pub latch: Latch,
    /// Where the leg's RTCP comes from (its RTCP is latched like its RTP).
    rtcp_from: Option<SocketAddr>,
    pub mode: Mode,
    pub stats: RtpStats,
    inbound: InboundTracker,
    /// The last sequence number and timestamp we sent the leg, whatever the source,
    /// so a new source (tone, echo, other leg) continues the stream.
    pub last_out: Option<(u16, u32)>,
    /// The DTMF digit being sent to the leg as telephone-events (the relayed audio
    /// waits meanwhile), and the digits after it.
    pub dtmf: Option<EventSender>,
    dtmf_queue: std::collections::VecDeque<(char, u32)>,
    /// Sender counters for our RTCP SR (RFC 3550 counts payload octets).
    sent_packets: u32,
    sent_payload_octets: u32,
    sent_since_report: bool,
    last_sr: Option<(u32, Instant)>,
    last_rx: Instant,
    timeout_at: Option<Instant>,
    rtp_timeout: Option<Duration>,
    hold_timeout: Option<Duration>,
    rtcp_due: Option<Instant>,
}

impl LegState {
    pub fn new(
        id: MediaId,
        ssrc: u32,
        now: Instant,
        rtp_timeout: Option<Duration>,
        hold_timeout: Option<Duration>,
    ) -> LegState {
        LegState {
            id,
            ssrc,
            stream: None,
            latch: Latch::default(),
            rtcp_from: None,
            mode: Mode::Idle,
            stats: RtpStats::default(),
            inbound: InboundTracker::new(now),
            last_out: None,
            dtmf: None,
            dtmf_queue: std::collections::VecDeque::new(),
            sent_packets: 0,
            sent_payload_octets: 0,
            sent_since_report: false,
            last_sr: None,
            last_rx: now,
            timeout_at: None,
            rtp_timeout,
            hold_timeout,
            rtcp_due: None,
        }
    }

    /// The stream as (re)negotiated.
    pub fn set_remote(&mut self, stream: Negotiated, now: Instant) {
        self.latch.reset(stream.remote);
        self.rtcp_from = None;
        self.last_rx = now;
        self.timeout_at = self.timeout_for(&stream).map(|t| now + t);
        if self.rtcp_due.is_none() {
            self.rtcp_due = Some(now + RTCP_INTERVAL);
        }
        self.stream = Some(stream);
    }

    fn timeout_for(&self, stream: &Negotiated) -> Option<Duration> {
        if stream.direction == Direction::SendRecv {
            self.rtp_timeout
        } else {
            self.hold_timeout
        }
    }

    /// Where to send the leg's RTP, if we send it any: our direction as answered
    /// must include sending (not recvonly/inactive: the leg put us on hold).
    pub fn send_to(&self) -> Option<SocketAddr> {
        match self.stream.as_ref()?.direction {
            Direction::SendRecv | Direction::SendOnly => self.latch.destination(),
            Direction::RecvOnly | Direction::Inactive => None,
        }
    }

    /// An RTP datagram from `from`: latching, counters. False when it is to be
    /// dropped (another source, not RTP).
    pub fn on_rtp(&mut self, now: Instant, from: SocketAddr, packet: &[u8]) -> bool {
        // Only something that looks like RTP may latch.
        if packet.len() < 12 || packet[0] >> 6 != 2 || (200..=204).contains(&packet[1]) {
            self.stats.in_malformed_packet_count += 1;
            return false;
        }
        match self.latch.accept(from, now) {
            Source::Taken => {}
            Source::Latched => {
                tracing::info!(media = self.id, %from, sdp = ?self.stream.as_ref().map(|s| s.remote), "RTP latched to the address the leg sends from");
            }
            Source::Ignored => {
                self.stats.in_ignored_packet_count += 1;
                return false;
            }
        }
        let pt = packet[1] & 0x7F;
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let ts = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
        let te = self.stream.as_ref().and_then(|s| s.telephone_event);
        let kind = if Some(pt) == te {
            Kind::Dtmf
        } else if pt == CN {
            Kind::ComfortNoise
        } else {
            Kind::Voice
        };
        let len = packet.len() as u64;
        let s = &mut self.stats;
        s.in_packet_count += 1;
        s.in_raw_bytes += len;
        match kind {
            Kind::Voice => {
                s.in_media_packet_count += 1;
                s.in_media_bytes += len;
            }
            Kind::Dtmf => s.in_dtmf_packet_count += 1,
            Kind::ComfortNoise => s.in_cng_packet_count += 1,
        }
        s.in_skip_packet_count += self.inbound.on_packet(now, ssrc, seq, ts, kind);
        self.last_rx = now;
        if self.timeout_at.is_none() {
            // Re-arm after a reported timeout: the leg is talking again.
            if let Some(t) = self.stream.as_ref().and_then(|s| self.timeout_for(s)) {
                self.timeout_at = Some(now + t);
            }
        }
        true
    }

    /// Counts a packet we sent the leg (already written to the socket).
    pub fn on_sent(&mut self, packet: &[u8]) {
        if packet.len() < 12 {
            return;
        }
        let pt = packet[1] & 0x7F;
        let len = packet.len() as u64;
        let s = &mut self.stats;
        s.out_packet_count += 1;
        s.out_raw_bytes += len;
        if Some(pt) == self.stream.as_ref().and_then(|s| s.telephone_event) {
            s.out_dtmf_packet_count += 1;
        } else {
            s.out_media_packet_count += 1;
            s.out_media_bytes += len;
        }
        self.sent_packets = self.sent_packets.wrapping_add(1);
        self.sent_payload_octets = self
            .sent_payload_octets
            .wrapping_add(packet.len() as u32 - 12);
        self.sent_since_report = true;
        self.last_out = Some((
            u16::from_be_bytes([packet[2], packet[3]]),
            u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
        ));
    }

    /// An RTCP datagram on our RTCP port.
    pub fn on_rtcp(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        match rtcp::parse(data, self.ssrc) {
            Ok(r) => {
                self.stats.rtcp_packets_received += 1;
                self.stats.rtcp_octets_received += data.len() as u64;
                self.rtcp_from = Some(from);
                if let Some((lsr, packets, octets)) = r.sender_report {
                    self.last_sr = Some((lsr, now));
                    self.stats.peer_sr_packet_count = Some(packets);
                    self.stats.peer_sr_octet_count = Some(octets);
                }
                if let Some((fraction, lost, jitter)) = r.about_us {
                    self.stats.peer_fraction_lost = Some(f64::from(fraction) / 256.0);
                    self.stats.peer_cumulative_lost = Some(lost);
                    self.stats.peer_jitter_ms = Some(ts_units_to_ms(jitter));
                }
            }
            Err(why) => {
                tracing::debug!(media = self.id, %from, why, "not RTCP on the RTCP port, dropped");
            }
        }
    }

    /// When the driver must call [`LegState::on_timer`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let pacer = match &self.mode {
            Mode::Play(p) => Some(p.pacer.poll_timeout()),
            _ => None,
        };
        let dtmf = self.dtmf.as_ref().and_then(EventSender::poll_timeout);
        [pacer, dtmf, self.timeout_at, self.rtcp_due]
            .into_iter()
            .flatten()
            .min()
    }

    /// Checks the RTP timeout: true when it just expired (report it once).
    pub fn check_rtp_timeout(&mut self, now: Instant) -> bool {
        let Some(at) = self.timeout_at else {
            return false;
        };
        if now < at {
            return false;
        }
        let Some(timeout) = self.stream.as_ref().and_then(|s| self.timeout_for(s)) else {
            self.timeout_at = None;
            return false;
        };
        let due = self.last_rx + timeout;
        if now >= due {
            self.timeout_at = None;
            true
        } else {
            // Packets came meanwhile: look again when the newest would expire.
            self.timeout_at = Some(due);
            false
        }
    }

    /// If a report is due, writes it into `out` and says where it goes.
    pub fn rtcp_report(
        &mut self,
        now: Instant,
        wall: SystemTime,
        out: &mut [u8],
    ) -> Option<(usize, SocketAddr)> {
        let due = self.rtcp_due?;
        if now < due {
            return None;
        }
        // Spread reports a little (by SSRC) so a thousand calls set up together do
        // not all report in the same millisecond.
        let spread = Duration::from_millis(u64::from(self.ssrc % 500));
        self.rtcp_due = Some(now + RTCP_INTERVAL - Duration::from_millis(250) + spread);
        // RTCP goes on while the leg holds us (RFC 3264 §5.1), so not `send_to`. The
        // SDP gives no a=rtcp to us (Negotiated has none): RTP port + 1.
        let dest = match self.rtcp_from {
            Some(a) => a,
            None => {
                let rtp = self.latch.destination()?;
                SocketAddr::new(rtp.ip(), rtp.port().checked_add(1)?)
            }
        };
        let sender = self.sent_since_report.then(|| SenderInfo {
            rtp_timestamp: self.last_out.map(|(_, ts)| ts).unwrap_or(0),
            packets: self.sent_packets,
            octets: self.sent_payload_octets,
        });
        self.sent_since_report = false;
        let block = self.inbound.reception().map(|r| {
            let last = self.last_sr.map(|(lsr, at)| LastSr {
                lsr,
                age: now.saturating_duration_since(at),
            });
            (r, last)
        });
        self.stats.in_jitter_ms = self.inbound.jitter_ms();
        let n = rtcp::build_report(out, self.ssrc, rtcp::ntp_time(wall), sender, block);
        (n > 0).then_some((n, dest))
    }

    /// The statistics as they stand.
    pub fn final_stats(&mut self) -> RtpStats {
        self.stats.in_jitter_ms = self.inbound.jitter_ms();
        self.stats.clone()
    }

    /// Queues a digit to send as telephone-events; false when the leg negotiated no
    /// telephone-event, the digit is not DTMF, or the queue is full.
    pub fn queue_dtmf(&mut self, digit: char, duration_ms: u32, now: Instant) -> bool {
        const MAX_QUEUED: usize = 32;
        let has_events = self
            .stream
            .as_ref()
            .is_some_and(|s| s.telephone_event.is_some());
        if !has_events
            || crate::media::dtmf::event_code(digit).is_none()
            || self.dtmf_queue.len() >= MAX_QUEUED
        {
            return false;
        }
        self.dtmf_queue.push_back((digit, duration_ms));
        if self.dtmf.is_none() {
            self.next_dtmf(now);
        }
        true
    }

    /// Starts the next queued digit, if any.
    fn next_dtmf(&mut self, now: Instant) {
        self.dtmf = None;
        let Some(stream) = &self.stream else {
            return;
        };
        let (Some(pt), ptime) = (stream.telephone_event, stream.ptime) else {
            self.dtmf_queue.clear();
            return;
        };
        while let Some((digit, ms)) = self.dtmf_queue.pop_front() {
            self.dtmf = EventSender::new(digit, ms, pt, self.ssrc, self.last_out, ptime, now);
            if self.dtmf.is_some() {
                return;
            }
        }
    }

    /// Writes the DTMF packet due at `now`, if any, into `out`. When a digit ends, the
    /// stream continues after it and the next queued digit starts; `ended` is set so
    /// the caller can re-anchor whatever relays audio into this leg.
    pub fn dtmf_packet(&mut self, now: Instant, out: &mut [u8], ended: &mut bool) -> Option<usize> {
        loop {
            let sender = self.dtmf.as_mut()?;
            if let Some(n) = sender.handle_timeout(now, out) {
                return Some(n);
            }
            if sender.poll_timeout().is_some() {
                return None;
            }
            self.last_out = Some(sender.stream_after());
            *ended = true;
            self.next_dtmf(now);
        }
    }

    /// A paced tone for this leg in its codec, payload type and ptime, continuing its
    /// stream's sequence numbers and timestamps.
    pub fn playback(&self, tone: ToneSpec, token: u64, now: Instant) -> Playback {
        let (codec, pt, ptime) = match &self.stream {
            Some(s) => (s.codec, s.payload_type, s.ptime),
            None => (Codec::Pcmu, 0, 20),
        };
        let ptime = ptime.clamp(10, 60);
        let encode: fn(i16) -> u8 = match codec {
            Codec::Pcmu => g711::ulaw_encode,
            Codec::Pcma => g711::alaw_encode,
        };
        let (seq, ts) = match self.last_out {
            Some((s, t)) => (s.wrapping_add(1), t.wrapping_add(8 * ptime)),
            None => (self.ssrc as u16, self.ssrc.rotate_left(16)),
        };
        Playback {
            pacer: Pacer::new(now, ptime, pt, self.ssrc, seq, ts),
            source: ToneSource::new(ToneGenerator::new(tone), encode, 8 * ptime as usize),
            token,
        }
    }
}

/// How packets from a leg with stream `from` become packets for a leg with stream
/// `to`: payload types, PCMU <-> PCMA, telephone-event when both have it.
pub(crate) fn payload_map(from: &Negotiated, to: &Negotiated) -> PayloadMap {
    PayloadMap {
        voice_in: from.payload_type,
        voice_out: to.payload_type,
        transcode: match (from.codec, to.codec) {
            (Codec::Pcmu, Codec::Pcma) => Some(Transcode::UlawToAlaw),
            (Codec::Pcma, Codec::Pcmu) => Some(Transcode::AlawToUlaw),
            _ => None,
        },
        events: from.telephone_event.zip(to.telephone_event),
    }
}

/// A rewriter into a stream with SSRC `out_ssrc` whose last packet was `last_out`.
///
/// StreamRewriter continues its own output, but knows nothing of what the leg got
/// before it existed (a tone, another bridge). So we prime it with one synthetic
/// packet carrying the leg's last sequence number and timestamp: the real source then
/// counts as a new source and continues one packet on, with the marker bit, instead of
/// jumping to the source's own numbers. The synthetic packet goes nowhere and is taken
/// off the rewriter's counter.
pub(crate) fn rewriter(
    out_ssrc: u32,
    map: PayloadMap,
    last_out: Option<(u16, u32)>,
) -> StreamRewriter {
    let mut rw = StreamRewriter::new(out_ssrc, map);
    if let Some((seq, ts)) = last_out {
        let mut p = [0u8; 13];
        p[0] = 0x80;
        p[1] = map.voice_in & 0x7F;
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p[4..8].copy_from_slice(&ts.to_be_bytes());
        // An SSRC no real source has with any likelihood worth a branch: ours, inverted.
        p[8..12].copy_from_slice(&(!out_ssrc).to_be_bytes());
        if rw.rewrite(&mut p).is_ok() {
            rw.relayed = rw.relayed.saturating_sub(1);
        }
    }
    rw
}
