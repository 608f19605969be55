//! The IO loop of the SIP side: every profile's sockets and timers in, the sans-IO
//! cores and the switch in the middle, sockets, media commands and the store out. One
//! task owns them all, so nothing is locked and a call can cross profiles (a phone on
//! `internal` to a carrier on `external`) without a message between tasks.

use super::cdr_writer::CdrRequest;
use crate::esl::EslEvent;
use crate::media::engine::{MediaCommand, MediaEngine, MediaEvent, RtpStats};
use crate::sip::core::{CoreNotice, SipCore, StoreOp};
use crate::sip::profiles::Profiles;
use crate::sip::transaction::{Peer, TransportKind};
use crate::sip::transport::tcp;
use crate::sip::transport::udp::{self, UdpEndpoint};
use crate::sip::transport::StreamEvent;
use crate::store::{Binding, Durability, Tree};
use crate::switch::{Clock, MediaId, MediaNotice, MediaOp, Switch};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// A read-only look at one profile's core, run on the driver's task (API commands).
pub type CoreJob = Box<dyn FnOnce(&SipCore) -> String + Send>;

/// A command on a profile's core (register or forget a gateway, ...).
pub type CoreJobMut = Box<dyn FnOnce(&mut SipCore, Instant) -> String + Send>;

/// An API command on calls: runs on the driver's task with the cores and the switch.
pub type SwitchJob = Box<dyn FnOnce(&mut Profiles, &mut Switch, Clock) -> Reply + Send>;

/// A switch job's answer: at once, or when the call it started says (originate).
pub enum Reply {
    Now(String),
    Later(oneshot::Receiver<String>),
}

enum Job {
    Core(usize, CoreJob),
    CoreMut(usize, CoreJobMut),
    Switch(SwitchJob),
}

/// A query to the driver with the channel its answer goes back on.
pub struct CoreQuery {
    job: Job,
    reply: oneshot::Sender<Reply>,
}

/// Handle for API commands to query a running profile.
#[derive(Clone)]
pub struct ProfileHandle {
    pub name: String,
    /// The profile's place among the driver's cores.
    pub index: usize,
    pub queries: mpsc::Sender<CoreQuery>,
}

impl ProfileHandle {
    /// Runs `job` against the profile's core and returns its output.
    pub async fn query(&self, job: CoreJob) -> Result<String, String> {
        self.ask(Job::Core(self.index, job)).await
    }

    /// Runs `look` against the profile's core and hands back what it returns.
    pub async fn inspect<T: Send + 'static>(
        &self,
        look: impl FnOnce(&SipCore) -> T + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = oneshot::channel();
        self.query(Box::new(move |core: &SipCore| {
            let _ = tx.send(look(core));
            String::new()
        }))
        .await?;
        rx.await
            .map_err(|_| format!("profile {} did not answer", self.name))
    }

    /// Runs `job` on the profile's core, which it may change.
    pub async fn command(&self, job: CoreJobMut) -> Result<String, String> {
        self.ask(Job::CoreMut(self.index, job)).await
    }

    /// Runs `job` against the profile's core and switch (channels, originate).
    pub async fn calls(&self, job: SwitchJob) -> Result<String, String> {
        self.ask(Job::Switch(job)).await
    }

    async fn ask(&self, job: Job) -> Result<String, String> {
        let (reply, rx) = oneshot::channel();
        self.queries
            .send(CoreQuery { job, reply })
            .await
            .map_err(|_| format!("profile {} is not running", self.name))?;
        match rx.await {
            Ok(Reply::Now(s)) => Ok(s),
            Ok(Reply::Later(later)) => later
                .await
                .map_err(|_| "-ERR the call ended before it was answered\n".to_string()),
            Err(_) => Err(format!("profile {} did not answer", self.name)),
        }
    }
}

/// One profile's transports.
pub struct ProfileIo {
    pub udp: Option<Arc<UdpEndpoint>>,
    /// Its TCP connections' messages.
    pub streams: mpsc::Receiver<StreamEvent>,
    /// Where to write to each TCP peer.
    writers: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    /// For connections we open (a trunk over TCP): where their events go, and their
    /// limits.
    connect: (mpsc::Sender<StreamEvent>, tcp::TcpLimits),
}

impl ProfileIo {
    pub fn new(
        udp: Option<Arc<UdpEndpoint>>,
        streams: (mpsc::Sender<StreamEvent>, mpsc::Receiver<StreamEvent>),
        limits: tcp::TcpLimits,
    ) -> ProfileIo {
        ProfileIo {
            udp,
            streams: streams.1,
            writers: HashMap::new(),
            connect: (streams.0, limits),
        }
    }

