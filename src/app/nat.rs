//! A profile behind NAT: the outside address its `ext-sip-ip` / `ext-rtp-ip` name
//! (an address, `stun:SERVER`, `host:NAME`), learnt once at start, and the networks
//! that are inside (`local-network-acl`, FreeSWITCH's default `localnet.auto`).

use super::acls::SharedAcls;
use crate::config::SipProfile;
use crate::sip::core::{AddressCheck, NatHost};
use std::net::IpAddr;
use std::time::Duration;

/// How long a STUN server may take at start.
const STUN_TIMEOUT: Duration = Duration::from_secs(2);

/// What peers outside see of a profile.
pub struct Outside {
    /// For Via and Contact.
    pub sip: Option<NatHost>,
    /// For SDP: the RTP address and who is inside.
    pub rtp: Option<(IpAddr, AddressCheck)>,
}

pub fn outside(profile: &SipProfile, acls: &SharedAcls) -> Outside {
    let sip_ip = learn(
        profile,
        profile.ext_sip_ip.as_deref(),
        profile.sip_ip,
        "ext-sip-ip",
    );
    let rtp_ip = learn(
        profile,
        profile.ext_rtp_ip.as_deref(),
        profile.rtp_ip,
        "ext-rtp-ip",
    );
    if sip_ip.is_none() && rtp_ip.is_none() {
        return Outside {
            sip: None,
            rtp: None,
        };
    }
    let list = profile
        .local_network_acl
        .clone()
        .unwrap_or_else(|| "localnet.auto".into());
    let local_network = match acls.check(std::slice::from_ref(&list)) {
        Some(c) => c,
        None => {
            return Outside {
                sip: None,
                rtp: None,
            }
        }
    };
    Outside {
        sip: sip_ip.map(|ip| NatHost {
            external: host_port(ip, profile.sip_port),
            local_network: local_network.clone(),
        }),
        rtp: rtp_ip.map(|ip| (ip, local_network)),
    }
}

/// `ip:port`, bracketed for IPv6.
fn host_port(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// The outside address `value` names; None (with a log line saying what to do) when
/// it cannot be learnt, so the profile still runs, as on a LAN.
fn learn(profile: &SipProfile, value: Option<&str>, local: IpAddr, param: &str) -> Option<IpAddr> {
    let value = value?.trim();
    if let Ok(ip) = value.parse::<IpAddr>() {
        return (ip != local).then_some(ip);
    }
    let learnt = if let Some(server) = value.strip_prefix("stun:") {
        crate::sip::transport::stun::query(server, local, STUN_TIMEOUT)
    } else if let Some(name) = value.strip_prefix("host:") {
        crate::sip::transport::resolve(name, 0).and_then(|a| {
            a.first()
                .map(|s| s.ip())
                .ok_or_else(|| format!("{name} has no address"))
        })
    } else if value == "auto-nat" {
        Err(
            "auto-nat needs UPnP or NAT-PMP, which loopstart does not speak: set the \
             router's public address, or stun:SERVER"
                .to_string(),
        )
    } else {
        // `auto`: the local address, nothing to rewrite.
        return None;
    };
    match learnt {
        Ok(ip) => {
            tracing::info!(profile = %profile.name, %param, %ip, "outside address learnt");
            Some(ip)
        }
        Err(e) => {
            tracing::error!(profile = %profile.name, %param, source = %profile.source,
                "{e}; peers outside the local network get our local address, which they may not reach");
            None
        }
    }
}
