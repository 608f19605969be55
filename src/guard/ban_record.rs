//! A ban as the store keeps it (tree `fail2ban_bans`, keyed by the address's text), so
//! bans survive a restart. Times are wall clock (Unix seconds): the monotonic clock
//! starts again at boot. A box without a real-time clock may boot with a wrong wall
//! clock, so the record also holds the ban's length, and a restored ban never lasts
//! longer than it was given (see guard::fail2ban::Fail2ban::restore).

use std::net::IpAddr;

use crate::store::{DecodeError, Reader, Record, Writer};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ban {
    /// IPv4-mapped IPv6 addresses are stored as IPv4.
    pub ip: IpAddr,
    pub banned_at_unix: u64,
    /// When it ends; 0 = permanent.
    pub expires_at_unix: u64,
    /// Its length in seconds, as given (0 = permanent).
    pub secs: u64,
    /// How many times this source has been banned in a row (1 = first offence).
    pub offences: u32,
    /// Why: a failure kind (`register-auth`, ...) or `api` for `fail2ban ban`.
    pub reason: String,
}

impl Ban {
    /// The store key: the address as text (`203.0.113.5`, `2001:db8::1`).
    pub fn key(&self) -> Vec<u8> {
        key(self.ip)
    }

    pub fn is_permanent(&self) -> bool {
        self.secs == 0
    }
}

/// The store key of `ip`'s ban.
pub fn key(ip: IpAddr) -> Vec<u8> {
    crate::cidr::canonical(ip).to_string().into_bytes()
}

impl Record for Ban {
    const TREE: &'static str = "fail2ban_bans";
    const VERSION: u8 = 1;

    fn encode(&self, w: &mut Writer) {
        match self.ip {
            IpAddr::V4(a) => {
                w.u8(4);
                w.u32(u32::from(a));
            }
            IpAddr::V6(a) => {
                w.u8(6);
                w.bytes(&a.octets());
            }
        }
        w.u64(self.banned_at_unix);
        w.u64(self.expires_at_unix);
        w.u64(self.secs);
        w.u32(self.offences);
        w.str(&self.reason);
    }

    fn decode(_version: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ip = match r.u8()? {
            4 => IpAddr::from(r.u32()?.to_be_bytes()),
            6 => {
                let b = r.bytes()?;
                let octets: [u8; 16] = b
                    .try_into()
                    .map_err(|_| DecodeError(format!("IPv6 address of {} bytes", b.len())))?;
                IpAddr::from(octets)
            }
            t => return Err(DecodeError(format!("bad address family {t}"))),
        };
        Ok(Ban {
            ip: crate::cidr::canonical(ip),
            banned_at_unix: r.u64()?,
            expires_at_unix: r.u64()?,
            secs: r.u64()?,
            offences: r.u32()?,
            reason: r.str()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Durability, Store};

    fn ban(ip: &str) -> Ban {
        Ban {
            ip: ip.parse().unwrap(),
            banned_at_unix: 1_700_000_000,
            expires_at_unix: 1_700_003_600,
            secs: 3600,
            offences: 2,
            reason: "register-auth".into(),
        }
    }

    #[test]
    fn bans_round_trip_and_truncation_is_an_error() {
        for ip in ["203.0.113.5", "2001:db8::7"] {
            let b = ban(ip);
            let bytes = b.to_bytes();
            assert_eq!(Ban::from_bytes(&bytes).unwrap(), b);
            for cut in 0..bytes.len() {
                assert!(Ban::from_bytes(&bytes[..cut]).is_err(), "{ip} cut at {cut}");
            }
        }
        let mut bad = ban("203.0.113.5").to_bytes();
        bad[1] = 9;
        assert!(Ban::from_bytes(&bad).is_err());
    }

    #[test]
    fn mapped_addresses_are_kept_as_ipv4() {
        let b = ban("::ffff:203.0.113.5");
        assert_eq!(b.key(), b"203.0.113.5");
        let back = Ban::from_bytes(&b.to_bytes()).unwrap();
        assert_eq!(back.ip, "203.0.113.5".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_ban_survives_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), 1 << 20).unwrap();
            let bans = store.tree::<Ban>().unwrap();
            let b = ban("198.51.100.9");
            bans.insert(&b.key(), &b, Durability::Critical).unwrap();
        }
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let bans = store.tree::<Ban>().unwrap();
        let all: Vec<Ban> = bans.iter().filter_map(|(_, b)| b.ok()).collect();
        assert_eq!(all, vec![ban("198.51.100.9")]);
    }
}
