//! Gateways (trunks to a carrier), as FreeSWITCH writes them inside a profile's
//! `<gateways>` — usually `sip_profiles/external/*.xml` pulled in with
//! `<X-PRE-PROCESS cmd="include" data="external/*.xml"/>`:
//!
//! ```xml
//! <gateway name="carrier">
//!   <param name="username" value="acme"/>
//!   <param name="password" value="..."/>
//!   <param name="proxy" value="sip.carrier.example"/>
//! </gateway>
//! ```
//!
//! Defaults are mod_sofia's: the realm is the gateway's name, the proxy the realm,
//! the register-proxy the proxy, from-user and extension the username, from-domain
//! the realm; register="true", expire-seconds 3600, retry-seconds 30.

use super::diag::{Diags, Source};
use super::values::{boolean, list, number, params, unknown};
use super::xml::Element;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterTransport {
    Udp,
    Tcp,
}

#[derive(Clone, Debug)]
pub struct Gateway {
    pub name: String,
    pub source: Source,
    pub username: String,
    pub password: String,
    pub realm: String,
    pub proxy: String,
    pub register_proxy: String,
    pub outbound_proxy: Option<String>,
    pub from_user: String,
    pub from_domain: String,
    pub register: bool,
    pub register_transport: RegisterTransport,
    pub expire_seconds: u32,
    pub retry_seconds: u32,
    pub caller_id_in_from: bool,
    pub extension: String,
    pub extension_in_contact: bool,
    pub contact_params: Option<String>,
    /// `ping`: OPTIONS every this many seconds (None: no pings).
    pub ping: Option<u32>,
    /// `ping-max` / `ping-min`: failed pings before DOWN, good ones before UP.
    pub ping_max: u32,
    pub ping_min: u32,
    pub codec_prefs: Vec<String>,
    /// `timeout-seconds`: how long a REGISTER may go unanswered (mod_sofia: 60).
    pub timeout_seconds: u32,
    /// `cid-type`: `pid` sends P-Asserted-Identity, `rpid` Remote-Party-ID.
    pub cid_type: Option<String>,
    /// `context`: where calls from this carrier are routed (the profile's when unset).
    pub context: Option<String>,
}

/// mod_sofia gateway params loopstart accepts without acting on them.
const KNOWN_UNUSED: &[&str] = &[
    "auth-username",
    "distinct-to",
    "destination-prefix",
    "ping-user-agent",
    "ping-monitoring",
    "rfc-5626",
    "reg-id",
    "register-proxy-port",
    "from-domain-port",
    "gw-auth-acl",
    "options-user-agent",
    "contact-host",
    "outbound-sticky-proxy",
    "retry-seconds-fail-908",
];

/// Reads every `<gateway>` of a profile's `<gateways>`.
pub fn gateways(el: &Element, diags: &mut Diags) -> Vec<Gateway> {
    let mut out: Vec<Gateway> = Vec::new();
    for g in &el.children {
        if g.name != "gateway" {
            diags.warn(
                &g.source,
                format!(
                    "unknown element <{}> in <gateways> (ignored; expected <gateway>)",
                    g.name
                ),
            );
            continue;
        }
        let Some(gw) = gateway(g, diags) else {
            continue;
        };
        if out.iter().any(|o| o.name == gw.name) {
            diags.error(&gw.source, format!("gateway {} is defined twice", gw.name));
            continue;
        }
        out.push(gw);
    }
    out
}

