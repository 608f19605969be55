//! The media thread's socket IO, one of two backends picked when the thread starts:
//! io_uring (`uring`: one system call per turn of the loop, however many packets it
//! carries) where the kernel allows it, else the level-triggered epoll loop (`poll`:
//! a `recvmmsg` per ready socket and a `sendto` per packet). The driver's logic is the
//! same over both; only how datagrams come in and go out differs.
//!
//! `LOOPSTART_MEDIA_IO=epoll` in the environment forces epoll: for A/B benchmarks, and
//! for a box whose kernel has a broken io_uring.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use super::poll::{Bell, Epoll};
use super::uring::Ring;
use super::MediaId;

/// The bell's token; a leg's sockets are `id << 1` (RTP) and `id << 1 | 1` (RTCP).
pub const BELL: u64 = u64::MAX;
/// Readiness reports taken per epoll wait.
const EVENTS: usize = 256;
/// The environment variable that picks the backend.
const SWITCH: &str = "LOOPSTART_MEDIA_IO";

/// What a wait brought.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// Without io_uring bindings (armv7) only epoll's variants are ever made.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub enum Ready {
    /// The bell rang: requests are waiting.
    Bell,
    /// epoll: socket `token` has datagrams to read.
    Readable(u64),
    /// io_uring: a datagram for `token` in provided buffer `bid` (`len` bytes of it
    /// used); take it with [`Io::packet`], which gives the buffer back.
    Received { token: u64, bid: u16, len: u32 },
    /// io_uring: `token`'s receive ended (cancelled, out of buffers, an error): re-arm
    /// it unless the leg is closing. `error` is the errno, 0 for none.
    Ended { token: u64, error: i32 },
}

pub enum Io {
    Epoll { epoll: Epoll, tokens: Vec<u64> },
    Uring(Box<Ring>),
}

impl Io {
    /// io_uring unless switched off or refused, then epoll; logs which at INFO. Must
    /// run on the media thread (the ring accepts submissions from its creator only).
    pub fn start(bell: &Bell) -> io::Result<Io> {
        match std::env::var(SWITCH).as_deref() {
            Ok("epoll") => {
                tracing::info!("media IO: epoll ({SWITCH}=epoll)");
                return Io::epoll(bell);
            }
            Ok("" | "io_uring" | "auto") | Err(_) => {}
            Ok(other) => {
                tracing::warn!("{SWITCH}={other} is not epoll, io_uring or auto; auto it is");
            }
        }
        match Ring::new(bell.raw()) {
            Ok(ring) => {
                tracing::info!("media IO: io_uring (multishot recvmsg, batched sendmsg)");
                Ok(Io::Uring(Box::new(ring)))
            }
            Err(e) => {
                tracing::info!(error = %e, "media IO: epoll (io_uring unavailable)");
                Io::epoll(bell)
            }
        }
    }

    fn epoll(bell: &Bell) -> io::Result<Io> {
        let epoll = Epoll::new(EVENTS)?;
        epoll.add(bell.raw(), BELL)?;
        Ok(Io::Epoll {
            epoll,
            tokens: Vec::with_capacity(EVENTS),
        })
    }

    /// Starts receiving on a leg's two sockets.
    pub fn watch(&mut self, rtp: RawFd, rtcp: RawFd, id: MediaId) -> io::Result<()> {
        match self {
            Io::Epoll { epoll, .. } => {
                epoll.add(rtp, id << 1)?;
                epoll.add(rtcp, id << 1 | 1)
            }
            Io::Uring(ring) => {
                ring.arm(rtp, id << 1)?;
                ring.arm(rtcp, id << 1 | 1)
            }
        }
    }

    /// Stops receiving on a leg's sockets; returns how many [`Ready::Ended`] must come
    /// before they may be closed (io_uring holds a socket until its receive ends, and
    /// a socket still held keeps its port).
    pub fn unwatch(&mut self, rtp: RawFd, rtcp: RawFd, id: MediaId) -> usize {
        match self {
            Io::Epoll { epoll, .. } => {
                epoll.remove(rtp);
                epoll.remove(rtcp);
                0
            }
            Io::Uring(ring) => {
                let pending = [id << 1, id << 1 | 1]
                    .into_iter()
                    .filter(|&t| ring.cancel(t).is_ok())
                    .count();
                // Submitted now, so whatever is queued for these sockets (an arm, the
                // cancels) has the kernel's own hold on them: a caller that closes them
                // at once cannot have their numbers reused under a queued entry.
                if let Err(e) = ring.submit() {
                    tracing::debug!(media = id, error = %e, "io_uring submit failed");
                }
                pending
            }
        }
    }

    /// Arms a receive again after its [`Ready::Ended`].
    pub fn rearm(&mut self, fd: RawFd, token: u64) {
        if let Io::Uring(ring) = self {
            if let Err(e) = ring.arm(fd, token) {
                tracing::error!(media = token >> 1, error = %e, "media: cannot re-arm a receive; the leg goes deaf");
            }
        }
    }

    /// Sends without waiting (io_uring: queued for the next wait); a full socket buffer
    /// drops the packet, as a late packet would be dropped by the far end anyway.
    pub fn send(&mut self, socket: &UdpSocket, packet: &[u8], dest: SocketAddr) -> io::Result<()> {
        if let Io::Uring(ring) = self {
            match ring.send(socket.as_raw_fd(), packet, dest) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
        }
        socket.send_to(packet, dest).map(drop)
    }

    /// Waits up to `timeout` (None: until something comes); what came goes in `ready`
    /// (cleared first). io_uring: also submits the sends queued since the last wait.
    pub fn wait(&mut self, timeout: Option<Duration>, ready: &mut Vec<Ready>) -> io::Result<()> {
        match self {
            Io::Epoll { epoll, tokens } => {
                epoll.wait(timeout, tokens)?;
                ready.clear();
                ready.extend(tokens.iter().map(|&t| match t {
                    BELL => Ready::Bell,
                    t => Ready::Readable(t),
                }));
                Ok(())
            }
            Io::Uring(ring) => ring.wait(timeout, ready),
        }
    }

    /// The datagram of a [`Ready::Received`], copied into `into`: its length and source.
    pub fn packet(&mut self, bid: u16, len: u32, into: &mut [u8]) -> Option<(usize, SocketAddr)> {
        match self {
            Io::Uring(ring) => ring.packet(bid, len, into),
            Io::Epoll { .. } => None,
        }
    }
}
