//! UDP: read datagrams in batches, send without awaiting when the socket has room.

use std::io;
use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// Largest datagram we accept; anything longer is truncated by the kernel and then
/// rejected by the parser's size limit.
pub const MAX_DATAGRAM: usize = 65_535;

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
