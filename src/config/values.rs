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
    pairs(el, "param", diags)
}

/// The `<child name=".." value=".."/>` children of `el` (`param` or `variable`);
/// anything else is warned about.
pub fn pairs(el: &Element, child: &str, diags: &mut Diags) -> Vec<Param> {
    let mut out = Vec::new();
    for c in &el.children {
        if c.name != child {
            diags.warn(
                &c.source,
                format!(
                    "unknown element <{}> in <{}> (ignored; expected <{child}>)",
                    c.name, el.name
                ),
            );
            continue;
        }
        match (c.attr("name"), c.attr("value")) {
            (Some(n), Some(v)) => out.push(Param {
                name: n.to_string(),
                value: v.to_string(),
                source: c.source.clone(),
            }),
            _ => diags.warn(
                &c.source,
                format!("<{child}> needs name and value attributes (ignored)"),
            ),
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

/// FreeSWITCH's `switch_true`/`switch_false` words; an integer is true when not zero.
pub fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    match s.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "on" | "enabled" | "active" | "allow" => Some(true),
        "false" | "f" | "no" | "off" | "disabled" | "inactive" | "disallow" => Some(false),
        _ => s.parse::<i64>().ok().map(|n| n != 0),
    }
}

/// A boolean param (see [`parse_bool`]); an error for anything else.
pub fn boolean(p: &Param, diags: &mut Diags) -> Option<bool> {
    let v = parse_bool(&p.value);
    if v.is_none() {
        bad(
            diags,
            p,
            "a boolean",
            "true/false, yes/no, on/off, 1/0, enabled/disabled",
        );
    }
    v
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

/// An integer in `min..=max`; `unit` (e.g. "seconds") is added to the allowed text.
pub fn number<T: TryFrom<u64>>(
    p: &Param,
    diags: &mut Diags,
    min: u64,
    max: u64,
    unit: &str,
) -> Option<T> {
    let allowed = if unit.is_empty() {
        format!("{min}-{max}")
    } else {
        format!("{min}-{max} ({unit})")
    };
    match p.value.trim().parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => match T::try_from(v) {
            Ok(t) => Some(t),
            Err(_) => {
                bad(diags, p, "in range", &allowed);
                None
            }
        },
        Ok(_) => {
            bad(diags, p, "in range", &allowed);
            None
        }
        Err(_) => {
            bad(diags, p, "a number", &allowed);
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
                "an IPv4 or IPv6 address of this box, e.g. 192.168.1.10, 0.0.0.0 or $${local_ip_v4}",
            );
            None
        }
    }
}

/// Stores a parsed value; a value that did not parse (None, already reported) leaves
/// the default in place.
pub fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
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

/// Reports a param loopstart does not know: a warning, unless FreeSWITCH knows it
/// (`known_unused`), then only a debug log, so FreeSWITCH configs load quietly.
pub fn unknown(p: &Param, known_unused: &[&str], diags: &mut Diags) {
    if known_unused.contains(&p.name.as_str()) {
        tracing::debug!(param = %p.name, source = %p.source, "FreeSWITCH param not used by loopstart");
    } else {
        diags.warn(&p.source, format!("unknown param \"{}\" (ignored)", p.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(value: &str) -> Param {
        Param {
            name: "x".into(),
            value: value.into(),
            source: Source {
                file: "f.xml".into(),
                line: 3,
            },
        }
    }

    #[test]
    fn booleans_follow_switch_true_and_switch_false() {
        for w in [
            "true", "TRUE", "t", "yes", "on", "enabled", "active", "allow", "1", "2", " on ",
        ] {
            assert_eq!(parse_bool(w), Some(true), "{w}");
        }
        for w in [
            "false", "f", "No", "off", "disabled", "inactive", "disallow", "0", "00",
        ] {
            assert_eq!(parse_bool(w), Some(false), "{w}");
        }
        for w in ["", "maybe", "1.0", "y"] {
            assert_eq!(parse_bool(w), None, "{w}");
        }
        let mut d = Diags::default();
        assert_eq!(boolean(&param("maybe"), &mut d), None);
        assert_eq!(
            d.0[0].to_string(),
            "f.xml:3: error: param \"x\" value \"maybe\" is not a boolean; allowed: true/false, yes/no, on/off, 1/0, enabled/disabled"
        );
    }

    #[test]
    fn ports_and_ranges() {
        let mut d = Diags::default();
        assert_eq!(port(&param("5060"), &mut d), Some(5060));
        assert_eq!(port(&param(" 1 "), &mut d), Some(1));
        assert!(d.0.is_empty());
        for bad in ["0", "65536", "-1", "50x0", ""] {
            assert_eq!(port(&param(bad), &mut d), None, "{bad}");
        }
        assert_eq!(d.0.len(), 5);
        assert!(d.0.iter().all(|x| x.message.ends_with("allowed: 1-65535")));

        let mut d = Diags::default();
        assert_eq!(
            number::<u32>(&param("60"), &mut d, 1, 86400, "seconds"),
            Some(60)
        );
        assert_eq!(
            number::<u32>(&param("0"), &mut d, 1, 86400, "seconds"),
            None
        );
        assert_eq!(number::<u8>(&param("300"), &mut d, 0, 1000, ""), None);
        assert_eq!(number::<u32>(&param("ten"), &mut d, 1, 10, ""), None);
        assert_eq!(
            d.0[0].message,
            "param \"x\" value \"0\" is not in range; allowed: 1-86400 (seconds)"
        );
        assert_eq!(
            d.0[2].message,
            "param \"x\" value \"ten\" is not a number; allowed: 1-10"
        );
    }

    #[test]
    fn ips_and_lists() {
        let mut d = Diags::default();
        assert!(ip(&param("::1"), &mut d).is_some());
        assert!(ip(&param("10.0.0.300"), &mut d).is_none());
        assert_eq!(d.0.len(), 1);
        assert_eq!(list(&param(" PCMU, ,PCMA ,")), vec!["PCMU", "PCMA"]);
    }
}
