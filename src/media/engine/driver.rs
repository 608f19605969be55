//! The media thread: one loop over every leg's two sockets and a bell for commands
//! (through `backend`: io_uring, or a level-triggered epoll set), with the legs' timers in
//! a heap.
//!
//! The hot path — a packet arriving on a bridged leg — is: the packet comes in (a
//! completion of the socket's multishot receive, or epoll reports the socket and one
//! `recvmmsg` takes what it holds), then the leg's latch and counters, the peer's
//! StreamRewriter in place, and a send from the peer's socket to the peer's latched
//! address (queued for the loop's next enter, or one `sendto`). No allocation, no
//! lock, no channel: legs are `Rc`s on this one thread, and a bridged leg reaches its
//! peer through a `Weak`. Timers are lazy: a heap entry whose deadline is no longer
//! the leg's is skipped when it comes up.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tokio::sync::{mpsc, oneshot};

use super::backend::{Io, Ready, BELL};
use super::poll::{Batch, Bell};
use super::ports::PortTable;
use super::session::{payload_map, rewriter, LegState, Mode};
use super::stats::RtpStats;
use super::{MediaCommand, MediaConfig, MediaEvent, MediaId, Request};

/// Completions or readiness reports taken per wait, to start with.
const EVENTS: usize = 256;

/// One leg: its sockets, its state, and the deadline its heap entry holds.
pub(crate) struct Leg {
    pub id: MediaId,
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub state: RefCell<LegState>,
    armed: Cell<Option<Instant>>,
}

/// What the loop's handlers share.
struct Ctx {
    config: MediaConfig,
    events: mpsc::UnboundedSender<MediaEvent>,
    ports: Arc<Mutex<PortTable>>,
    io: RefCell<Io>,
    timers: RefCell<BinaryHeap<Reverse<(Instant, MediaId)>>>,
    /// Legs closed whose receives have yet to end (io_uring), before their sockets
    /// close and their ports are freed.
    closing: RefCell<HashMap<MediaId, Closing>>,
}

/// A leg waiting for its receives to end, and who waits for its statistics.
struct Closing {
    leg: Rc<Leg>,
    stats: RtpStats,
    reply: oneshot::Sender<RtpStats>,
    pending: usize,
}

pub(crate) fn spawn(
    config: MediaConfig,
    requests: mpsc::UnboundedReceiver<Request>,
    events: mpsc::UnboundedSender<MediaEvent>,
    ports: Arc<Mutex<PortTable>>,
    bell: Arc<Bell>,
) -> io::Result<()> {
    // The IO is set up on the media thread (an io_uring takes submissions from its
    // creator only); start waits to hear it worked.
    let (started, is_started) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("media".into())
        .spawn(move || {
            let io = match Io::start(&bell) {
                Ok(io) => io,
                Err(e) => {
                    let _ = started.send(Err(e));
                    return;
                }
            };
            let _ = started.send(Ok(()));
            let ctx = Ctx {
                config,
                events,
                ports,
                io: RefCell::new(io),
                timers: RefCell::new(BinaryHeap::new()),
                closing: RefCell::new(HashMap::new()),
            };
            run(&ctx, requests, &bell);
            tracing::debug!("media thread stopped: no engine handle left");
        })?;
    is_started
        .recv()
        .map_err(|_| io::Error::other("media thread ended at start"))?
}

