//! `directory/*.xml`: domains and their users, FreeSWITCH-style.

use super::diag::{Diags, Source};
use super::xml::Element;
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
    /// None when unset or empty.
    pub password: Option<String>,
    pub a1_hash: Option<String>,
    pub vm_password: Option<String>,
    pub params: BTreeMap<String, String>,
    /// The domain's variables overlaid by the user's.
    pub variables: BTreeMap<String, String>,
    pub groups: Vec<String>,
}

impl User {
    pub fn user_context(&self) -> &str {
        self.variables
            .get("user_context")
            .map(String::as_str)
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

/// Reads `<domain>` elements from a directory file's top-level elements.
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
            "section" | "document" => domains(&el.children, diags, out),
            other => diags.warn(
                &el.source,
                format!("unknown element <{other}> in the directory"),
            ),
        }
    }
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
    // Variables first: users inherit them whatever the element order.
    for c in el.children_named("variables") {
        read_pairs(c, "variable", diags, &mut d.variables);
    }
    for c in &el.children {
        match c.name.as_str() {
            "params" => read_pairs(c, "param", diags, &mut d.params),
            "variables" => {}
            "groups" => {
                for g in &c.children {
                    if g.name != "group" {
                        diags.warn(
                            &g.source,
                            format!("unknown element <{}> in <groups>", g.name),
                        );
                        continue;
                    }
                    let group = g.attr("name").unwrap_or("default").to_string();
                    for u in &g.children {
                        if u.name == "users" {
                            users(u, &group, &d.variables, diags, &mut d.users);
                        } else {
                            diags.warn(
                                &u.source,
                                format!("unknown element <{}> in <group>", u.name),
                            );
                        }
                    }
                }
            }
            "users" => users(c, "default", &d.variables, diags, &mut d.users),
            "user" => {
                if let Some(u) = user(c, "default", &d.variables, diags) {
                    d.users.push(u);
                }
            }
            other => diags.warn(&c.source, format!("unknown element <{other}> in <domain>")),
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for u in &d.users {
        if !seen.insert(u.id.clone()) {
            diags.error(
                &u.source,
                format!("user {} is defined twice in domain {name}", u.id),
            );
        }
    }
    Some(d)
}

fn users(
    el: &Element,
    group: &str,
    domain_vars: &BTreeMap<String, String>,
    diags: &mut Diags,
    out: &mut Vec<User>,
) {
    for c in &el.children {
        if c.name != "user" {
            diags.warn(
                &c.source,
                format!("unknown element <{}> in <users>", c.name),
            );
            continue;
        }
        if let Some(u) = user(c, group, domain_vars, diags) {
            out.push(u);
        }
    }
}

const USER_PARAMS: &[&str] = &[
    "password",
    "a1-hash",
    "vm-password",
    "dial-string",
    "vm-enabled",
    "vm-email-all-messages",
    "vm-attach-file",
    "vm-mailto",
    "vm-notify-mailto",
    "vm-keep-local-after-email",
    "jsonrpc-allowed-methods",
    "jsonrpc-allowed-event-channels",
    "allow-empty-password",
];

fn user(
    el: &Element,
    group: &str,
    domain_vars: &BTreeMap<String, String>,
    diags: &mut Diags,
) -> Option<User> {
    let id = el.attr("id").unwrap_or("").trim();
    if id.is_empty() {
        diags.error(
            &el.source,
            "<user> needs an id attribute (e.g. id=\"1001\")",
        );
        return None;
    }
    let mut params = BTreeMap::new();
    let mut variables = domain_vars.clone();
    for c in &el.children {
        match c.name.as_str() {
            "params" => read_pairs(c, "param", diags, &mut params),
            "variables" => read_pairs(c, "variable", diags, &mut variables),
            other => diags.warn(&c.source, format!("unknown element <{other}> in <user>")),
        }
    }
    for (name, _) in params.iter() {
        if !USER_PARAMS.contains(&name.as_str()) {
            diags.warn(
                &el.source,
                format!("user {id}: unknown param \"{name}\" (ignored)"),
            );
        }
    }
    let nonempty = |k: &str| params.get(k).filter(|v| !v.is_empty()).cloned();
    Some(User {
        id: id.to_string(),
        source: el.source.clone(),
        password: nonempty("password"),
        a1_hash: nonempty("a1-hash"),
        vm_password: nonempty("vm-password"),
        variables,
        groups: vec![group.to_string()],
        params,
    })
}

fn read_pairs(el: &Element, child: &str, diags: &mut Diags, out: &mut BTreeMap<String, String>) {
    for c in &el.children {
        if c.name != child {
            diags.warn(
                &c.source,
                format!("unknown element <{}> in <{}>", c.name, el.name),
            );
            continue;
        }
        match (c.attr("name"), c.attr("value")) {
            (Some(n), Some(v)) => {
                out.insert(n.to_string(), v.to_string());
            }
            _ => diags.warn(
                &c.source,
                format!("<{child}> needs name and value attributes"),
            ),
        }
    }
}
