//! The `<flood>` and `<scanners>` sections of `autoload_configs/fail2ban.conf.xml`:
//! per-source flood detection (Kamailio pike's three parameters) and scanner detection
//! (User-Agent patterns and SIPVicious' fingerprints). The fail2ban reader hands the two
//! elements to [`flood`] and [`scanners`]; guard::flood and guard::scanner consume the
//! result.
//!
//! ```xml
//! <configuration name="fail2ban.conf">
//!   <flood>
//!     <param name="sampling-time-unit" value="2"/>      <!-- seconds -->
//!     <param name="reqs-density-per-unit" value="200"/> <!-- datagrams per unit -->
//!     <param name="remove-latency" value="120"/>        <!-- seconds of calm -->
//!     <param name="max-tracked" value="4096"/>          <!-- sources remembered -->
//!   </flood>
//!   <scanners action="ban">                             <!-- ban | count | log -->
//!     <user-agent pattern="friendly-scanner"/>
//!     <user-agent pattern="sipcli"/>
//!   </scanners>
//! </configuration>
//! ```
//!
//! Kamailio's spellings (`sampling_time_unit`, ...) are accepted too. Without a
//! `<flood>` element the defaults apply ([`FloodConfig::default`]); without
//! `<scanners>`, the built-in patterns ([`DEFAULT_USER_AGENTS`]) with `action="ban"`.
//! A `<scanners>` element that lists `<user-agent>` patterns replaces the built-in list
//! (what the file shows is what is matched).

use std::time::Duration;

use super::diag::Diags;
use super::values::{self, set, Param};
use super::xml::Element;

/// Per-source flood detection, as Kamailio's pike module counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloodConfig {
    /// `enabled`: off, every datagram passes and nothing is tracked.
    pub enabled: bool,
    /// `sampling-time-unit`: the window requests are counted in.
    pub sampling_time_unit: Duration,
    /// `reqs-density-per-unit`: datagrams a source may send per unit; one more and it
    /// is flooding.
    pub reqs_density_per_unit: u32,
    /// `remove-latency`: a flooding source stays blocked until this long has passed
    /// without a unit over the density.
    pub remove_latency: Duration,
    /// `max-tracked`: sources remembered at once (memory bound); when full, the
    /// stalest clean source is forgotten first, a blocked one only when none is clean.
    pub max_tracked: usize,
    /// `ipv6-prefix`: IPv6 sources are counted per prefix of this length (a host
    /// has a whole /64 to rotate through); 128 counts each address.
    pub ipv6_prefix: u8,
}

/// Defaults: catch a real flood within a fraction of a second, yet leave room for an
/// office of 50-100 phones behind one NAT address booting together (a REGISTER, its
/// authenticated retry, an MWI SUBSCRIBE and its retry, a NOTIFY answer: about 5
/// datagrams each, 250-500 in a few seconds) and for a carrier trunk's call setups.
/// 200 per 2 s is 100 datagrams/s from one address sustained; SIPp or a flood script
/// sends thousands a second and is blocked within its first unit. Kamailio's pike
/// default (30 per 2 s) is meant for proxies that see each phone from its own address.
impl Default for FloodConfig {
    fn default() -> Self {
        FloodConfig {
            enabled: true,
            sampling_time_unit: Duration::from_secs(2),
            reqs_density_per_unit: 200,
            remove_latency: Duration::from_secs(120),
            max_tracked: 4096,
            ipv6_prefix: 64,
        }
    }
}

/// What a recognised scanner's request does to its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScannerAction {
    /// Banned at once (fail2ban's ban-time), whatever max-attempts says.
    Ban,
    /// Counted as one failure towards max-attempts.
    Count,
    /// Only logged and reported (to try the patterns out).
    Log,
}

impl ScannerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ScannerAction::Ban => "ban",
            ScannerAction::Count => "count",
            ScannerAction::Log => "log",
        }
    }
}

