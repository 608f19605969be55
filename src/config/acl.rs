//! `autoload_configs/acl.conf.xml`: named network lists, as FreeSWITCH reads them.
//!
//! ```xml
//! <configuration name="acl.conf">
//!   <network-lists>
//!     <list name="lan" default="allow">
//!       <node type="deny" cidr="192.168.42.0/24"/>
//!       <node type="allow" cidr="192.168.42.42/32"/>
//!     </list>
//!     <list name="domains" default="deny">
//!       <node type="allow" domain="$${domain}"/>
//!     </list>
//!   </network-lists>
//! </configuration>
//! ```
//!
//! As in FreeSWITCH: a list without `default` allows, a node without `type` takes the
//! list's default (both warned about here, being easy to get wrong); `cidr` may list
//! several blocks separated by commas; `host` + `mask` (a dotted IPv4 netmask) is
//! another way to write a block; a `domain` node stands for the networks of that
//! domain's users (their `cidr`, see the directory), and a match names the user; when a
//! node has `domain`, its `cidr`/`host` are not read. Unlike FreeSWITCH, a list may not
//! be defined twice nor take a built-in `*.auto` name, and a value FreeSWITCH would
//! silently skip is an error naming file and line. Port restrictions (`port`, `ports`,
//! `port-min`, `port-max`) are not supported; they fail closed: an allow node that has
//! one is left out, a deny node applies to every port.
//!
//! Matching (guard::acl) is FreeSWITCH's: the most specific block containing the
//! address decides, the first in the file on a tie; none: the list's default.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

use super::diag::{Diags, Source};
use super::directory::Domain;
use super::xml::Element;
use crate::cidr::Cidr;

/// The lists the box defines itself (guard::acl builds them); acl.conf may not
/// redefine them.
pub const BUILT_IN_LISTS: &[&str] = &[
    "loopback.auto",
    "localnet.auto",
    "rfc1918.auto",
    "rfc6598.auto",
    "nat.auto",
    "wan.auto",
    "wan_v4.auto",
    "wan_v6.auto",
    "any_v4.auto",
    "any_v6.auto",
];

/// The lists of acl.conf.xml, in file order; empty without the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclConfig {
    pub lists: Vec<AclList>,
}

/// `<list name=".." default="allow|deny">`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclList {
    pub name: String,
    pub default_allow: bool,
    /// In file order (it breaks ties between equally specific blocks).
    pub nodes: Vec<AclNode>,
    pub source: Source,
}

/// One `<node>`; a `cidr` with several blocks gives one node per block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclNode {
    pub allow: bool,
    pub what: NodeTarget,
    pub source: Source,
}

/// What a node covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeTarget {
    /// `cidr="..."`, or `host="..." mask="..."`.
    Cidr(Cidr),
    /// `domain="..."`: the `cidr` networks of that directory domain's users.
    Domain(String),
}

impl AclConfig {
    /// The list called `name` (case-insensitive, as list names are resolved).
    pub fn list(&self, name: &str) -> Option<&AclList> {
        self.lists
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name))
    }

    /// Lines for `loopstart check`: one per list, its default and nodes; a domain
    /// node says how many of the domain's users have networks.
    pub fn summary(&self, domains: &[Domain]) -> String {
        /// More nodes than this are counted, not listed (a line per list).
        const SHOWN: usize = 8;
        let mut s = String::new();
        if self.lists.is_empty() {
            s.push_str("acl: built-in lists only (no lists in acl.conf.xml)\n");
        }
        for l in &self.lists {
            let nodes: Vec<String> = l
                .nodes
                .iter()
                .take(SHOWN)
                .map(|n| {
                    let verb = if n.allow { "allow" } else { "deny" };
                    match &n.what {
                        NodeTarget::Cidr(c) => format!("{verb} {c}"),
                        NodeTarget::Domain(d) => {
                            let with = domains
                                .iter()
                                .find(|x| x.name.eq_ignore_ascii_case(d))
                                .map_or(0, |x| {
                                    x.users.iter().filter(|u| !u.cidrs.is_empty()).count()
                                });
                            format!("{verb} users of {d} ({with} with a cidr)",)
                        }
                    }
                })
                .collect();
            let _ = write!(
                s,
                "acl {}: default {}",
                l.name,
                if l.default_allow { "allow" } else { "deny" }
            );
            if !nodes.is_empty() {
                let _ = write!(s, "; {}", nodes.join(", "));
            }
            if l.nodes.len() > SHOWN {
                let _ = write!(s, ", and {} more", l.nodes.len() - SHOWN);
            }
            s.push('\n');
        }
        s
    }
}

