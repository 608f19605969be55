//! Access control lists with FreeSWITCH's semantics: a named network list has a
//! default (allow or deny) and nodes that allow or deny a CIDR; the most specific node
//! that contains the address decides, the default otherwise. Where a list name is
//! expected, a bare address or CIDR is accepted too, as FreeSWITCH does.
//!
//! The built-in `*.auto` lists exist from the start; lists from `acl.conf.xml` join
//! them when that file is read (the trunks work).

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use crate::cidr::{Cidr, CidrError};

/// A named list: default, then allow/deny nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkList {
    pub default_allow: bool,
    nodes: Vec<(bool, Cidr)>,
}

impl NetworkList {
    pub fn new(default_allow: bool) -> NetworkList {
        NetworkList {
            default_allow,
            nodes: Vec::new(),
        }
    }

    pub fn allow(mut self, cidr: Cidr) -> NetworkList {
        self.nodes.push((true, cidr));
        self
    }

    pub fn deny(mut self, cidr: Cidr) -> NetworkList {
        self.nodes.push((false, cidr));
        self
    }

    /// The most specific node containing `ip` decides (a later node wins a tie, as in
    /// FreeSWITCH); no node: the default.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let mut best: Option<(u8, bool)> = None;
        for (allow, cidr) in &self.nodes {
            if cidr.contains(ip) && best.is_none_or(|(bits, _)| cidr.prefix() >= bits) {
                best = Some((cidr.prefix(), *allow));
            }
        }
        best.map_or(self.default_allow, |(_, allow)| allow)
    }
}

/// Why a list or address could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclError {
    BadCidr(CidrError),
    UnknownList(String),
}

impl fmt::Display for AclError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AclError::BadCidr(e) => write!(f, "{e}"),
            AclError::UnknownList(name) => write!(
                f,
                "no ACL list named {name:?}: use one of {} or an address/CIDR such as \
                 192.168.1.0/24",
                BUILT_IN.join(", ")
            ),
        }
    }
}

impl std::error::Error for AclError {}

/// Names of the built-in lists.
pub const BUILT_IN: &[&str] = &[
    "loopback.auto",
    "localnet.auto",
    "rfc1918.auto",
    "nat.auto",
    "wan.auto",
    "wan_v4.auto",
    "wan_v6.auto",
    "any_v4.auto",
    "any_v6.auto",
];

/// The built-in lists' blocks, all valid literals (a test checks): one that did not
/// parse would be left out rather than panic.
fn cidr(s: &str) -> Option<Cidr> {
    Cidr::parse(s).ok()
}

/// Every list the box knows, by name.
#[derive(Clone, Debug, Default)]
pub struct Acls {
    lists: HashMap<String, NetworkList>,
}