    /// The connection to `peer`, opened when there is none.
    fn writer(&mut self, peer: SocketAddr) -> &mpsc::Sender<Vec<u8>> {
        let (events, limits) = &self.connect;
        self.writers
            .entry(peer)
            .or_insert_with(|| tcp::connect(peer, *limits, events.clone()))
    }
}

/// What woke the driver up on a profile's transports.
enum Wake {
    Datagrams(usize),
    Stream(usize, StreamEvent),
}

pub struct Driver {
    /// Every profile's core; `io[i]` is the transports of `sip[i]`.
    pub sip: Profiles,
    pub io: Vec<ProfileIo>,
    pub switch: Switch,
    pub media: MediaEngine,
    pub media_events: mpsc::UnboundedReceiver<MediaEvent>,
    /// Channel events for event socket clients.
    pub events: broadcast::Sender<EslEvent>,
    pub cdrs: std::sync::mpsc::Sender<CdrRequest>,
    /// Legs whose records are durable: their BYEs may be answered.
    pub durable: mpsc::UnboundedReceiver<crate::sip::dialog::LegId>,
    /// Where each closed media session's statistics will arrive, until its CDR goes.
    pub stats_for: HashMap<MediaId, oneshot::Receiver<RtpStats>>,
    pub queries: mpsc::Receiver<CoreQuery>,
    pub registrations: Tree<Binding>,
    pub shutdown: watch::Receiver<bool>,
    /// Banned sources are dropped before parsing; failures are reported to it.
    pub guard: Arc<super::guard::Guard>,
}

pub fn unix_ms() -> u64 {
    unix_us() / 1000
}

pub fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn clock() -> Clock {
    Clock {
        now: Instant::now(),
        unix_us: unix_us(),
    }
}

/// Datagrams handled per wake-up before yielding to timers and other sources.
const BATCH: usize = 64;

/// How long to keep reading an empty socket before sleeping in the event loop. Under
/// load the peer's next datagram is closer than that, and a sleep costs more than the
/// wait: the event loop's round trip, and on a VM the halted vCPU's wake-up.
const BUSY_POLL: Duration = Duration::from_micros(200);

