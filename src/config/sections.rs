//! `autoload_configs/`: switch.conf and event_socket.conf.

use super::diag::{Diags, Source};
use super::values::{ip, number, params, port, set, unknown};
use super::xml::Element;
use std::net::{IpAddr, Ipv4Addr};

/// Core settings (`autoload_configs/switch.conf.xml`).
#[derive(Debug, Clone)]
pub struct SwitchConfig {
    /// `max-sessions`: concurrent calls (1000).
    pub max_sessions: u32,
    /// `store-cache-mb`: sled page cache, MiB (16; the box has 128-512 MiB).
    pub store_cache_mb: u32,
    /// `sip-max-message-bytes`: a bigger SIP message is refused (65535).
    pub sip_max_message_bytes: usize,
    /// `sip-max-headers`: per message (128).
    pub sip_max_headers: usize,
    /// `sip-max-line-bytes`: per header line (8192).
    pub sip_max_line_bytes: usize,
    /// `max-transactions`: the SIP transaction table bound (8192, as the transaction
    /// layer's own default: bounded memory on a small box).
    pub max_transactions: usize,
    /// `rtp-start-port` / `rtp-end-port`: where calls' RTP (and RTCP, +1) ports come from.
    pub rtp_start_port: u16,
    pub rtp_end_port: u16,
    /// `max-limit-keys` (loopstart's): most `limit` hash items (realm + resource) at
    /// once (10000), so callers cycling numbers cannot grow memory.
    pub max_limit_keys: usize,
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
            rtp_start_port: 16_384,
            rtp_end_port: 32_768,
            max_limit_keys: crate::guard::limit::DEFAULT_MAX_KEYS,
        }
    }
}

/// FreeSWITCH switch.conf params loopstart does not use: logged at debug level only.
const SWITCH_UNUSED: &[&str] = &[
    "loglevel",
    "debug-level",
    "colorize-console",
    "console-loglevel",
    "dump-cores",
    "rtp-port-usage-robustness",
    "rtp-enable-zrtp",
    "rtp-retain-crypto-keys",
    "sessions-per-second",
    "min-idle-cpu",
    "cpu-idle-smoothing-depth",
    "max-db-handles",
    "db-handle-timeout",
    "core-db-name",
    "core-db-dsn",
    "core-recovery-db-dsn",
    "core-dbtype",
    "core-non-sqlite-db-required",
    "odbc-skip-autocommit-flip",
    "auto-create-schemas",
    "auto-clear-sql",
    "switchname",
    "max_dtmf_duration",
    "min_dtmf_duration",
    "default_dtmf_duration",
    "max-dtmf-duration",
    "min-dtmf-duration",
    "default-dtmf-duration",
    "mailer-app",
    "mailer-app-args",
    "dialplan-timestamps",
    "enable-use-system-time",
    "enable-monotonic-timing",
    "enable-softtimer-timerfd",
    "enable-cond-yield",
    "enable-timer-matrix",
    "enable-clock-nanosleep",
    "enable-early-hangup",
    "verbose-channel-events",
    "threaded-system-exec",
    "spawn-instead-of-system",
    "exclude-error-log-from-xml-cdr",
    "initial-event-threads",
    "event-heartbeat-interval",
    "event-channel-key-separator",
    "events-use-dispatch",
    "multiple-registrations",
    "tipping-point",
    "timer-affinity",
    "max-audio-channels",
    "sql-buffer-len",
    "max-sql-buffer-len",
    "session-thread-pool",
    "api-expansion",
    "ssl-version",
];

/// Elements of switch.conf loopstart does not read (FreeSWITCH console settings).
const SWITCH_UNUSED_ELEMENTS: &[&str] = &["variables", "cli-keybindings", "default-ptimes"];