impl Acls {
    /// The built-in lists, as FreeSWITCH defines them: `localnet.auto` is the networks
    /// of the box's own interfaces (`local_networks`), `nat.auto` the private ranges
    /// that are not, `wan*.auto` everything but private and loopback ranges.
    pub fn built_in(local_networks: &[Cidr]) -> Acls {
        let private = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"];
        let loopback = ["127.0.0.0/8", "::1/128"];
        let link_local = ["169.254.0.0/16", "fe80::/10"];
        let mut lists = HashMap::new();
        let mut list = |name: &str, l: NetworkList| {
            lists.insert(name.to_string(), l);
        };
        let allow_all = |l: NetworkList, blocks: &[&str]| {
            blocks
                .iter()
                .filter_map(|b| cidr(b))
                .fold(l, NetworkList::allow)
        };
        let deny_all = |l: NetworkList, blocks: &[&str]| {
            blocks
                .iter()
                .filter_map(|b| cidr(b))
                .fold(l, NetworkList::deny)
        };

        list(
            "loopback.auto",
            allow_all(NetworkList::new(false), &loopback),
        );
        list(
            "rfc1918.auto",
            allow_all(
                allow_all(NetworkList::new(false), &private[..3]),
                &["fe80::/10"],
            ),
        );
        list(
            "localnet.auto",
            local_networks
                .iter()
                .fold(NetworkList::new(false), |l, c| l.allow(*c)),
        );
        list(
            "nat.auto",
            local_networks
                .iter()
                .fold(allow_all(NetworkList::new(false), &private[..3]), |l, c| {
                    l.deny(*c)
                }),
        );
        let wan = |default_v4: bool, default_v6: bool| {
            let mut l = NetworkList::new(false);
            if default_v4 {
                l = allow_all(l, &["0.0.0.0/0"]);
            }
            if default_v6 {
                l = allow_all(l, &["::/0"]);
            }
            deny_all(deny_all(deny_all(l, &private), &loopback), &link_local)
        };
        list("wan.auto", wan(true, true));
        list("wan_v4.auto", wan(true, false));
        list("wan_v6.auto", wan(false, true));
        list(
            "any_v4.auto",
            allow_all(NetworkList::new(false), &["0.0.0.0/0"]),
        );
        list("any_v6.auto", allow_all(NetworkList::new(false), &["::/0"]));
        Acls { lists }
    }

    /// Adds or replaces a list (from acl.conf.xml).
    pub fn insert(&mut self, name: &str, list: NetworkList) {
        self.lists.insert(name.to_string(), list);
    }

    /// What `name` (a list name, or an address/CIDR) resolves to, for checking config
    /// at start instead of refusing every connection later.
    pub fn resolve(&self, name: &str) -> Result<NetworkList, AclError> {
        if let Some(l) = self
            .lists
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            return Ok(l.1.clone());
        }
        match Cidr::parse(name) {
            Ok(c) => Ok(NetworkList::new(false).allow(c)),
            Err(e) if name.contains(['.', ':', '/']) && !name.ends_with(".auto") => {
                Err(AclError::BadCidr(e))
            }
            Err(_) => Err(AclError::UnknownList(name.to_string())),
        }
    }
}

/// The networks of this machine's interfaces, for `localnet.auto`: IPv4 from the
/// directly connected routes in /proc/net/route, IPv6 from /proc/net/if_inet6. Empty
/// where /proc is unreadable (then `localnet.auto` allows nothing).
pub fn local_networks() -> Vec<Cidr> {
    let mut out = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/proc/net/route") {
        out.extend(parse_proc_route(&text));
    }
    if let Ok(text) = std::fs::read_to_string("/proc/net/if_inet6") {
        out.extend(parse_if_inet6(&text));
    }
    out
}