impl Driver {
    pub async fn run(mut self) {
        let mut buf = vec![0u8; udp::MAX_DATAGRAM];
        let far = Duration::from_secs(3600);
        let mut next_io = 0;
        loop {
            let cores = self.sip.iter().filter_map(SipCore::poll_timeout).min();
            let deadline = match (cores, self.switch.poll_timeout()) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or_else(|| Instant::now() + far),
            };
            tokio::select! {
                wake = std::future::poll_fn(|cx| poll_transports(&mut self.io, next_io, cx)) => match wake {
                    Wake::Datagrams(i) => {
                        next_io = i + 1;
                        self.read_datagrams(i, &mut buf).await
                    }
                    Wake::Stream(i, ev) => {
                        next_io = i + 1;
                        self.on_stream(i, ev)
                    }
                },
                Some(q) = self.queries.recv() => {
                    let answer = match q.job {
                        Job::Core(i, job) => Reply::Now(match self.sip.get(i) {
                            Some(core) => job(core),
                            None => String::from("-ERR no such profile\n"),
                        }),
                        Job::CoreMut(i, job) => Reply::Now(match self.sip.get_mut(i) {
                            Some(core) => job(core, Instant::now()),
                            None => String::from("-ERR no such profile\n"),
                        }),
                        Job::Switch(job) => job(&mut self.sip, &mut self.switch, clock()),
                    };
                    let _ = q.reply.send(answer);
                }
                Some(leg) = self.durable.recv() => {
                    self.sip.acknowledge_bye(leg, Instant::now());
                }
                Some(ev) = self.media_events.recv() => {
                    let notice = match ev {
                        MediaEvent::PlaybackDone { id, token } => MediaNotice::PlaybackDone { id, token },
                        MediaEvent::RtpTimeout { id } => MediaNotice::RtpTimeout { id },
                    };
                    self.switch.on_media(notice, &mut self.sip, clock());
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let c = clock();
                    for core in self.sip.iter_mut() {
                        core.handle_timeout(c.now, c.unix_us / 1000);
                    }
                    self.switch.handle_timeout(&mut self.sip, c);
                }
                _ = self.shutdown.changed() => break,
            }
            self.run_switch();
            self.flush_outputs().await;
        }
        self.flush_outputs().await;
    }

    fn on_stream(&mut self, i: usize, ev: StreamEvent) {
        let Some(io) = self.io.get_mut(i) else {
            return;
        };
        match ev {
            StreamEvent::Opened { peer, writer } => {
                io.writers.insert(peer, writer);
            }
            StreamEvent::Closed { peer } => {
                io.writers.remove(&peer);
            }
            StreamEvent::Message { peer, bytes } => {
                if !self.guard.admit(peer.ip()) {
                    return;
                }
                let peer = Peer {
                    addr: peer,
                    transport: TransportKind::Tcp,
                };
                if let Some(core) = self.sip.get_mut(i) {
                    core.handle_message(&bytes, peer, Instant::now(), unix_ms());
                }
            }
        }
    }

    /// Handles up to [`BATCH`] datagrams, answering each before reading the next: the
    /// peer's latency, not our batch size, sets the pace (measured: batching 64 reads
    /// before replying added milliseconds at 50 registrations in flight). When the
    /// socket runs dry, lazy store writes are done, then the socket is polled for up to
    /// [`BUSY_POLL`] before the task sleeps in the event loop.
    ///
    /// Group commit: once a message queues a store change that must be durable before
    /// it is acknowledged (a new registration), answers are held back; the batch goes
    /// on reading, and when it ends or the socket runs dry, one fsync covers every held
    /// change and then the answers leave. A refresh costs no fsync.
    async fn read_datagrams(&mut self, i: usize, buf: &mut [u8]) {
        let Some(udp) = self.io.get(i).and_then(|io| io.udp.clone()) else {
            return;
        };
        let mut idle_since: Option<Instant> = None;
        let mut handled = 0;
        let mut holding = false;
        while handled < BATCH {
            let received = match udp.poll_recv(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if holding {
                        self.apply_store_ops();
                        self.send_transmits().await;
                        holding = false;
                    }
                    let since = *idle_since.get_or_insert_with(|| {
                        self.apply_store_ops();
                        Instant::now()
                    });
                    if since.elapsed() < BUSY_POLL {
                        std::hint::spin_loop();
                        continue;
                    }
                    match udp.recv_or_rearm(buf) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        other => other,
                    }
                }
                other => other,
            };
            match received {
                Ok((n, addr)) => {
                    idle_since = None;
                    handled += 1;
                    if !self.guard.admit(addr.ip()) {
                        continue;
                    }
                    let peer = Peer {
                        addr,
                        transport: TransportKind::Udp,
                    };
                    let bytes = buf.get(..n).unwrap_or_default();
                    if let Some(core) = self.sip.get_mut(i) {
                        core.handle_message(bytes, peer, Instant::now(), unix_ms());
                    }
                    self.run_switch();
                    holding = holding || self.needs_sync();
                    if !holding {
                        self.send_transmits().await;
                    }
                }
                Err(e) => {
                    // ICMP port unreachable from a previous send shows up here.
                    tracing::trace!(error = %e, "UDP receive error");
                    break;
                }
            }
        }
        self.apply_store_ops();
        self.send_transmits().await;
    }

    fn needs_sync(&self) -> bool {
        self.sip.iter().any(SipCore::needs_sync)
    }

    /// Hands the cores' call events to the switch, and the switch's outputs to the
    /// media thread, the event socket and the CDR writer.
    fn run_switch(&mut self) {
        let listening = self.events.receiver_count() > 0;
        self.switch.set_events_wanted(listening);
        let mut c: Option<Clock> = None;
        while let Some(ev) = self.sip.poll_call_event() {
            let now = *c.get_or_insert_with(clock);
            self.switch.on_call_event(ev, &mut self.sip, now);
        }
        while let Some(op) = self.switch.poll_media() {
            let cmd = match op {
                MediaOp::Remote { id, stream } => MediaCommand::Remote { id, stream },
                MediaOp::Play { id, tone, token } => MediaCommand::Play { id, tone, token },
                MediaOp::Echo { id } => MediaCommand::Echo { id },
                MediaOp::Bridge { a, b } => MediaCommand::Bridge { a, b },
                MediaOp::Idle { id } => MediaCommand::Idle { id },
                MediaOp::Dtmf {
                    id,
                    digit,
                    duration_ms,
                } => MediaCommand::Dtmf {
                    id,
                    digit,
                    duration_ms,
                },
                MediaOp::Close { id } => {
                    let (reply, rx) = oneshot::channel();
                    self.stats_for.insert(id, rx);
                    MediaCommand::Close { id, reply }
                }
            };
            self.media.send_deferred(cmd);
        }
        // One wake-up for the opens and commands of this round.
        self.media.wake();
        while let Some(f) = self.switch.poll_finished() {
            let stats = self
                .stats_for
                .remove(&f.media)
                .unwrap_or_else(|| oneshot::channel().1);
            let bye = f.bye;
            let req = CdrRequest::Write {
                finished: Box::new(f),
                stats,
            };
            if self.cdrs.send(req).is_err() {
                tracing::error!("the CDR writer has stopped: a call record is lost");
                if let Some(leg) = bye {
                    self.sip.acknowledge_bye(leg, Instant::now());
                }
            }
        }
        while let Some(e) = self.switch.poll_event() {
            if listening {
                let _ = self.events.send(EslEvent {
                    headers: e.headers,
                    body: e.body,
                });
            }
        }
    }

    async fn flush_outputs(&mut self) {
        // Durable changes first: their answers are among the transmits.
        if self.needs_sync() {
            self.apply_store_ops();
        }
        self.send_transmits().await;
        self.apply_store_ops();
    }

    /// Sends what every core has queued, each through its own profile's transports.
    async fn send_transmits(&mut self) {
        for (core, io) in self.sip.iter_mut().zip(self.io.iter_mut()) {
            while let Some(d) = core.poll_transmit() {
                match d.peer.transport {
                    TransportKind::Udp => {
                        if let Some(u) = &io.udp {
                            udp::send(&u.socket, &d.bytes, d.peer.addr).await;
                        }
                    }
                    // A peer with no connection yet (a carrier we register to over
                    // TCP) gets one.
                    TransportKind::Tcp => {
                        if io.writer(d.peer.addr).try_send(d.bytes).is_err() {
                            tracing::debug!(peer = %d.peer.addr, "TCP connection backlogged or closed: message dropped");
                        }
                    }
                }
            }
            while let Some(n) = core.poll_notice() {
                log_notice(&core.config().profile, &n);
                report_failure(&self.guard, &n);
                if let Some(ev) = self
                    .switch
                    .notice_event(&core.config().profile, &n, unix_us())
                {
                    if self.events.receiver_count() > 0 {
                        let _ = self.events.send(EslEvent {
                            headers: ev.headers,
                            body: ev.body,
                        });
                    }
                }
            }
        }
    }

    /// Writes the location-service changes the core made; when any of them is
    /// critical, one sync (flush + fsync) at the end makes the whole group durable.
    /// The rest sled writes back within its flush interval.
    fn apply_store_ops(&mut self) {
        let mut sync = false;
        let ops = self
            .sip
            .iter_mut()
            .flat_map(|c| std::iter::from_fn(|| c.poll_store_op()));
        for op in ops.collect::<Vec<_>>() {
            sync |= op.durability() == Durability::Critical;
            let result = match &op {
                StoreOp::Put(b, _) => self.registrations.insert(&b.key(), b, Durability::Lazy),
                StoreOp::Delete(key, _) => self.registrations.remove(key, Durability::Lazy),
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "could not persist a registration change");
            }
        }
        if sync {
            if let Err(e) = self.registrations.sync() {
                // Answers still go out: refusing service would not bring the disk back.
                tracing::error!(error = %e, "could not sync registrations to disk; they may not survive a power cut");
            }
        }
    }
}

