//! The only part of the SIP stack that touches sockets: tokio UDP and TCP.
//!
//! Both deliver whole messages (a datagram, or one Content-Length-framed message from a
//! stream) to the profile's driver, which feeds the sans-IO core.

pub mod stun;
pub mod tcp;
pub mod udp;

use std::net::SocketAddr;
use tokio::sync::mpsc;

/// What TCP connection tasks tell the driver.
#[derive(Debug)]
pub enum StreamEvent {
    /// A connection opened; send bytes to the peer through `writer`.
    Opened {
        peer: SocketAddr,
        writer: mpsc::Sender<Vec<u8>>,
    },
    /// One framed SIP message.
    Message {
        peer: SocketAddr,
        bytes: Vec<u8>,
    },
    Closed {
        peer: SocketAddr,
    },
}
