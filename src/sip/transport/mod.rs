//! The only part of the SIP stack that touches sockets: tokio UDP and TCP.
//!
//! Both deliver whole messages (a datagram, or one Content-Length-framed message from a
//! stream) to the profile's driver, which feeds the sans-IO core.

pub mod stun;
pub mod tcp;
pub mod udp;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use tokio::sync::mpsc;

/// `host[:port]` — a name, an IPv4 address, `[v6]:port` or a bare IPv6 address — to
/// its addresses, with `default_port` when it names none. Blocking (DNS): for start-up
/// and API commands, never the driver's task.
pub fn resolve(target: &str, default_port: u16) -> Result<Vec<SocketAddr>, String> {
    let target = target.trim();
    if let Ok(a) = target.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    if let Ok(ip) = target
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(vec![SocketAddr::new(ip, default_port)]);
    }
    let with_port = match target.rsplit_once(':') {
        Some((_, port)) if port.parse::<u16>().is_ok() => target.to_string(),
        _ => format!("{target}:{default_port}"),
    };
    let addrs: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {target:?}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{target:?} resolves to no address"));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn addresses_and_names_resolve_with_the_default_port() {
        let first = |t: &str| resolve(t, 5060).map(|a| a[0].to_string());
        assert_eq!(first("127.0.0.1").unwrap(), "127.0.0.1:5060");
        assert_eq!(first("127.0.0.1:5080").unwrap(), "127.0.0.1:5080");
        assert_eq!(first("[::1]:5070").unwrap(), "[::1]:5070");
        assert_eq!(first("::1").unwrap(), "[::1]:5060");
        assert_eq!(first("[::1]").unwrap(), "[::1]:5060");
        assert_eq!(
            first("localhost:5090").unwrap().rsplit(':').next(),
            Some("5090")
        );
        assert!(resolve("no-such-host.invalid", 5060).is_err());
    }
}

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