fn gateway(el: &Element, diags: &mut Diags) -> Option<Gateway> {
    let Some(name) = el.attr("name").map(str::trim).filter(|n| !n.is_empty()) else {
        diags.error(&el.source, "<gateway> without a name");
        return None;
    };
    let valid_name = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid_name {
        diags.error(
            &el.source,
            format!("gateway name {name:?}: use letters, digits, '-', '_' and '.' (it appears in dial strings: sofia/gateway/NAME/NUMBER)"),
        );
        return None;
    }
    let text = |key: &str, ps: &[super::values::Param]| -> Option<String> {
        ps.iter()
            .rev()
            .find(|p| p.name == key)
            .map(|p| p.value.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let ps = params(el, diags);
    let mut register = true;
    let mut register_transport = RegisterTransport::Udp;
    let mut expire_seconds = 3600;
    let mut retry_seconds = 30;
    let mut caller_id_in_from = false;
    let mut extension_in_contact = false;
    let mut ping = None;
    let mut ping_max = 1;
    let mut ping_min = 1;
    let mut codec_prefs = Vec::new();
    let mut timeout_seconds = 60;
    let mut cid_type = None;
    for p in &ps {
        match p.name.as_str() {
            "username" | "password" | "realm" | "proxy" | "register-proxy" | "outbound-proxy"
            | "from-user" | "from-domain" | "extension" | "contact-params" | "context" => {}
            "register" => register = boolean(p, diags).unwrap_or(register),
            "register-transport" => match p.value.trim().to_ascii_lowercase().as_str() {
                "udp" => register_transport = RegisterTransport::Udp,
                "tcp" => register_transport = RegisterTransport::Tcp,
                other => diags.error(
                    &p.source,
                    format!("register-transport {other:?}: use udp or tcp"),
                ),
            },
            "expire-seconds" => {
                expire_seconds = number(p, diags, 60, 86_400, "seconds").unwrap_or(expire_seconds)
            }
            "retry-seconds" => {
                retry_seconds = number(p, diags, 5, 86_400, "seconds").unwrap_or(retry_seconds)
            }
            "caller-id-in-from" => caller_id_in_from = boolean(p, diags).unwrap_or(false),
            "extension-in-contact" => extension_in_contact = boolean(p, diags).unwrap_or(false),
            "ping" => ping = number(p, diags, 5, 3600, "seconds"),
            "ping-max" => ping_max = number(p, diags, 1, 100, "pings").unwrap_or(ping_max),
            "ping-min" => ping_min = number(p, diags, 1, 100, "pings").unwrap_or(ping_min),
            "codec-prefs" => codec_prefs = list(p),
            "timeout-seconds" => {
                timeout_seconds = number(p, diags, 5, 3600, "seconds").unwrap_or(timeout_seconds)
            }
            "cid-type" | "sip_cid_type" => match p.value.trim().to_ascii_lowercase().as_str() {
                v @ ("pid" | "rpid" | "none") => cid_type = Some(v.to_string()),
                other => diags.error(
                    &p.source,
                    format!("cid-type {other:?}: use pid, rpid or none"),
                ),
            },
            _ => unknown(p, KNOWN_UNUSED, diags),
        }
    }
    let username = text("username", &ps);
    let password = text("password", &ps);
    if register && (username.is_none() || password.is_none()) {
        diags.error(
            &el.source,
            format!(
                "gateway {name}: register is on but {} missing: set it, or register=\"false\" for a carrier that takes calls by IP",
                match (username.is_none(), password.is_none()) {
                    (true, true) => "username and password are",
                    (true, false) => "username is",
                    _ => "password is",
                }
            ),
        );
        return None;
    }
    let username = username.unwrap_or_else(|| "loopstart".into());
    let realm = text("realm", &ps).unwrap_or_else(|| name.to_string());
    let proxy = text("proxy", &ps).unwrap_or_else(|| realm.clone());
    Some(Gateway {
        name: name.to_string(),
        source: el.source.clone(),
        password: password.unwrap_or_default(),
        register_proxy: text("register-proxy", &ps).unwrap_or_else(|| proxy.clone()),
        outbound_proxy: text("outbound-proxy", &ps),
        from_user: text("from-user", &ps).unwrap_or_else(|| username.clone()),
        from_domain: text("from-domain", &ps).unwrap_or_else(|| realm.clone()),
        extension: text("extension", &ps).unwrap_or_else(|| username.clone()),
        contact_params: text("contact-params", &ps),
        username,
        realm,
        proxy,
        register,
        register_transport,
        expire_seconds,
        retry_seconds,
        caller_id_in_from,
        extension_in_contact,
        ping,
        ping_max,
        ping_min,
        codec_prefs,
        timeout_seconds,
        cid_type,
        context: text("context", &ps),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::xml::load_str;
    use std::collections::BTreeMap;
    use std::path::Path;

    fn parse(xml: &str) -> (Vec<Gateway>, Diags) {
        let mut diags = Diags::default();
        let mut vars = BTreeMap::new();
        let els = load_str(Path::new("external.xml"), xml, &mut vars, &mut diags);
        let gws = els
            .first()
            .map(|e| gateways(e, &mut diags))
            .unwrap_or_default();
        (gws, diags)
    }

    #[test]
    fn a_gateway_takes_mod_sofias_defaults() {
        let (gws, diags) = parse(
            r#"<gateways>
  <gateway name="carrier">
    <param name="username" value="acme"/>
    <param name="password" value="s3cret"/>
    <param name="proxy" value="sip.carrier.test:5070"/>
    <param name="ping" value="30"/>
    <param name="caller-id-in-from" value="true"/>
  </gateway>
  <gateway name="ip-trunk">
    <param name="register" value="false"/>
    <param name="proxy" value="203.0.113.5"/>
  </gateway>
</gateways>"#,
        );
        assert!(!diags.has_errors(), "{:?}", diags.0);
        let c = &gws[0];
        assert_eq!(
            (c.realm.as_str(), c.proxy.as_str()),
            ("carrier", "sip.carrier.test:5070")
        );
        assert_eq!(c.register_proxy, "sip.carrier.test:5070");
        assert_eq!(
            (
                c.from_user.as_str(),
                c.from_domain.as_str(),
                c.extension.as_str()
            ),
            ("acme", "carrier", "acme")
        );
        assert_eq!(
            (c.register, c.expire_seconds, c.retry_seconds),
            (true, 3600, 30)
        );
        assert_eq!((c.ping, c.caller_id_in_from), (Some(30), true));
        assert!(!gws[1].register);
        assert_eq!(gws[1].proxy, "203.0.113.5");
    }

    #[test]
    fn mistakes_are_errors_with_their_line() {
        let (gws, diags) = parse(
            r#"<gateways>
  <gateway name="carrier">
    <param name="username" value="acme"/>
  </gateway>
  <gateway name="bad name">
    <param name="register" value="false"/>
  </gateway>
  <gateway name="t">
    <param name="register" value="false"/>
    <param name="register-transport" value="sctp"/>
    <param name="expire-seconds" value="5"/>
    <param name="no-such-param" value="1"/>
  </gateway>
</gateways>"#,
        );
        assert!(gws.iter().all(|g| g.name == "t"), "only t survives");
        let text: Vec<String> = diags
            .0
            .iter()
            .map(|d| format!("{}: {}", d.source.line, d.message))
            .collect();
        let has = |line: usize, what: &str| {
            text.iter()
                .any(|t| t.starts_with(&format!("{line}: ")) && t.contains(what))
        };
        assert!(has(2, "password is missing"), "{text:?}");
        assert!(has(5, "gateway name"), "{text:?}");
        assert!(has(10, "register-transport"), "{text:?}");
        assert!(has(11, "expire-seconds") || has(11, "60"), "{text:?}");
        assert!(has(12, "unknown param"), "{text:?}");
    }
}
