//! The media thread's io_uring: every leg socket has one multishot `recvmsg` armed
//! (datagrams land in a ring of provided buffers), sends are `sendmsg` entries queued
//! while the loop handles what arrived, and one `io_uring_enter` per turn of the loop
//! both submits them and waits for the next completions. With a socket per leg and 50
//! packets a second on each, a packet mostly arrives alone: epoll + `recvmmsg` +
//! `sendto` cost two or three system calls per relayed packet; here it is one enter
//! per turn, however many packets the turn carries.
//!
//! Kernel needs: multishot recvmsg and buffer rings (6.0), the enter timeout argument
//! (5.11). [`Ring::new`] checks them by receiving and sending a probe datagram, so a
//! kernel that refuses anything (too old, `io_uring_disabled`, a seccomp filter) is
//! found at start and the driver runs its epoll loop instead.
//!
//! The ring is created and used on the media thread only (`SINGLE_ISSUER` and
//! `DEFER_TASKRUN` where the kernel has them, 6.1): the kernel then does the receives'
//! copies inside our enter, on our thread, never behind our back.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use super::backend::Ready;
use super::poll::{sockaddr_to_std, DATAGRAM};

/// Provided receive buffers. A packet is copied out and its buffer handed back at once,
/// so these only hold what arrives between two turns of the loop (at a thousand calls,
/// about 100 packets a millisecond). Running out just ends a leg's receive, which is
/// re-armed: the datagrams wait in the socket meanwhile.
const BUFS: u16 = 512;
/// The buffer group our receives select from.
const BGID: u16 = 0;
/// Sends in flight at once; with none free a send goes out as a plain `sendto`.
const SLOTS: usize = 512;
const SQ_ENTRIES: u32 = 256;
/// Multishot receives post many completions per submission.
const CQ_ENTRIES: u32 = 4096;
/// `struct io_uring_recvmsg_out` (namelen, controllen, payloadlen, flags) heads each
/// provided buffer a multishot recvmsg fills.
const RECVMSG_OUT: usize = 16;
/// Room for the source address, v4 or v6, after that header.
const NAME_LEN: usize = std::mem::size_of::<libc::sockaddr_in6>();

/// Tags on user_data; a leg's receives use their epoll tokens (`id << 1 | rtcp`), which
/// never reach these bits.
const SEND: u64 = 1 << 63;
const CANCEL: u64 = 1 << 62;
const PROBE: u64 = CANCEL - 1;
/// The bell's poll.
const BELL: u64 = super::backend::BELL;

/// One entry of the buffer ring (`struct io_uring_buf`); the first entry's `resv` is
/// the ring's tail, which we publish.
#[repr(C)]
struct RingBuf {
    addr: u64,
    len: u32,
    bid: u16,
    resv: AtomicU16,
}

/// The buffer ring's entries: page aligned, as the kernel wants.
#[repr(C, align(4096))]
struct RingMem([RingBuf; BUFS as usize]);

/// Room for one send: the message header, its one iovec, the destination and bytes.
struct Slot {
    hdr: libc::msghdr,
    iov: libc::iovec,
    addr: socket2::SockAddr,
    buf: [u8; DATAGRAM],
}

pub struct Ring {
    // Declared first so it is dropped (closed) before the memory it points into.
    ring: IoUring,
    entries: Box<RingMem>,
    /// The tail we published last.
    tail: u16,
    bufs: Box<[u8]>,
    /// Only its name and control lengths are read, by every receive we arm.
    recv_hdr: Box<libc::msghdr>,
    slots: Box<[Slot]>,
    free: Vec<u16>,
    bell: RawFd,
    bell_armed: bool,
}

