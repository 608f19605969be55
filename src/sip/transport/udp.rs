//! UDP: read datagrams in batches, send without awaiting when the socket has room.

use std::io;
use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// Largest datagram we accept; anything longer is truncated by the kernel and then
/// rejected by the parser's size limit.
pub const MAX_DATAGRAM: usize = 65_535;

/// Socket buffer we ask the kernel for: each queued datagram costs about 2 KiB of
/// accounting whatever its size, so the 208 KiB default holds only ~100 and a burst from
/// a few hundred phones at once is dropped (seen: SIPp with 200 registrations in flight).
pub const SOCKET_BUFFER: usize = 2 * 1024 * 1024;

/// A bound UDP socket, twice: the tokio handle (sleep until a datagram arrives, send)
/// and a duplicate descriptor of the same socket for reading while busy-polling.
///
/// Why two: tokio's `try_recv_from` answers `WouldBlock` from its cached readiness,
/// without asking the kernel, until the event loop has run again; a busy-poll through
/// it only spins. Reads through `poller` are real `recvfrom` calls.
pub struct UdpEndpoint {
    pub socket: UdpSocket,
    poller: std::net::UdpSocket,
}

impl UdpEndpoint {
    /// The next datagram if one is queued now (one system call, never blocks).
    pub fn poll_recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.poller.recv_from(buf)
    }

    /// Reads through tokio once, so that when nothing is queued tokio learns it and the
    /// next `readable()` sleeps in the event loop instead of returning at once.
    pub fn recv_or_rearm(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.socket.try_recv_from(buf)
    }
}

/// Binds a non-blocking UDP socket with large kernel buffers (capped by the kernel's
/// rmem_max/wmem_max; a refusal is not fatal).
pub fn bind(addr: SocketAddr) -> io::Result<UdpEndpoint> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = socket.set_recv_buffer_size(SOCKET_BUFFER) {
        tracing::debug!(error = %e, "cannot enlarge the UDP receive buffer");
    }
    if let Err(e) = socket.set_send_buffer_size(SOCKET_BUFFER) {
        tracing::debug!(error = %e, "cannot enlarge the UDP send buffer");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let poller = socket.try_clone()?.into();
    Ok(UdpEndpoint {
        socket: UdpSocket::from_std(socket.into())?,
        poller,
    })
}

/// Sends one datagram; waits for room only when the socket buffer is full.
pub async fn send(socket: &UdpSocket, bytes: &[u8], to: SocketAddr) {
    match socket.try_send_to(bytes, to) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            if let Err(e) = socket.send_to(bytes, to).await {
                tracing::debug!(peer = %to, error = %e, "UDP send failed");
            }
        }
        Err(e) => tracing::debug!(peer = %to, error = %e, "UDP send failed"),
    }
}