/// Connected IPv4 networks (gateway 0) of /proc/net/route, loopback excluded.
fn parse_proc_route(text: &str) -> Vec<Cidr> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(dest), Some(gw), Some(mask)) = (f.get(1), f.get(2), f.get(7)) else {
            continue;
        };
        let hex = |s: &str| u32::from_str_radix(s, 16).ok();
        let (Some(dest), Some(gw), Some(mask)) = (hex(dest), hex(gw), hex(mask)) else {
            continue;
        };
        if gw != 0 || mask == 0 {
            continue;
        }
        // The kernel prints the address's bytes (network order) read as a native u32.
        let dest = Ipv4Addr::from(dest.to_ne_bytes());
        let prefix = mask.count_ones() as u8;
        if let Some(c) = Cidr::new(IpAddr::V4(dest), prefix) {
            if !c.contains(IpAddr::V4(Ipv4Addr::LOCALHOST)) && !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// Global and unique-local IPv6 networks of /proc/net/if_inet6.
fn parse_if_inet6(text: &str) -> Vec<Cidr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(addr), Some(prefix)) = (f.first(), f.get(2)) else {
            continue;
        };
        let (Ok(addr), Ok(prefix)) = (
            u128::from_str_radix(addr, 16),
            u8::from_str_radix(prefix, 16),
        ) else {
            continue;
        };
        let addr = Ipv6Addr::from(addr);
        if addr.is_loopback() || (addr.segments()[0] & 0xffc0) == 0xfe80 {
            continue;
        }
        if let Some(c) = Cidr::new(IpAddr::V6(addr), prefix) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn most_specific_node_wins_then_default() {
        let l = NetworkList::new(true)
            .deny(Cidr::parse("10.0.0.0/8").unwrap())
            .allow(Cidr::parse("10.1.0.0/16").unwrap())
            .deny(Cidr::parse("10.1.2.3/32").unwrap());
        assert!(!l.allows(ip("10.9.9.9")));
        assert!(l.allows(ip("10.1.9.9")));
        assert!(!l.allows(ip("10.1.2.3")));
        assert!(l.allows(ip("192.0.2.1")), "default allow");
    }

    #[test]
    fn built_in_lists() {
        let acls = Acls::built_in(&[Cidr::parse("192.168.7.0/24").unwrap()]);
        let allows = |name: &str, addr: &str| acls.resolve(name).unwrap().allows(ip(addr));
        assert!(allows("loopback.auto", "127.0.0.1"));
        assert!(allows("loopback.auto", "::1"));
        assert!(!allows("loopback.auto", "192.168.7.5"));
        assert!(allows("rfc1918.auto", "172.20.0.1"));
        assert!(!allows("rfc1918.auto", "172.32.0.1"));
        assert!(allows("localnet.auto", "192.168.7.5"));
        assert!(!allows("localnet.auto", "192.168.8.5"));
        assert!(allows("nat.auto", "192.168.8.5"), "private, not ours");
        assert!(!allows("nat.auto", "192.168.7.5"), "our own LAN is not NAT");
        assert!(allows("wan.auto", "203.0.113.9"));
        assert!(!allows("wan.auto", "10.1.1.1"));
        assert!(!allows("wan_v4.auto", "2001:db8::1"));
        assert!(allows("wan_v6.auto", "2001:db8::1"));
        assert!(allows("any_v4.auto", "10.1.1.1"));
        assert!(
            allows("LOOPBACK.AUTO", "127.0.0.2"),
            "names are case-insensitive"
        );
    }

    #[test]
    fn addresses_stand_in_for_lists_and_unknown_names_say_what_exists() {
        let acls = Acls::built_in(&[]);
        assert!(acls
            .resolve("127.0.0.2/32")
            .unwrap()
            .allows(ip("127.0.0.2")));
        assert!(!acls.resolve("127.0.0.2").unwrap().allows(ip("127.0.0.1")));
        let err = acls.resolve("lan").unwrap_err();
        assert_eq!(err, AclError::UnknownList("lan".into()));
        assert!(err.to_string().contains("loopback.auto"), "{err}");
        assert!(matches!(
            acls.resolve("10.0.0.0/40").unwrap_err(),
            AclError::BadCidr(e) if e.input == "10.0.0.0/40"
        ));
        let mut acls = acls;
        acls.insert(
            "lan",
            NetworkList::new(false).allow(Cidr::parse("10.0.0.0/8").unwrap()),
        );
        assert!(acls.resolve("lan").unwrap().allows(ip("10.2.3.4")));
    }

    #[test]
    fn local_networks_from_proc() {
        let route =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                     eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     lo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n";
        assert_eq!(
            parse_proc_route(route),
            vec![Cidr::parse("192.168.1.0/24").unwrap()]
        );
        let inet6 = "00000000000000000000000000000001 01 80 10 80       lo\n\
                     fe80000000000000021122fffe334455 02 40 20 80     eth0\n\
                     20010db8000000010000000000000005 02 40 00 80     eth0\n";
        assert_eq!(
            parse_if_inet6(inet6),
            vec![Cidr::parse("2001:db8:0:1::/64").unwrap()]
        );
    }
}
