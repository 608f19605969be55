//! `directory/*.xml`: domains, groups and users, FreeSWITCH-style.
//!
//! As in FreeSWITCH, a user sees its domain's params and variables, then its group's,
//! then its own (later wins): a `password` param on the domain applies to every user
//! that sets none. `<user id="1001" type="pointer"/>` in another group adds that group
//! to the user instead of defining it again.
//!
//! A user's `cidr` attribute (`<user id="1001" cidr="192.168.1.20/32,10.0.0.0/8">`,
//! FreeSWITCH's form) or own `cidr` param lists the networks it calls from; an ACL
//! node `domain="..."` in acl.conf allows (or denies) them, naming the user.

use super::diag::{Diags, Source};
use super::values::{pairs, Param};
use super::xml::Element;
use crate::cidr::Cidr;
use std::collections::BTreeMap;

/// A domain and its users.
#[derive(Debug, Clone)]
pub struct Domain {
    pub name: String,
    pub params: BTreeMap<String, String>,
    pub variables: BTreeMap<String, String>,
    pub users: Vec<User>,
    pub source: Source,
}

/// A user of a domain.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub source: Source,
    /// `password`; None when unset or empty.
    pub password: Option<String>,
    /// `a1-hash`: MD5 of user:realm:password, instead of a password.
    pub a1_hash: Option<String>,
    pub vm_password: Option<String>,
    /// Domain, then group, then user params.
    pub params: BTreeMap<String, String>,
    /// Domain, then group, then user variables (toll_allow, accountcode, user_context,
    /// effective_caller_id_name/number, outbound_caller_id_name/number, callgroup, ...).
    pub variables: BTreeMap<String, String>,
    /// The group that defines the user first, then groups that point to it.
    pub groups: Vec<String>,
    /// The user's `cidr` attribute and own `cidr` param (comma-separated lists), for
    /// acl.conf's `domain=` nodes; empty when it has none.
    pub cidrs: Vec<Cidr>,
}

impl User {
    /// `user_context` variable, else "default" (FreeSWITCH's fallback).
    pub fn user_context(&self) -> &str {
        self.variables
            .get("user_context")
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
    }

    /// Unset, empty, `1234` or the extension number: passwords any scanner tries first.
    pub fn has_default_password(&self) -> bool {
        match self.password.as_deref() {
            None => true,
            Some(p) => p.is_empty() || p == "1234" || p == self.id,
        }
    }
}

/// Directory params (domain, group or user level) FreeSWITCH knows; loopstart reads
/// `password`, `a1-hash` and `vm-password` and keeps the rest in `params`.
const KNOWN_PARAMS: &[&str] = &[
    "password",
    "cidr",
    "a1-hash",
    "vm-password",
    "vm-a1-hash",
    "dial-string",
    "vm-enabled",
    "vm-email-all-messages",
    "vm-attach-file",
    "vm-mailto",
    "vm-mailfrom",
    "vm-cc",
    "vm-notify-mailto",
    "vm-keep-local-after-email",
    "vm-disk-quota",
    "vm-alternate-greet-id",
    "vm-skip-instructions",
    "vm-message-ext",
    "vm-notify-email-all-messages",
    "vm-storage-dir",
    "vm-domain-storage-dir",
    "jsonrpc-allowed-methods",
    "jsonrpc-allowed-event-channels",
    "jsonrpc-allowed-jsapi",
    "jsonrpc-allowed-fsapi",
    "allow-empty-password",
    "reverse-auth-user",
    "reverse-auth-pass",
    "auth-acl",
    "http-allowed-api",
    "sip-forbid-register",
    "max-registrations-per-extension",
    "MWI-Account",
    "register-gateway",
];

/// Reads `<domain>` elements from a directory file's top-level elements; a domain met
/// again (another file) adds its users to the first.
pub fn domains(top: &[Element], diags: &mut Diags, out: &mut Vec<Domain>) {
    for el in top {
        match el.name.as_str() {
            "domain" => {
                if let Some(d) = domain(el, diags) {
                    match out.iter_mut().find(|x| x.name == d.name) {
                        Some(existing) => existing.users.extend(d.users),
                        None => out.push(d),
                    }
                }
            }
            // freeswitch.xml-style wrappers.
            "section" | "document" => domains(&el.children, diags, out),
            other => diags.warn(
                &el.source,
                format!("unknown element <{other}> in the directory (ignored; expected <domain>)"),
            ),
        }
    }
}

