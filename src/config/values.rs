//! Typed parameter values: each parser reports file, line and what is allowed.

use super::diag::{Diags, Source};
use super::xml::Element;
use std::net::IpAddr;

/// A `<param name=".." value=".."/>` with its position.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub value: String,
    pub source: Source,
}

/// The `<param>` children of `el`; anything else is warned about.
pub fn params(el: &Element, diags: &mut Diags) -> Vec<Param> {
    let mut out = Vec::new();
    for c in &el.children {
        if c.name != "param" {
            diags.warn(
                &c.source,
                format!("unknown element <{}> in <{}>", c.name, el.name),
            );
            continue;
        }
        match (c.attr("name"), c.attr("value")) {
            (Some(n), Some(v)) => out.push(Param {
                name: n.to_string(),
                value: v.to_string(),
                source: c.source.clone(),
            }),
            _ => diags.warn(&c.source, "<param> needs name and value attributes"),
        }
    }
    out
}

fn bad(diags: &mut Diags, p: &Param, what: &str, allowed: &str) {
    diags.error(
        &p.source,
        format!(
            "param \"{}\" value \"{}\" is not {what}; allowed: {allowed}",
            p.name, p.value
        ),
    );
}

/// FreeSWITCH's switch_true/switch_false words.
pub fn boolean(p: &Param, diags: &mut Diags) -> Option<bool> {
    match p.value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" | "enabled" | "active" | "allow" => Some(true),
        "false" | "no" | "off" | "0" | "disabled" | "inactive" | "deny" => Some(false),
        _ => {
            bad(
                diags,
                p,
                "a boolean",
                "true/false, yes/no, on/off, 1/0, enabled/disabled",
            );
            None
        }
    }
}

pub fn port(p: &Param, diags: &mut Diags) -> Option<u16> {
    match p.value.trim().parse::<u16>() {
        Ok(v) if v > 0 => Some(v),
        _ => {
            bad(diags, p, "a port", "1-65535");
            None
        }
    }
}

pub fn number<T: std::str::FromStr>(p: &Param, diags: &mut Diags, allowed: &str) -> Option<T> {
    match p.value.trim().parse::<T>() {
        Ok(v) => Some(v),
        Err(_) => {
            bad(diags, p, "a number", allowed);
            None
        }
    }
}

pub fn ip(p: &Param, diags: &mut Diags) -> Option<IpAddr> {
    match p.value.trim().parse::<IpAddr>() {
        Ok(v) => Some(v),
        Err(_) => {
            bad(
                diags,
                p,
                "an IP address",
                "an IPv4 or IPv6 address of this box, e.g. 192.168.1.10 or $${local_ip_v4}",
            );
            None
        }
    }
}

/// Comma-separated list, trimmed, empties dropped.
pub fn list(p: &Param) -> Vec<String> {
    p.value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reports a param loopstart does not know (a warning; known-but-unused ones only log).
pub fn unknown(p: &Param, known_unused: &[&str], diags: &mut Diags) {
    if known_unused.contains(&p.name.as_str()) {
        tracing::debug!(param = %p.name, source = %p.source, "FreeSWITCH param not used by loopstart");
    } else {
        diags.warn(&p.source, format!("unknown param \"{}\" (ignored)", p.name));
    }
}
