//! Configuration, loaded the way FreeSWITCH loads its tree.
//!
//! `vars.xml` first (its `X-PRE-PROCESS set` lines define the `$${globals}` everything
//! else may use), then `autoload_configs/`, `sip_profiles/*.xml` and `directory/*.xml`.
//! Parsing is done in two steps: `xml.rs` preprocesses each file into elements that
//! remember their file and line, and the section readers turn elements into typed
//! structs, reporting unknown elements and params as warnings and bad values as errors,
//! always with file and line.

mod diag;
mod directory;
mod sections;
mod values;
mod xml;

#[cfg(test)]
mod tests;

pub use diag::{ConfigErrors, Diagnostic, Severity, Source};
pub use directory::{Domain, User};
pub use sections::{DigestAlgorithm, EventSocketConfig, SipProfile, SwitchConfig};

use diag::Diags;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub conf_dir: PathBuf,
    /// Globals after preprocessing.
    pub vars: BTreeMap<String, String>,
    pub switch: SwitchConfig,
    pub profiles: Vec<SipProfile>,
    pub domains: Vec<Domain>,
    pub event_socket: EventSocketConfig,
    /// Warnings that did not stop loading.
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads and validates the tree under `conf_dir`.
pub fn load(conf_dir: &Path) -> Result<Config, ConfigErrors> {
    let mut diags = Diags::default();
    if !conf_dir.is_dir() {
        return Err(ConfigErrors(vec![Diagnostic {
            severity: Severity::Error,
            source: Source {
                file: conf_dir.to_path_buf(),
                line: 0,
            },
            message: "configuration directory not found (pass --conf DIR)".into(),
        }]));
    }
    let mut vars = default_vars(conf_dir);

    let vars_file = conf_dir.join("vars.xml");
    if vars_file.exists() {
        let top = xml::load_file(&vars_file, &mut vars, &mut diags);
        for el in &top {
            if el.name != "include" {
                diags.warn(
                    &el.source,
                    format!("unexpected <{}> in vars.xml (only X-PRE-PROCESS)", el.name),
                );
            }
        }
    }
    vars.entry("domain".into())
        .or_insert_with(|| vars_local_ip(conf_dir));

    let autoload = conf_dir.join("autoload_configs");
    let switch = match read_configuration(
        &autoload.join("switch.conf.xml"),
        "switch.conf",
        &mut vars,
        &mut diags,
    ) {
        Some(el) => sections::switch(&el, &mut diags),
        None => SwitchConfig::default(),
    };
    let es_path = autoload.join("event_socket.conf.xml");
    let event_socket =
        match read_configuration(&es_path, "event_socket.conf", &mut vars, &mut diags) {
            Some(el) => sections::event_socket(&el, &mut diags),
            None => EventSocketConfig::defaults(Source {
                file: es_path,
                line: 0,
            }),
        };

    let mut profiles = Vec::new();
    for file in xml_files(&conf_dir.join("sip_profiles")) {
        for el in xml::load_file(&file, &mut vars, &mut diags) {
            match el.name.as_str() {
                "profile" => {
                    if let Some(p) = sections::profile(&el, &mut diags, &vars) {
                        if profiles.iter().any(|x: &SipProfile| x.name == p.name) {
                            diags.error(&p.source, format!("profile {} is defined twice", p.name));
                        } else {
                            profiles.push(p);
                        }
                    }
                }
                other => diags.warn(
                    &el.source,
                    format!("unknown element <{other}> in sip_profiles"),
                ),
            }
        }
    }
    check_port_clashes(&profiles, &mut diags);

    let mut domains = Vec::new();
    for file in xml_files(&conf_dir.join("directory")) {
        let top = xml::load_file(&file, &mut vars, &mut diags);
        directory::domains(&top, &mut diags, &mut domains);
    }

    if diags.has_errors() {
        return Err(ConfigErrors(diags.0));
    }
    Ok(Config {
        conf_dir: conf_dir.to_path_buf(),
        vars,
        switch,
        profiles,
        domains,
        event_socket,
        diagnostics: diags.0,
    })
}