/// Reports users defined twice in one domain (after all files are read).
pub fn check_duplicates(domains: &[Domain], diags: &mut Diags) {
    for d in domains {
        let mut seen: BTreeMap<&str, &Source> = BTreeMap::new();
        for u in &d.users {
            if let Some(first) = seen.insert(&u.id, &u.source) {
                diags.error(
                    &u.source,
                    format!(
                        "user {} is defined twice in domain {} (first at {first}); use \
                         <user id=\"{}\" type=\"pointer\"/> to put a user in another group",
                        u.id, d.name, u.id
                    ),
                );
            }
        }
    }
}

/// What a user inherits from its domain and group.
struct Inherited<'a> {
    group: &'a str,
    params: &'a BTreeMap<String, String>,
    variables: &'a BTreeMap<String, String>,
}

/// `<user type="pointer">` waiting for its user.
struct Pointer {
    id: String,
    group: String,
    source: Source,
}

fn domain(el: &Element, diags: &mut Diags) -> Option<Domain> {
    let name = el.attr("name").unwrap_or("").trim();
    if name.is_empty() {
        diags.error(
            &el.source,
            "<domain> needs a name (e.g. name=\"$${domain}\")",
        );
        return None;
    }
    let mut d = Domain {
        name: name.to_string(),
        params: BTreeMap::new(),
        variables: BTreeMap::new(),
        users: Vec::new(),
        source: el.source.clone(),
    };
    // Params and variables first: users inherit them whatever the element order.
    for c in &el.children {
        match c.name.as_str() {
            "params" => read_params(c, diags, &mut d.params),
            "variables" => read_variables(c, diags, &mut d.variables),
            _ => {}
        }
    }
    let mut pointers = Vec::new();
    for c in &el.children {
        match c.name.as_str() {
            "params" | "variables" => {}
            "groups" => {
                for g in &c.children {
                    if g.name != "group" {
                        diags.warn(
                            &g.source,
                            format!("unknown element <{}> in <groups> (ignored)", g.name),
                        );
                        continue;
                    }
                    group(g, &mut d, diags, &mut pointers);
                }
            }
            "users" | "user" => {
                let from = Inherited {
                    group: "default",
                    params: &d.params,
                    variables: &d.variables,
                };
                let mut found = Vec::new();
                if c.name == "users" {
                    users(c, &from, diags, &mut found, &mut pointers);
                } else {
                    user_or_pointer(c, &from, diags, &mut found, &mut pointers);
                }
                d.users.extend(found);
            }
            other => diags.warn(
                &c.source,
                format!("unknown element <{other}> in <domain> (ignored)"),
            ),
        }
    }
    for p in pointers {
        match d.users.iter_mut().find(|u| u.id == p.id) {
            Some(u) => {
                if !u.groups.contains(&p.group) {
                    u.groups.push(p.group);
                }
            }
            None => diags.warn(
                &p.source,
                format!(
                    "group {} points to user {}, which domain {name} does not define (ignored)",
                    p.group, p.id
                ),
            ),
        }
    }
    Some(d)
}

fn group(g: &Element, d: &mut Domain, diags: &mut Diags, pointers: &mut Vec<Pointer>) {
    let name = g.attr("name").unwrap_or("").trim();
    if name.is_empty() {
        diags.error(&g.source, "<group> needs a name (e.g. name=\"default\")");
        return;
    }
    let mut params = d.params.clone();
    let mut variables = d.variables.clone();
    for c in &g.children {
        match c.name.as_str() {
            "params" => read_params(c, diags, &mut params),
            "variables" => read_variables(c, diags, &mut variables),
            _ => {}
        }
    }
    let from = Inherited {
        group: name,
        params: &params,
        variables: &variables,
    };
    for c in &g.children {
        match c.name.as_str() {
            "params" | "variables" => {}
            "users" => users(c, &from, diags, &mut d.users, pointers),
            other => diags.warn(
                &c.source,
                format!("unknown element <{other}> in <group> (ignored)"),
            ),
        }
    }
}

