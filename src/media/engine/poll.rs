//! The few system calls the media thread needs that std does not offer: a
//! level-triggered epoll set, an eventfd to wake it, and `recvmmsg` to read what a
//! socket holds in one call: the epoll backend, and the bell both backends ring. Every
//! `unsafe` block of the media engine is here or in `uring`, each with what makes it
//! sound.
//!
//! Why not tokio: its readiness is edge-triggered, so each wake-up must read a socket
//! until it reports "empty" — a third system call for every packet that arrives alone,
//! which at 50 packets a second per leg is every packet (measured: 3.3 calls per
//! relayed packet, against 2.1 with this loop).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// An epoll set, level-triggered: a socket with data stays ready until read.
pub struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    pub fn new(capacity: usize) -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; a negative result is an error.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a new descriptor this process owns and nobody else holds.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll {
            fd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; capacity.max(1)],
        })
    }

    /// Watches `fd` for input; `token` comes back with its readiness.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: ev is a valid epoll_event for the duration of the call.
        let r = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn remove(&self, fd: RawFd) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as in add; a descriptor not in the set is an error we ignore.
        unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) };
    }

    /// Waits up to `timeout` (None: until something is ready) and puts the tokens of
    /// what is ready in `ready` (cleared first).
    pub fn wait(&mut self, timeout: Option<Duration>, ready: &mut Vec<u64>) -> io::Result<()> {
        ready.clear();
        let ms = match timeout {
            None => -1,
            // Round up: waking a little late is fine, spinning on a 0 ms wait is not.
            Some(t) => i32::try_from(t.as_micros().div_ceil(1000)).unwrap_or(i32::MAX),
        };
        // SAFETY: the buffer holds events.len() entries and outlives the call.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as i32,
                ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::Interrupted => Ok(()),
                _ => Err(e),
            };
        }
        for ev in &self.events[..n as usize] {
            let token = ev.u64;
            ready.push(token);
        }
        Ok(())
    }
}

/// A counter another thread bumps to wake the epoll loop (commands waiting).
pub struct Bell {
    fd: OwnedFd,
}

impl Bell {
    pub fn new() -> io::Result<Bell> {
        // SAFETY: eventfd takes no pointers; a negative result is an error.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor this process owns.
        Ok(Bell {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one`; a full counter (EAGAIN) still wakes.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Resets the counter after a wake-up.
    pub fn clear(&self) {
        let mut n: u64 = 0;
        // SAFETY: reads at most 8 bytes into `n`; EAGAIN (nothing rung) is fine.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut n as *mut u64).cast(), 8) };
    }
}

/// How many datagrams one `recvmmsg` takes at most.
pub const BATCH: usize = 8;
/// Room for one datagram (larger ones are cut).
pub const DATAGRAM: usize = 2048;

/// Receive buffers and headers for `recvmmsg`, allocated once for the thread.
pub struct Batch {
    bufs: Box<[[u8; DATAGRAM]; BATCH]>,
    addrs: [libc::sockaddr_storage; BATCH],
    lens: [usize; BATCH],
}

impl Batch {
    pub fn new() -> Batch {
        Batch {
            bufs: Box::new([[0; DATAGRAM]; BATCH]),
            // SAFETY: sockaddr_storage is plain old data; all zeros is a valid value.
            addrs: unsafe { std::mem::zeroed() },
            lens: [0; BATCH],
        }
    }

    /// Reads what `fd` holds, up to [`BATCH`] datagrams, without blocking; returns
    /// how many (0 when there was nothing).
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let mut iovs: [libc::iovec; BATCH] = std::array::from_fn(|i| libc::iovec {
            iov_base: self.bufs[i].as_mut_ptr().cast(),
            iov_len: DATAGRAM,
        });
        // SAFETY: mmsghdr is plain old data; zeroed then filled below.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (i, m) in msgs.iter_mut().enumerate() {
            m.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as _;
            m.msg_hdr.msg_iov = &mut iovs[i];
            m.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every pointer in msgs points into self or iovs, which outlive the
        // call; vlen matches the array.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                BATCH as _,
                libc::MSG_DONTWAIT as _,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        let n = n as usize;
        for (i, m) in msgs.iter().take(n).enumerate() {
            self.lens[i] = (m.msg_len as usize).min(DATAGRAM);
        }
        Ok(n)
    }

    /// Datagram `i` of the last `recv`: its bytes (writable, for rewriting in place)
    /// and its source.
    pub fn get(&mut self, i: usize) -> Option<(&mut [u8], SocketAddr)> {
        let from = sockaddr_to_std(&self.addrs[i])?;
        Some((&mut self.bufs[i][..self.lens[i]], from))
    }

    /// A scratch buffer (the tone generator writes packets into it).
    pub fn scratch(&mut self) -> &mut [u8] {
        &mut self.bufs[0][..]
    }
}

pub fn sockaddr_to_std(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(ss as *const libc::sockaddr_storage).cast() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(ss as *const libc::sockaddr_storage).cast() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn a_batch_reads_what_a_socket_holds_and_epoll_reports_it_until_read() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut ep = Epoll::new(8).unwrap();
        ep.add(rx.as_raw_fd(), 7).unwrap();
        let mut ready = Vec::new();
        ep.wait(Some(Duration::from_millis(1)), &mut ready).unwrap();
        assert!(ready.is_empty());
        for i in 0..3u8 {
            tx.send_to(&[i; 20], rx.local_addr().unwrap()).unwrap();
        }
        ep.wait(Some(Duration::from_secs(1)), &mut ready).unwrap();
        assert_eq!(ready, [7]);
        let mut batch = Batch::new();
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 3);
        let (bytes, from) = batch.get(2).unwrap();
        assert_eq!((bytes.len(), bytes[0]), (20, 2));
        assert_eq!(from, tx.local_addr().unwrap());
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 0);
        ep.wait(Some(Duration::from_millis(1)), &mut ready).unwrap();
        assert!(ready.is_empty(), "read: no longer ready");
        let bell = Bell::new().unwrap();
        ep.add(bell.raw(), 9).unwrap();
        bell.ring();
        ep.wait(Some(Duration::from_secs(1)), &mut ready).unwrap();
        assert_eq!(ready, [9]);
        ep.wait(Some(Duration::from_millis(1)), &mut ready).unwrap();
        assert_eq!(ready, [9], "level-triggered: rung until cleared");
        bell.clear();
        ep.wait(Some(Duration::from_millis(1)), &mut ready).unwrap();
        assert!(ready.is_empty());
    }
}
