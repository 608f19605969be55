//! Free loopback ports for tests that run in parallel (nextest runs each test
//! in its own process, so a process-local registry is not enough: we ask the
//! kernel, and callers retry when a port was taken between pick and bind).

use std::collections::HashSet;
use std::net::{TcpListener, UdpSocket};
use std::sync::Mutex;

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

fn not_handed_out(port: u16) -> bool {
    let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let set = guard.get_or_insert_with(HashSet::new);
    set.insert(port)
}

/// A port free for both UDP and TCP on 127.0.0.1 (SIP listens on both).
pub fn free_udp_tcp_port() -> u16 {
    for _ in 0..200 {
        let Ok(udp) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = udp.local_addr() else { continue };
        let port = addr.port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && not_handed_out(port) {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1 after 200 tries");
}

/// A free TCP port on 127.0.0.1.
pub fn free_tcp_port() -> u16 {
    for _ in 0..200 {
        let Ok(l) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = l.local_addr() else { continue };
        if not_handed_out(addr.port()) {
            return addr.port();
        }
    }
    panic!("no free TCP port on 127.0.0.1 after 200 tries");
}

/// A free UDP port on 127.0.0.1.
pub fn free_udp_port() -> u16 {
    for _ in 0..200 {
        let Ok(s) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = s.local_addr() else { continue };
        if not_handed_out(addr.port()) {
            return addr.port();
        }
    }
    panic!("no free UDP port on 127.0.0.1 after 200 tries");
}