fn users(
    el: &Element,
    from: &Inherited,
    diags: &mut Diags,
    out: &mut Vec<User>,
    pointers: &mut Vec<Pointer>,
) {
    for c in &el.children {
        if c.name == "user" {
            user_or_pointer(c, from, diags, out, pointers);
        } else {
            diags.warn(
                &c.source,
                format!("unknown element <{}> in <users> (ignored)", c.name),
            );
        }
    }
}

fn user_or_pointer(
    el: &Element,
    from: &Inherited,
    diags: &mut Diags,
    out: &mut Vec<User>,
    pointers: &mut Vec<Pointer>,
) {
    let id = el.attr("id").unwrap_or("").trim();
    if id.is_empty() {
        diags.error(
            &el.source,
            "<user> needs an id attribute (e.g. id=\"1001\")",
        );
        return;
    }
    if el.attr("type") == Some("pointer") {
        pointers.push(Pointer {
            id: id.to_string(),
            group: from.group.to_string(),
            source: el.source.clone(),
        });
        return;
    }
    let mut params = from.params.clone();
    let mut variables = from.variables.clone();
    for c in &el.children {
        match c.name.as_str() {
            "params" => read_params(c, diags, &mut params),
            "variables" => read_variables(c, diags, &mut variables),
            // Per-user gateways and vCards: FreeSWITCH features loopstart lacks.
            "gateways" | "vcard" => {
                tracing::debug!(source = %c.source, "<{}> of user {id} is not used by loopstart", c.name)
            }
            other => diags.warn(
                &c.source,
                format!("unknown element <{other}> in <user> (ignored)"),
            ),
        }
    }
    let cidrs = user_cidrs(el, id, diags);
    let nonempty = |k: &str| params.get(k).filter(|v| !v.is_empty()).cloned();
    out.push(User {
        id: id.to_string(),
        source: el.source.clone(),
        password: nonempty("password"),
        a1_hash: nonempty("a1-hash"),
        vm_password: nonempty("vm-password"),
        variables,
        groups: vec![from.group.to_string()],
        params,
        cidrs,
    });
}

/// The `cidr` attribute of `<user>` and `cidr` params of its own `<params>` (not
/// inherited ones: a domain-wide cidr would give every user the same networks).
fn user_cidrs(el: &Element, id: &str, diags: &mut Diags) -> Vec<Cidr> {
    let own_params = el
        .children
        .iter()
        .filter(|c| c.name == "params")
        .flat_map(|c| &c.children)
        .filter(|p| p.name == "param" && p.attr("name") == Some("cidr"));
    let values = el
        .attr("cidr")
        .map(|v| (v, &el.source))
        .into_iter()
        .chain(own_params.filter_map(|p| p.attr("value").map(|v| (v, &p.source))));
    let mut out = Vec::new();
    for (value, source) in values {
        match Cidr::parse_list(value) {
            Ok(list) => {
                for c in list {
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
            }
            Err(e) => diags.error(
                source,
                format!(
                    "user {id}: cidr: {e}; allowed: a comma-separated list of addresses \
                     or CIDR blocks"
                ),
            ),
        }
    }
    out
}

fn read_params(el: &Element, diags: &mut Diags, out: &mut BTreeMap<String, String>) {
    for p in pairs(el, "param", diags) {
        warn_unknown(&p, diags);
        out.insert(p.name, p.value);
    }
}

/// Variables are channel variables: any name is fine.
fn read_variables(el: &Element, diags: &mut Diags, out: &mut BTreeMap<String, String>) {
    for p in pairs(el, "variable", diags) {
        out.insert(p.name, p.value);
    }
}

fn warn_unknown(p: &Param, diags: &mut Diags) {
    if !KNOWN_PARAMS.contains(&p.name.as_str()) {
        diags.warn(
            &p.source,
            format!("unknown directory param \"{}\" (kept, not used)", p.name),
        );
    }
}
