//! Access control lists with FreeSWITCH's semantics: a named network list has a
//! default (allow or deny) and nodes that allow or deny a CIDR; the most specific node
//! that contains the address decides (the first one on a tie), the default otherwise.
//! Where a list name is expected, a bare address or CIDR (or several, comma-separated)
//! is accepted too, as FreeSWITCH does.
//!
//! The built-in `*.auto` lists exist from the start; `Acls::from_config` adds the
//! lists of `acl.conf.xml`, a `domain=` node standing for the `cidr` networks of that
//! domain's users, so a match can name the user (`1001@example.com`), as FreeSWITCH's
//! ACL token does.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

pub use crate::cidr::{Cidr, CidrError};
use crate::config::acl::{AclConfig, NodeTarget};
use crate::config::{ConfigErrors, Diags, Domain};

/// One node: allow or deny a block, for a directory user when it came from a
/// `domain=` node.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Node {
    allow: bool,
    cidr: Cidr,
    user: Option<String>,
}

/// A named list: default, then allow/deny nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkList {
    pub default_allow: bool,
    nodes: Vec<Node>,
}

impl NetworkList {
    pub fn new(default_allow: bool) -> NetworkList {
        NetworkList {
            default_allow,
            nodes: Vec::new(),
        }
    }

    pub fn allow(self, cidr: Cidr) -> NetworkList {
        self.node(true, cidr, None)
    }

    pub fn deny(self, cidr: Cidr) -> NetworkList {
        self.node(false, cidr, None)
    }

    /// Adds a node; `user` (`id@domain`) is who an address it decides for is.
    pub fn node(mut self, allow: bool, cidr: Cidr, user: Option<String>) -> NetworkList {
        self.nodes.push(Node { allow, cidr, user });
        self
    }

    /// How many nodes the list has (domain nodes count once per user block).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The most specific node containing `ip`; the first one on a tie (FreeSWITCH
    /// walks its nodes newest first and lets an equal prefix replace the best so far,
    /// so the first in the file wins).
    fn decider(&self, ip: IpAddr) -> Option<&Node> {
        let mut best: Option<&Node> = None;
        for n in &self.nodes {
            if n.cidr.contains(ip) && best.is_none_or(|b| n.cidr.prefix() > b.cidr.prefix()) {
                best = Some(n);
            }
        }
        best
    }

    /// The deciding node's verdict; no node: the default.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.decider(ip).map_or(self.default_allow, |n| n.allow)
    }

    /// The directory user (`id@domain`) whose network allowed `ip`, when a `domain=`
    /// node decided: FreeSWITCH's ACL token, which mod_sofia treats as that user.
    pub fn matching_user(&self, ip: IpAddr) -> Option<&str> {
        self.decider(ip)
            .filter(|n| n.allow)
            .and_then(|n| n.user.as_deref())
    }
}

/// Why a list or address could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclError {
    BadCidr(CidrError),
    /// The name, and the lists that exist (sorted).
    UnknownList(String, Vec<String>),
}

impl fmt::Display for AclError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AclError::BadCidr(e) => write!(f, "{e}"),
            AclError::UnknownList(name, known) => write!(
                f,
                "no ACL list named {name:?}: use one of {} (lists come from \
                 autoload_configs/acl.conf.xml) or an address/CIDR such as 192.168.1.0/24",
                known.join(", ")
            ),
        }
    }
}

impl std::error::Error for AclError {}

