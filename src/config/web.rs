//! `autoload_configs/web.conf.xml`: the box's own web page (src/web/).
//!
//! ```xml
//! <configuration name="web.conf">
//!   <settings>
//!     <param name="listen-ip" value="0.0.0.0"/>
//!     <param name="listen-port" value="8443"/>
//!   </settings>
//! </configuration>
//! ```
//!
//! FreeSWITCH has no configuration page of its own; the names follow its
//! event_socket.conf and mod_xml_rpc (`listen-ip`, `listen-port`, `auth-pass`... here
//! `password`). The page is HTTPS only, with the certificate made at first start.
//!
//! Defaults, and why:
//! - `listen-ip` 0.0.0.0 and `listen-port` 8443: the page is how a box is set up from
//!   the LAN; 443 would need the service to keep CAP_NET_BIND_SERVICE for a process
//!   that should have no privilege at all.
//! - `password` unset: a random one is made at first start (`loopstart web password`
//!   shows it); a well-known default would be the first thing a scanner tries.
//! - `max-connections` 16, `request-timeout` 10 s, `max-request-bytes` 65536: one
//!   operator's browser needs a handful; a hostile client on the LAN gets no more.
//! - `memory-limit-mb` 48: the web process's data limit (RLIMIT_DATA). It may die of
//!   it; the calls live in another process and are not touched.
//! - `session-timeout` 1800 s idle, at most `max-sessions` 32 logins at once.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use super::diag::{Diags, Source};
use super::values::{boolean, ip, number, params, port, set, unknown, Param};
use super::xml::Element;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebConfig {
    /// `enabled`: false runs no web process.
    pub enabled: bool,
    pub listen_ip: IpAddr,
    pub listen_port: u16,
    /// `password`; None: the one generated at first start.
    pub password: Option<String>,
    pub max_connections: u32,
    pub request_timeout_secs: u32,
    pub max_request_bytes: u32,
    pub memory_limit_mb: u32,
    pub session_timeout_secs: u32,
    pub max_sessions: u32,
    pub source: Source,
}

impl WebConfig {
    /// The settings without a file (see the module comment for why).
    pub fn defaults(source: Source) -> WebConfig {
        WebConfig {
            enabled: true,
            listen_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            listen_port: 8443,
            password: None,
            max_connections: 16,
            request_timeout_secs: 10,
            max_request_bytes: 64 * 1024,
            memory_limit_mb: 48,
            session_timeout_secs: 1800,
            max_sessions: 32,
            source,
        }
    }

    /// The line `loopstart check` prints.
    pub fn summary(&self) -> String {
        let mut s = String::from("web: ");
        if !self.enabled {
            s.push_str("off (enabled=false)\n");
            return s;
        }
        let _ = writeln!(
            s,
            "https://{}:{}/ (password {}; at most {} connections, {} MiB)",
            self.listen_ip,
            self.listen_port,
            if self.password.is_some() {
                "from web.conf"
            } else {
                "generated at first start: `loopstart web password`"
            },
            self.max_connections,
            self.memory_limit_mb
        );
        s
    }
}

pub fn load(
    conf_dir: &Path,
    vars: &mut std::collections::BTreeMap<String, String>,
    diags: &mut Diags,
) -> WebConfig {
    let path = conf_dir.join("autoload_configs").join("web.conf.xml");
    match super::read_configuration(&path, "web.conf", vars, diags) {
        Some(el) => web(&el, diags),
        None => WebConfig::defaults(Source {
            file: path,
            line: 0,
        }),
    }
}

/// Reads `<configuration name="web.conf">`.
pub fn web(el: &Element, diags: &mut Diags) -> WebConfig {
    let mut c = WebConfig::defaults(el.source.clone());
    for section in &el.children {
        if section.name != "settings" {
            diags.warn(
                &section.source,
                format!(
                    "unknown element <{}> in web.conf (ignored; expected <settings>)",
                    section.name
                ),
            );
            continue;
        }
        for p in params(section, diags) {
            param(&mut c, &p, diags);
        }
    }
    c
}

fn param(c: &mut WebConfig, p: &Param, diags: &mut Diags) {
    match p.name.as_str() {
        "enabled" => set(&mut c.enabled, boolean(p, diags)),
        "listen-ip" => set(&mut c.listen_ip, ip(p, diags)),
        "listen-port" => set(&mut c.listen_port, port(p, diags)),
        "password" => {
            let v = p.value.trim();
            if v.is_empty() {
                c.password = None;
            } else if v.len() < 8 {
                diags.error(
                    &p.source,
                    "param \"password\" is shorter than 8 characters; set a longer one, or \
                     remove the param to use the one generated at first start",
                );
            } else {
                c.password = Some(v.to_string());
            }
        }
        "max-connections" => set(&mut c.max_connections, number(p, diags, 1, 1024, "")),
        "request-timeout" => set(
            &mut c.request_timeout_secs,
            number(p, diags, 1, 300, "seconds"),
        ),
        "max-request-bytes" => set(
            &mut c.max_request_bytes,
            number(p, diags, 1024, 16 * 1024 * 1024, "bytes"),
        ),
        "memory-limit-mb" => set(&mut c.memory_limit_mb, number(p, diags, 16, 4096, "MiB")),
        "session-timeout" => set(
            &mut c.session_timeout_secs,
            number(p, diags, 60, 7 * 86_400, "seconds"),
        ),
        "max-sessions" => set(&mut c.max_sessions, number(p, diags, 1, 1024, "")),
        _ => unknown(p, &[], diags),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::xml::load_str;

    fn parse(params: &[(&str, &str)]) -> (WebConfig, Diags) {
        let mut text = String::from("<configuration name=\"web.conf\">\n<settings>\n");
        for (n, v) in params {
            text.push_str(&format!("<param name=\"{n}\" value=\"{v}\"/>\n"));
        }
        text.push_str("</settings>\n</configuration>\n");
        let mut diags = Diags::default();
        let els = load_str(
            Path::new("web.conf.xml"),
            &text,
            &mut Default::default(),
            &mut diags,
        );
        (web(&els[0], &mut diags), diags)
    }

    #[test]
    fn defaults_are_https_on_8443_with_a_generated_password() {
        let (c, d) = parse(&[]);
        assert!(!d.has_errors());
        assert_eq!(c.listen_port, 8443);
        assert!(c.password.is_none());
        assert!(c.enabled);
        assert!(c.summary().contains("loopstart web password"));
    }

    #[test]
    fn params_are_read_and_bad_ones_name_file_and_line() {
        let (c, d) = parse(&[
            ("listen-ip", "127.0.0.1"),
            ("listen-port", "9443"),
            ("password", "correct horse"),
            ("max-connections", "4"),
            ("memory-limit-mb", "32"),
        ]);
        assert!(!d.has_errors(), "{:?}", d.0);
        assert_eq!(c.listen_ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(c.listen_port, 9443);
        assert_eq!(c.password.as_deref(), Some("correct horse"));
        assert_eq!((c.max_connections, c.memory_limit_mb), (4, 32));

        let (_, d) = parse(&[("password", "1234"), ("max-connections", "0")]);
        let text: Vec<String> = d.0.iter().map(|x| x.to_string()).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(text[0].contains("web.conf.xml:3"), "{text:?}");
        assert!(text[1].contains("web.conf.xml:4"), "{text:?}");
        assert!(text[0].contains("shorter than 8"), "{text:?}");
        assert!(text[1].contains("max-connections"), "{text:?}");
    }
}
