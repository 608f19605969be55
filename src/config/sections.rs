//! The sections loopstart reads: switch.conf, event_socket.conf and SIP profiles.

use super::diag::{Diags, Source};
use super::values::{self, boolean, ip, list, number, params, port, unknown};
use super::xml::Element;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

/// Core settings (`autoload_configs/switch.conf.xml`).
#[derive(Debug, Clone)]
pub struct SwitchConfig {
    pub max_sessions: u32,
    /// sled page cache, MiB.
    pub store_cache_mb: u32,
    pub sip_max_message_bytes: usize,
    pub sip_max_headers: usize,
    pub sip_max_line_bytes: usize,
    pub max_transactions: usize,
}

impl Default for SwitchConfig {
    fn default() -> Self {
        SwitchConfig {
            max_sessions: 1000,
            store_cache_mb: 16,
            sip_max_message_bytes: 65_535,
            sip_max_headers: 128,
            sip_max_line_bytes: 8_192,
            max_transactions: 8_192,
        }
    }
}

const SWITCH_UNUSED: &[&str] = &[
    "loglevel",
    "colorize-console",
    "dump-cores",
    "rtp-start-port",
    "rtp-end-port",
    "sessions-per-second",
    "max-db-handles",
    "db-handle-timeout",
    "core-db-name",
    "rtp-enable-zrtp",
    "debug-level",
    "max_dtmf_duration",
    "min-dtmf-duration",
    "default-dtmf-duration",
    "mailer-app",
    "mailer-app-args",
    "enable-use-system-time",
    "auto-create-schemas",
    "auto-clear-sql",
    "enable-clock-nanosleep",
];

pub fn switch(el: &Element, diags: &mut Diags) -> SwitchConfig {
    let mut c = SwitchConfig::default();
    for section in &el.children {
        if section.name != "settings" {
            if !matches!(
                section.name.as_str(),
                "variables" | "cli-keybindings" | "default-ptimes"
            ) {
                diags.warn(
                    &section.source,
                    format!("unknown element <{}> in switch.conf", section.name),
                );
            }
            continue;
        }
        for p in params(section, diags) {
            match p.name.as_str() {
                "max-sessions" => set(&mut c.max_sessions, number(&p, diags, "1-100000")),
                "store-cache-mb" => set(&mut c.store_cache_mb, number(&p, diags, "1-1024 (MiB)")),
                "sip-max-message-bytes" => set(
                    &mut c.sip_max_message_bytes,
                    number(&p, diags, "1024-1048576"),
                ),
                "sip-max-headers" => set(&mut c.sip_max_headers, number(&p, diags, "16-1024")),
                "sip-max-line-bytes" => {
                    set(&mut c.sip_max_line_bytes, number(&p, diags, "256-65535"))
                }
                "max-transactions" => {
                    set(&mut c.max_transactions, number(&p, diags, "100-1000000"))
                }
                _ => unknown(&p, SWITCH_UNUSED, diags),
            }
        }
    }
    c
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

/// `autoload_configs/event_socket.conf.xml`.
#[derive(Debug, Clone)]
pub struct EventSocketConfig {
    pub listen_ip: IpAddr,
    pub listen_port: u16,
    pub password: Option<String>,
    pub apply_inbound_acl: Option<String>,
    pub source: Source,
}

impl EventSocketConfig {
    pub fn defaults(source: Source) -> Self {
        EventSocketConfig {
            listen_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            listen_port: 8021,
            password: None,
            apply_inbound_acl: None,
            source,
        }
    }

    /// None, empty, or FreeSWITCH's well-known `ClueCon`.
    pub fn has_default_password(&self) -> bool {
        match &self.password {
            None => true,
            Some(p) => p.trim().is_empty() || p.trim().eq_ignore_ascii_case("ClueCon"),
        }
    }
}

pub fn event_socket(el: &Element, diags: &mut Diags) -> EventSocketConfig {
    let mut c = EventSocketConfig::defaults(el.source.clone());
    for section in &el.children {
        if section.name != "settings" {
            diags.warn(
                &section.source,
                format!("unknown element <{}> in event_socket.conf", section.name),
            );
            continue;
        }
        for p in params(section, diags) {
            match p.name.as_str() {
                "listen-ip" => set(&mut c.listen_ip, ip(&p, diags)),
                "listen-port" => set(&mut c.listen_port, port(&p, diags)),
                "password" => {
                    c.password = Some(p.value.clone());
                    c.source = p.source.clone();
                }
                "apply-inbound-acl" => c.apply_inbound_acl = Some(p.value.clone()),
                _ => unknown(&p, &["nat-map", "stop-on-bind-error", "debug"], diags),
            }
        }
    }
    c
}

/// Digest algorithms a profile challenges with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestAlgorithm {
    Md5,
    Sha256,
}

