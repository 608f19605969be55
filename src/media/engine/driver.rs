//! The media thread: its runtime, the command loop, and one task per leg that waits
//! on the leg's two sockets and its next timer.
//!
//! The hot path — a packet arriving on a bridged leg — is: one `try_recv_from` into
//! the thread's single receive buffer, the leg's latch and counters, the peer's
//! StreamRewriter in place, one `try_send_to` from the peer's socket to the peer's
//! latched address. No allocation, no lock, no channel: legs are `Rc`s on this one
//! thread, and a bridged leg reaches its peer through a `Weak`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, Notify};

use super::ports::PortTable;
use super::session::{payload_map, rewriter, LegState, Mode};
use super::{MediaCommand, MediaConfig, MediaEvent, MediaId, Request, RtpStats};

/// Big enough for any RTP packet on an Ethernet path; larger datagrams are cut (and
/// then fail to parse or relay truncated, which a sender of jumbo RTP deserves).
const RECV_BUF: usize = 2048;
/// At most this many datagrams read from one socket before the other legs get a turn.
const MAX_BATCH: usize = 32;

/// One leg: its sockets, its state, and the bell its task listens to for commands.
pub(crate) struct Leg {
    pub id: MediaId,
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    notify: Notify,
    closing: RefCell<Option<oneshot::Sender<RtpStats>>>,
    pub state: RefCell<LegState>,
}

/// What every task of the media thread shares.
struct Ctx {
    config: MediaConfig,
    events: mpsc::UnboundedSender<MediaEvent>,
    ports: Arc<Mutex<PortTable>>,
    /// The thread's one receive (and tone) buffer: never held across an await.
    buf: RefCell<Box<[u8; RECV_BUF]>>,
}

pub(crate) fn spawn(
    config: MediaConfig,
    requests: mpsc::UnboundedReceiver<Request>,
    events: mpsc::UnboundedSender<MediaEvent>,
    ports: Arc<Mutex<PortTable>>,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("media".into())
        .spawn(move || {
            let ctx = Rc::new(Ctx {
                config,
                events,
                ports,
                buf: RefCell::new(Box::new([0; RECV_BUF])),
            });
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, run(ctx, requests));
            tracing::debug!("media thread stopped: no engine handle left");
        })?;
    Ok(())
}

async fn run(ctx: Rc<Ctx>, mut requests: mpsc::UnboundedReceiver<Request>) {
    let mut legs: HashMap<MediaId, Rc<Leg>> = HashMap::new();
    while let Some(request) = requests.recv().await {
        match request {
            Request::Open { id, rtp, rtcp } => match open(&ctx, id, rtp, rtcp) {
                Ok(leg) => {
                    tokio::task::spawn_local(leg_task(Rc::clone(&ctx), Rc::clone(&leg)));
                    legs.insert(id, leg);
                }
                Err(e) => {
                    tracing::error!(media = id, error = %e, "media session could not start");
                    if let Ok(mut t) = ctx.ports.lock() {
                        t.close(id);
                    }
                }
            },
            Request::Command(cmd) => command(&ctx, &mut legs, cmd),
        }
    }
}

fn open(
    ctx: &Ctx,
    id: MediaId,
    rtp: std::net::UdpSocket,
    rtcp: std::net::UdpSocket,
) -> io::Result<Rc<Leg>> {
    let rtp = UdpSocket::from_std(rtp)?;
    let rtcp = UdpSocket::from_std(rtcp)?;
    let state = LegState::new(
        id,
        random_ssrc(id),
        Instant::now(),
        ctx.config.rtp_timeout,
        ctx.config.hold_timeout,
    );
    tracing::debug!(media = id, local = ?rtp.local_addr().ok(), ssrc = state.ssrc, "media session open");
    Ok(Rc::new(Leg {
        id,
        rtp,
        rtcp,
        notify: Notify::new(),
        closing: RefCell::new(None),
        state: RefCell::new(state),
    }))
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
            leg.notify.notify_one();
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
            leg.notify.notify_one();
        }
        MediaCommand::Echo { id } => {
            let Some(leg) = legs.get(&id) else {
                return unknown(id, "echo");
            };
            stop(ctx, legs, leg);
            leg.state.borrow_mut().mode = Mode::Echo(None);
            refresh_rewriters(legs, leg);
            leg.notify.notify_one();
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
            la.notify.notify_one();
            lb.notify.notify_one();
        }
        MediaCommand::Idle { id } => {
            let Some(leg) = legs.get(&id) else {
                return unknown(id, "idle");
            };
            stop(ctx, legs, leg);
            leg.notify.notify_one();
        }
        MediaCommand::Close { id, reply } => {
            let Some(leg) = legs.remove(&id) else {
                // Nothing open: the reply is dropped, which the caller sees as an error.
                return unknown(id, "close");
            };
            stop(ctx, legs, &leg);
            *leg.closing.borrow_mut() = Some(reply);
            leg.notify.notify_one();
        }
    }
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
                peer.notify.notify_one();
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

