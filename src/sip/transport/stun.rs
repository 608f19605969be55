//! Asking a STUN server (RFC 5389) which address the outside sees us at, for
//! `ext-sip-ip="stun:HOST"` and `ext-rtp-ip="stun:HOST"`. The codec is pure (a Binding
//! request to send, the mapped address read from the answer); [`query`] is the one
//! blocking round trip, done once at start.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const MAGIC_COOKIE: u32 = 0x2112_A442;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const MAPPED_ADDRESS: u16 = 0x0001;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;

/// A Binding request with transaction id `id`.
pub fn binding_request(id: [u8; 12]) -> [u8; 20] {
    let mut m = [0u8; 20];
    m[0..2].copy_from_slice(&BINDING_REQUEST.to_be_bytes());
    // Length 0: no attributes.
    m[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m[8..20].copy_from_slice(&id);
    m
}

/// The address a Binding success response for `id` reports (XOR-MAPPED-ADDRESS,
/// else the old MAPPED-ADDRESS); None for anything else.
pub fn mapped_address(msg: &[u8], id: [u8; 12]) -> Option<SocketAddr> {
    let header = msg.get(0..20)?;
    let kind = u16::from_be_bytes([header[0], header[1]]);
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if kind != BINDING_SUCCESS || header[4..8] != MAGIC_COOKIE.to_be_bytes() || header[8..20] != id
    {
        return None;
    }
    let mut attrs = msg.get(20..20 + len)?;
    let mut plain = None;
    while attrs.len() >= 4 {
        let kind = u16::from_be_bytes([attrs[0], attrs[1]]);
        let alen = usize::from(u16::from_be_bytes([attrs[2], attrs[3]]));
        let value = attrs.get(4..4 + alen)?;
        match kind {
            XOR_MAPPED_ADDRESS => return address(value, Some(&id)),
            MAPPED_ADDRESS => plain = address(value, None),
            _ => {}
        }
        // Attributes are padded to 4 bytes.
        let next = 4 + alen.div_ceil(4) * 4;
        attrs = attrs.get(next..).unwrap_or_default();
    }
    plain
}

/// An address attribute's value; XORed with the cookie (and `id`) when `xor` is set.
fn address(v: &[u8], xor: Option<&[u8; 12]>) -> Option<SocketAddr> {
    let family = *v.get(1)?;
    let mut port = u16::from_be_bytes([*v.get(2)?, *v.get(3)?]);
    let mut key = [0u8; 16];
    key[0..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    if let Some(id) = xor {
        port ^= (MAGIC_COOKIE >> 16) as u16;
        key[4..16].copy_from_slice(id);
    }
    let unmask = |bytes: &[u8]| -> Vec<u8> {
        bytes
            .iter()
            .zip(key.iter())
            .map(|(b, k)| if xor.is_some() { b ^ k } else { *b })
            .collect()
    };
    let ip = match family {
        0x01 => {
            let b = unmask(v.get(4..8)?);
            IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        }
        0x02 => {
            let b: [u8; 16] = unmask(v.get(4..20)?).try_into().ok()?;
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Our address as `server` (`host[:port]`, port 3478 by default) sees it, asked from
/// `local` (an address of this box); retried over `timeout`.
pub fn query(server: &str, local: IpAddr, timeout: Duration) -> Result<IpAddr, String> {
    let to = super::resolve(server, 3478)
        .map_err(|e| format!("STUN server: {e}"))?
        .into_iter()
        .find(|a| a.is_ipv4() == local.is_ipv4())
        .ok_or_else(|| format!("STUN server {server} has no address of our family"))?;
    let sock = UdpSocket::bind(SocketAddr::new(local, 0))
        .map_err(|e| format!("cannot open a socket on {local}: {e}"))?;
    let id: [u8; 12] = {
        let r = crate::sip::auth::random_secret()
            .map_err(|e| format!("no randomness for a STUN transaction id: {e}"))?;
        let mut id = [0u8; 12];
        id.copy_from_slice(&r[..12]);
        id
    };
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 548];
    let mut wait = Duration::from_millis(250);
    while Instant::now() < deadline {
        sock.send_to(&binding_request(id), to)
            .map_err(|e| format!("cannot send to STUN server {to}: {e}"))?;
        let until = (Instant::now() + wait).min(deadline);
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match sock.recv_from(&mut buf) {
                Ok((n, from)) if from == to => {
                    if let Some(mapped) = buf.get(..n).and_then(|m| mapped_address(m, id)) {
                        return Ok(mapped.ip());
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        wait *= 2;
    }
    Err(format!(
        "no answer from STUN server {to} within {timeout:?}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5769 §2.2: a sample IPv4 Binding response (192.0.2.1:32853).
    #[test]
    fn reads_the_rfc_5769_sample_response() {
        let id = [
            0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
        ];
        let msg: [u8; 80] = [
            0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
            0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74,
            0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01,
            0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99,
            0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b,
            0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
        ];
        assert_eq!(
            mapped_address(&msg, id),
            Some("192.0.2.1:32853".parse().expect("addr"))
        );
        // Another transaction's answer is not ours.
        assert_eq!(mapped_address(&msg, [0; 12]), None);
        // Truncated: nothing, no panic.
        for n in 0..msg.len() {
            let _ = mapped_address(&msg[..n], id);
        }
    }

    #[test]
    fn a_request_is_a_bare_binding_with_the_cookie() {
        let r = binding_request([7; 12]);
        assert_eq!(&r[0..8], &[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]);
        assert_eq!(&r[8..], &[7; 12]);
    }
}
