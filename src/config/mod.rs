//! Configuration, loaded the way FreeSWITCH loads its tree.
//!
//! `vars.xml` first (its `X-PRE-PROCESS set` lines define the `$${globals}` everything
//! else may use), then `autoload_configs/`, `sip_profiles/*.xml` and `directory/*.xml`.
//! Parsing is done in two steps: `xml.rs` preprocesses each file into elements that
//! remember their file and line, and the section readers turn elements into typed
//! structs, reporting unknown elements and params as warnings and bad values as errors,
//! always with file and line. Nothing here touches the network: `local_ip_v4` only asks
//! the routing table.

pub mod acl;
pub mod blacklist;
pub mod board;
pub mod cdr_csv;
mod diag;
mod directory;
pub mod fail2ban;
pub mod flood;
pub mod gateway;
mod profile;
mod sections;
mod values;
pub mod web;
pub mod xml;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_acl;
#[cfg(test)]
mod tests_board;
#[cfg(test)]
mod tests_directory;
#[cfg(test)]
mod tests_freeswitch;

pub use acl::{AclConfig, AclList, AclNode, NodeTarget};
pub use diag::{ConfigErrors, Diagnostic, Diags, Severity, Source};
pub use directory::{Domain, User};
pub use gateway::{Gateway, RegisterTransport};
pub use profile::{DigestAlgorithm, SipProfile};
pub use sections::{EventSocketConfig, SwitchConfig};
pub use values::parse_bool;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::path::{Path, PathBuf};

/// The whole configuration, read once at start and on `reloadxml`.
#[derive(Debug, Clone)]
pub struct Config {
    pub conf_dir: PathBuf,
    /// Globals after preprocessing.
    pub vars: BTreeMap<String, String>,
    pub switch: SwitchConfig,
    pub profiles: Vec<SipProfile>,
    pub domains: Vec<Domain>,
    pub event_socket: EventSocketConfig,
    /// The box's hardware (`board.toml`); None on a box without analog ports.
    pub board: Option<board::Board>,
    /// CSV export of the call records (`cdr_csv.conf.xml`).
    pub cdr_csv: cdr_csv::CdrCsvConfig,
    /// Network lists (`acl.conf.xml`); guard::acl::Acls::from_config adds the built-in
    /// `*.auto` ones.
    pub acl: acl::AclConfig,
    /// The guard's banning (`fail2ban.conf.xml`; defaults without it).
    pub fail2ban: fail2ban::Fail2banConfig,
    /// Number blacklists (`blacklist.conf.xml`; no lists without it).
    pub blacklist: blacklist::BlacklistConfig,
    /// The web page (`web.conf.xml`; defaults without it).
    pub web: web::WebConfig,
    /// Warnings that did not stop loading.
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads and validates the tree under `conf_dir`: `vars.xml`, `autoload_configs/`
/// (acl.conf, switch.conf, event_socket.conf, cdr_csv.conf), `sip_profiles/*.xml` and `directory/*.xml`.
/// Fails when any diagnostic is an error; warnings come back in `diagnostics`.
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
    if !vars.contains_key("domain") {
        let ip = vars.get("local_ip_v4").cloned().unwrap_or_default();
        vars.insert("domain".into(), ip);
    }

    // FreeSWITCH reads autoload_configs/ in name order: acl.conf first.
    let acl = acl::load(conf_dir, &mut vars, &mut diags);
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

    let cdr_path = autoload.join("cdr_csv.conf.xml");
    let cdr_csv = match read_configuration(&cdr_path, "cdr_csv.conf", &mut vars, &mut diags) {
        Some(el) => cdr_csv::cdr_csv(&el, &mut diags),
        None => cdr_csv::CdrCsvConfig::defaults(Source {
            file: cdr_path,
            line: 0,
        }),
    };

    let fail2ban = fail2ban::load(conf_dir, &mut vars, &mut diags);
    let blacklist = blacklist::load(conf_dir, &mut vars, &mut diags);
    let web = web::load(conf_dir, &mut vars, &mut diags);

    let board = board::load(conf_dir).unwrap_or_else(|errors| {
        diags.0.extend(errors.0);
        None
    });

    let mut profiles = Vec::new();
    for file in xml_files(&conf_dir.join("sip_profiles"), &mut diags) {
        for el in xml::load_file(&file, &mut vars, &mut diags) {
            match el.name.as_str() {
                "profile" => {
                    if let Some(p) = profile::profile(&el, &mut diags, &vars) {
                        if profiles.iter().any(|x: &SipProfile| x.name == p.name) {
                            diags.error(
                                &p.source,
                                format!("profile {} is defined twice (ignored)", p.name),
                            );
                        } else {
                            profiles.push(p);
                        }
                    }
                }
                other => diags.warn(
                    &el.source,
                    format!(
                        "unknown element <{other}> in sip_profiles (ignored; expected <profile>)"
                    ),
                ),
            }
        }
    }
    check_port_clashes(&profiles, &mut diags);

