//! `sip_profiles/*.xml`: one `<profile>` each, FreeSWITCH's Sofia parameter names.

use super::diag::{Diags, Source};
use super::values::{self, boolean, ip, list, number, params, port, set, unknown};
use super::xml::Element;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

/// Digest algorithms a profile challenges with (`auth-algorithms` "MD5,SHA-256").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestAlgorithm {
    Md5,
    Sha256,
}

impl DigestAlgorithm {
    /// The name in a Digest challenge and in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }
}

/// One SIP profile: where it listens and how it treats registrations and calls.
#[derive(Debug, Clone)]
pub struct SipProfile {
    pub name: String,
    /// Trunks to carriers (`<gateways>`, usually `sip_profiles/external/*.xml`).
    pub gateways: Vec<super::gateway::Gateway>,
    pub source: Source,
    /// `sip-ip` (default `$${local_ip_v4}`).
    pub sip_ip: IpAddr,
    /// `sip-port` (5060).
    pub sip_port: u16,
    /// `context` ("public"; the factory internal profile uses "default").
    pub context: String,
    /// `dialplan` ("XML").
    pub dialplan: String,
    pub auth_calls: bool,
    pub accept_blind_reg: bool,
    pub accept_blind_auth: bool,
    pub rtp_ip: IpAddr,
    /// `ext-sip-ip` as written: an address, "auto", "auto-nat", "stun:HOST", "host:NAME".
    pub ext_sip_ip: Option<String>,
    /// `ext-rtp-ip`, same forms.
    pub ext_rtp_ip: Option<String>,
    /// `local-network-acl`: peers inside see local addresses (`localnet.auto` if unset).
    pub local_network_acl: Option<String>,
    pub force_register_domain: Option<String>,
    /// `challenge-realm`: "auto_from", "auto_to" or a realm; None means the domain.
    pub realm: Option<String>,
    /// `enable-udp` / `enable-tcp` (loopstart), both on by default.
    pub udp: bool,
    pub tcp: bool,
    /// `nonce-ttl`, seconds (60).
    pub nonce_ttl: u32,
    /// `timer-T1`, `timer-T2`, `timer-T4` in ms (RFC 3261's 500, 4000, 5000 when unset):
    /// a lab or a fast LAN may shorten them, so a dead peer is noticed sooner.
    pub timer_t1_ms: Option<u32>,
    pub timer_t2_ms: Option<u32>,
    pub timer_t4_ms: Option<u32>,
    /// `sip-expires-min` (loopstart), seconds (60).
    pub min_expires: u32,
    /// `sip-expires-max` (loopstart), seconds (3600).
    pub max_expires: u32,
    /// `sip-expires-default` (loopstart): when a REGISTER gives none (3600).
    pub default_expires: u32,
    /// `max-registrations-per-extension`; 0 = unlimited as in FreeSWITCH (default 10).
    pub max_registrations_per_extension: u32,
    /// `auth-algorithms` (loopstart): one challenge per algorithm, in order ([MD5]).
    pub auth_algorithms: Vec<DigestAlgorithm>,
    /// `user-agent-string` ("loopstart").
    pub user_agent: String,
    /// `inbound-codec-prefs` (or `outbound-codec-prefs` when only that is set).
    pub codec_prefs: Vec<String>,
    /// `rtp-timeout-sec` (300; 0 = off) and `rtp-hold-timeout-sec` (1800).
    pub rtp_timeout_sec: u32,
    pub rtp_hold_timeout_sec: u32,
    pub apply_register_acl: Vec<String>,
    pub apply_inbound_acl: Vec<String>,
    /// Every param as written (after `$${}` expansion), for later features.
    pub params: BTreeMap<String, String>,
}

