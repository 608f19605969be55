//! RTP both ways through the gateway from two test-owned sockets (the phones' media
//! ports), counting what crosses: proof that media flows, not only signalling.

use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

/// Sends `packets` 20 ms PCMU packets from `a` to `to_a` and from `b` to `to_b` at
/// once, paced as a phone sends them; returns how many arrived at (a, b).
pub fn exchange(
    a: &UdpSocket,
    to_a: SocketAddr,
    b: &UdpSocket,
    to_b: SocketAddr,
    packets: u32,
) -> (u32, u32) {
    for s in [a, b] {
        s.set_nonblocking(true).expect("nonblocking");
    }
    let mut packet = [0u8; 172];
    let (mut at_a, mut at_b) = (0u32, 0u32);
    let mut buf = [0u8; 2048];
    let mut drain = |at_a: &mut u32, at_b: &mut u32| {
        while a.recv_from(&mut buf).is_ok() {
            *at_a += 1;
        }
        while b.recv_from(&mut buf).is_ok() {
            *at_b += 1;
        }
    };
    let start = Instant::now();
    for i in 0..packets {
        while start.elapsed() < Duration::from_millis(20 * u64::from(i)) {
            thread::sleep(Duration::from_millis(1));
        }
        for (sock, to, ssrc) in [(a, to_a, 0xAAAA_u32), (b, to_b, 0xBBBB)] {
            packet[0] = 0x80;
            packet[1] = 0;
            packet[2..4].copy_from_slice(&(i as u16).to_be_bytes());
            packet[4..8].copy_from_slice(&(160 * i).to_be_bytes());
            packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
            sock.send_to(&packet, to).expect("send RTP");
        }
        drain(&mut at_a, &mut at_b);
    }
    thread::sleep(Duration::from_millis(200));
    drain(&mut at_a, &mut at_b);
    (at_a, at_b)
}

/// The gateway's RTP port of a bridged call's inbound and outbound leg (from
/// `local_media_port`), waiting for both channels to exist.
pub fn leg_media_ports(gw: &super::Gateway) -> (u16, u16) {
    for _ in 0..100 {
        let uuids = gw.channel_uuids();
        let mut ports = std::collections::HashMap::new();
        for u in &uuids {
            let dir = gw
                .api(&format!("uuid_getvar {u} direction"))
                .trim()
                .to_string();
            let port: u16 = gw
                .api(&format!("uuid_getvar {u} local_media_port"))
                .trim()
                .parse()
                .unwrap_or(0);
            ports.insert(dir, port);
        }
        if let (Some(&i), Some(&o)) = (ports.get("inbound"), ports.get("outbound")) {
            return (i, o);
        }
        thread::sleep(Duration::from_millis(100));
    }
    panic!("no bridged call: {}\n{}", gw.api("show channels"), gw.log());
}