/// Reads `<configuration name="NAME">` from an optional file.
fn read_configuration(
    path: &Path,
    name: &str,
    vars: &mut BTreeMap<String, String>,
    diags: &mut Diags,
) -> Option<xml::Element> {
    if !path.exists() {
        return None;
    }
    let mut found = None;
    for el in xml::load_file(path, vars, diags) {
        if el.name == "configuration" && el.attr("name") == Some(name) {
            found = Some(el);
        } else {
            diags.warn(
                &el.source,
                format!(
                    "expected <configuration name=\"{name}\">, found <{}>",
                    el.name
                ),
            );
        }
    }
    found
}

/// `*.xml` directly in `dir`, sorted (subfolders such as `external/` are included by
/// the files themselves, as in FreeSWITCH).
fn xml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "xml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn check_port_clashes(profiles: &[SipProfile], diags: &mut Diags) {
    for (i, a) in profiles.iter().enumerate() {
        for b in &profiles[i + 1..] {
            if a.sip_port == b.sip_port
                && (a.sip_ip == b.sip_ip || a.sip_ip.is_unspecified() || b.sip_ip.is_unspecified())
            {
                diags.error(
                    &b.source,
                    format!(
                        "profile {} uses {}:{}, already used by profile {} ({})",
                        b.name, b.sip_ip, b.sip_port, a.name, a.source
                    ),
                );
            }
        }
    }
}

/// The globals FreeSWITCH defines before reading vars.xml.
fn default_vars(conf_dir: &Path) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    v.insert("local_ip_v4".into(), local_ip_v4().to_string());
    v.insert(
        "hostname".into(),
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "loopstart".into()),
    );
    let dir = conf_dir.display().to_string();
    v.insert("conf_dir".into(), dir.clone());
    v.insert("base_dir".into(), dir);
    v
}

fn vars_local_ip(_conf_dir: &Path) -> String {
    local_ip_v4().to_string()
}

/// The box's primary IPv4 address, found without sending anything: a connected UDP
/// socket's local address is the source the routing table would pick.
pub fn local_ip_v4() -> IpAddr {
    UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

impl Config {
    pub fn profile(&self, name: &str) -> Option<&SipProfile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    pub fn find_user(&self, user: &str, domain: &str) -> Option<&User> {
        self.domains
            .iter()
            .find(|d| d.name == domain)?
            .users
            .iter()
            .find(|u| u.id == user)
    }

    /// What `loopstart check` prints.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "configuration: {}", self.conf_dir.display());
        for p in &self.profiles {
            let mut transports = Vec::new();
            if p.udp {
                transports.push("udp");
            }
            if p.tcp {
                transports.push("tcp");
            }
            let _ = writeln!(
                s,
                "profile {}: sip {}:{} ({}), context {}, auth-calls {}",
                p.name,
                p.sip_ip,
                p.sip_port,
                transports.join(", "),
                p.context,
                p.auth_calls
            );
        }
        for d in &self.domains {
            let ids: Vec<&str> = d.users.iter().map(|u| u.id.as_str()).collect();
            let _ = writeln!(
                s,
                "domain {}: {} users ({})",
                d.name,
                d.users.len(),
                ids.join(", ")
            );
        }
        let es = &self.event_socket;
        let _ = writeln!(
            s,
            "event socket: {}:{}, password {}",
            es.listen_ip,
            es.listen_port,
            if es.password.is_some() {
                "set"
            } else {
                "not set (generated at first boot)"
            }
        );
        let _ = writeln!(
            s,
            "store: cache {} MiB; max sessions {}",
            self.switch.store_cache_mb, self.switch.max_sessions
        );
        let warnings = self
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count();
        let _ = writeln!(
            s,
            "{warnings} warning{}",
            if warnings == 1 { "" } else { "s" }
        );
        s
    }
}