fn run(ctx: &Ctx, mut requests: mpsc::UnboundedReceiver<Request>, bell: &Bell) {
    let mut legs: HashMap<MediaId, Rc<Leg>> = HashMap::new();
    let mut batch = Batch::new();
    let mut ready: Vec<Ready> = Vec::with_capacity(EVENTS);
    loop {
        let next = ctx.timers.borrow().peek().map(|Reverse((at, _))| *at);
        let timeout = next.map(|at| at.saturating_duration_since(Instant::now()));
        if let Err(e) = ctx.io.borrow_mut().wait(timeout, &mut ready) {
            tracing::error!(error = %e, "media: waiting for sockets failed; media stops");
            return;
        }
        for &r in &ready {
            let token = match r {
                Ready::Readable(token) => token,
                Ready::Received { token, bid, len } => {
                    received(ctx, &legs, token, bid, len, &mut batch);
                    continue;
                }
                Ready::Ended { token, error } => {
                    ended(ctx, &legs, token, error);
                    continue;
                }
                Ready::Bell => BELL,
            };
            if token == BELL {
                bell.clear();
                loop {
                    match requests.try_recv() {
                        Ok(Request::Open { id, rtp, rtcp }) => open(ctx, &mut legs, id, rtp, rtcp),
                        Ok(Request::Command(cmd)) => command(ctx, &mut legs, cmd),
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => return,
                    }
                }
                continue;
            }
            let Some(leg) = legs.get(&(token >> 1)) else {
                continue;
            };
            if token & 1 == 0 {
                read_rtp(ctx, leg, &mut batch);
            } else {
                read_rtcp(leg, &mut batch);
            }
        }
        fire_timers(ctx, &legs, &mut batch);
    }
}

fn open(
    ctx: &Ctx,
    legs: &mut HashMap<MediaId, Rc<Leg>>,
    id: MediaId,
    rtp: UdpSocket,
    rtcp: UdpSocket,
) {
    let registered = rtp
        .set_nonblocking(true)
        .and_then(|()| rtcp.set_nonblocking(true))
        .and_then(|()| {
            ctx.io
                .borrow_mut()
                .watch(rtp.as_raw_fd(), rtcp.as_raw_fd(), id)
        });
    if let Err(e) = registered {
        tracing::error!(media = id, error = %e, "media session could not start");
        ctx.io
            .borrow_mut()
            .unwatch(rtp.as_raw_fd(), rtcp.as_raw_fd(), id);
        if let Ok(mut t) = ctx.ports.lock() {
            t.close(id);
        }
        return;
    }
    let state = LegState::new(
        id,
        random_ssrc(id),
        Instant::now(),
        ctx.config.rtp_timeout,
        ctx.config.hold_timeout,
    );
    tracing::debug!(media = id, local = ?rtp.local_addr().ok(), ssrc = state.ssrc, "media session open");
    let leg = Rc::new(Leg {
        id,
        rtp,
        rtcp,
        state: RefCell::new(state),
        armed: Cell::new(None),
    });
    arm(ctx, &leg);
    legs.insert(id, leg);
}

/// Puts the leg's next deadline in the heap if it changed (the old entry goes stale).
fn arm(ctx: &Ctx, leg: &Leg) {
    let next = leg.state.borrow().poll_timeout();
    if next != leg.armed.get() {
        leg.armed.set(next);
        if let Some(at) = next {
            ctx.timers.borrow_mut().push(Reverse((at, leg.id)));
        }
    }
}

fn fire_timers(ctx: &Ctx, legs: &HashMap<MediaId, Rc<Leg>>, batch: &mut Batch) {
    let now = Instant::now();
    loop {
        let due = {
            let mut timers = ctx.timers.borrow_mut();
            match timers.peek() {
                Some(Reverse((at, _))) if *at <= now => timers.pop().map(|Reverse(e)| e),
                _ => None,
            }
        };
        let Some((at, id)) = due else { break };
        let Some(leg) = legs.get(&id) else { continue };
        if leg.armed.get() != Some(at) {
            continue;
        }
        leg.armed.set(None);
        on_timer(ctx, leg, batch.scratch());
        arm(ctx, leg);
    }
}