async fn leg_task(ctx: Rc<Ctx>, leg: Rc<Leg>) {
    let never = tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let sleep = tokio::time::sleep_until(never);
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
    loop {
        let next = leg.state.borrow().poll_timeout();
        if next != armed {
            let at = next.map_or(never, tokio::time::Instant::from_std);
            sleep.as_mut().reset(at);
            armed = next;
        }
        tokio::select! {
            biased;
            () = leg.notify.notified() => {
                if leg.closing.borrow().is_some() {
                    break;
                }
            }
            r = leg.rtp.readable() => match r {
                Ok(()) => drain_rtp(&ctx, &leg),
                Err(e) => tracing::warn!(media = leg.id, error = %e, "RTP socket error"),
            },
            r = leg.rtcp.readable() => match r {
                Ok(()) => drain_rtcp(&ctx, &leg),
                Err(e) => tracing::warn!(media = leg.id, error = %e, "RTCP socket error"),
            },
            () = &mut sleep, if armed.is_some() => {
                // Fired: re-arm from scratch next turn even if the deadline is the same.
                armed = None;
                on_timer(&ctx, &leg);
            }
        }
    }
    let reply = leg.closing.borrow_mut().take();
    let stats = leg.state.borrow_mut().final_stats();
    let id = leg.id;
    // Close the sockets before the ports are handed out again.
    if let Err(leg) = Rc::try_unwrap(leg) {
        tracing::warn!(
            media = id,
            refs = Rc::strong_count(&leg),
            "media session still referenced at close; its sockets close later"
        );
    }
    if let Ok(mut table) = ctx.ports.lock() {
        table.close(id);
    }
    tracing::debug!(
        media = id,
        packets_in = stats.in_packet_count,
        packets_out = stats.out_packet_count,
        "media session closed"
    );
    if let Some(reply) = reply {
        let _ = reply.send(stats);
    }
}

fn drain_rtp(ctx: &Ctx, leg: &Leg) {
    let mut buf = ctx.buf.borrow_mut();
    for _ in 0..MAX_BATCH {
        match leg.rtp.try_recv_from(&mut buf[..]) {
            Ok((len, from)) => on_rtp(leg, &mut buf[..len], from),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                tracing::debug!(media = leg.id, error = %e, "RTP receive error");
            }
        }
    }
}

/// One packet from the leg: count it, then echo or relay it as the leg's mode says.
fn on_rtp(leg: &Leg, packet: &mut [u8], from: SocketAddr) {
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
            if rw.rewrite(packet).is_ok() && send(&leg.rtp, packet, dest, leg.id) {
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
            match rw.rewrite(packet) {
                Ok(()) => {
                    if send(&peer.rtp, packet, dest, peer.id) {
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
fn send(socket: &UdpSocket, packet: &[u8], dest: SocketAddr, id: MediaId) -> bool {
    match socket.try_send_to(packet, dest) {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(media = id, %dest, error = %e, "RTP send failed, packet dropped");
            false
        }
    }
}

fn drain_rtcp(ctx: &Ctx, leg: &Leg) {
    let mut buf = ctx.buf.borrow_mut();
    for _ in 0..MAX_BATCH {
        match leg.rtcp.try_recv_from(&mut buf[..]) {
            Ok((len, from)) => leg
                .state
                .borrow_mut()
                .on_rtcp(Instant::now(), from, &buf[..len]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                tracing::debug!(media = leg.id, error = %e, "RTCP receive error");
            }
        }
    }
}

/// The leg's timer: paced tone packets, the RTP timeout, the RTCP report.
fn on_timer(ctx: &Ctx, leg: &Leg) {
    let now = Instant::now();
    let mut buf = ctx.buf.borrow_mut();
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
                    if send(&leg.rtp, &buf[..n], dest, leg.id) {
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
    if st.check_rtp_timeout(now) {
        tracing::warn!(media = leg.id, remote = ?st.latch.destination(), "no RTP from the leg: media timeout");
        let _ = ctx.events.send(MediaEvent::RtpTimeout { id: leg.id });
    }
    if let Some((n, dest)) = st.rtcp_report(now, SystemTime::now(), &mut buf[..]) {
        if leg.rtcp.try_send_to(&buf[..n], dest).is_ok() {
            st.stats.rtcp_packets_sent += 1;
        }
    }
}
