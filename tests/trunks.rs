//! Trunks to a carrier, against a SIPp "carrier" on its own loopback address
//! (127.0.0.2): digest registration and its refresh, OPTIONS keepalives taking the
//! gateway DOWN and UP, calls out through `sofia/gateway/...` with the carrier's
//! challenge answered and RTP both ways, DID calls in routed by the public context,
//! unknown DIDs rejected, and strangers (127.0.0.3) refused with 403.

mod common;

use common::sipp::Sipp;
use common::trunk::{self, free_port_on, gateway_field, DIALPLAN, PUBLIC};
use common::Gateway;
use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

const CARRIER_IP: &str = "127.0.0.2";
const STRANGER_IP: &str = "127.0.0.3";
const GW_USER: &str = "acme-trunk";
const GW_PASS: &str = "carrier-pw-7Qx";

/// A free port on the carrier's address.
fn carrier_port() -> u16 {
    free_port_on(CARRIER_IP)
}

/// The external profile on `port` with one gateway "carrier" at the SIPp carrier.
fn external_profile(port: u16, carrier: u16, gateway_params: &str) -> String {
    trunk::external_profile(
        port,
        &format!("{CARRIER_IP}:{carrier}"),
        (GW_USER, GW_PASS),
        gateway_params,
    )
}

struct Trunked {
    gw: Gateway,
    external: SocketAddr,
    carrier: u16,
}

fn trunked(gateway_params: &str) -> Trunked {
    let external = common::ports::free_udp_tcp_port();
    let carrier = carrier_port();
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .file("dialplan/default.xml", DIALPLAN)
        .file("dialplan/public.xml", PUBLIC)
        .file(
            "sip_profiles/external.xml",
            &external_profile(external, carrier, gateway_params),
        )
        .start();
    Trunked {
        gw,
        external: format!("127.0.0.1:{external}").parse().expect("addr"),
        carrier,
    }
}

/// SIPp playing the carrier on 127.0.0.2:`port`.
fn carrier(scenario: &str, port: u16) -> Sipp {
    // The target is unused by a server scenario; SIPp wants one.
    Sipp::new(scenario, "127.0.0.1:9".parse().expect("addr"))
        .local_ip(CARRIER_IP)
        .local_port(port)
        .key("gw_user", GW_USER)
        .key("gw_pass", GW_PASS)
        .timeout(Duration::from_secs(30))
}