/// What the RTP socket holds, each packet handled in turn.
fn read_rtp(ctx: &Ctx, leg: &Leg, batch: &mut Batch) {
    let n = match batch.recv(leg.rtp.as_raw_fd()) {
        Ok(n) => n,
        Err(e) => {
            // ICMP port unreachable from an earlier send shows up here.
            tracing::trace!(media = leg.id, error = %e, "RTP receive error");
            return;
        }
    };
    for i in 0..n {
        if let Some((packet, from)) = batch.get(i) {
            on_rtp(ctx, leg, packet, from);
        }
    }
    if n > 0 {
        arm(ctx, leg);
    }
}

fn read_rtcp(leg: &Leg, batch: &mut Batch) {
    let n = batch.recv(leg.rtcp.as_raw_fd()).unwrap_or(0);
    for i in 0..n {
        if let Some((data, from)) = batch.get(i) {
            leg.state.borrow_mut().on_rtcp(Instant::now(), from, data);
        }
    }
}

/// A datagram the io_uring received for `token`'s socket: taken out of the ring's
/// buffer (given back at once), then handled as the epoll path handles each one.
fn received(
    ctx: &Ctx,
    legs: &HashMap<MediaId, Rc<Leg>>,
    token: u64,
    bid: u16,
    len: u32,
    batch: &mut Batch,
) {
    let buf = batch.scratch();
    let got = ctx.io.borrow_mut().packet(bid, len, buf);
    let (Some((n, from)), Some(leg)) = (got, legs.get(&(token >> 1))) else {
        return;
    };
    if token & 1 == 0 {
        on_rtp(ctx, leg, &mut buf[..n], from);
        arm(ctx, leg);
    } else {
        leg.state
            .borrow_mut()
            .on_rtcp(Instant::now(), from, &buf[..n]);
    }
}

/// `token`'s io_uring receive ended: the last step of a close, or (out of buffers, an
/// error) armed again.
fn ended(ctx: &Ctx, legs: &HashMap<MediaId, Rc<Leg>>, token: u64, error: i32) {
    let id = token >> 1;
    let mut closing = ctx.closing.borrow_mut();
    if let Some(c) = closing.get_mut(&id) {
        c.pending = c.pending.saturating_sub(1);
        if c.pending == 0 {
            let c = closing.remove(&id);
            drop(closing);
            if let Some(c) = c {
                closed(ctx, c);
            }
        }
        return;
    }
    drop(closing);
    let Some(leg) = legs.get(&id) else { return };
    if error != libc::ENOBUFS {
        tracing::debug!(media = id, error = %io::Error::from_raw_os_error(error), "media receive ended; re-armed");
    }
    let socket = if token & 1 == 0 { &leg.rtp } else { &leg.rtcp };
    ctx.io.borrow_mut().rearm(socket.as_raw_fd(), token);
}

/// A random SSRC (RFC 3550 §8.1), from the id and the clock should the OS refuse.
fn random_ssrc(id: MediaId) -> u32 {
    let mut b = [0u8; 4];
    if getrandom::getrandom(&mut b).is_ok() {
        return u32::from_be_bytes(b);
    }
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    (id as u32).wrapping_mul(0x9E37_79B9) ^ nanos
}

