//! The RTP port range: even RTP port, odd RTCP port above it (RFC 3550 §11), handed
//! out round-robin so a port just freed is the last to be reused (a late packet of the
//! previous call does not land in the next one), skipping pairs another program holds.
//! Locked only when a session opens or closes, never per packet.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

use super::{MediaId, MediaStatus};

#[derive(Debug)]
pub(crate) struct PortTable {
    ip: IpAddr,
    /// The first even port of the range.
    first: u16,
    /// `in_use[i]` is the pair `first + 2i`, `first + 2i + 1`.
    in_use: Vec<bool>,
    next: usize,
    /// Open sessions and their RTP port.
    sessions: HashMap<MediaId, u16>,
    max_sessions: usize,
    range: (u16, u16),
    /// Opens refused (range exhausted or max_sessions reached), for `status`.
    refused: u64,
}

impl PortTable {
    pub fn new(ip: IpAddr, port_min: u16, port_max: u16, max_sessions: usize) -> PortTable {
        let first = port_min.saturating_add(port_min % 2);
        // Whole pairs only: an odd last port without its partner is not used.
        let ports = (u32::from(port_max) + 1).saturating_sub(u32::from(first));
        let pairs = (ports / 2) as usize;
        PortTable {
            ip,
            first,
            in_use: vec![false; pairs],
            next: 0,
            sessions: HashMap::new(),
            max_sessions,
            range: (port_min, port_max),
            refused: 0,
        }
    }

    /// Binds a free pair for `id`: the RTP socket, the RTCP socket, non-blocking.
    pub fn open(&mut self, id: MediaId) -> io::Result<(UdpSocket, UdpSocket)> {
        if self.sessions.contains_key(&id) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("media session {id} is already open"),
            ));
        }
        if self.sessions.len() >= self.max_sessions {
            self.refused += 1;
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!(
                    "media: max_sessions ({}) reached; raise it or wait for calls to end",
                    self.max_sessions
                ),
            ));
        }
        let pairs = self.in_use.len();
        let mut failed = 0;
        let mut last_error = None;
        for k in 0..pairs {
            let i = (self.next + k) % pairs;
            if self.in_use[i] {
                continue;
            }
            let rtp_port = self.first + 2 * i as u16;
            match bind_pair(self.ip, rtp_port) {
                Ok((rtp, rtcp)) => {
                    self.in_use[i] = true;
                    self.next = (i + 1) % pairs;
                    self.sessions.insert(id, rtp_port);
                    return Ok((rtp, rtcp));
                }
                Err(e)
                    if e.raw_os_error() == Some(libc::EMFILE)
                        || e.raw_os_error() == Some(libc::ENFILE) =>
                {
                    // Not a busy port: no socket can be made at all. Trying the rest of
                    // the range would only burn CPU, and "widen the range" would mislead.
                    self.refused += 1;
                    return Err(io::Error::new(
                        e.kind(),
                        format!(
                            "media: cannot open RTP sockets: {e}; each call leg needs two \
                             descriptors: raise the open-file limit (LimitNOFILE= in the \
                             service, ulimit -n) or lower max-sessions"
                        ),
                    ));
                }
                Err(e) => {
                    tracing::debug!(port = rtp_port, error = %e, "RTP port pair busy, skipped");
                    failed += 1;
                    last_error = Some(e);
                }
            }
        }
        let in_use = self.in_use.iter().filter(|u| **u).count();
        self.refused += 1;
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "media: RTP port range {}-{} on {} exhausted ({} pairs: {} in use, {} failed to bind{}); widen rtp-start-port/rtp-end-port",
                self.range.0,
                self.range.1,
                self.ip,
                pairs,
                in_use,
                failed,
                match last_error {
                    Some(e) => format!(", last error: {e}"),
                    None => String::new(),
                }
            ),
        ))
    }

    /// The numbers `status` shows.
    pub fn status(&self) -> MediaStatus {
        MediaStatus {
            sessions: self.sessions.len(),
            max_sessions: self.max_sessions,
            port_pairs: self.in_use.len(),
            refused_opens: self.refused,
        }
    }

    /// Frees `id`'s pair (after its sockets are closed).
    pub fn close(&mut self, id: MediaId) {
        if let Some(port) = self.sessions.remove(&id) {
            let i = usize::from((port - self.first) / 2);
            if let Some(slot) = self.in_use.get_mut(i) {
                *slot = false;
            }
        }
    }
}

fn bind_pair(ip: IpAddr, rtp_port: u16) -> io::Result<(UdpSocket, UdpSocket)> {
    let rtp = UdpSocket::bind(SocketAddr::new(ip, rtp_port))?;
    let rtcp = UdpSocket::bind(SocketAddr::new(ip, rtp_port + 1))?;
    rtp.set_nonblocking(true)?;
    rtcp.set_nonblocking(true)?;
    Ok((rtp, rtcp))
}