/// Reads `autoload_configs/acl.conf.xml` under `conf_dir`; no file, no lists.
pub fn load(conf_dir: &Path, vars: &mut BTreeMap<String, String>, diags: &mut Diags) -> AclConfig {
    let path = conf_dir.join("autoload_configs").join("acl.conf.xml");
    match super::read_configuration(&path, "acl.conf", vars, diags) {
        Some(el) => acl(&el, diags),
        None => AclConfig::default(),
    }
}

/// Reads `<configuration name="acl.conf">`.
pub fn acl(el: &Element, diags: &mut Diags) -> AclConfig {
    let mut c = AclConfig::default();
    for section in &el.children {
        if section.name != "network-lists" {
            diags.warn(
                &section.source,
                format!(
                    "unknown element <{}> in acl.conf (ignored; expected <network-lists>)",
                    section.name
                ),
            );
            continue;
        }
        for l in &section.children {
            if l.name != "list" {
                diags.warn(
                    &l.source,
                    format!(
                        "unknown element <{}> in <network-lists> (ignored; expected <list>)",
                        l.name
                    ),
                );
                continue;
            }
            if let Some(list) = list(l, diags) {
                if BUILT_IN_LISTS
                    .iter()
                    .any(|b| b.eq_ignore_ascii_case(&list.name))
                {
                    diags.error(
                        &list.source,
                        format!(
                            "list {:?} has the name of a built-in list ({}); choose another name",
                            list.name,
                            BUILT_IN_LISTS.join(", ")
                        ),
                    );
                } else if let Some(first) = c.list(&list.name) {
                    diags.error(
                        &list.source,
                        format!(
                            "list {:?} is defined twice (first at {}); merge the nodes into one list",
                            list.name, first.source
                        ),
                    );
                } else {
                    c.lists.push(list);
                }
            }
        }
    }
    c
}

/// Warns about `domain` nodes naming a domain the directory lacks: they match no one
/// (FreeSWITCH logs "Cannot locate domain" and skips them).
pub fn check_domains(acl: &AclConfig, domains: &[Domain], diags: &mut Diags) {
    for l in &acl.lists {
        for n in &l.nodes {
            if let NodeTarget::Domain(d) = &n.what {
                if !domains.iter().any(|x| x.name.eq_ignore_ascii_case(d)) {
                    let known: Vec<&str> = domains.iter().map(|x| x.name.as_str()).collect();
                    diags.warn(
                        &n.source,
                        format!(
                            "list {}: domain {d:?} is not in the directory ({}): this node \
                             matches no one",
                            l.name,
                            if known.is_empty() {
                                "which has no domain".to_string()
                            } else {
                                format!("domains: {}", known.join(", "))
                            }
                        ),
                    );
                }
            }
        }
    }
}

/// `allow` / `deny`, any case; the words FreeSWITCH's configs use.
fn policy(value: &str) -> Option<bool> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("allow") {
        Some(true)
    } else if v.eq_ignore_ascii_case("deny") {
        Some(false)
    } else {
        None
    }
}

const LIST_ATTRS: &[&str] = &["name", "default"];
const NODE_ATTRS: &[&str] = &[
    "type", "cidr", "host", "mask", "domain", "port", "ports", "port-min", "port-max",
];
const PORT_ATTRS: &[&str] = &["port", "ports", "port-min", "port-max"];

fn unknown_attrs(el: &Element, known: &[&str], diags: &mut Diags) {
    for (name, _) in &el.attrs {
        if !known.contains(&name.as_str()) {
            diags.warn(
                &el.source,
                format!(
                    "unknown attribute {name:?} on <{}> (ignored; known: {})",
                    el.name,
                    known.join(", ")
                ),
            );
        }
    }
}

fn list(el: &Element, diags: &mut Diags) -> Option<AclList> {
    unknown_attrs(el, LIST_ATTRS, diags);
    let name = el.attr("name").unwrap_or("").trim();
    if name.is_empty() {
        diags.error(&el.source, "<list> needs a name (e.g. name=\"lan\")");
        return None;
    }
    let default_allow = match el.attr("default") {
        None => {
            diags.warn(
                &el.source,
                format!(
                    "list {name} has no default: FreeSWITCH then allows what no node \
                     matches; say default=\"allow\" or default=\"deny\""
                ),
            );
            true
        }
        Some(v) => match policy(v) {
            Some(b) => b,
            None => {
                diags.error(
                    &el.source,
                    format!("list {name}: default={v:?}; allowed: allow or deny"),
                );
                return None;
            }
        },
    };
    let mut list = AclList {
        name: name.to_string(),
        default_allow,
        nodes: Vec::new(),
        source: el.source.clone(),
    };
    for n in &el.children {
        if n.name == "node" {
            node(n, &mut list, diags);
        } else {
            diags.warn(
                &n.source,
                format!(
                    "unknown element <{}> in list {name} (ignored; expected <node>)",
                    n.name
                ),
            );
        }
    }
    Some(list)
}

