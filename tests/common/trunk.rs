//! What the trunk suites share: the dialplan that sends 9+number to the gateway
//! "carrier" and routes DID 5551000 to 1001, an external profile with that gateway, and
//! a look at `sofia status gateway carrier`.

use super::Gateway;
use std::net::UdpSocket;

/// `default`: 10xx to the user, 9+number out through the gateway "carrier".
pub const DIALPLAN: &str = r#"<include><context name="default">
  <extension name="local">
    <condition field="destination_number" expression="^(100[0-9])$">
      <action application="bridge" data="user/$1"/>
    </condition>
  </extension>
  <extension name="outbound">
    <condition field="destination_number" expression="^9(\d{7,15})$">
      <action application="set" data="effective_caller_id_number=${caller_id_number}"/>
      <action application="bridge" data="sofia/gateway/carrier/$1"/>
    </condition>
  </extension>
</context></include>"#;

/// `public`: DID 5551000 to 1001; anything else rejected with a log line.
pub const PUBLIC: &str = r#"<include><context name="public">
  <extension name="did_to_1001">
    <condition field="destination_number" expression="^5551000$">
      <action application="transfer" data="1001 XML default"/>
    </condition>
  </extension>
  <extension name="unknown_did">
    <condition field="destination_number" expression="^(.*)$">
      <action application="log" data="WARNING unknown DID ${destination_number} from ${network_addr}: rejected"/>
      <action application="hangup" data="CALL_REJECTED"/>
    </condition>
  </extension>
</context></include>"#;

/// A free UDP port on `ip` (a loopback alias such as 127.0.0.2).
pub fn free_port_on(ip: &str) -> u16 {
    let s = UdpSocket::bind((ip, 0)).unwrap_or_else(|e| panic!("bind on {ip}: {e}"));
    s.local_addr().expect("addr").port()
}

/// The external profile on 127.0.0.1:`port` (context public, auth-calls off,
/// T1 50 ms) with one gateway "carrier" at `proxy`, realm carrier.test.
pub fn external_profile(
    port: u16,
    proxy: &str,
    login: (&str, &str),
    gateway_params: &str,
) -> String {
    let (user, password) = login;
    format!(
        r#"<profile name="external">
  <gateways>
    <gateway name="carrier">
      <param name="username" value="{user}"/>
      <param name="password" value="{password}"/>
      <param name="realm" value="carrier.test"/>
      <param name="proxy" value="{proxy}"/>
      <param name="retry-seconds" value="5"/>
      {gateway_params}
    </gateway>
  </gateways>
  <settings>
    <param name="sip-ip" value="127.0.0.1"/>
    <param name="sip-port" value="{port}"/>
    <param name="rtp-ip" value="127.0.0.1"/>
    <param name="context" value="public"/>
    <param name="auth-calls" value="false"/>
    <param name="timer-T1" value="50"/>
  </settings>
</profile>"#
    )
}

/// `sofia status gateway carrier`'s value for `field` (`State`, `Status`, ...).
pub fn gateway_field(gw: &Gateway, field: &str) -> String {
    let out = gw.api("sofia status gateway carrier");
    out.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('\t')?;
            (k.trim() == field).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {field} in:\n{out}"))
}