/// Scanner detection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannerConfig {
    /// `action="ban|count|log"`.
    pub action: ScannerAction,
    /// `<user-agent pattern=".."/>`: case-insensitive substrings of the User-Agent,
    /// stored with ASCII letters lower-cased, in file order (the first that matches is
    /// the reason given).
    pub user_agents: Vec<String>,
    /// `fingerprints="true|false"`: also recognise SIPVicious by what it writes
    /// whatever its User-Agent (its From tag encoding, its 1.1.1.1 placeholders, its
    /// "sipvicious" display name); see guard::scanner.
    pub fingerprints: bool,
}

/// Tools seen scanning SIP servers, by their User-Agent. `friendly-scanner` is
/// SIPVicious' default (svmap, svwar, svcrack); `sipvicious` catches renamed builds;
/// the rest are other scanners and war-diallers as found in Kamailio's default config
/// and operators' logs. Substrings, matched without regard to case.
pub const DEFAULT_USER_AGENTS: &[&str] = &[
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sundayddr",
    "iwar",
    "sivus",
    "vaxsipuseragent",
    "pplsip",
    "scanner",
];

impl Default for ScannerConfig {
    fn default() -> Self {
        ScannerConfig {
            action: ScannerAction::Ban,
            user_agents: DEFAULT_USER_AGENTS.iter().map(|s| s.to_string()).collect(),
            fingerprints: true,
        }
    }
}

/// Longest pattern accepted (a User-Agent is rarely longer than 100 bytes).
pub const MAX_PATTERN_LEN: usize = 128;
/// Most patterns accepted (each is tried on every request's User-Agent).
pub const MAX_PATTERNS: usize = 256;

const SCANNERS_ATTRS: &[&str] = &["action", "fingerprints"];

/// Reads `<flood>`; a bad value is an error naming file and line and what is allowed,
/// and leaves that field at its default.
pub fn flood(el: &Element, diags: &mut Diags) -> FloodConfig {
    let mut c = FloodConfig::default();
    unknown_attrs(el, &[], diags);
    for p in values::params(el, diags) {
        // Kamailio's modparam names have underscores.
        let name = p.name.trim().to_ascii_lowercase().replace('_', "-");
        match name.as_str() {
            "enabled" => set(&mut c.enabled, values::boolean(&p, diags)),
            "sampling-time-unit" => {
                let secs: Option<u64> = values::number(&p, diags, 1, 300, "seconds");
                set(&mut c.sampling_time_unit, secs.map(Duration::from_secs));
            }
            "reqs-density-per-unit" => set(
                &mut c.reqs_density_per_unit,
                values::number(&p, diags, 1, 1_000_000, "datagrams per sampling-time-unit"),
            ),
            "remove-latency" => {
                let secs: Option<u64> = values::number(&p, diags, 1, 86_400, "seconds");
                set(&mut c.remove_latency, secs.map(Duration::from_secs));
            }
            "max-tracked" => set(
                &mut c.max_tracked,
                values::number(&p, diags, 64, 1_048_576, "sources"),
            ),
            "ipv6-prefix" => set(
                &mut c.ipv6_prefix,
                values::number(&p, diags, 32, 128, "bits"),
            ),
            _ => unknown_param(&p, diags),
        }
    }
    c
}