impl SipProfile {
    /// The defaults of a profile with no params.
    pub fn defaults(name: &str, source: Source, local_ip: IpAddr) -> SipProfile {
        SipProfile {
            name: name.to_string(),
            gateways: Vec::new(),
            source,
            sip_ip: local_ip,
            sip_port: 5060,
            context: "public".into(),
            dialplan: "XML".into(),
            auth_calls: true,
            accept_blind_reg: false,
            accept_blind_auth: false,
            rtp_ip: local_ip,
            ext_sip_ip: None,
            ext_rtp_ip: None,
            force_register_domain: None,
            realm: None,
            udp: true,
            tcp: true,
            nonce_ttl: 60,
            local_network_acl: None,
            timer_t1_ms: None,
            timer_t2_ms: None,
            timer_t4_ms: None,
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
        }
    }
}

/// Sofia params loopstart does not use (yet): logged at debug level, never warned.
const PROFILE_UNUSED: &[&str] = &[
    "debug",
    "sip-trace",
    "sip-capture",
    "capture-server",
    "watchdog-enabled",
    "watchdog-step-timeout",
    "watchdog-event-timeout",
    "log-auth-failures",
    "forward-unsolicited-mwi-notify",
    "rfc2833-pt",
    "dtmf-duration",
    "dtmf-type",
    "pass-rfc2833",
    "liberal-dtmf",
    "rtp-timer-name",
    "hold-music",
    "apply-nat-acl",
    "apply-proxy-acl",
    "apply-candidate-acl",
    "record-path",
    "record-template",
    "manage-presence",
    "manage-shared-appearance",
    "presence-hosts",
    "presence-privacy",
    "presence-probe-on-register",
    "presence-proto-lookup",
    "presence-hold-state",
    "presence-disable-early",
    "send-presence-on-register",
    "send-message-query-on-register",
    "dbname",
    "odbc-dsn",
    "inbound-codec-negotiation",
    "inbound-late-negotiation",
    "inbound-bypass-media",
    "inbound-proxy-media",
    "inbound-zrtp-passthru",
    "inbound-use-callid-as-uuid",
    "outbound-use-uuid-as-callid",
    "disable-transcoding",
    "tls",
    "tls-only",
    "tls-bind-params",
    "tls-sip-port",
    "tls-cert-dir",
    "tls-passphrase",
    "tls-verify-date",
    "tls-verify-policy",
    "tls-verify-depth",
    "tls-verify-in-subjects",
    "tls-version",
    "tls-ciphers",
    "tls-timeout",
    "auth-all-packets",
    "auth-subscriptions",
    "session-timeout",
    "minimum-session-expires",
    "enable-timer",
    "enable-100rel",
    "enable-compact-headers",
    "enable-3pcc",
    "multiple-registrations",
    "rtp-autoflush-during-bridge",
    "rtp-rewrite-timestamps",
    "rtp-autofix-timing",
    "aggressive-nat-detection",
    "NDLB-force-rport",
    "NDLB-received-in-nat-reg-contact",
    "NDLB-broken-auth-hash",
    "NDLB-sendrecv-in-session",
    "NDLB-allow-bad-iananame",
    "NDLB-allow-nondup-sdp",
    "inbound-reg-force-matching-username",
    "shared-appearance",
    "manual-redirect",
    "disable-transfer",
    "disable-register",
    "bitpacking",
    "vad",
    "media-option",
    "ws-binding",
    "wss-binding",
    "unregister-on-options-fail",
    "send-display-update",
    "max-proceeding",
    "caller-id-type",
    "stun-enabled",
    "stun-auto-disable",
    "nat-options-ping",
    "all-reg-options-ping",
    "registration-thread-frequency",
    "ping-mean-interval",
    "ping-thread-frequency",
    "sip-options-respond-503-on-busy",
    "track-calls",
    "use-rtp-timer",
    "rtp-digit-delay",
    "timer-T1X64",
    "sip-subscription-max-deviation",
    "user-agent-filter",
    "max-recv-requests-per-second",
    "contact-user",
    "force-subscription-domain",
    "force-subscription-expires",
    "force-register-db-domain",
    "bind-params",
    "rtcp-audio-interval-msec",
    "rtcp-video-interval-msec",
    "auto-rtp-bugs",
    "t38-passthru",
    "proxy-refer-replaces",
    "disable-srv",
    "disable-naptr",
    "media-timeout",
    "media-hold-timeout",
    "suppress-cng",
    "renegotiate-codec-on-reinvite",
    "renegotiate-codec-on-hold",
    "sip-force-expires",
    "sip-expires-max-deviation",
    "enable-soa",
    "sql-in-transactions",
    "extended-info-parsing",
    "rtp-enable-zrtp",
    "alias",
    "disable-hold",
    "auto-jitterbuffer-msec",
    "zrtp-passthru",
    "nonce-ttl-check",
    "accept-blind-subscriptions",
    "dialplan-timestamps",
    "pres-on-register",
    "vm-ui",
    "mwi-use-reg-callid",
    "fire-message-events",
    "p-asserted-id-parse",
    "parse-invite-tel-params",
    "apply-dtmf-acl",
    "ext-sip-port",
    "ext-rtp-port",
    "webrtc-enable-dtmf",
    "rtp-port-usage-robustness",
    "ignore-183nosdp",
    "sip-messages-respond-200-ok",
    "sip-subscribe-respond-200-ok",
];