/// Waits until `field` reads `want` (a prefix), within `within`.
fn wait_field(gw: &Gateway, field: &str, want: &str, within: Duration) {
    let start = Instant::now();
    loop {
        let now = gateway_field(gw, field);
        if now.starts_with(want) {
            return;
        }
        assert!(
            start.elapsed() < within,
            "gateway {field} is {now:?}, not {want:?} after {within:?}\n{}\n--- log ---\n{}",
            gw.api("sofia status gateway carrier"),
            common::sipp::tail(&gw.log(), 6000)
        );
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_gateway_registers_with_digest_and_refreshes_before_expiry() {
    let port = carrier_port();
    // The carrier listens first; it grants 4 s, so the refresh comes 2 s later.
    let registrar = carrier("carrier_register.xml", port).key("grant", "4");
    let registrar = thread::spawn(move || registrar.run());
    thread::sleep(Duration::from_millis(300));
    let external = common::ports::free_udp_tcp_port();
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .file(
            "sip_profiles/external.xml",
            &external_profile(external, port, ""),
        )
        .start();
    let run = registrar.join().expect("carrier");
    run.assert_ok("carrier registrar (digest checked twice)", &gw.log());
    assert!(
        run.messages.contains(&format!("username=\"{GW_USER}\"")),
        "{}",
        run.report()
    );
    // mod_sofia's Contact for a gateway: gw+NAME, so the carrier's calls to it are known.
    assert!(
        run.messages
            .contains(&format!("Contact: <sip:gw+carrier@127.0.0.1:{external}>")),
        "{}",
        run.report()
    );
    wait_field(&gw, "State", "REGED", Duration::from_secs(5));
    assert_eq!(gateway_field(&gw, "Status"), "UP");
    let table = gw.api("sofia status");
    assert!(
        table.contains("external::carrier") && table.contains("REGED"),
        "{table}"
    );
}

#[test]
fn wrong_credentials_leave_the_gateway_failed_and_down() {
    let port = carrier_port();
    // This carrier expects another password: it answers the digest with 403.
    let registrar = carrier("carrier_register.xml", port)
        .key("grant", "60")
        .key("gw_pass", "not-the-configured-one")
        .timeout(Duration::from_secs(8));
    let registrar = thread::spawn(move || registrar.run());
    thread::sleep(Duration::from_millis(300));
    let external = common::ports::free_udp_tcp_port();
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .file(
            "sip_profiles/external.xml",
            &external_profile(external, port, ""),
        )
        .start();
    wait_field(&gw, "State", "FAIL_WAIT", Duration::from_secs(5));
    assert_eq!(gateway_field(&gw, "Status"), "DOWN");
    assert!(gw.log().contains("registration refused"), "{}", gw.log());
    let _ = registrar.join();
}

#[test]
fn pings_take_the_gateway_down_when_the_carrier_goes_silent_and_up_when_it_returns() {
    let t = trunked(
        r#"<param name="register" value="false"/>
      <param name="ping" value="5"/>"#,
    );
    let gw = &t.gw;
    // A gateway that does not register starts UP.
    assert_eq!(gateway_field(gw, "State"), "NOREG");
    assert_eq!(gateway_field(gw, "Status"), "UP");
    let mut esl = common::esl::EslConn::logged_in(gw);
    esl.subscribe("CUSTOM sofia::gateway_state");
    // The carrier answers the first ping and is gone.
    carrier("carrier_options.xml", t.carrier)
        .timeout(Duration::from_secs(10))
        .run()
        .assert_ok("carrier answering the first ping", &gw.log());
    // The next ping gets no answer (64 × T1 = 3.2 s): DOWN.
    wait_field(gw, "Status", "DOWN", Duration::from_secs(12));
    let down = esl.wait_event(
        |e| e.get("Ping-Status") == Some("DOWN"),
        Duration::from_secs(5),
    );
    assert_eq!(down.get("Gateway"), Some("carrier"));
    assert_eq!(down.get("Event-Subclass"), Some("sofia::gateway_state"));
    // A call out now fails at once with GATEWAY_DOWN.
    let refused = gw.try_api("originate sofia/gateway/carrier/5550123 &park()");
    assert!(
        !refused.success() && refused.all().contains("GATEWAY_DOWN"),
        "{}",
        refused.describe()
    );
    // The carrier is back: the next ping finds it.
    carrier("carrier_options.xml", t.carrier)
        .timeout(Duration::from_secs(15))
        .run()
        .assert_ok("carrier back", &gw.log());
    wait_field(gw, "Status", "UP", Duration::from_secs(3));
    esl.wait_event(
        |e| e.get("Ping-Status") == Some("UP"),
        Duration::from_secs(5),
    );
}

#[test]
fn a_phone_dials_out_through_the_gateway_with_its_caller_id_and_rtp_both_ways() {
    let t = trunked(
        r#"<param name="register" value="false"/>
      <param name="caller-id-in-from" value="true"/>
      <param name="cid-type" value="pid"/>
      <param name="codec-prefs" value="PCMA"/>"#,
    );
    let gw = &t.gw;
    let carrier_rtp = UdpSocket::bind((CARRIER_IP, 0)).expect("carrier RTP");
    let phone_rtp = UdpSocket::bind("127.0.0.1:0").expect("phone RTP");
    let port_of = |s: &UdpSocket| s.local_addr().expect("addr").port().to_string();
    let far_end =
        carrier("carrier_uas_auth.xml", t.carrier).key("rtp_port", &port_of(&carrier_rtp));
    let far_end = thread::spawn(move || far_end.run());
    thread::sleep(Duration::from_millis(300));
    let phone = Sipp::new("uac_call_rtp.xml", gw.sip_addr())
        .user("1001", "secret1001")
        .key("dest", "95550123")
        .key("rtp_port", &port_of(&phone_rtp))
        .pause_ms(4000)
        .timeout(Duration::from_secs(30));
    let phone = thread::spawn(move || phone.run());
    let (inbound, outbound) = common::rtp::leg_media_ports(gw);
    let (at_phone, at_carrier) = common::rtp::exchange(
        &phone_rtp,
        SocketAddr::from(([127, 0, 0, 1], inbound)),
        &carrier_rtp,
        SocketAddr::from(([127, 0, 0, 1], outbound)),
        150,
    );
    phone
        .join()
        .expect("phone")
        .assert_ok("phone dialling 9+number", &gw.log());
    let far = far_end.join().expect("carrier");
    far.assert_ok("carrier (digest on INVITE checked)", &gw.log());
    assert_eq!(
        (at_phone, at_carrier),
        (150, 150),
        "RTP packets that crossed each way"
    );
    // The carrier saw the number dialled, and the caller's number in From
    // (caller-id-in-from), and our answer to its challenge.
    assert!(
        far.messages.contains("INVITE sip:5550123@"),
        "{}",
        far.report()
    );
    assert!(
        far.messages.contains("<sip:1001@carrier.test>"),
        "{}",
        far.report()
    );
    assert!(
        far.messages.contains("Authorization: Digest"),
        "{}",
        far.report()
    );
    // The gateway's codec-prefs, not the profile's, in the offer to the carrier.
    let offer = far
        .messages
        .lines()
        .find(|l| l.trim_start().starts_with("m=audio"))
        .unwrap_or_default();
    assert!(
        offer.contains("RTP/AVP 8") && !offer.contains(" 0 "),
        "offer to the carrier: {offer}"
    );
    assert!(
        gateway_field(gw, "CallsOUT") == "1",
        "{}",
        gw.api("sofia status gateway carrier")
    );
}

#[test]
fn a_did_from_the_carrier_rings_its_extension_and_unknown_dids_are_rejected() {
    let t = trunked(
        r#"<param name="register" value="false"/>
      <param name="extension" value="5551000"/>"#,
    );
    let gw = &t.gw;
    let port = common::ports::free_udp_tcp_port();
    Sipp::new("register.xml", gw.sip_addr())
        .user("1001", "secret1001")
        .local_port(port)
        .run()
        .assert_ok("register 1001", "");
    let callee = Sipp::new("uas_answer.xml", gw.sip_addr())
        .local_port(port)
        .pause_ms(200)
        .timeout(Duration::from_secs(20));
    let callee = thread::spawn(move || callee.run());
    thread::sleep(Duration::from_millis(200));
    carrier("uac_noauth.xml", t.carrier)
        .key("dest", "5551000")
        .pause_ms(500)
        .timeout(Duration::from_secs(20))
        .target(t.external)
        .run()
        .assert_ok("DID call from the carrier to 1001", &gw.log());
    callee
        .join()
        .expect("callee")
        .assert_ok("1001 answering", &gw.log());
    assert_eq!(gateway_field(gw, "CallsIN"), "1");

    // A call to the Contact the gateway registers (gw+carrier) means its extension.
    let callee = Sipp::new("uas_answer.xml", gw.sip_addr())
        .local_port(port)
        .pause_ms(200)
        .timeout(Duration::from_secs(20));
    let callee = thread::spawn(move || callee.run());
    thread::sleep(Duration::from_millis(200));
    carrier("uac_noauth.xml", t.carrier)
        .key("dest", "gw+carrier")
        .pause_ms(300)
        .target(t.external)
        .run()
        .assert_ok("call to the gateway's registered Contact", &gw.log());
    callee
        .join()
        .expect("callee")
        .assert_ok("1001 answering the gateway's extension", &gw.log());

    let unknown = carrier("uac_noauth.xml", t.carrier)
        .key("dest", "5559999")
        .target(t.external)
        .run();
    assert!(!unknown.success());
    assert!(
        unknown.messages.contains("SIP/2.0 603"),
        "{}",
        unknown.report()
    );
    let log = gw.log();
    assert!(
        log.contains("unknown DID 5559999 from 127.0.0.2"),
        "the log names the DID and its source:\n{log}"
    );
}

#[test]
fn an_invite_from_outside_the_gateways_and_the_acl_gets_403() {
    let t = trunked(r#"<param name="register" value="false"/>"#);
    let stranger = Sipp::new("uac_noauth.xml", t.external)
        .local_ip(STRANGER_IP)
        .key("dest", "5551000")
        .run();
    assert!(!stranger.success());
    assert!(
        stranger.messages.contains("SIP/2.0 403"),
        "{}",
        stranger.report()
    );
    assert!(t.gw.log().contains("127.0.0.3"), "{}", t.gw.log());
}

#[test]
fn killgw_drops_a_gateway_and_rescan_brings_back_what_the_config_says() {
    let t = trunked(r#"<param name="register" value="false"/>"#);
    let gw = &t.gw;
    assert_eq!(gateway_field(gw, "State"), "NOREG");
    assert!(gw
        .api("sofia profile external killgw carrier")
        .contains("+OK"));
    assert!(gw
        .api("sofia status gateway carrier")
        .contains("Invalid Gateway!"));
    // A second trunk is added to the file meanwhile.
    let port = t.external.port();
    let file = gw.conf_dir().join("sip_profiles/external.xml");
    let xml = external_profile(port, t.carrier, r#"<param name="register" value="false"/>"#)
        .replace(
            "  </gateways>",
            &format!(
                r#"    <gateway name="backup">
      <param name="register" value="false"/>
      <param name="proxy" value="{CARRIER_IP}:{}"/>
    </gateway>
  </gateways>"#,
                t.carrier + 1
            ),
        );
    std::fs::write(&file, xml).expect("write external.xml");
    let out = gw.api("sofia profile external rescan");
    assert!(out.contains("2 gateways added, 0 removed"), "{out}");
    assert_eq!(gateway_field(gw, "State"), "NOREG");
    assert!(gw.api("sofia status gateway backup").contains("backup"));
    let summary = gw.api("sofia status gateway");
    assert!(
        summary.contains("external::carrier") && summary.contains("external::backup"),
        "{summary}"
    );
}

/// A STUN server on 127.0.0.5 that tells every asker it is at `mapped` (what a router's
/// outside looks like to a public STUN server). Answers until the test ends.
fn stun_server(mapped: std::net::Ipv4Addr) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.5:0").expect("bind STUN server");
    let addr = sock.local_addr().expect("addr");
    thread::spawn(move || {
        let mut buf = [0u8; 548];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if n < 20 || buf[0..2] != [0, 1] {
                continue;
            }
            let cookie = [0x21, 0x12, 0xa4, 0x42];
            let mut resp = vec![0x01, 0x01, 0x00, 0x0c];
            resp.extend_from_slice(&buf[4..20]);
            let port = from.port() ^ 0x2112;
            resp.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
            resp.extend_from_slice(&port.to_be_bytes());
            for (b, k) in mapped.octets().iter().zip(cookie) {
                resp.push(b ^ k);
            }
            let _ = sock.send_to(&resp, from);
        }
    });
    addr
}

#[test]
fn behind_nat_the_carrier_sees_the_outside_address_in_via_contact_and_sdp() {
    let stun = stun_server(std::net::Ipv4Addr::new(198, 51, 100, 7));
    let external = common::ports::free_udp_tcp_port();
    let carrier_sip = carrier_port();
    // The carrier (127.0.0.2) is outside "lan"; the phones (127.0.0.1) are inside.
    let acl = r#"<configuration name="acl.conf"><network-lists>
  <list name="lan" default="deny"><node type="allow" cidr="127.0.0.1/32"/></list>
</network-lists></configuration>"#;
    let profile = external_profile(
        external,
        carrier_sip,
        r#"<param name="register" value="false"/>"#,
    )
    .replace(
        r#"    <param name="timer-T1" value="50"/>"#,
        &format!(
            r#"    <param name="timer-T1" value="50"/>
    <param name="ext-sip-ip" value="stun:{stun}"/>
    <param name="ext-rtp-ip" value="203.0.113.10"/>
    <param name="local-network-acl" value="lan"/>"#
        ),
    );
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .file("dialplan/default.xml", DIALPLAN)
        .file("autoload_configs/acl.conf.xml", acl)
        .file("sip_profiles/external.xml", &profile)
        .start();
    assert!(gw.log().contains("outside address learnt"), "{}", gw.log());
    let carrier_rtp = UdpSocket::bind((CARRIER_IP, 0)).expect("carrier RTP");
    let phone_rtp = UdpSocket::bind("127.0.0.1:0").expect("phone RTP");
    let port_of = |s: &UdpSocket| s.local_addr().expect("addr").port().to_string();
    let far_end =
        carrier("carrier_uas_auth.xml", carrier_sip).key("rtp_port", &port_of(&carrier_rtp));
    let far_end = thread::spawn(move || far_end.run());
    thread::sleep(Duration::from_millis(300));
    let phone = Sipp::new("uac_call_rtp.xml", gw.sip_addr())
        .user("1001", "secret1001")
        .key("dest", "95550123")
        .key("rtp_port", &port_of(&phone_rtp))
        .pause_ms(2000)
        .timeout(Duration::from_secs(30));
    let phone = thread::spawn(move || phone.run());
    let (inbound, outbound) = common::rtp::leg_media_ports(&gw);
    // The carrier cannot reach 203.0.113.10 here; it sends to the real port, and the
    // gateway latches onto where the packets come from (as through a real NAT).
    let (at_phone, at_carrier) = common::rtp::exchange(
        &phone_rtp,
        SocketAddr::from(([127, 0, 0, 1], inbound)),
        &carrier_rtp,
        SocketAddr::from(([127, 0, 0, 1], outbound)),
        75,
    );
    let phone = phone.join().expect("phone");
    phone.assert_ok("phone dialling out", &gw.log());
    let far = far_end.join().expect("carrier");
    far.assert_ok("carrier", &gw.log());
    assert_eq!((at_phone, at_carrier), (75, 75));
    // Toward the carrier: the outside addresses.
    assert!(
        far.messages
            .contains(&format!("Via: SIP/2.0/UDP 198.51.100.7:{external};")),
        "{}",
        far.report()
    );
    assert!(
        far.messages
            .contains(&format!("Contact: <sip:{GW_USER}@198.51.100.7:{external}>")),
        "{}",
        far.report()
    );
    assert!(
        far.messages.contains("c=IN IP4 203.0.113.10"),
        "{}",
        far.report()
    );
    // Toward the phone, inside: the local ones.
    assert!(
        !phone.messages.contains("203.0.113.10"),
        "{}",
        phone.report()
    );
    assert!(
        !phone.messages.contains("198.51.100.7"),
        "{}",
        phone.report()
    );
}

#[test]
fn unregister_takes_the_gateway_down_and_register_brings_it_back() {
    let port = carrier_port();
    let registrar = carrier("carrier_register_cycle.xml", port);
    let registrar = thread::spawn(move || registrar.run());
    thread::sleep(Duration::from_millis(300));
    let external = common::ports::free_udp_tcp_port();
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .file(
            "sip_profiles/external.xml",
            &external_profile(external, port, ""),
        )
        .start();
    wait_field(&gw, "State", "REGED", Duration::from_secs(5));
    assert!(gw
        .api("sofia profile external unregister carrier")
        .contains("+OK"));
    // mod_sofia's state after an unregistration: DOWN, and no retry of its own.
    wait_field(&gw, "State", "DOWN", Duration::from_secs(2));
    assert_eq!(gateway_field(&gw, "Status"), "DOWN");
    thread::sleep(Duration::from_millis(500));
    assert!(gw
        .api("sofia profile external register carrier")
        .contains("+OK"));
    wait_field(&gw, "State", "REGED", Duration::from_secs(5));
    assert_eq!(gateway_field(&gw, "Status"), "UP");
    registrar.join().expect("carrier").assert_ok(
        "carrier: register, unregister (Expires 0), register",
        &gw.log(),
    );
    assert!(gw
        .try_api("sofia profile external unregister nosuch")
        .all()
        .contains("Invalid gateway"));
}

#[test]
fn register_transport_tcp_registers_over_a_connection_the_gateway_opens() {
    let port = carrier_port();
    let registrar = carrier("carrier_register.xml", port)
        .key("grant", "4")
        .tcp();
    let registrar = thread::spawn(move || registrar.run());
    thread::sleep(Duration::from_millis(300));
    let external = common::ports::free_udp_tcp_port();
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .file(
            "sip_profiles/external.xml",
            &external_profile(
                external,
                port,
                r#"<param name="register-transport" value="tcp"/>"#,
            ),
        )
        .start();
    let run = registrar.join().expect("carrier");
    run.assert_ok("carrier registrar over TCP (two rounds)", &gw.log());
    assert!(
        run.messages
            .contains(&format!("Via: SIP/2.0/TCP 127.0.0.1:{external};"))
            && run.messages.contains(";transport=tcp>"),
        "{}",
        run.report()
    );
    wait_field(&gw, "State", "REGED", Duration::from_secs(5));
}