/// Reads `<scanners>`; a bad value is an error naming file and line and what is
/// allowed.
pub fn scanners(el: &Element, diags: &mut Diags) -> ScannerConfig {
    let mut c = ScannerConfig::default();
    unknown_attrs(el, SCANNERS_ATTRS, diags);
    match el.attr("action").map(str::trim) {
        None => {}
        Some(v) if v.eq_ignore_ascii_case("ban") => c.action = ScannerAction::Ban,
        Some(v) if v.eq_ignore_ascii_case("count") => c.action = ScannerAction::Count,
        Some(v) if v.eq_ignore_ascii_case("log") => c.action = ScannerAction::Log,
        Some(v) => diags.error(
            &el.source,
            format!(
                "<scanners> action={v:?} is not an action; allowed: ban (at once), count \
                 (one failure towards max-attempts), log (report only)"
            ),
        ),
    }
    if let Some(v) = el.attr("fingerprints") {
        match values::parse_bool(v) {
            Some(b) => c.fingerprints = b,
            None => diags.error(
                &el.source,
                format!(
                    "<scanners> fingerprints={v:?} is not a boolean; allowed: true/false, \
                     yes/no, on/off, 1/0"
                ),
            ),
        }
    }
    let mut patterns: Vec<String> = Vec::new();
    let mut listed = false;
    for child in &el.children {
        if child.name != "user-agent" {
            diags.warn(
                &child.source,
                format!(
                    "unknown element <{}> in <scanners> (ignored; expected <user-agent \
                     pattern=\"...\"/>)",
                    child.name
                ),
            );
            continue;
        }
        listed = true;
        unknown_attrs(child, &["pattern"], diags);
        let Some(raw) = child.attr("pattern") else {
            diags.error(
                &child.source,
                "<user-agent> needs pattern=\"...\" (a part of the User-Agent, any case, \
                 e.g. pattern=\"friendly-scanner\")",
            );
            continue;
        };
        let pattern = raw.trim();
        if pattern.is_empty() {
            diags.error(
                &child.source,
                "<user-agent> pattern=\"\" is empty (it would match every User-Agent); \
                 allowed: 1 to 128 characters, e.g. pattern=\"friendly-scanner\"",
            );
            continue;
        }
        if pattern.len() > MAX_PATTERN_LEN {
            diags.error(
                &child.source,
                format!(
                    "<user-agent> pattern is {} bytes long; allowed: 1 to {MAX_PATTERN_LEN}",
                    pattern.len()
                ),
            );
            continue;
        }
        let lower = pattern.to_ascii_lowercase();
        if patterns.contains(&lower) {
            diags.warn(
                &child.source,
                format!("<user-agent> pattern {pattern:?} is listed twice (ignored)"),
            );
            continue;
        }
        if patterns.len() == MAX_PATTERNS {
            diags.error(
                &child.source,
                format!(
                    "<scanners> has more than {MAX_PATTERNS} <user-agent> patterns; \
                     allowed: at most {MAX_PATTERNS} (each is tried on every request)"
                ),
            );
            break;
        }
        patterns.push(lower);
    }
    if listed {
        c.user_agents = patterns;
    } else if !el.children.is_empty() {
        // Only unknown elements: the built-in list stays, say so.
        diags.warn(
            &el.source,
            format!(
                "<scanners> lists no <user-agent> pattern: the built-in ones apply ({})",
                DEFAULT_USER_AGENTS.join(", ")
            ),
        );
    }
    c
}

fn unknown_param(p: &Param, diags: &mut Diags) {
    diags.warn(
        &p.source,
        format!(
            "unknown param \"{}\" in <flood> (ignored; known: enabled, sampling-time-unit, \
             reqs-density-per-unit, remove-latency, max-tracked, ipv6-prefix)",
            p.name
        ),
    );
}