/// Names of the built-in lists.
pub use crate::config::acl::BUILT_IN_LISTS as BUILT_IN;

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
    /// that are not, `wan*.auto` everything but private, shared (RFC 6598), link-local
    /// and loopback ranges.
    pub fn built_in(local_networks: &[Cidr]) -> Acls {
        let private = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"];
        let shared = "100.64.0.0/10";
        let loopback = ["127.0.0.0/8", "::1/128"];
        let not_wan = ["0.0.0.0/8", shared, "169.254.0.0/16", "fe80::/10"];
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
            "rfc6598.auto",
            allow_all(NetworkList::new(false), &[shared]),
        );
        list(
            "localnet.auto",
            local_networks
                .iter()
                .fold(NetworkList::new(false), |l, c| l.allow(*c)),
        );
        // Our own networks first: on a tie (a LAN that is exactly 10.0.0.0/8) the
        // first node wins, and our LAN is not behind NAT.
        list(
            "nat.auto",
            allow_all(
                allow_all(
                    local_networks
                        .iter()
                        .fold(NetworkList::new(false), |l, c| l.deny(*c)),
                    &private[..3],
                ),
                &[shared],
            ),
        );
        let wan = |default_v4: bool, default_v6: bool| {
            let mut l = NetworkList::new(false);
            if default_v4 {
                l = allow_all(l, &["0.0.0.0/0"]);
            }
            if default_v6 {
                l = allow_all(l, &["::/0"]);
            }
            deny_all(deny_all(deny_all(l, &private), &loopback), &not_wan)
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

    /// The built-in lists plus those of acl.conf.xml (config validated the names: none
    /// redefines a built-in). A `domain=` node becomes one node per block of each of
    /// that domain's users' `cidr`, with the node's allow/deny, in directory order; a
    /// domain the directory lacks adds nothing (config warned).
    pub fn from_config(config: &AclConfig, domains: &[Domain], local_networks: &[Cidr]) -> Acls {
        let mut acls = Acls::built_in(local_networks);
        for l in &config.lists {
            let mut list = NetworkList::new(l.default_allow);
            for n in &l.nodes {
                match &n.what {
                    NodeTarget::Cidr(c) => list = list.node(n.allow, *c, None),
                    NodeTarget::Domain(name) => {
                        let Some(d) = domains.iter().find(|d| d.name.eq_ignore_ascii_case(name))
                        else {
                            continue;
                        };
                        for u in &d.users {
                            for c in &u.cidrs {
                                list = list.node(n.allow, *c, Some(format!("{}@{}", u.id, d.name)));
                            }
                        }
                    }
                }
            }
            acls.insert(&l.name, list);
        }
        acls
    }

    /// Adds or replaces a list.
    pub fn insert(&mut self, name: &str, list: NetworkList) {
        self.lists.insert(name.to_string(), list);
    }

    /// The list names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.lists.keys().cloned().collect();
        v.sort();
        v
    }

    fn find(&self, name: &str) -> Option<&NetworkList> {
        self.lists
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, l)| l)
    }

    /// Whether list `name` (or an address/CIDR list) allows `ip`, without copying
    /// the list: for a check per connection against a shared, reloadable `Acls`.
    pub fn allows(&self, name: &str, ip: IpAddr) -> Result<bool, AclError> {
        match self.find(name) {
            Some(l) => Ok(l.allows(ip)),
            None => self.resolve(name).map(|l| l.allows(ip)),
        }
    }

    /// What `name` (a list name, or addresses/CIDRs separated by commas) resolves to,
    /// for checking config at start instead of refusing every connection later.
    pub fn resolve(&self, name: &str) -> Result<NetworkList, AclError> {
        if let Some(l) = self.find(name) {
            return Ok(l.clone());
        }
        match Cidr::parse_list(name) {
            Ok(blocks) if !blocks.is_empty() => Ok(blocks
                .into_iter()
                .fold(NetworkList::new(false), NetworkList::allow)),
            Err(e) if name.contains(['.', ':', '/']) && !name.ends_with(".auto") => {
                Err(AclError::BadCidr(e))
            }
            _ => Err(AclError::UnknownList(name.to_string(), self.names())),
        }
    }
}

/// The `acl <ip> <list>` API, as FreeSWITCH answers it: `true` when the list (or an
/// address/CIDR in its place) allows the address, else `false`, also for a missing or
/// malformed argument or an unknown list.
pub fn acl_api(acls: &Acls, args: &str) -> String {
    let mut words = args.split_whitespace();
    let verdict = match (words.next(), words.next()) {
        (Some(ip), Some(list)) => ip
            .parse::<IpAddr>()
            .ok()
            .and_then(|ip| acls.allows(list, ip).ok())
            .unwrap_or(false),
        _ => false,
    };
    verdict.to_string()
}