/// Reads `<configuration name="switch.conf">`.
pub fn switch(el: &Element, diags: &mut Diags) -> SwitchConfig {
    let mut c = SwitchConfig::default();
    for section in &el.children {
        if section.name != "settings" {
            if !SWITCH_UNUSED_ELEMENTS.contains(&section.name.as_str()) {
                diags.warn(
                    &section.source,
                    format!(
                        "unknown element <{}> in switch.conf (ignored)",
                        section.name
                    ),
                );
            }
            continue;
        }
        for p in params(section, diags) {
            match p.name.as_str() {
                "max-sessions" => set(&mut c.max_sessions, number(&p, diags, 1, 100_000, "calls")),
                "store-cache-mb" => set(&mut c.store_cache_mb, number(&p, diags, 1, 4096, "MiB")),
                "sip-max-message-bytes" => set(
                    &mut c.sip_max_message_bytes,
                    number(&p, diags, 1024, 1_048_576, "bytes"),
                ),
                "sip-max-headers" => set(
                    &mut c.sip_max_headers,
                    number(&p, diags, 16, 1024, "headers per message"),
                ),
                "sip-max-line-bytes" => set(
                    &mut c.sip_max_line_bytes,
                    number(&p, diags, 256, 65_535, "bytes"),
                ),
                "max-transactions" => set(
                    &mut c.max_transactions,
                    number(&p, diags, 100, 1_000_000, "SIP transactions"),
                ),
                "rtp-start-port" => set(
                    &mut c.rtp_start_port,
                    number(&p, diags, 1024, 65_534, "UDP port"),
                ),
                "rtp-end-port" => set(
                    &mut c.rtp_end_port,
                    number(&p, diags, 1025, 65_535, "UDP port"),
                ),
                "max-limit-keys" => set(
                    &mut c.max_limit_keys,
                    number(&p, diags, 10, 1_000_000, "limit keys"),
                ),
                _ => unknown(&p, SWITCH_UNUSED, diags),
            }
        }
    }
    if c.rtp_end_port < c.rtp_start_port + 1 {
        diags.error(
            &el.source,
            format!(
                "switch.conf: rtp-end-port ({}) must be above rtp-start-port ({}): each call needs an even RTP port and the odd one after it",
                c.rtp_end_port, c.rtp_start_port
            ),
        );
    }
    if c.sip_max_line_bytes > c.sip_max_message_bytes {
        diags.error(
            &el.source,
            format!(
                "switch.conf: sip-max-line-bytes ({}) is above sip-max-message-bytes ({})",
                c.sip_max_line_bytes, c.sip_max_message_bytes
            ),
        );
    }
    c
}

/// `autoload_configs/event_socket.conf.xml`: where the Event Socket listens.
#[derive(Debug, Clone)]
pub struct EventSocketConfig {
    /// `listen-ip` (127.0.0.1).
    pub listen_ip: IpAddr,
    /// `listen-port` (8021).
    pub listen_port: u16,
    /// `password`; None when the param is absent (first boot generates one).
    pub password: Option<String>,
    /// The list (or address/CIDR) named by `apply-inbound-acl`, and where.
    pub apply_inbound_acl: Option<(String, Source)>,
    /// The `password` param if present, else the `<configuration>` element.
    pub source: Source,
}

impl EventSocketConfig {
    /// The settings of an absent or empty event_socket.conf.
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

/// Reads `<configuration name="event_socket.conf">`.
pub fn event_socket(el: &Element, diags: &mut Diags) -> EventSocketConfig {
    let mut c = EventSocketConfig::defaults(el.source.clone());
    for section in &el.children {
        if section.name != "settings" {
            diags.warn(
                &section.source,
                format!(
                    "unknown element <{}> in event_socket.conf (ignored)",
                    section.name
                ),
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
                "apply-inbound-acl" => {
                    let v = p.value.trim();
                    c.apply_inbound_acl =
                        (!v.is_empty()).then(|| (v.to_string(), p.source.clone()));
                }
                _ => unknown(&p, &["nat-map", "stop-on-bind-error", "debug"], diags),
            }
        }
    }
    c
}