impl Ring {
    /// Sets the ring up, arms the bell's poll, and proves receive and send work.
    pub fn new(bell: RawFd) -> io::Result<Ring> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(CQ_ENTRIES)
            .build(SQ_ENTRIES)
            .or_else(|_| {
                IoUring::builder()
                    .setup_cqsize(CQ_ENTRIES)
                    .build(SQ_ENTRIES)
            })?;
        if !ring.params().is_feature_ext_arg() || !ring.params().is_feature_nodrop() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "kernel io_uring lacks the enter timeout or no-drop completions (< 5.11)",
            ));
        }
        let entries: Box<RingMem> = Box::new(RingMem(std::array::from_fn(|_| RingBuf {
            addr: 0,
            len: 0,
            bid: 0,
            resv: AtomicU16::new(0),
        })));
        // SAFETY: msghdr is plain old data; all zeros (null pointers) is valid.
        let mut recv_hdr: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        recv_hdr.msg_namelen = NAME_LEN as _;
        let slots = (0..SLOTS)
            .map(|_| Slot {
                // SAFETY: as above.
                hdr: unsafe { std::mem::zeroed() },
                iov: libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                },
                addr: socket2::SockAddr::from(SocketAddr::from(([0, 0, 0, 0], 0))),
                buf: [0; DATAGRAM],
            })
            .collect();
        let mut me = Ring {
            ring,
            entries,
            tail: 0,
            bufs: vec![0u8; usize::from(BUFS) * DATAGRAM].into_boxed_slice(),
            recv_hdr,
            slots,
            free: (0..SLOTS as u16).rev().collect(),
            bell,
            bell_armed: false,
        };
        // SAFETY: the entries live in `me.entries`, a heap allocation that is neither
        // moved nor freed before Drop unregisters the group; 4096-aligned by its type.
        unsafe {
            me.ring.submitter().register_buf_ring_with_flags(
                me.entries.0.as_ptr() as u64,
                BUFS,
                BGID,
                0,
            )?;
        }
        for bid in 0..BUFS {
            me.recycle(bid);
        }
        me.arm_bell()?;
        me.probe()?;
        Ok(me)
    }

    /// Arms the multishot receive of `fd`; its datagrams come back tagged `token`.
    pub fn arm(&mut self, fd: RawFd, token: u64) -> io::Result<()> {
        let sqe = opcode::RecvMsgMulti::new(types::Fd(fd), &*self.recv_hdr, BGID)
            .build()
            .user_data(token);
        self.push(&sqe)
    }

    /// Cancels `token`'s receive; its `Ended` comes in a later turn, and only then does
    /// the kernel let go of the socket (so only then may its port be reused).
    pub fn cancel(&mut self, token: u64) -> io::Result<()> {
        self.push(&opcode::AsyncCancel::new(token).build().user_data(CANCEL))
    }

    /// Submits what is queued, without waiting.
    pub fn submit(&mut self) -> io::Result<()> {
        self.ring.submit().map(drop)
    }

    /// Queues a copy of `packet` to `dest` from `fd`; it goes out with the next enter.
    /// `WouldBlock` when every slot is in flight (send it some other way).
    pub fn send(&mut self, fd: RawFd, packet: &[u8], dest: SocketAddr) -> io::Result<()> {
        let Some(i) = self.free.pop() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let slot = &mut self.slots[usize::from(i)];
        let n = packet.len().min(DATAGRAM);
        slot.buf[..n].copy_from_slice(&packet[..n]);
        slot.addr = socket2::SockAddr::from(dest);
        slot.iov = libc::iovec {
            iov_base: slot.buf.as_mut_ptr().cast(),
            iov_len: n,
        };
        slot.hdr.msg_name = slot.addr.as_ptr() as *mut libc::c_void;
        slot.hdr.msg_namelen = slot.addr.len();
        slot.hdr.msg_iov = &mut slot.iov;
        slot.hdr.msg_iovlen = 1;
        // MSG_DONTWAIT: a full socket buffer fails the send at once (the packet is
        // dropped, as a late one would be) instead of leaving it parked in the kernel.
        let sqe = opcode::SendMsg::new(types::Fd(fd), &slot.hdr)
            .flags(libc::MSG_DONTWAIT as u32)
            .build()
            .user_data(SEND | u64::from(i));
        self.push(&sqe).inspect_err(|_| self.free.push(i))
    }

    /// Submits what is queued and waits up to `timeout` (None: until something comes)
    /// for completions; what they bring goes into `done` (cleared first).
    pub fn wait(&mut self, timeout: Option<Duration>, done: &mut Vec<Ready>) -> io::Result<()> {
        done.clear();
        let r = match timeout {
            None => self.ring.submit_and_wait(1),
            Some(t) => {
                let ts = types::Timespec::from(t);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        if let Err(e) = r {
            // ETIME: the timeout; EINTR: a signal; EBUSY: completions to reap first.
            if ![libc::ETIME, libc::EINTR, libc::EBUSY].contains(&e.raw_os_error().unwrap_or(0)) {
                return Err(e);
            }
        }
        for cqe in self.ring.completion() {
            let (token, res, flags) = (cqe.user_data(), cqe.result(), cqe.flags());
            if token == BELL {
                done.push(Ready::Bell);
                self.bell_armed &= cqueue::more(flags);
            } else if token & SEND != 0 {
                self.free.push((token & !SEND) as u16);
                if res < 0 {
                    tracing::debug!(error = %io::Error::from_raw_os_error(-res), "RTP send failed, packet dropped");
                }
            } else if token & CANCEL == 0 {
                if let (true, Some(bid)) = (res >= 0, cqueue::buffer_select(flags)) {
                    done.push(Ready::Received {
                        token,
                        bid,
                        len: res as u32,
                    });
                }
                if !cqueue::more(flags) {
                    let error = if res < 0 { -res } else { 0 };
                    done.push(Ready::Ended { token, error });
                }
            }
        }
        if !self.bell_armed {
            self.arm_bell()?;
        }
        Ok(())
    }

    /// Copies datagram `bid` (from a [`Ready::Received`]) into `into`, gives the buffer
    /// back, and returns the datagram's length (cut to `into`) and source.
    pub fn packet(&mut self, bid: u16, len: u32, into: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let got = self.read(bid, len, into);
        self.recycle(bid);
        got
    }

    fn read(&self, bid: u16, len: u32, into: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let start = usize::from(bid) * DATAGRAM;
        let buf = self.bufs.get(start..start + (len as usize).min(DATAGRAM))?;
        let payload = buf.get(RECVMSG_OUT + NAME_LEN..)?;
        let namelen = u32::from_ne_bytes(buf[0..4].try_into().ok()?) as usize;
        // SAFETY: sockaddr_storage is plain old data; all zeros is a valid value.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let name = &buf[RECVMSG_OUT..RECVMSG_OUT + namelen.min(NAME_LEN)];
        // SAFETY: `name` is at most NAME_LEN bytes, less than sockaddr_storage's size,
        // and the two do not overlap (ss is on the stack).
        unsafe {
            std::ptr::copy_nonoverlapping(
                name.as_ptr(),
                (&mut ss as *mut libc::sockaddr_storage).cast::<u8>(),
                name.len(),
            );
        }
        let from = sockaddr_to_std(&ss)?;
        let n = payload.len().min(into.len());
        into[..n].copy_from_slice(&payload[..n]);
        Some((n, from))
    }

    /// Hands buffer `bid` back to the kernel.
    fn recycle(&mut self, bid: u16) {
        let mask = BUFS - 1;
        let addr = self.bufs.as_mut_ptr() as u64 + u64::from(bid) * DATAGRAM as u64;
        let e = &mut self.entries.0[usize::from(self.tail & mask)];
        e.addr = addr;
        e.len = DATAGRAM as u32;
        e.bid = bid;
        self.tail = self.tail.wrapping_add(1);
        // Release: the kernel reads the entry only after it sees the new tail.
        self.entries.0[0].resv.store(self.tail, Ordering::Release);
    }

    fn arm_bell(&mut self) -> io::Result<()> {
        let sqe = opcode::PollAdd::new(types::Fd(self.bell), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(BELL);
        self.push(&sqe)?;
        self.bell_armed = true;
        Ok(())
    }

    fn push(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        for _ in 0..2 {
            // SAFETY: every pointer an entry carries stays valid until its completion:
            // receives point at `recv_hdr` and the buffer ring, sends at their slot
            // (not reused before its completion frees it), all owned by `self`, which
            // unregisters the buffers before it frees them; polls and cancels carry none.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
        Err(io::Error::other("io_uring submission queue full"))
    }

    /// Receives and sends one datagram through the ring, so a kernel that sets the
    /// ring up but refuses an operation is found before any call depends on it.
    fn probe(&mut self) -> io::Result<()> {
        let rx = UdpSocket::bind("127.0.0.1:0")?;
        let tx = UdpSocket::bind("127.0.0.1:0")?;
        self.arm(rx.as_raw_fd(), PROBE)?;
        self.send(tx.as_raw_fd(), b"probe", rx.local_addr()?)?;
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut done = Vec::new();
        let mut got = false;
        let mut ended = false;
        while !(got && ended) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "io_uring probe: no datagram within 1 s",
                ));
            }
            self.wait(Some(left), &mut done)?;
            for d in &done {
                match *d {
                    Ready::Received { token, bid, len } if token == PROBE => {
                        let mut b = [0u8; 16];
                        got = self.packet(bid, len, &mut b).map(|(n, _)| &b[..n])
                            == Some(&b"probe"[..]);
                        self.cancel(PROBE)?;
                    }
                    Ready::Ended { token, error } if token == PROBE => {
                        if !got {
                            return Err(io::Error::from_raw_os_error(error));
                        }
                        ended = true;
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // After this no receive can pick a buffer, so freeing them is safe; sends
        // (MSG_DONTWAIT) have all completed inside the enter that submitted them.
        let _ = self.ring.submitter().unregister_buf_ring(BGID);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's kernel (CI's too) has io_uring; a box without it runs epoll,
    /// which the engine's own tests cover with LOOPSTART_MEDIA_IO=epoll.
    #[test]
    fn datagrams_come_in_through_the_buffers_and_go_out_batched() {
        let bell = super::super::poll::Bell::new().unwrap();
        let mut ring = Ring::new(bell.raw()).expect("io_uring on this kernel");
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.set_nonblocking(true).unwrap();
        ring.arm(rx.as_raw_fd(), 42 << 1).unwrap();
        // More datagrams than the ring has buffers (each is given back and used again),
        // a few dozen per turn (more would overflow the receiving socket's buffer).
        let total = usize::from(BUFS) + 100;
        let mut got = Vec::new();
        let mut done = Vec::new();
        let mut sent = 0;
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.len() < total && Instant::now() < deadline {
            while sent < total && sent < got.len() + 64 {
                let p = (sent as u32).to_be_bytes();
                ring.send(tx.as_raw_fd(), &p, rx.local_addr().unwrap())
                    .unwrap();
                sent += 1;
            }
            ring.wait(Some(Duration::from_millis(100)), &mut done)
                .unwrap();
            for d in done.clone() {
                match d {
                    Ready::Received { token, bid, len } => {
                        assert_eq!(token, 42 << 1);
                        let mut b = [0u8; 8];
                        let (n, from) = ring.packet(bid, len, &mut b).unwrap();
                        assert_eq!((n, from), (4, tx.local_addr().unwrap()));
                        got.push(u32::from_be_bytes(b[..4].try_into().unwrap()));
                    }
                    Ready::Ended { token, .. } => ring.arm(rx.as_raw_fd(), token).unwrap(),
                    Ready::Bell | Ready::Readable(_) => {}
                }
            }
        }
        assert_eq!(got, (0..total as u32).collect::<Vec<_>>());
        // Cancelled: the receive ends, and the bell still wakes the ring.
        ring.cancel(42 << 1).unwrap();
        bell.ring();
        let mut seen = Vec::new();
        while !(seen.contains(&Ready::Bell)
            && seen.iter().any(|d| matches!(d, Ready::Ended { .. })))
        {
            assert!(Instant::now() < deadline, "{seen:?}");
            ring.wait(Some(Duration::from_millis(100)), &mut done)
                .unwrap();
            seen.extend(&done);
        }
    }
}
