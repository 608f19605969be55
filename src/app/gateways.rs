//! From a gateway's config to what the core runs: its addresses resolved (once, at
//! start: the core is sans-IO and does no DNS).

use crate::config::{Gateway, SipProfile};
use crate::sip::core::GatewaySetup;
use crate::sip::gateway::RegConfig;
use crate::sip::transaction::{Peer, TransportKind};
use std::net::SocketAddr;

/// The gateway's registration and call addressing; an error names the address that
/// does not resolve. `host_for` is our `ip:port` as a peer at that address must see it
/// (the outside address behind NAT).
pub fn setup(
    gw: &Gateway,
    profile: &SipProfile,
    host_for: &dyn Fn(std::net::IpAddr) -> String,
) -> Result<GatewaySetup, String> {
    let transport = match gw.register_transport {
        crate::config::RegisterTransport::Udp => TransportKind::Udp,
        crate::config::RegisterTransport::Tcp => TransportKind::Tcp,
    };
    let register_to = Peer {
        addr: resolve(&gw.register_proxy)?,
        transport,
    };
    let proxy = Peer {
        addr: resolve(gw.outbound_proxy.as_deref().unwrap_or(&gw.proxy))?,
        transport,
    };
    Ok(GatewaySetup {
        registration: RegConfig {
            name: gw.name.clone(),
            username: gw.username.clone(),
            password: gw.password.clone(),
            realm: gw.realm.clone(),
            registrar: strip_scheme(&gw.register_proxy).to_string(),
            from_user: gw.from_user.clone(),
            from_domain: gw.from_domain.clone(),
            extension: if gw.extension_in_contact {
                gw.extension.clone()
            } else {
                format!("gw+{}", gw.name)
            },
            contact_params: gw.contact_params.clone(),
            register: gw.register,
            expire_seconds: gw.expire_seconds,
            retry_seconds: gw.retry_seconds,
            timeout_seconds: gw.timeout_seconds,
            local: host_for(register_to.addr.ip()),
            tcp: transport == TransportKind::Tcp,
            user_agent: profile.user_agent.clone(),
        },
        register_to,
        proxy,
        uri_host: strip_scheme(&gw.register_proxy).to_string(),
        extension: gw.extension.clone(),
        codecs: (!gw.codec_prefs.is_empty()).then(|| super::offerable(&gw.codec_prefs)),
        caller_id_in_from: gw.caller_id_in_from,
        cid_type: gw.cid_type.clone(),
        context: gw
            .context
            .clone()
            .unwrap_or_else(|| profile.context.clone()),
        ping: gw
            .ping
            .map(|s| std::time::Duration::from_secs(u64::from(s))),
        ping_max: gw.ping_max,
        ping_min: gw.ping_min,
    })
}

/// `sip:host:port` or `host[:port]` → `host[:port]`.
fn strip_scheme(proxy: &str) -> &str {
    let p = proxy.trim();
    p.strip_prefix("sip:").unwrap_or(p)
}

/// A proxy as a gateway names it (`sip:host[:port];params` or `host[:port]`, port
/// 5060 when absent) to the first address it resolves to.
pub fn resolve(proxy: &str) -> Result<SocketAddr, String> {
    let host_port = strip_scheme(proxy);
    let host_port = host_port.split(';').next().unwrap_or(host_port);
    crate::sip::transport::resolve(host_port, 5060)?
        .into_iter()
        .next()
        .ok_or_else(|| format!("{proxy:?} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn proxies_resolve_with_the_default_port() {
        assert_eq!(resolve("127.0.0.1").unwrap().to_string(), "127.0.0.1:5060");
        assert_eq!(
            resolve("sip:127.0.0.1:5080").unwrap().to_string(),
            "127.0.0.1:5080"
        );
        assert_eq!(resolve("[::1]:5070").unwrap().to_string(), "[::1]:5070");
        assert_eq!(resolve("::1").unwrap().to_string(), "[::1]:5060");
        assert!(resolve("no-such-host.invalid").is_err());
    }
}