/// Reads a `<node>` into `list.nodes` (none, one, or one per block of its `cidr`).
fn node(el: &Element, list: &mut AclList, diags: &mut Diags) {
    unknown_attrs(el, NODE_ATTRS, diags);
    let name = &list.name;
    let at = &el.source;
    let allow = match el.attr("type") {
        None => {
            let d = if list.default_allow { "allow" } else { "deny" };
            diags.warn(
                at,
                format!(
                    "list {name}: node without type takes the list's default ({d}); \
                     say type=\"allow\" or type=\"deny\""
                ),
            );
            list.default_allow
        }
        Some(v) => match policy(v) {
            Some(b) => b,
            None => {
                diags.error(
                    at,
                    format!("list {name}: node type={v:?}; allowed: allow or deny"),
                );
                return;
            }
        },
    };
    let targets = match targets(el, name, diags) {
        Some(t) => t,
        None => return,
    };
    if PORT_ATTRS.iter().any(|p| el.attr(p).is_some()) {
        if allow {
            diags.warn(
                at,
                format!(
                    "list {name}: port restrictions (port, ports, port-min, port-max) are not \
                     supported; this allow node is left out (it would allow every port)"
                ),
            );
            return;
        }
        diags.warn(
            at,
            format!(
                "list {name}: port restrictions (port, ports, port-min, port-max) are not \
                 supported; this deny node applies to every port"
            ),
        );
    }
    list.nodes.extend(targets.into_iter().map(|what| AclNode {
        allow,
        what,
        source: at.clone(),
    }));
}

/// What a node covers: its domain, else its cidr blocks, else host + mask.
fn targets(el: &Element, name: &str, diags: &mut Diags) -> Option<Vec<NodeTarget>> {
    let at = &el.source;
    let (cidr, host, mask) = (el.attr("cidr"), el.attr("host"), el.attr("mask"));
    if let Some(domain) = el.attr("domain") {
        let domain = domain.trim();
        if domain.is_empty() {
            diags.error(
                at,
                format!("list {name}: node domain=\"\" is empty; allowed: a directory domain name"),
            );
            return None;
        }
        if cidr.is_some() || host.is_some() || mask.is_some() {
            diags.warn(
                at,
                format!(
                    "list {name}: a node with domain= covers only that domain's users; its \
                     cidr/host/mask are not read (as in FreeSWITCH): give them a node of \
                     their own"
                ),
            );
        }
        return Some(vec![NodeTarget::Domain(domain.to_string())]);
    }
    if let Some(cidr) = cidr {
        return match Cidr::parse_list(cidr) {
            Ok(blocks) if blocks.is_empty() => {
                diags.error(
                    at,
                    format!("list {name}: node cidr=\"\" is empty; allowed: an address or CIDR block such as 192.168.1.0/24 (several separated by commas)"),
                );
                None
            }
            Ok(blocks) => Some(blocks.into_iter().map(NodeTarget::Cidr).collect()),
            Err(e) => {
                diags.error(
                    at,
                    format!(
                        "list {name}: node cidr: {e}; allowed: addresses or CIDR blocks \
                         separated by commas"
                    ),
                );
                None
            }
        };
    }
    match (host, mask) {
        (Some(host), Some(mask)) => {
            let Ok(addr) = host.trim().parse::<Ipv4Addr>() else {
                diags.error(
                    at,
                    format!("list {name}: node host={host:?} is not an IPv4 address; allowed: an address such as 192.168.1.0 (with mask=), or use cidr= for IPv6"),
                );
                return None;
            };
            match mask
                .trim()
                .parse::<Ipv4Addr>()
                .ok()
                .and_then(|m| Cidr::from_netmask(addr, m))
            {
                Some(c) => Some(vec![NodeTarget::Cidr(c)]),
                None => {
                    diags.error(
                        at,
                        format!("list {name}: node mask={mask:?} is not a netmask; allowed: a dotted netmask with contiguous ones such as 255.255.255.0"),
                    );
                    None
                }
            }
        }
        (Some(_), None) | (None, Some(_)) => {
            diags.error(
                at,
                format!("list {name}: a node with host= needs mask= too (or write cidr=\"192.168.1.0/24\")"),
            );
            None
        }
        (None, None) => {
            diags.error(
                at,
                format!("list {name}: <node> needs cidr=, domain=, or host= with mask= (e.g. <node type=\"allow\" cidr=\"192.168.1.0/24\"/>)"),
            );
            None
        }
    }
}