/// Re-reads `autoload_configs/acl.conf.xml` under `conf_dir` (what the `reloadacl`
/// API does), with the globals and directory domains of the running configuration:
/// the built-in lists for `local_networks` plus the file's lists. Warnings are logged;
/// errors (file and line each) come back as one text and the caller keeps its old
/// lists.
pub fn load_acls(
    conf_dir: &Path,
    vars: &BTreeMap<String, String>,
    domains: &[Domain],
    local_networks: &[Cidr],
) -> Result<Acls, String> {
    let mut vars = vars.clone();
    let mut diags = Diags::default();
    let config = crate::config::acl::load(conf_dir, &mut vars, &mut diags);
    crate::config::acl::check_domains(&config, domains, &mut diags);
    if diags.has_errors() {
        return Err(ConfigErrors(diags.0).to_string());
    }
    for w in &diags.0 {
        tracing::warn!("{w}");
    }
    Ok(Acls::from_config(&config, domains, local_networks))
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
        assert!(
            !allows("wan.auto", "100.64.1.1"),
            "carrier-grade NAT is not WAN"
        );
        assert!(!allows("wan_v4.auto", "0.1.2.3"));
        assert!(allows("rfc6598.auto", "100.127.255.255"));
        assert!(!allows("rfc6598.auto", "100.128.0.0"));
        assert!(
            allows("nat.auto", "100.64.0.9"),
            "FreeSWITCH counts CGNAT as NAT"
        );
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
        assert!(matches!(&err, AclError::UnknownList(n, known)
            if n == "lan" && known.len() == BUILT_IN.len()));
        assert!(err.to_string().contains("loopback.auto, nat.auto"), "{err}");
        assert!(err.to_string().contains("acl.conf.xml"), "{err}");
        let both = acls.resolve("10.0.0.0/8, 192.168.1.5").unwrap();
        assert!(both.allows(ip("10.2.3.4")) && both.allows(ip("192.168.1.5")));
        assert!(!both.allows(ip("192.168.1.6")));
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
    fn every_built_in_name_is_built_and_nothing_else() {
        let mut built = Acls::built_in(&[]).names();
        let mut names: Vec<String> = BUILT_IN.iter().map(|s| s.to_string()).collect();
        built.sort();
        names.sort();
        assert_eq!(built, names);
    }

    #[test]
    fn nat_auto_excludes_our_lan_even_when_it_is_a_whole_private_range() {
        let acls = Acls::built_in(&[Cidr::parse("10.0.0.0/8").unwrap()]);
        assert!(!acls.allows("nat.auto", ip("10.1.1.1")).unwrap());
        assert!(acls.allows("nat.auto", ip("192.168.1.1")).unwrap());
        assert!(acls.allows("localnet.auto", ip("10.1.1.1")).unwrap());
    }

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    #[test]
    fn ipv4_and_ipv6_nodes_match_only_their_family() {
        let l = NetworkList::new(false)
            .allow(c("0.0.0.0/0"))
            .deny(c("2001:db8::/32"))
            .allow(c("2001:db8:5::/48"));
        assert!(l.allows(ip("198.51.100.7")));
        assert!(!l.allows(ip("2001:db8:1::1")), "v6 deny, not the v4 /0");
        assert!(l.allows(ip("2001:db8:5::1")), "the longer v6 prefix");
        assert!(!l.allows(ip("2001:db9::1")), "no v6 node: default deny");
        assert!(!l.allows(ip("::1")));
    }

    #[test]
    fn longest_prefix_wins_whatever_the_node_order() {
        let nodes = [
            (false, c("10.0.0.0/8")),
            (true, c("10.1.0.0/16")),
            (false, c("10.1.2.0/24")),
            (true, c("10.1.2.3/32")),
        ];
        let expect = [
            ("10.9.9.9", false),
            ("10.1.9.9", true),
            ("10.1.2.9", false),
            ("10.1.2.3", true),
            ("192.0.2.1", true),
        ];
        // Every rotation and its reverse: 8 orders of the 4 nodes.
        for shift in 0..nodes.len() {
            for reverse in [false, true] {
                let mut order: Vec<(bool, Cidr)> = nodes.to_vec();
                order.rotate_left(shift);
                if reverse {
                    order.reverse();
                }
                let l = order
                    .iter()
                    .fold(NetworkList::new(true), |l, (a, b)| l.node(*a, *b, None));
                for (addr, allowed) in expect {
                    assert_eq!(l.allows(ip(addr)), allowed, "{addr} with {order:?}");
                }
            }
        }
    }

    #[test]
    fn equal_prefixes_go_to_the_first_node_as_in_freeswitch() {
        let a = NetworkList::new(false)
            .allow(c("10.0.0.0/8"))
            .deny(c("10.0.0.0/8"));
        assert!(a.allows(ip("10.1.1.1")));
        let d = NetworkList::new(true)
            .deny(c("10.0.0.0/8"))
            .allow(c("10.0.0.0/8"));
        assert!(!d.allows(ip("10.1.1.1")));
    }

    #[test]
    fn the_default_decides_when_no_node_matches() {
        for default in [true, false] {
            let l = NetworkList::new(default).node(!default, c("192.168.1.0/24"), None);
            assert_eq!(l.allows(ip("192.168.2.1")), default);
            assert_eq!(l.allows(ip("2001:db8::1")), default);
            assert_eq!(l.allows(ip("192.168.1.1")), !default);
        }
        assert!(!NetworkList::new(false).allows(ip("127.0.0.1")));
        assert!(NetworkList::new(true).allows(ip("127.0.0.1")));
    }

    #[test]
    fn ipv4_mapped_peers_and_blocks_count_as_ipv4() {
        let l = NetworkList::new(false)
            .allow(c("192.168.1.0/24"))
            .allow(c("::ffff:10.0.0.0/104"));
        assert!(l.allows(ip("::ffff:192.168.1.20")));
        assert!(!l.allows(ip("::ffff:192.168.2.20")));
        assert!(l.allows(ip("10.200.0.1")));
        assert!(l.allows(ip("::ffff:10.200.0.1")));
        assert!(
            !l.allows(ip("::10.200.0.1")),
            "IPv4-compatible is not mapped"
        );
        let deny = NetworkList::new(true).deny(c("203.0.113.0/24"));
        assert!(!deny.allows(ip("::ffff:203.0.113.5")));
    }

    /// acl.conf text (the `<list>` elements) through the config reader.
    fn acl_config(lists: &str) -> AclConfig {
        let text = format!(
            "<configuration name=\"acl.conf\"><network-lists>{lists}</network-lists></configuration>"
        );
        let mut diags = Diags::default();
        let els = crate::config::xml::load_str(
            Path::new("acl.conf.xml"),
            &text,
            &mut BTreeMap::new(),
            &mut diags,
        );
        let config = crate::config::acl::acl(&els[0], &mut diags);
        assert!(diags.0.is_empty(), "{:?}", diags.0);
        config
    }

    fn domain(name: &str, users: &[(&str, &str)]) -> Domain {
        let source = crate::config::Source {
            file: "directory/default.xml".into(),
            line: 1,
        };
        Domain {
            name: name.into(),
            params: BTreeMap::new(),
            variables: BTreeMap::new(),
            users: users
                .iter()
                .map(|(id, cidrs)| crate::config::User {
                    id: id.to_string(),
                    source: source.clone(),
                    password: None,
                    a1_hash: None,
                    vm_password: None,
                    params: BTreeMap::new(),
                    variables: BTreeMap::new(),
                    groups: vec!["default".into()],
                    cidrs: Cidr::parse_list(cidrs).unwrap(),
                })
                .collect(),
            source,
        }
    }

    #[test]
    fn configured_lists_join_the_built_in_ones() {
        let config = acl_config(
            "<list name=\"lan\" default=\"allow\">\
               <node type=\"deny\" cidr=\"192.168.42.0/24\"/>\
               <node type=\"allow\" cidr=\"192.168.42.42/32\"/>\
             </list>\
             <list name=\"v6\" default=\"deny\"><node type=\"allow\" cidr=\"2001:db8::/32\"/></list>",
        );
        let acls = Acls::from_config(&config, &[], &[c("192.168.7.0/24")]);
        let allows = |name: &str, addr: &str| acls.allows(name, ip(addr)).unwrap();
        assert!(!allows("lan", "192.168.42.7"));
        assert!(allows("lan", "192.168.42.42"));
        assert!(allows("lan", "8.8.8.8"), "default allow");
        assert!(allows("v6", "2001:db8::9"));
        assert!(!allows("v6", "192.168.42.42"));
        assert!(allows("localnet.auto", "192.168.7.1"), "built-ins stay");
        assert_eq!(acls.names().len(), BUILT_IN.len() + 2);
        assert_eq!(
            acls.resolve("lan")
                .unwrap()
                .matching_user(ip("192.168.42.42")),
            None
        );
    }

    #[test]
    fn domain_nodes_stand_for_the_users_networks_and_name_the_user() {
        let config = acl_config(
            "<list name=\"domains\" default=\"deny\">\
               <node type=\"deny\" cidr=\"192.168.1.66/32\"/>\
               <node type=\"allow\" domain=\"Example.Test\"/>\
               <node type=\"allow\" domain=\"absent.test\"/>\
             </list>\
             <list name=\"blocked\" default=\"allow\">\
               <node type=\"deny\" domain=\"example.test\"/>\
             </list>",
        );
        let domains = [
            domain(
                "example.test",
                &[
                    ("1001", "192.168.1.0/24"),
                    ("1002", "192.168.1.20/32, 2001:db8::/64"),
                    ("1003", ""),
                ],
            ),
            domain("other.test", &[("1001", "10.0.0.0/8")]),
        ];
        let acls = Acls::from_config(&config, &domains, &[]);
        let l = acls.resolve("domains").unwrap();
        assert_eq!(
            l.len(),
            4,
            "the deny node and the 3 blocks of 1001 and 1002"
        );
        assert!(l.allows(ip("192.168.1.5")));
        assert_eq!(
            l.matching_user(ip("192.168.1.5")),
            Some("1001@example.test")
        );
        assert_eq!(
            l.matching_user(ip("192.168.1.20")),
            Some("1002@example.test"),
            "the more specific user block"
        );
        assert_eq!(
            l.matching_user(ip("2001:db8::77")),
            Some("1002@example.test")
        );
        assert!(
            !l.allows(ip("192.168.1.66")),
            "an explicit deny /32 beats the user /24"
        );
        assert_eq!(l.matching_user(ip("192.168.1.66")), None);
        assert!(
            !l.allows(ip("10.1.1.1")),
            "another domain's users are not in"
        );
        assert_eq!(l.matching_user(ip("10.1.1.1")), None);

        let b = acls.resolve("blocked").unwrap();
        assert!(!b.allows(ip("192.168.1.5")));
        assert_eq!(
            b.matching_user(ip("192.168.1.5")),
            None,
            "a deny names no one"
        );
        assert!(b.allows(ip("10.1.1.1")));
    }

    #[test]
    fn load_acls_reads_the_file_or_says_where_it_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let domains = [domain("example.test", &[("1001", "192.168.1.0/24")])];
        let acls = load_acls(dir.path(), &BTreeMap::new(), &domains, &[]).unwrap();
        assert_eq!(
            acls.names().len(),
            BUILT_IN.len(),
            "no file: built-ins only"
        );

        let file = dir.path().join("autoload_configs/acl.conf.xml");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(
            &file,
            "<configuration name=\"acl.conf\"><network-lists>\n\
             <list name=\"domains\" default=\"deny\"><node type=\"allow\" domain=\"$${domain}\"/></list>\n\
             </network-lists></configuration>\n",
        )
        .unwrap();
        let vars = BTreeMap::from([("domain".to_string(), "example.test".to_string())]);
        let acls = load_acls(dir.path(), &vars, &domains, &[]).unwrap();
        let l = acls.resolve("domains").unwrap();
        assert_eq!(
            l.matching_user(ip("192.168.1.9")),
            Some("1001@example.test")
        );

        std::fs::write(
            &file,
            "<configuration name=\"acl.conf\"><network-lists>\n\
             <list name=\"lan\" default=\"maybe\"/>\n\
             </network-lists></configuration>\n",
        )
        .unwrap();
        let err = load_acls(dir.path(), &vars, &domains, &[]).unwrap_err();
        assert!(
            err.contains(
                "acl.conf.xml:2: error: list lan: default=\"maybe\"; allowed: allow or deny"
            ),
            "{err}"
        );
    }

    #[test]
    fn the_acl_api_answers_true_or_false_like_freeswitch() {
        let config = acl_config(
            "<list name=\"lan\" default=\"deny\"><node type=\"allow\" cidr=\"192.168.1.0/24\"/></list>",
        );
        let acls = Acls::from_config(&config, &[], &[]);
        assert_eq!(acl_api(&acls, "192.168.1.7 lan"), "true");
        assert_eq!(acl_api(&acls, " 192.168.2.7  lan "), "false");
        assert_eq!(acl_api(&acls, "::ffff:192.168.1.7 LAN"), "true");
        assert_eq!(acl_api(&acls, "127.0.0.1 loopback.auto"), "true");
        assert_eq!(acl_api(&acls, "10.0.0.1 10.0.0.0/8"), "true");
        assert_eq!(acl_api(&acls, "10.0.0.1 nosuchlist"), "false");
        assert_eq!(acl_api(&acls, "not-an-ip lan"), "false");
        assert_eq!(acl_api(&acls, "192.168.1.7"), "false");
        assert_eq!(acl_api(&acls, ""), "false");
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