fn command(ctx: &Ctx, legs: &mut HashMap<MediaId, Rc<Leg>>, cmd: MediaCommand) {
    let now = Instant::now();
    let unknown = |id: MediaId, what: &str| {
        tracing::debug!(
            media = id,
            command = what,
            "media command for a session that is not open, ignored"
        );
    };
    match cmd {
        MediaCommand::Remote { id, stream } => {
            let Some(leg) = legs.get(&id) else {
                return unknown(id, "remote");
            };
            tracing::debug!(media = id, remote = %stream.remote, codec = stream.codec.name(), pt = stream.payload_type, direction = ?stream.direction, "media stream negotiated");
            leg.state.borrow_mut().set_remote(stream, now);
            refresh_rewriters(legs, leg);
            arm(ctx, leg);
        }
        MediaCommand::Play { id, tone, token } => {
            let Some(leg) = legs.get(&id) else {
                return unknown(id, "play");
            };
            stop(ctx, legs, leg);
            let mut st = leg.state.borrow_mut();
            let playback = st.playback(tone, token, now);
            st.mode = Mode::Play(Box::new(playback));
            drop(st);
            arm(ctx, leg);
        }
        MediaCommand::Echo { id } => {
            let Some(leg) = legs.get(&id) else {
                return unknown(id, "echo");
            };
            stop(ctx, legs, leg);
            leg.state.borrow_mut().mode = Mode::Echo(None);
            refresh_rewriters(legs, leg);
            arm(ctx, leg);
        }
        MediaCommand::Bridge { a, b } => {
            if a == b {
                tracing::warn!(media = a, "bridge of a media session with itself, ignored");
                return;
            }
            let (Some(la), Some(lb)) = (legs.get(&a), legs.get(&b)) else {
                return unknown(if legs.contains_key(&a) { b } else { a }, "bridge");
            };
            stop(ctx, legs, la);
            stop(ctx, legs, lb);
            la.state.borrow_mut().mode = Mode::Bridged {
                peer_id: b,
                peer: Rc::downgrade(lb),
                rewriter: None,
            };
            lb.state.borrow_mut().mode = Mode::Bridged {
                peer_id: a,
                peer: Rc::downgrade(la),
                rewriter: None,
            };
            refresh_rewriters(legs, la);
            tracing::debug!(media = a, peer = b, "media bridged");
            arm(ctx, la);
            arm(ctx, lb);
        }
        MediaCommand::Dtmf {
            id,
            digit,
            duration_ms,
        } => {
            let Some(leg) = legs.get(&id) else {
                return unknown(id, "dtmf");
            };
            let mut st = leg.state.borrow_mut();
            // A tone or an echo owns the leg's stream: a digit cannot be fitted in.
            if !matches!(st.mode, Mode::Bridged { .. } | Mode::Idle) {
                tracing::debug!(media = id, %digit, "DTMF for a leg playing or echoing, ignored");
                return;
            }
            if !st.queue_dtmf(digit, duration_ms, now) {
                tracing::warn!(media = id, %digit,
                    "DTMF digit not sent as telephone-event (none negotiated, or 32 digits queued)");
            }
            drop(st);
            arm(ctx, leg);
        }
        MediaCommand::Idle { id } => {
            let Some(leg) = legs.get(&id) else {
                return unknown(id, "idle");
            };
            stop(ctx, legs, leg);
            arm(ctx, leg);
        }
        MediaCommand::Close { id, reply } => {
            let Some(leg) = legs.remove(&id) else {
                // Nothing open: the reply is dropped, which the caller sees as an error.
                return unknown(id, "close");
            };
            stop(ctx, legs, &leg);
            let pending =
                ctx.io
                    .borrow_mut()
                    .unwatch(leg.rtp.as_raw_fd(), leg.rtcp.as_raw_fd(), id);
            let stats = leg.state.borrow_mut().final_stats();
            let closing = Closing {
                leg,
                stats,
                reply,
                pending,
            };
            if pending == 0 {
                closed(ctx, closing);
            } else {
                ctx.closing.borrow_mut().insert(id, closing);
            }
        }
    }
}

/// A closed leg's last step, once nothing holds its sockets: close them, free the
/// ports, and send the statistics. No send can be queued on them by then: the leg left
/// `legs` (no timer, no packet reaches it) and its peer was idled when it closed.
fn closed(ctx: &Ctx, c: Closing) {
    let Closing {
        leg, stats, reply, ..
    } = c;
    let id = leg.id;
    // Close the sockets before the ports are handed out again (a peer holds only a
    // Weak).
    drop(leg);
    if let Ok(mut table) = ctx.ports.lock() {
        table.close(id);
    }
    tracing::debug!(
        media = id,
        packets_in = stats.in_packet_count,
        packets_out = stats.out_packet_count,
        "media session closed"
    );
    let _ = reply.send(stats);
}

