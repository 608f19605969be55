//! Raw SIP over UDP/TCP for tests that need exact bytes (malformed input,
//! header checks) rather than a SIPp scenario.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A unique token for branches, tags and Call-IDs.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// A UDP socket on 127.0.0.1 with a bounded read timeout.
pub fn udp_socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind UDP socket");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("set read timeout");
    s
}

/// Builds a request with the usual headers. `extra` lines end in CRLF.
pub fn request(
    method: &str,
    target: SocketAddr,
    local: SocketAddr,
    transport: &str,
    extra: &str,
) -> String {
    request_with(method, target, local, transport, extra, "70")
}

/// Like [`request`] with an explicit Max-Forwards value.
pub fn request_with(
    method: &str,
    target: SocketAddr,
    local: SocketAddr,
    transport: &str,
    extra: &str,
    max_forwards: &str,
) -> String {
    format!(
        "{method} sip:{target} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK{branch}\r\n\
         Max-Forwards: {max_forwards}\r\n\
         From: <sip:tester@127.0.0.1>;tag={tag}\r\n\
         To: <sip:{target}>\r\n\
         Call-ID: {cid}@127.0.0.1\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:tester@{local}>\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n",
        branch = unique("b"),
        tag = unique("t"),
        cid = unique("c"),
    )
}

/// Sends one datagram and returns the first answer within `wait`
/// (ignoring 1xx), or `None`.
pub fn udp_exchange(
    sock: &UdpSocket,
    target: SocketAddr,
    data: &[u8],
    wait: Duration,
) -> Option<String> {
    sock.send_to(data, target).expect("send UDP datagram");
    udp_recv_final(sock, wait)
}

/// Receives datagrams until a non-1xx one arrives or `wait` passes.
pub fn udp_recv_final(sock: &UdpSocket, wait: Duration) -> Option<String> {
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline {
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if status_code(&text).is_some_and(|c| c < 200) {
                    continue;
                }
                return Some(text);
            }
            Err(_) => continue,
        }
    }
    None
}

/// Drains whatever is queued on the socket (late answers, retransmissions).
pub fn udp_drain(sock: &UdpSocket) {
    let mut buf = vec![0u8; 65536];
    let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
    while sock.recv_from(&mut buf).is_ok() {}
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
}

/// OPTIONS over UDP from a fresh socket: the final response, if any.
pub fn udp_options(target: SocketAddr) -> Option<String> {
    let sock = udp_socket();
    let local = sock.local_addr().expect("local addr");
    let req = request("OPTIONS", target, local, "UDP", "");
    udp_exchange(&sock, target, req.as_bytes(), Duration::from_secs(3))
}

/// Status code of a response's status line.
pub fn status_code(msg: &str) -> Option<u16> {
    let line = msg.lines().next()?;
    let rest = line.strip_prefix("SIP/2.0 ")?;
    rest.get(..3)?.parse().ok()
}

/// Value of the first header named `name` (case-insensitive, compact forms
/// not expanded).
pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n\r\n").next()?.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Connects over TCP with bounded timeouts.
pub fn tcp_connect(target: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&target, Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("TCP connect to {target}: {e}"));
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("set read timeout");
    s.set_write_timeout(Some(Duration::from_secs(3)))
        .expect("set write timeout");
    s
}

/// What happened on a TCP stream after we wrote to it.
#[derive(Debug)]
pub enum TcpResult {
    /// The server closed (or reset) the connection; bytes it sent first.
    Closed(String),
    /// Still open after the wait; bytes received so far.
    Open(String),
}

impl TcpResult {
    pub fn text(&self) -> &str {
        match self {
            TcpResult::Closed(s) | TcpResult::Open(s) => s,
        }
    }
}

/// Writes `data` (errors such as a reset mid-write count as a close) and
/// reads for `wait`, stopping early when a complete final response arrived.
pub fn tcp_exchange(stream: &mut TcpStream, data: &[u8], wait: Duration) -> TcpResult {
    let mut got = Vec::new();
    if stream.write_all(data).is_err() {
        return TcpResult::Closed(String::new());
    }
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return TcpResult::Closed(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if text.contains("\r\n\r\n") && status_code(&text).is_some_and(|c| c >= 200) {
                    return TcpResult::Open(text.into_owned());
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(_) => return TcpResult::Closed(String::from_utf8_lossy(&got).into_owned()),
        }
    }
    TcpResult::Open(String::from_utf8_lossy(&got).into_owned())
}