/// One `sip_profiles/*.xml` profile.
#[derive(Debug, Clone)]
pub struct SipProfile {
    pub name: String,
    pub source: Source,
    pub sip_ip: IpAddr,
    pub sip_port: u16,
    pub context: String,
    pub dialplan: String,
    pub auth_calls: bool,
    pub accept_blind_reg: bool,
    pub accept_blind_auth: bool,
    pub rtp_ip: IpAddr,
    pub ext_sip_ip: Option<String>,
    pub ext_rtp_ip: Option<String>,
    pub force_register_domain: Option<String>,
    pub realm: Option<String>,
    pub udp: bool,
    pub tcp: bool,
    pub nonce_ttl: u32,
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    pub max_registrations_per_extension: u32,
    pub auth_algorithms: Vec<DigestAlgorithm>,
    pub user_agent: String,
    pub codec_prefs: Vec<String>,
    pub rtp_timeout_sec: u32,
    pub rtp_hold_timeout_sec: u32,
    pub apply_register_acl: Vec<String>,
    pub apply_inbound_acl: Vec<String>,
    /// Every param as written, for later features.
    pub params: BTreeMap<String, String>,
}

const PROFILE_UNUSED: &[&str] = &[
    "debug",
    "sip-trace",
    "sip-capture",
    "watchdog-enabled",
    "watchdog-step-timeout",
    "watchdog-event-timeout",
    "log-auth-failures",
    "forward-unsolicited-mwi-notify",
    "rtp-timer-name",
    "hold-music",
    "apply-nat-acl",
    "local-network-acl",
    "manage-presence",
    "presence-hosts",
    "presence-privacy",
    "dbname",
    "inbound-codec-negotiation",
    "tls",
    "tls-only",
    "tls-bind-params",
    "tls-sip-port",
    "tls-passphrase",
    "tls-verify-date",
    "tls-verify-policy",
    "tls-verify-depth",
    "tls-verify-in-subjects",
    "tls-version",
    "tls-ciphers",
    "dtmf-duration",
    "rfc2833-pt",
    "record-path",
    "record-template",
    "auth-all-packets",
    "inbound-late-negotiation",
    "outbound-codec-prefs",
    "dtmf-type",
    "session-timeout",
    "pass-rfc2833",
    "multiple-registrations",
    "nonce-ttl",
    "challenge-realm",
    "user-agent-string",
    "enable-timer",
    "enable-100rel",
    "minimum-session-expires",
    "rtp-autoflush-during-bridge",
    "inbound-bypass-media",
    "inbound-proxy-media",
    "disable-transcoding",
    "aggressive-nat-detection",
    "NDLB-force-rport",
    "NDLB-received-in-nat-reg-contact",
    "NDLB-broken-auth-hash",
    "inbound-reg-force-matching-username",
    "presence-probe-on-register",
    "shared-appearance",
    "manual-redirect",
    "disable-transfer",
    "disable-register",
    "enable-3pcc",
    "bitpacking",
    "vad",
    "media-option",
    "rtp-ip-v6",
    "sip-ip-v6",
    "ws-binding",
    "wss-binding",
    "liberal-dtmf",
    "unregister-on-options-fail",
    "send-display-update",
    "max-proceeding",
];