/// Ends what the leg was doing: a playback reports PlaybackDone, a bridge idles the
/// peer too.
fn stop(ctx: &Ctx, legs: &HashMap<MediaId, Rc<Leg>>, leg: &Leg) {
    let old = std::mem::replace(&mut leg.state.borrow_mut().mode, Mode::Idle);
    match old {
        Mode::Play(p) => {
            let _ = ctx.events.send(MediaEvent::PlaybackDone {
                id: leg.id,
                token: p.token,
            });
        }
        Mode::Bridged { peer_id, .. } => {
            if let Some(peer) = legs.get(&peer_id) {
                let mut ps = peer.state.borrow_mut();
                if matches!(ps.mode, Mode::Bridged { peer_id: p, .. } if p == leg.id) {
                    ps.mode = Mode::Idle;
                }
                drop(ps);
                arm(ctx, peer);
                tracing::debug!(media = leg.id, peer = peer_id, "media unbridged");
            }
        }
        Mode::Idle | Mode::Echo(_) => {}
    }
}

/// (Re)builds the rewriters of an echoing or bridged leg from the streams as now
/// negotiated (after Echo/Bridge, or a re-INVITE's new payload types or codec).
fn refresh_rewriters(legs: &HashMap<MediaId, Rc<Leg>>, leg: &Leg) {
    let mut st = leg.state.borrow_mut();
    let st = &mut *st;
    match &mut st.mode {
        Mode::Echo(rw) => {
            *rw = st
                .stream
                .as_ref()
                .map(|s| rewriter(st.ssrc, payload_map(s, s), st.last_out));
        }
        Mode::Bridged { peer_id, .. } => {
            let Some(peer) = legs.get(peer_id) else {
                return;
            };
            let mut ps = peer.state.borrow_mut();
            let ps = &mut *ps;
            let (Some(mine), Some(theirs)) = (st.stream.as_ref(), ps.stream.as_ref()) else {
                return;
            };
            let to_peer = rewriter(ps.ssrc, payload_map(mine, theirs), ps.last_out);
            let to_me = rewriter(st.ssrc, payload_map(theirs, mine), st.last_out);
            if let Mode::Bridged { rewriter: rw, .. } = &mut st.mode {
                *rw = Some(to_peer);
            }
            if let Mode::Bridged { rewriter: rw, .. } = &mut ps.mode {
                *rw = Some(to_me);
            }
        }
        Mode::Idle | Mode::Play(_) => {}
    }
}

/// One packet from the leg: count it, then echo or relay it as the leg's mode says.
fn on_rtp(ctx: &Ctx, leg: &Leg, packet: &mut [u8], from: SocketAddr) {
    let now = Instant::now();
    let mut st = leg.state.borrow_mut();
    if !st.on_rtp(now, from, packet) {
        return;
    }
    let st = &mut *st;
    let echo_to = st.send_to();
    match &mut st.mode {
        Mode::Echo(Some(rw)) => {
            let Some(dest) = echo_to else {
                return;
            };
            if rw.rewrite(packet).is_ok() && send(ctx, &leg.rtp, packet, dest, leg.id) {
                st.on_sent(packet);
            }
        }
        Mode::Bridged {
            peer,
            rewriter: Some(rw),
            ..
        } => {
            let Some(peer) = peer.upgrade() else {
                return;
            };
            let mut ps = peer.state.borrow_mut();
            let Some(dest) = ps.send_to() else {
                return;
            };
            // The peer's stream carries a DTMF event now: its audio waits (the
            // rewriter is re-anchored after the event, see on_timer).
            if ps.dtmf.is_some() {
                return;
            }
            match rw.rewrite(packet) {
                Ok(()) => {
                    if send(ctx, &peer.rtp, packet, dest, peer.id) {
                        ps.on_sent(packet);
                    }
                }
                Err(why) => {
                    tracing::trace!(media = leg.id, %why, "packet not relayed");
                }
            }
        }
        _ => {}
    }
}

