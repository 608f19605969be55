//! The media engine: anchors each call leg's RTP on a port pair of ours, and plays to
//! it, echoes it, or relays it to another leg.
//!
//! It runs on its own OS thread — one loop (io_uring, or epoll) over every leg's sockets — so RTP
//! (50 packets a second each way per leg) never waits behind SIP signalling on the main
//! runtime, and the hot path needs no locks: every session lives on that one thread
//! (`Rc`/`RefCell`). The switch talks to it through [`MediaEngine`]
//! (cheap to clone, any thread): [`MediaEngine::open`] binds the ports at once (the
//! address goes into our SDP), the rest are [`MediaCommand`]s over a channel, and
//! [`MediaEvent`]s come back.
//!
//! The parts: `ports` (the port range), `session` (one leg's state: latching, modes,
//! counters — sans-IO), `stats` (RTP statistics and FreeSWITCH's CDR variables),
//! `rtcp` (reports in and out), `driver` (the thread, the sockets and the timers),
//! `backend` (which of two backends the thread runs on), `uring` (io_uring: multishot
//! receives, batched sends) and `poll` (epoll, eventfd and recvmmsg): the engine's only
//! unsafe code is in these last two.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::media::tone::ToneSpec;
use crate::sip::sdp::Negotiated;

mod backend;
mod driver;
mod poll;
mod ports;
mod rtcp;
mod session;
mod stats;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod uring;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[path = "uring_unsupported.rs"]
mod uring;

#[cfg(test)]
mod tests;

pub use stats::RtpStats;

/// The switch's key for one channel's media session.
pub type MediaId = u64;

/// The engine's settings (FreeSWITCH's `rtp-ip`, `rtp-start-port`/`rtp-end-port`,
/// `rtp-timeout-sec`, `rtp-hold-timeout-sec`).
#[derive(Clone, Debug)]
pub struct MediaConfig {
    /// The address RTP is bound to and advertised in our SDP.
    pub rtp_ip: IpAddr,
    /// The port range; each session takes an even RTP port and the odd one above it.
    pub port_min: u16,
    pub port_max: u16,
    /// No RTP from a leg for this long: [`MediaEvent::RtpTimeout`]. None: never.
    pub rtp_timeout: Option<Duration>,
    /// The same while the leg is on hold (its stream not sendrecv).
    pub hold_timeout: Option<Duration>,
    /// At most this many sessions open at once (memory and CPU stay bounded).
    pub max_sessions: usize,
}

/// What the switch asks the media thread to do.
#[derive(Debug)]
pub enum MediaCommand {
    /// The far end's stream as negotiated (first time, or changed by a re-INVITE: hold
    /// is our direction recvonly/inactive — then nothing is sent to it, and the hold
    /// timeout applies instead of rtp_timeout). Latching starts over.
    Remote { id: MediaId, stream: Negotiated },
    /// Play a tone_stream/silence_stream to the leg with the paced sender; when it
    /// ends, [`MediaEvent::PlaybackDone`] with this token. Replaces whatever the leg
    /// was doing (a bridge is broken, both legs idle); a playback replaced by another
    /// command also reports PlaybackDone, since the application playing it is over.
    Play {
        id: MediaId,
        tone: ToneSpec,
        token: u64,
    },
    /// Send each received packet straight back (FreeSWITCH's echo app), with the
    /// session's own SSRC and sequence numbers.
    Echo { id: MediaId },
    /// Relay both ways between two sessions (anchored media), each direction through
    /// its own StreamRewriter into the other leg's SSRC/seq/ts space, payload types and
    /// codec. Either leg's earlier bridge is broken first.
    Bridge { a: MediaId, b: MediaId },
    /// Send a DTMF digit to a leg as RFC 4733 telephone-events in its stream (a digit
    /// that came in a SIP INFO from the other leg, or `uuid_send_dtmf`). The audio
    /// relayed to it pauses while the event plays; digits queue (at most 32). Ignored
    /// for a leg that negotiated no telephone-event, or that plays a tone or echoes.
    Dtmf {
        id: MediaId,
        digit: char,
        duration_ms: u32,
    },
    /// Stop playing/echoing/relaying; the session stays open and silent (park, after
    /// unbridge). Idle on one leg of a bridge idles both.
    Idle { id: MediaId },
    /// Free the ports; the session's statistics go back on `reply` once its sockets
    /// are closed (so the port pair is free again when the reply arrives).
    Close {
        id: MediaId,
        reply: oneshot::Sender<RtpStats>,
    },
}

/// What the media thread tells the switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaEvent {
    PlaybackDone {
        id: MediaId,
        token: u64,
    },
    /// No RTP from the leg for rtp_timeout (or hold_timeout while on hold): the switch
    /// hangs the call up with MEDIA_TIMEOUT. Reported once per silence.
    RtpTimeout {
        id: MediaId,
    },
}