pub fn profile(
    el: &Element,
    diags: &mut Diags,
    vars: &BTreeMap<String, String>,
) -> Option<SipProfile> {
    let Some(name) = el.attr("name") else {
        diags.error(&el.source, "<profile> needs a name attribute");
        return None;
    };
    let local = vars
        .get("local_ip_v4")
        .and_then(|v| v.parse().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut p = SipProfile {
        name: name.to_string(),
        source: el.source.clone(),
        sip_ip: local,
        sip_port: 5060,
        context: "public".into(),
        dialplan: "XML".into(),
        auth_calls: true,
        accept_blind_reg: false,
        accept_blind_auth: false,
        rtp_ip: local,
        ext_sip_ip: None,
        ext_rtp_ip: None,
        force_register_domain: None,
        realm: None,
        udp: true,
        tcp: true,
        nonce_ttl: 60,
        min_expires: 60,
        max_expires: 3600,
        default_expires: 3600,
        max_registrations_per_extension: 10,
        auth_algorithms: vec![DigestAlgorithm::Md5],
        user_agent: "loopstart".into(),
        codec_prefs: vec!["PCMU".into(), "PCMA".into()],
        rtp_timeout_sec: 300,
        rtp_hold_timeout_sec: 1800,
        apply_register_acl: Vec::new(),
        apply_inbound_acl: Vec::new(),
        params: BTreeMap::new(),
    };
    for section in &el.children {
        match section.name.as_str() {
            "settings" => {}
            // Filled by later features (trunks, aliases, domains).
            "gateways" | "aliases" | "domains" => continue,
            other => {
                diags.warn(
                    &section.source,
                    format!("unknown element <{other}> in profile {name}"),
                );
                continue;
            }
        }
        for param in params(section, diags) {
            p.params.insert(param.name.clone(), param.value.clone());
            apply_profile_param(&mut p, &param, diags);
        }
    }
    if p.min_expires > p.max_expires {
        diags.error(
            &p.source,
            format!(
                "profile {name}: sip-expires-min ({}) is above sip-expires-max ({})",
                p.min_expires, p.max_expires
            ),
        );
    }
    Some(p)
}

fn apply_profile_param(p: &mut SipProfile, param: &values::Param, diags: &mut Diags) {
    let v = param.value.trim();
    let opt = || {
        if v.is_empty() {
            None
        } else {
            Some(v.to_string())
        }
    };
    match param.name.as_str() {
        "sip-ip" => set(&mut p.sip_ip, ip(param, diags)),
        "sip-port" => set(&mut p.sip_port, port(param, diags)),
        "rtp-ip" => set(&mut p.rtp_ip, ip(param, diags)),
        "ext-sip-ip" => p.ext_sip_ip = opt(),
        "ext-rtp-ip" => p.ext_rtp_ip = opt(),
        "context" => p.context = v.to_string(),
        "dialplan" => p.dialplan = v.to_string(),
        "auth-calls" => set(&mut p.auth_calls, boolean(param, diags)),
        "accept-blind-reg" => set(&mut p.accept_blind_reg, boolean(param, diags)),
        "accept-blind-auth" => set(&mut p.accept_blind_auth, boolean(param, diags)),
        "force-register-domain" => p.force_register_domain = opt(),
        "challenge-realm" => p.realm = opt(),
        "enable-udp" => set(&mut p.udp, boolean(param, diags)),
        "enable-tcp" => set(&mut p.tcp, boolean(param, diags)),
        "nonce-ttl" => set(&mut p.nonce_ttl, number(param, diags, "seconds, 1-86400")),
        "sip-expires-min" => set(&mut p.min_expires, number(param, diags, "seconds, 1-86400")),
        "sip-expires-max" => set(
            &mut p.max_expires,
            number(param, diags, "seconds, 1-604800"),
        ),
        "sip-expires-default" => set(&mut p.default_expires, number(param, diags, "seconds")),
        "max-registrations-per-extension" => set(
            &mut p.max_registrations_per_extension,
            number(param, diags, "0 (unlimited) or more"),
        ),
        "auth-algorithms" => {
            let mut algs = Vec::new();
            for a in list(param) {
                match a.to_ascii_uppercase().as_str() {
                    "MD5" => algs.push(DigestAlgorithm::Md5),
                    "SHA-256" | "SHA256" => algs.push(DigestAlgorithm::Sha256),
                    _ => diags.error(&param.source, format!(
                        "param \"auth-algorithms\" has unknown algorithm \"{a}\"; allowed: MD5, SHA-256"
                    )),
                }
            }
            if !algs.is_empty() {
                p.auth_algorithms = algs;
            }
        }
        "user-agent-string" => p.user_agent = v.to_string(),
        "inbound-codec-prefs" | "codec-prefs" => p.codec_prefs = list(param),
        "rtp-timeout-sec" => set(&mut p.rtp_timeout_sec, number(param, diags, "seconds")),
        "rtp-hold-timeout-sec" => set(&mut p.rtp_hold_timeout_sec, number(param, diags, "seconds")),
        "apply-register-acl" => p.apply_register_acl.push(v.to_string()),
        "apply-inbound-acl" => p.apply_inbound_acl.push(v.to_string()),
        _ => unknown(param, PROFILE_UNUSED, diags),
    }
}