/// Which profile's transports have something to read, looking first at `first` (the
/// one after the last served, so a flooded profile cannot starve the others);
/// pending when none has.
fn poll_transports(
    io: &mut [ProfileIo],
    first: usize,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<Wake> {
    use std::task::Poll;
    let n = io.len();
    for k in 0..n {
        let i = (first + k) % n;
        let Some(p) = io.get_mut(i) else { continue };
        if let Some(u) = &p.udp {
            if u.socket.poll_recv_ready(cx).is_ready() {
                return Poll::Ready(Wake::Datagrams(i));
            }
        }
        if let Poll::Ready(Some(ev)) = p.streams.poll_recv(cx) {
            return Poll::Ready(Wake::Stream(i, ev));
        }
    }
    Poll::Pending
}

/// A core's notice of a failure, counted by the guard.
fn report_failure(guard: &super::guard::Guard, n: &CoreNotice) {
    use crate::guard::fail2ban::FailureKind;
    match n {
        CoreNotice::AuthFailed {
            user,
            source,
            method,
            user_known,
            reason,
        } => {
            let kind = match (user_known, method) {
                (false, _) => FailureKind::UnknownUser,
                (true, crate::sip::wire::Method::Register) => FailureKind::RegisterAuth,
                (true, _) => FailureKind::InviteAuth,
            };
            guard.failure(*source, kind, user, reason);
        }
        CoreNotice::Forbidden { source, reason } => {
            guard.failure(*source, FailureKind::AclForbidden, "", reason)
        }
        _ => {}
    }
}

/// What a core reports, in the log.
fn log_notice(profile: &str, n: &CoreNotice) {
    match n {
        CoreNotice::Registered {
            aor,
            contact,
            source,
        } => tracing::debug!(%profile, %aor, %contact, %source, "REGISTER ok"),
        CoreNotice::GatewayState {
            gateway,
            state,
            status,
            code,
            ..
        } => {
            tracing::info!(%profile, %gateway, %state, %status, code = code.unwrap_or(0), "gateway state")
        }
        CoreNotice::Forbidden { source, reason } => {
            tracing::debug!(%profile, %source, %reason, "request refused")
        }
        _ => {}
    }
}