/// The engine's limits and how close it is to them (for `status`, DESIGN principle 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaStatus {
    /// Sessions open (each holds one RTP/RTCP port pair).
    pub sessions: usize,
    pub max_sessions: usize,
    /// Port pairs the range holds.
    pub port_pairs: usize,
    /// Opens refused since start: range exhausted or max_sessions reached.
    pub refused_opens: u64,
}

/// What goes over the channel to the media thread.
#[derive(Debug)]
enum Request {
    /// A session whose sockets `open` bound.
    Open {
        id: MediaId,
        rtp: std::net::UdpSocket,
        rtcp: std::net::UdpSocket,
    },
    Command(MediaCommand),
}

struct Shared {
    requests: mpsc::UnboundedSender<Request>,
    /// Wakes the media thread's loop when requests are waiting.
    bell: Arc<poll::Bell>,
    /// Requests queued since the last wake-up.
    pending: std::sync::atomic::AtomicBool,
    ports: Arc<Mutex<ports::PortTable>>,
}

/// The switch's handle on the media thread. Cheap to clone; usable from any
/// thread/tokio runtime. The thread ends when the last handle is dropped.
#[derive(Clone)]
pub struct MediaEngine {
    shared: Arc<Shared>,
}

impl MediaEngine {
    /// Starts the media thread (its own OS thread running its own current-thread tokio
    /// runtime, so RTP never competes with SIP signalling on the main runtime). Events
    /// come back on the receiver.
    pub fn start(
        config: MediaConfig,
    ) -> io::Result<(MediaEngine, mpsc::UnboundedReceiver<MediaEvent>)> {
        if config.port_min > config.port_max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "media: RTP port range {}-{} is empty",
                    config.port_min, config.port_max
                ),
            ));
        }
        let ports = Arc::new(Mutex::new(ports::PortTable::new(
            config.rtp_ip,
            config.port_min,
            config.port_max,
            config.max_sessions,
        )));
        let (requests, request_rx) = mpsc::unbounded_channel();
        let (events, event_rx) = mpsc::unbounded_channel();
        let bell = Arc::new(poll::Bell::new()?);
        driver::spawn(
            config,
            request_rx,
            events,
            Arc::clone(&ports),
            Arc::clone(&bell),
        )?;
        Ok((
            MediaEngine {
                shared: Arc::new(Shared {
                    requests,
                    bell,
                    pending: std::sync::atomic::AtomicBool::new(false),
                    ports,
                }),
            },
            event_rx,
        ))
    }

    /// Allocates an RTP port (even) + RTCP port (odd) pair from the range, binds both
    /// on rtp_ip, and creates an idle session. Returns the local RTP address to put in
    /// our SDP. Errors clearly when the range is exhausted or max_sessions reached.
    pub fn open(&self, id: MediaId) -> io::Result<SocketAddr> {
        let local = self.open_deferred(id)?;
        self.wake();
        Ok(local)
    }

    /// [`open`](Self::open) without waking the media thread: for a caller that queues
    /// several requests and then calls [`wake`](Self::wake) once (each wake-up is a
    /// system call on the signalling thread).
    pub fn open_deferred(&self, id: MediaId) -> io::Result<SocketAddr> {
        let mut table = self
            .shared
            .ports
            .lock()
            .map_err(|_| io::Error::other("media: port table poisoned"))?;
        let (rtp, rtcp) = table.open(id)?;
        let local = rtp.local_addr()?;
        if self
            .shared
            .requests
            .send(Request::Open { id, rtp, rtcp })
            .is_err()
        {
            table.close(id);
            return Err(io::Error::other("media: the media thread has stopped"));
        }
        self.shared
            .pending
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(local)
    }

    /// Sessions open, limits, refusals.
    pub fn status(&self) -> MediaStatus {
        match self.shared.ports.lock() {
            Ok(table) => table.status(),
            Err(poisoned) => poisoned.into_inner().status(),
        }
    }

    /// Hands a command to the media thread (never blocks). A command for a session
    /// that is not open is ignored there, with a debug log.
    pub fn send(&self, cmd: MediaCommand) {
        self.send_deferred(cmd);
        self.wake();
    }

    /// [`send`](Self::send) without waking the media thread (see
    /// [`open_deferred`](Self::open_deferred)).
    pub fn send_deferred(&self, cmd: MediaCommand) {
        if let Err(e) = self.shared.requests.send(Request::Command(cmd)) {
            tracing::warn!(command = ?e.0, "media thread has stopped; command dropped");
            return;
        }
        self.shared
            .pending
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Wakes the media thread to take the requests queued so far (nothing when none
    /// is: the driver calls this after every SIP message).
    pub fn wake(&self) {
        if self
            .shared
            .pending
            .swap(false, std::sync::atomic::Ordering::AcqRel)
        {
            self.shared.bell.ring();
        }
    }
}