    let mut domains = Vec::new();
    for file in xml_files(&conf_dir.join("directory"), &mut diags) {
        let top = xml::load_file(&file, &mut vars, &mut diags);
        directory::domains(&top, &mut diags, &mut domains);
    }
    directory::check_duplicates(&domains, &mut diags);
    acl::check_domains(&acl, &domains, &mut diags);
    let at_dir = |sub: &str| Source {
        file: conf_dir.join(sub),
        line: 0,
    };
    if profiles.is_empty() {
        diags.warn(
            &at_dir("sip_profiles"),
            "no SIP profile (sip_profiles/*.xml): nothing listens for SIP",
        );
    }
    if domains.is_empty() {
        diags.warn(
            &at_dir("directory"),
            "no domain (directory/*.xml): no phone can register",
        );
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
        board,
        cdr_csv,
        acl,
        fail2ban,
        blacklist,
        web,
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
/// the files themselves, as in FreeSWITCH). A missing folder is simply empty.
pub fn xml_files(dir: &Path, diags: &mut Diags) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            diags.error(
                &Source {
                    file: dir.to_path_buf(),
                    line: 0,
                },
                format!("cannot list the folder: {e}"),
            );
            return Vec::new();
        }
    };
    let mut v: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "xml"))
        .collect();
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

/// The globals FreeSWITCH defines before reading vars.xml (so FreeSWITCH's own
/// configs expand without warnings). Directories follow FreeSWITCH's layout under the
/// parent of `conf_dir`.
fn default_vars(conf_dir: &Path) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    v.insert("local_ip_v4".into(), local_ip_v4().to_string());
    v.insert("local_ip_v6".into(), local_ip_v6().to_string());
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "loopstart".into());
    v.insert("hostname".into(), hostname.clone());
    v.insert("switchname".into(), hostname);
    // Absolute, as FreeSWITCH's are: `$${conf_dir}/blacklists/x.list` in a file must
    // not be read relative to the conf dir a second time when loopstart was started
    // with a relative `--conf`.
    let absolute = std::fs::canonicalize(conf_dir).unwrap_or_else(|_| conf_dir.to_path_buf());
    let conf_dir = absolute.as_path();
    let base = conf_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    v.insert("conf_dir".into(), conf_dir.display().to_string());
    v.insert("base_dir".into(), base.display().to_string());
    for (name, sub) in [
        ("log_dir", "log"),
        ("run_dir", "run"),
        ("db_dir", "db"),
        ("sounds_dir", "sounds"),
        ("recordings_dir", "recordings"),
        ("storage_dir", "storage"),
        ("cache_dir", "cache"),
        ("script_dir", "scripts"),
        ("certs_dir", "certs"),
        ("mod_dir", "mod"),
        ("grammar_dir", "grammar"),
        ("htdocs_dir", "htdocs"),
        ("data_dir", "data"),
    ] {
        v.insert(name.into(), base.join(sub).display().to_string());
    }
    v.insert(
        "temp_dir".into(),
        std::env::temp_dir().display().to_string(),
    );
    v
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

/// The primary IPv6 address the same way, `::1` when the box has no IPv6 route.
pub fn local_ip_v6() -> IpAddr {
    UdpSocket::bind("[::]:0")
        .and_then(|s| {
            s.connect("[2001:db8::1]:9")?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST))
}

impl Config {
    /// The SIP profile called `name` (e.g. "internal").
    pub fn profile(&self, name: &str) -> Option<&SipProfile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// The user `user` of domain `domain` (exact names, as in the directory).
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
            for g in &p.gateways {
                let reg = if g.register {
                    format!(
                        "registers as {} at {} every {} s",
                        g.username, g.register_proxy, g.expire_seconds
                    )
                } else {
                    "no registration".to_string()
                };
                let _ = writeln!(s, "  gateway {}: proxy {}, {reg}", g.name, g.proxy);
            }
        }
        for d in &self.domains {
            let _ = writeln!(
                s,
                "domain {}: {} user{} ({})",
                d.name,
                d.users.len(),
                if d.users.len() == 1 { "" } else { "s" },
                id_ranges(d.users.iter().map(|u| u.id.as_str()))
            );
        }
        s.push_str(&self.acl.summary(&self.domains));
        s.push_str(&self.fail2ban.summary());
        s.push_str(&self.web.summary());
        if !self.blacklist.lists.is_empty() {
            let names: Vec<&str> = self
                .blacklist
                .lists
                .iter()
                .map(|l| l.name.as_str())
                .collect();
            let _ = writeln!(s, "blacklists: {}", names.join(", "));
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
        match &self.board {
            Some(b) => s.push_str(&b.summary()),
            None => s.push_str("board: none (no board.toml: no analog ports)\n"),
        }
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

/// "1001-1010, 2000, alice": runs of consecutive numeric ids collapsed, so the summary
/// stays one line for a big office.
fn id_ranges<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let mut numeric: Vec<(u64, &str)> = Vec::new();
    let mut other: Vec<&str> = Vec::new();
    for id in ids {
        // Only canonical numbers (no leading zeros) can be collapsed without changing them.
        match id.parse::<u64>() {
            Ok(n) if n.to_string() == id => numeric.push((n, id)),
            _ => other.push(id),
        }
    }
    numeric.sort_unstable();
    numeric.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numeric.len() {
        let mut j = i;
        while j + 1 < numeric.len() && numeric[j + 1].0 == numeric[j].0 + 1 {
            j += 1;
        }
        parts.push(if j > i {
            format!("{}-{}", numeric[i].1, numeric[j].1)
        } else {
            numeric[i].1.to_string()
        });
        i = j + 1;
    }
    other.sort_unstable();
    parts.extend(other.into_iter().map(str::to_string));
    parts.join(", ")
}