/// Sends without waiting: a full socket buffer drops the packet, as a late packet
/// would be dropped by the far end's jitter buffer anyway.
fn send(ctx: &Ctx, socket: &UdpSocket, packet: &[u8], dest: SocketAddr, id: MediaId) -> bool {
    match ctx.io.borrow_mut().send(socket, packet, dest) {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(media = id, %dest, error = %e, "RTP send failed, packet dropped");
            false
        }
    }
}

/// The leg's timer: paced tone packets, the RTP timeout, the RTCP report.
fn on_timer(ctx: &Ctx, leg: &Leg, buf: &mut [u8]) {
    let now = Instant::now();
    let mut st = leg.state.borrow_mut();
    // The mode is taken out while it works, so the state can count what it sends;
    // any other mode (a bridge, an echo) goes straight back, or the leg's first timer
    // (its RTCP report, 5 s in) would leave it Idle and silence the call.
    match std::mem::replace(&mut st.mode, Mode::Idle) {
        Mode::Play(mut p) => {
            let dest = st.send_to();
            let skipped_before = p.pacer.skipped;
            while let Some(n) = p.pacer.handle_timeout(now, &mut p.source, &mut buf[..]) {
                if let Some(dest) = dest {
                    if send(ctx, &leg.rtp, &buf[..n], dest, leg.id) {
                        st.on_sent(&buf[..n]);
                    }
                }
            }
            st.stats.out_skip_packet_count += p.pacer.skipped - skipped_before;
            if p.pacer.poll_timeout() <= now {
                // Due but nothing written: the tone is over.
                tracing::debug!(media = leg.id, token = p.token, "playback done");
                let _ = ctx.events.send(MediaEvent::PlaybackDone {
                    id: leg.id,
                    token: p.token,
                });
            } else {
                st.mode = Mode::Play(p);
            }
        }
        other => st.mode = other,
    }
    send_dtmf(ctx, leg, &mut st, now, buf);
    if st.check_rtp_timeout(now) {
        tracing::warn!(media = leg.id, remote = ?st.latch.destination(), "no RTP from the leg: media timeout");
        let _ = ctx.events.send(MediaEvent::RtpTimeout { id: leg.id });
    }
    if let Some((n, dest)) = st.rtcp_report(now, SystemTime::now(), &mut buf[..]) {
        if ctx.io.borrow_mut().send(&leg.rtcp, &buf[..n], dest).is_ok() {
            st.stats.rtcp_packets_sent += 1;
        }
    }
}

/// The DTMF event packets due on the leg. When a digit ends, the audio relayed into the
/// leg resumes one packet after the event: the bridged peer's rewriter is re-anchored
/// on the leg's stream as the event left it (with the marker bit, a new talkspurt).
fn send_dtmf(ctx: &Ctx, leg: &Leg, st: &mut LegState, now: Instant, buf: &mut [u8]) {
    let dest = st.send_to();
    let mut ended = false;
    while let Some(n) = st.dtmf_packet(now, buf, &mut ended) {
        if let Some(dest) = dest {
            if send(ctx, &leg.rtp, &buf[..n], dest, leg.id) {
                st.on_sent(&buf[..n]);
            }
        }
    }
    if !ended {
        return;
    }
    // dtmf_packet left last_out at the event's end (on_sent had recorded its start).
    let Mode::Bridged { peer, .. } = &st.mode else {
        return;
    };
    let Some(peer) = peer.upgrade() else {
        return;
    };
    let mut ps = peer.state.borrow_mut();
    let ps = &mut *ps;
    let (Some(theirs), Some(mine)) = (ps.stream.as_ref(), st.stream.as_ref()) else {
        return;
    };
    if let Mode::Bridged { rewriter: rw, .. } = &mut ps.mode {
        *rw = Some(rewriter(st.ssrc, payload_map(theirs, mine), st.last_out));
    }
}