/// Reads one `<profile name="...">`.
pub fn profile(
    el: &Element,
    diags: &mut Diags,
    vars: &BTreeMap<String, String>,
) -> Option<SipProfile> {
    let name = el.attr("name").unwrap_or("").trim();
    if name.is_empty() {
        diags.error(
            &el.source,
            "<profile> needs a name attribute (e.g. name=\"internal\")",
        );
        return None;
    }
    let local = vars
        .get("local_ip_v4")
        .and_then(|v| v.parse().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut p = SipProfile::defaults(name, el.source.clone(), local);
    let mut inbound_codecs = false;
    for section in &el.children {
        match section.name.as_str() {
            "settings" => {}
            "gateways" => {
                p.gateways.extend(super::gateway::gateways(section, diags));
                continue;
            }
            // Read by later features (aliases, domains); known, so no warning.
            "aliases" | "domains" => continue,
            other => {
                diags.warn(
                    &section.source,
                    format!("unknown element <{other}> in profile {name} (ignored)"),
                );
                continue;
            }
        }
        for param in params(section, diags) {
            if param.name == "inbound-codec-prefs" {
                inbound_codecs = true;
            }
            if param.name == "outbound-codec-prefs" && inbound_codecs {
                p.params.insert(param.name.clone(), param.value.clone());
                continue;
            }
            p.params.insert(param.name.clone(), param.value.clone());
            apply(&mut p, &param, diags);
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
    } else if !(p.min_expires..=p.max_expires).contains(&p.default_expires) {
        diags.warn(
            &p.source,
            format!(
                "profile {name}: sip-expires-default ({}) is outside sip-expires-min..max \
                 ({}..{}); registrations will be clamped",
                p.default_expires, p.min_expires, p.max_expires
            ),
        );
    }
    if !p.udp && !p.tcp {
        diags.error(
            &p.source,
            format!("profile {name}: enable-udp and enable-tcp are both off; enable at least one"),
        );
    }
    Some(p)
}

/// `ext-sip-ip` / `ext-rtp-ip`: the forms FreeSWITCH accepts.
fn external_address(param: &values::Param, diags: &mut Diags) -> Option<String> {
    let v = param.value.trim();
    if v.is_empty() {
        return None;
    }
    let ok = v.parse::<IpAddr>().is_ok()
        || v == "auto"
        || v == "auto-nat"
        || v.strip_prefix("stun:")
            .or_else(|| v.strip_prefix("host:"))
            .is_some_and(|h| !h.is_empty());
    if ok {
        Some(v.to_string())
    } else {
        diags.error(
            &param.source,
            format!(
                "param \"{}\" value \"{}\" is not an external address; allowed: an IP \
                 address, auto, auto-nat, stun:HOST, host:NAME",
                param.name, param.value
            ),
        );
        None
    }
}

fn apply(p: &mut SipProfile, param: &values::Param, diags: &mut Diags) {
    let v = param.value.trim();
    let opt = || (!v.is_empty()).then(|| v.to_string());
    match param.name.as_str() {
        "sip-ip" => set(&mut p.sip_ip, ip(param, diags)),
        "sip-port" => set(&mut p.sip_port, port(param, diags)),
        "rtp-ip" => set(&mut p.rtp_ip, ip(param, diags)),
        "ext-sip-ip" => p.ext_sip_ip = external_address(param, diags),
        "ext-rtp-ip" => p.ext_rtp_ip = external_address(param, diags),
        "local-network-acl" => {
            p.local_network_acl = Some(param.value.trim().to_string()).filter(|v| !v.is_empty())
        }
        "context" => p.context = v.to_string(),
        "dialplan" => p.dialplan = v.to_string(),
        "auth-calls" => set(&mut p.auth_calls, boolean(param, diags)),
        "accept-blind-reg" => set(&mut p.accept_blind_reg, boolean(param, diags)),
        "accept-blind-auth" => set(&mut p.accept_blind_auth, boolean(param, diags)),
        "force-register-domain" => p.force_register_domain = opt(),
        "challenge-realm" => p.realm = opt(),
        "enable-udp" => set(&mut p.udp, boolean(param, diags)),
        "enable-tcp" => set(&mut p.tcp, boolean(param, diags)),
        "nonce-ttl" => set(&mut p.nonce_ttl, number(param, diags, 1, 86_400, "seconds")),
        "timer-T1" => p.timer_t1_ms = number(param, diags, 10, 10_000, "milliseconds"),
        "timer-T2" => p.timer_t2_ms = number(param, diags, 100, 40_000, "milliseconds"),
        "timer-T4" => p.timer_t4_ms = number(param, diags, 100, 40_000, "milliseconds"),
        "sip-expires-min" => set(
            &mut p.min_expires,
            number(param, diags, 1, 86_400, "seconds"),
        ),
        "sip-expires-max" => set(
            &mut p.max_expires,
            number(param, diags, 1, 604_800, "seconds"),
        ),
        "sip-expires-default" => set(
            &mut p.default_expires,
            number(param, diags, 1, 604_800, "seconds"),
        ),
        "max-registrations-per-extension" => set(
            &mut p.max_registrations_per_extension,
            number(param, diags, 0, 10_000, "0 = unlimited"),
        ),
        "auth-algorithms" => {
            let mut algs = Vec::new();
            let mut ok = true;
            for a in list(param) {
                let alg = match a.to_ascii_uppercase().as_str() {
                    "MD5" => DigestAlgorithm::Md5,
                    "SHA-256" | "SHA256" => DigestAlgorithm::Sha256,
                    _ => {
                        ok = false;
                        diags.error(
                            &param.source,
                            format!(
                                "param \"auth-algorithms\" value \"{}\" has unknown algorithm \
                                 \"{a}\"; allowed: MD5, SHA-256 (comma-separated)",
                                param.value
                            ),
                        );
                        continue;
                    }
                };
                if !algs.contains(&alg) {
                    algs.push(alg);
                }
            }
            if algs.is_empty() && ok {
                diags.error(
                    &param.source,
                    "param \"auth-algorithms\" is empty; allowed: MD5, SHA-256 (comma-separated)",
                );
            }
            if !algs.is_empty() {
                p.auth_algorithms = algs;
            }
        }
        "user-agent-string" => p.user_agent = v.to_string(),
        "inbound-codec-prefs" | "outbound-codec-prefs" | "codec-prefs" => {
            p.codec_prefs = list(param)
        }
        "rtp-timeout-sec" => set(
            &mut p.rtp_timeout_sec,
            number(param, diags, 0, 86_400, "seconds, 0 = off"),
        ),
        "rtp-hold-timeout-sec" => set(
            &mut p.rtp_hold_timeout_sec,
            number(param, diags, 0, 86_400, "seconds, 0 = off"),
        ),
        "apply-register-acl" => p.apply_register_acl.extend(list(param)),
        "apply-inbound-acl" => p.apply_inbound_acl.extend(list(param)),
        _ => unknown(param, PROFILE_UNUSED, diags),
    }
}
