//! Address blocks (`10.0.0.0/8`, `2001:db8::/32`), a leaf module: config validates
//! them with file and line, guard matches peers against them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address block, `10.0.0.0/8` or `2001:db8::/32`; a bare address is a /32 or /128.
/// IPv4-mapped IPv6 blocks (`::ffff:10.0.0.0/104`) are kept as the IPv4 block they
/// name, as peers with such addresses are matched as IPv4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a text is not an address block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CidrError {
    /// The text, trimmed.
    pub input: String,
    reason: &'static str,
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an address or CIDR block ({}; e.g. 192.168.1.0/24 or 2001:db8::/32)",
            self.input, self.reason
        )
    }
}

impl std::error::Error for CidrError {}

impl Cidr {
    /// `None` for a prefix longer than the address family allows.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return None;
        }
        if let IpAddr::V6(v6) = addr {
            if let (Some(v4), true) = (v6.to_ipv4_mapped(), prefix >= 96) {
                return Cidr::new(IpAddr::V4(v4), prefix - 96);
            }
        }
        Some(Cidr {
            network: mask(addr, prefix),
            prefix,
        })
    }

    /// An IPv4 address and a dotted netmask (`192.168.1.0` + `255.255.255.0`), the
    /// `host=`/`mask=` form of FreeSWITCH's ACL nodes. `None` when the mask's ones are
    /// not contiguous.
    pub fn from_netmask(addr: Ipv4Addr, netmask: Ipv4Addr) -> Option<Cidr> {
        let m = u32::from(netmask);
        let prefix = m.leading_ones();
        // Contiguous: every one bit before every zero bit.
        (m.count_ones() == prefix).then(|| Cidr::new(IpAddr::V4(addr), prefix as u8))?
    }

    pub fn parse(s: &str) -> Result<Cidr, CidrError> {
        let s = s.trim();
        let bad = |reason| CidrError {
            input: s.to_string(),
            reason,
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (
                a,
                Some(
                    p.parse::<u8>()
                        .map_err(|_| bad("the prefix after / is not a number of bits"))?,
                ),
            ),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| bad("not an IPv4 or IPv6 address"))?;
        let prefix = prefix.unwrap_or(if addr.is_ipv4() { 32 } else { 128 });
        Cidr::new(addr, prefix).ok_or_else(|| {
            bad(if addr.is_ipv4() {
                "an IPv4 prefix is at most /32"
            } else {
                "an IPv6 prefix is at most /128"
            })
        })
    }

    /// A comma-separated list (a directory user's `cidr="10.0.0.5/32,10.1.0.0/16"`);
    /// empty items are skipped.
    pub fn parse_list(s: &str) -> Result<Vec<Cidr>, CidrError> {
        s.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(Cidr::parse)
            .collect()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The first address of the block.
    pub fn network(&self) -> IpAddr {
        self.network
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// IPv4-mapped IPv6 peers (a dual-stack listener's view of IPv4) count as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_mask_and_match() {
        let c = Cidr::parse("192.168.1.77/24").unwrap();
        assert_eq!(c.to_string(), "192.168.1.0/24");
        assert!(c.contains(ip("192.168.1.200")));
        assert!(!c.contains(ip("192.168.2.1")));
        assert!(c.contains(ip("::ffff:192.168.1.9")), "IPv4-mapped peers");
        assert!(Cidr::parse("10.0.0.1").unwrap().contains(ip("10.0.0.1")));
        assert!(!Cidr::parse("10.0.0.1").unwrap().contains(ip("10.0.0.2")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(!Cidr::parse("0.0.0.0/0").unwrap().contains(ip("::1")));
        assert!(Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains(ip("2001:db8:1::5")));
        assert!(!Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains(ip("2001:db9::5")));
        for bad in ["10.0.0.0/33", "::/129", "10.0.0/8", "x", "10.0.0.0/", ""] {
            assert_eq!(Cidr::parse(bad).unwrap_err().input, bad);
        }
    }

    #[test]
    fn errors_say_why_and_give_an_example() {
        let e = Cidr::parse(" 10.0.0.0/33 ").unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"10.0.0.0/33\" is not an address or CIDR block (an IPv4 prefix is at most \
             /32; e.g. 192.168.1.0/24 or 2001:db8::/32)"
        );
        assert!(Cidr::parse("10.0.0.0/x")
            .unwrap_err()
            .to_string()
            .contains("not a number of bits"));
        assert!(Cidr::parse("lan")
            .unwrap_err()
            .to_string()
            .contains("not an IPv4 or IPv6 address"));
    }

    #[test]
    fn ipv4_mapped_blocks_become_ipv4_blocks() {
        let c = Cidr::parse("::ffff:192.168.0.0/112").unwrap();
        assert_eq!(c.to_string(), "192.168.0.0/16");
        assert!(c.contains(ip("192.168.3.4")));
        assert!(c.contains(ip("::ffff:192.168.3.4")));
        assert!(!c.contains(ip("192.169.0.1")));
        assert_eq!(
            Cidr::parse("::ffff:10.1.2.3").unwrap(),
            Cidr::parse("10.1.2.3/32").unwrap()
        );
        // Shorter than /96 it covers more than mapped addresses: stays IPv6.
        assert!(Cidr::parse("::ffff:0.0.0.0/80")
            .unwrap()
            .network()
            .is_ipv6());
    }

    #[test]
    fn netmasks_must_be_contiguous() {
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            Cidr::from_netmask(a("192.168.5.9"), a("255.255.255.0")),
            Cidr::parse("192.168.5.0/24").ok()
        );
        assert_eq!(
            Cidr::from_netmask(a("10.0.0.0"), a("0.0.0.0")),
            Cidr::parse("0.0.0.0/0").ok()
        );
        assert_eq!(
            Cidr::from_netmask(a("10.0.0.1"), a("255.255.255.255")),
            Cidr::parse("10.0.0.1/32").ok()
        );
        assert_eq!(Cidr::from_netmask(a("10.0.0.0"), a("255.0.255.0")), None);
        assert_eq!(Cidr::from_netmask(a("10.0.0.0"), a("0.255.255.255")), None);
    }

    #[test]
    fn comma_separated_lists() {
        assert_eq!(
            Cidr::parse_list(" 10.0.0.5/32, ,2001:db8::/48,").unwrap(),
            vec![
                Cidr::parse("10.0.0.5").unwrap(),
                Cidr::parse("2001:db8::/48").unwrap()
            ]
        );
        assert_eq!(Cidr::parse_list("").unwrap(), vec![]);
        assert_eq!(
            Cidr::parse_list("10.0.0.0/8,10.0.0.0/99")
                .unwrap_err()
                .input,
            "10.0.0.0/99"
        );
    }
}