fn unknown_attrs(el: &Element, known: &[&str], diags: &mut Diags) {
    for (name, _) in &el.attrs {
        if !known.contains(&name.as_str()) {
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            diags.warn(
                &el.source,
                format!(
                    "unknown attribute {name:?} on <{}> (ignored; known: {known})",
                    el.name
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::xml::load_str;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// The first element of `xml`, as if it were line 1 of fail2ban.conf.xml.
    fn parse<T>(xml: &str, f: fn(&Element, &mut Diags) -> T) -> (T, Vec<String>) {
        let mut diags = Diags::default();
        let mut vars = BTreeMap::new();
        let els = load_str(
            Path::new("autoload_configs/fail2ban.conf.xml"),
            xml,
            &mut vars,
            &mut diags,
        );
        assert_eq!(els.len(), 1, "{xml}");
        let v = f(&els[0], &mut diags);
        (v, diags.0.iter().map(ToString::to_string).collect())
    }

    fn errors_of(diags: &[String]) -> Vec<&String> {
        diags.iter().filter(|d| d.contains(": error: ")).collect()
    }

    #[test]
    fn flood_params_are_read_in_either_spelling() {
        let (c, d) = parse(
            "<flood>\n\
             <param name=\"sampling-time-unit\" value=\"5\"/>\n\
             <param name=\"reqs_density_per_unit\" value=\"30\"/>\n\
             <param name=\"remove-latency\" value=\"60\"/>\n\
             <param name=\"max-tracked\" value=\"1024\"/>\n\
             <param name=\"ipv6-prefix\" value=\"128\"/>\n\
             <param name=\"enabled\" value=\"yes\"/>\n\
             </flood>",
            flood,
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            c,
            FloodConfig {
                enabled: true,
                sampling_time_unit: Duration::from_secs(5),
                reqs_density_per_unit: 30,
                remove_latency: Duration::from_secs(60),
                max_tracked: 1024,
                ipv6_prefix: 128,
            }
        );
    }

    #[test]
    fn flood_empty_element_gives_the_defaults() {
        let (c, d) = parse("<flood/>", flood);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c, FloodConfig::default());
        assert_eq!(c.sampling_time_unit, Duration::from_secs(2));
        assert_eq!(c.reqs_density_per_unit, 200);
        assert_eq!(c.remove_latency, Duration::from_secs(120));
    }

    #[test]
    fn flood_bad_values_name_file_line_and_what_is_allowed() {
        let (c, d) = parse(
            "<flood>\n\
             <param name=\"sampling-time-unit\" value=\"0\"/>\n\
             <param name=\"reqs-density-per-unit\" value=\"lots\"/>\n\
             <param name=\"max-tracked\" value=\"10\"/>\n\
             <param name=\"enabled\" value=\"maybe\"/>\n\
             <param name=\"remove_latency\" value=\"-5\"/>\n\
             <param name=\"ipv6-prefix\" value=\"8\"/>\n\
             </flood>",
            flood,
        );
        assert_eq!(
            d,
            vec![
                "autoload_configs/fail2ban.conf.xml:2: error: param \"sampling-time-unit\" \
                 value \"0\" is not in range; allowed: 1-300 (seconds)",
                "autoload_configs/fail2ban.conf.xml:3: error: param \"reqs-density-per-unit\" \
                 value \"lots\" is not a number; allowed: 1-1000000 (datagrams per \
                 sampling-time-unit)",
                "autoload_configs/fail2ban.conf.xml:4: error: param \"max-tracked\" value \
                 \"10\" is not in range; allowed: 64-1048576 (sources)",
                "autoload_configs/fail2ban.conf.xml:5: error: param \"enabled\" value \
                 \"maybe\" is not a boolean; allowed: true/false, yes/no, on/off, 1/0, \
                 enabled/disabled",
                "autoload_configs/fail2ban.conf.xml:6: error: param \"remove_latency\" value \
                 \"-5\" is not a number; allowed: 1-86400 (seconds)",
                "autoload_configs/fail2ban.conf.xml:7: error: param \"ipv6-prefix\" value \
                 \"8\" is not in range; allowed: 32-128 (bits)",
            ]
        );
        // Each bad value leaves its default.
        assert_eq!(c, FloodConfig::default());
    }

    #[test]
    fn flood_unknown_params_and_elements_are_warnings() {
        let (c, d) = parse(
            "<flood check-route=\"1\">\n\
             <param name=\"pike_log_level\" value=\"1\"/>\n\
             <node/>\n\
             </flood>",
            flood,
        );
        assert_eq!(c, FloodConfig::default());
        assert!(errors_of(&d).is_empty(), "{d:?}");
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[0].starts_with(
            "autoload_configs/fail2ban.conf.xml:1: warning: unknown attribute \"check-route\""
        ));
        assert!(d.iter().any(|x| x.starts_with(
            "autoload_configs/fail2ban.conf.xml:2: warning: unknown param \"pike_log_level\" in <flood> (ignored; known: enabled,"
        )));
        assert!(d.iter().any(|x| x.starts_with(
            "autoload_configs/fail2ban.conf.xml:3: warning: unknown element <node> in <flood>"
        )));
    }

    #[test]
    fn scanners_patterns_replace_the_built_in_list() {
        let (c, d) = parse(
            "<scanners action=\"count\" fingerprints=\"false\">\n\
             <user-agent pattern=\" Friendly-Scanner \"/>\n\
             <user-agent pattern=\"SIPCLI\"/>\n\
             </scanners>",
            scanners,
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            c,
            ScannerConfig {
                action: ScannerAction::Count,
                user_agents: vec!["friendly-scanner".into(), "sipcli".into()],
                fingerprints: false,
            }
        );
    }

    #[test]
    fn scanners_defaults_ban_with_the_built_in_patterns() {
        let c = ScannerConfig::default();
        assert_eq!(c.action, ScannerAction::Ban);
        assert!(c.fingerprints);
        assert_eq!(c.user_agents[0], "friendly-scanner");
        assert!(c.user_agents.iter().all(|p| *p == p.to_ascii_lowercase()));
        let (parsed, d) = parse("<scanners/>", scanners);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(parsed, c);
        // An action alone keeps the list.
        let (parsed, d) = parse("<scanners action=\"LOG\"/>", scanners);
        assert_eq!(parsed.action, ScannerAction::Log);
        assert_eq!(parsed.user_agents, c.user_agents);
        assert!(d.is_empty(), "{d:?}");
        // Only unknown elements: the list stays, and that is said.
        let (parsed, d) = parse("<scanners><ua pattern=\"x\"/></scanners>", scanners);
        assert_eq!(parsed.user_agents, c.user_agents);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[1].contains("warning: <scanners> lists no <user-agent> pattern: the built-in ones apply (friendly-scanner, sipvicious,"));
    }

    #[test]
    fn scanners_bad_values_name_file_line_and_what_is_allowed() {
        let long = "x".repeat(MAX_PATTERN_LEN + 1);
        let (c, d) = parse(
            &format!(
                "<scanners action=\"drop\" fingerprints=\"sometimes\" mode=\"x\">\n\
                 <user-agent/>\n\
                 <user-agent pattern=\"  \"/>\n\
                 <user-agent pattern=\"{long}\"/>\n\
                 <user-agent pattern=\"sipvicious\"/>\n\
                 <user-agent pattern=\"SIPvicious\"/>\n\
                 <agent pattern=\"x\"/>\n\
                 </scanners>"
            ),
            scanners,
        );
        let f = "autoload_configs/fail2ban.conf.xml";
        assert_eq!(
            d,
            vec![
                format!("{f}:1: warning: unknown attribute \"mode\" on <scanners> (ignored; known: action, fingerprints)"),
                format!("{f}:1: error: <scanners> action=\"drop\" is not an action; allowed: ban (at once), count (one failure towards max-attempts), log (report only)"),
                format!("{f}:1: error: <scanners> fingerprints=\"sometimes\" is not a boolean; allowed: true/false, yes/no, on/off, 1/0"),
                format!("{f}:2: error: <user-agent> needs pattern=\"...\" (a part of the User-Agent, any case, e.g. pattern=\"friendly-scanner\")"),
                format!("{f}:3: error: <user-agent> pattern=\"\" is empty (it would match every User-Agent); allowed: 1 to 128 characters, e.g. pattern=\"friendly-scanner\""),
                format!("{f}:4: error: <user-agent> pattern is 129 bytes long; allowed: 1 to 128"),
                format!("{f}:6: warning: <user-agent> pattern \"SIPvicious\" is listed twice (ignored)"),
                format!("{f}:7: warning: unknown element <agent> in <scanners> (ignored; expected <user-agent pattern=\"...\"/>)"),
            ]
        );
        assert_eq!(c.user_agents, vec!["sipvicious".to_string()]);
        assert_eq!(c.action, ScannerAction::Ban);
    }

    #[test]
    fn scanners_pattern_count_is_bounded() {
        let many: String = (0..=MAX_PATTERNS)
            .map(|i| format!("<user-agent pattern=\"tool{i}\"/>"))
            .collect();
        let (c, d) = parse(&format!("<scanners>{many}</scanners>"), scanners);
        assert_eq!(c.user_agents.len(), MAX_PATTERNS);
        assert_eq!(errors_of(&d).len(), 1, "{d:?}");
        assert!(d[0].contains("more than 256 <user-agent> patterns"));
    }
}
