//! Trunks against a real SIP server: Kamailio (tests/kamailio/carrier_edge.cfg) is
//! the carrier's edge proxy on 127.0.0.4, registrar with digest auth (no
//! database) and record-routing proxy, with the "PSTN" (SIPp) behind it on
//! 127.0.0.2. loopstart's gateway registers with it, calls out through it
//! (answering its 407 with Proxy-Authorization) and takes DID calls it relays
//! to the registered contact. Kamailio must be installed
//! (scripts/install-test-deps.sh): without it these tests fail, they never skip.

mod common;

use common::process::{self, Outcome};
use common::sipp::{self, Sipp};
use common::trunk::{self, free_port_on, gateway_field, DIALPLAN, PUBLIC};
use common::Gateway;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const EDGE_IP: &str = "127.0.0.4";
const PSTN_IP: &str = "127.0.0.2";
const GW_USER: &str = "acme-trunk";
const GW_PASS: &str = "edge-pw-Zr41";
const REALM: &str = "carrier.test";
const DID: &str = "5551000";

/// Kamailio in the foreground with carrier_edge.cfg, on 127.0.0.4:`port`, its
/// own working/runtime dir and control socket; stopped by PID on drop. It runs
/// under coreutils `timeout`, so it cannot outlive a test killed before Drop.
struct Kamailio {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
}

/// The longest a Kamailio may live (a whole test takes well under this).
const KAMAILIO_LIFETIME: &str = "90";

impl Kamailio {
    /// Starts it (retrying on a port taken meanwhile) and waits until it
    /// answers OPTIONS. `pstn` is where it sends calls from the trunk.
    fn start(pstn: SocketAddr) -> Kamailio {
        let kamailio = process::require_located("kamailio", "kamailio");
        let mut last = String::new();
        for _ in 0..3 {
            match Kamailio::try_start(&kamailio, pstn) {
                Ok(k) => return k,
                Err(log) => last = log,
            }
        }
        panic!("Kamailio did not come up (3 attempts); last log:\n{last}");
    }

    fn try_start(kamailio: &PathBuf, pstn: SocketAddr) -> Result<Kamailio, String> {
        let dir = tempfile::Builder::new()
            .prefix("loopstart-kam-")
            .tempdir()
            .expect("kamailio temp dir");
        let d = dir.path();
        let port = free_port_on(EDGE_IP);
        let cfg = common::repo().join("tests/kamailio/carrier_edge.cfg");
        let log = std::fs::File::create(d.join("kamailio.log")).expect("kamailio log");
        let define = |name: &str, value: &str| format!("{name}=\"{value}\"");
        let child = Command::new("timeout")
            .args(["-k", "5", KAMAILIO_LIFETIME])
            .arg(kamailio)
            .arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-m", "32", "-M", "4"])
            .args(["-l", &format!("udp:{EDGE_IP}:{port}")])
            .arg("-w")
            .arg(d)
            .arg("-Y")
            .arg(d)
            .arg("-P")
            .arg(d.join("kamailio.pid"))
            .args(["-A", &define("GW_USER", GW_USER)])
            .args(["-A", &define("GW_PASS", GW_PASS)])
            .args(["-A", &define("REALM", REALM)])
            .args(["-A", &define("PSTN_IP", PSTN_IP)])
            .args(["-A", &define("PSTN", &pstn.to_string())])
            .args([
                "-A",
                &define("CTL_SOCK", &format!("unix:{}", d.join("ctl").display())),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone log")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", kamailio.display()));
        let mut k = Kamailio {
            child: Some(child),
            dir,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = k.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                k.child = None;
                return Err(format!("exited with {status}:\n{}", k.log()));
            }
            let answer = common::sip::udp_options(k.addr()).unwrap_or_default();
            if common::sip::status_code(&answer) == Some(200) {
                return Ok(k);
            }
            if Instant::now() >= deadline {
                return Err(format!("no answer to OPTIONS in 10 s:\n{}", k.log()));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn addr(&self) -> SocketAddr {
        format!("{EDGE_IP}:{}", self.port).parse().expect("addr")
    }

    fn log(&self) -> String {
        process::read_lossy(&self.dir.path().join("kamailio.log"))
    }

    /// `kamcmd` through the ctl module's socket, bounded.
    fn rpc(&self, command: &str) -> Outcome {
        let kamcmd = process::require_located("kamcmd", "kamailio");
        let sock = format!("unix:{}", self.dir.path().join("ctl").display());
        let mut cmd = Command::new(kamcmd);
        cmd.args(["-s", &sock, command]);
        process::run_bounded(&mut cmd, self.dir.path(), Duration::from_secs(10))
    }

    /// Waits for a line of its log containing `needle`.
    fn wait_log(&self, needle: &str, within: Duration) {
        let found = process::poll_until(within, || self.log().contains(needle).then_some(()));
        assert!(
            found.is_some(),
            "Kamailio never logged {needle:?} within {within:?}:\n{}",
            sipp::tail(&self.log(), 8000)
        );
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // `timeout` passes the TERM on to Kamailio, which stops its children.
            process::signal(c.id(), "TERM");
            if process::wait_bounded(&mut c, Duration::from_secs(5)).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// loopstart with an external profile whose gateway "carrier" registers with
/// Kamailio (proxy 127.0.0.4:port), and user 1001 on the internal profile.
struct Trunked {
    gw: Gateway,
    external: u16,
}

fn trunked(edge: &Kamailio) -> Trunked {
    let external = common::ports::free_udp_tcp_port();
    let profile = trunk::external_profile(
        external,
        &format!("{EDGE_IP}:{}", edge.port),
        (GW_USER, GW_PASS),
        r#"<param name="register" value="true"/>"#,
    );
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .file("dialplan/default.xml", DIALPLAN)
        .file("dialplan/public.xml", PUBLIC)
        .file("sip_profiles/external.xml", &profile)
        .start();
    Trunked { gw, external }
}

/// Waits until the gateway is REGED with Kamailio, then checks Kamailio's own
/// view of it (`ul.dump`): AOR = username, Contact = our external profile.
fn assert_registered(t: &Trunked, edge: &Kamailio) {
    let gw = &t.gw;
    let reged = process::poll_until(Duration::from_secs(10), || {
        (gateway_field(gw, "State") == "REGED").then_some(())
    });
    assert!(
        reged.is_some(),
        "gateway not REGED with Kamailio in 10 s:\n{}\n--- loopstart log ---\n{}\n--- Kamailio log ---\n{}",
        gw.api("sofia status gateway carrier"),
        sipp::tail(&gw.log(), 6000),
        sipp::tail(&edge.log(), 6000)
    );
    assert_eq!(gateway_field(gw, "Status"), "UP");
    // Kamailio challenged the first REGISTER and accepted the digest.
    edge.wait_log(
        &format!(
            "REGISTER of sip:{GW_USER}@{REALM} from 127.0.0.1:{} challenged",
            t.external
        ),
        Duration::from_secs(1),
    );
    edge.wait_log(
        &format!(
            // mod_sofia's Contact for a gateway: gw+NAME.
            "registered {GW_USER} contact <sip:gw+carrier@127.0.0.1:{}>",
            t.external
        ),
        Duration::from_secs(1),
    );
    let dump = edge.rpc("ul.dump");
    assert!(dump.success(), "kamcmd ul.dump: {}", dump.describe());
    assert!(
        dump.stdout.contains(&format!("AoR: {GW_USER}"))
            && dump
                .stdout
                .contains(&format!("Address: sip:gw+carrier@127.0.0.1:{}", t.external)),
        "Kamailio's location table lacks the gateway:\n{}",
        dump.stdout
    );
}

/// One message of a SIPp message log: was it received, and its text.
fn sipp_messages(log: &str) -> Vec<(bool, String)> {
    log.split("-----------------------------------------------")
        .filter_map(|block| {
            let (head, msg) = block.trim_start_matches(|c| c != '\n').split_once("\n\n")?;
            let received = head.contains("received");
            Some((received, msg.trim().to_string()))
        })
        .collect()
}

/// The first message `received` (or sent) whose start line begins with `start`.
fn message(run: &sipp::SippRun, received: bool, start: &str) -> String {
    sipp_messages(&run.messages)
        .into_iter()
        .find(|(r, m)| *r == received && m.starts_with(start))
        .map(|(_, m)| m)
        .unwrap_or_else(|| {
            panic!(
                "no {} message starting {start:?}:\n{}",
                if received { "received" } else { "sent" },
                run.report()
            )
        })
}

#[test]
fn the_gateway_registers_with_kamailio_and_calls_out_answering_its_407() {
    let pstn_port = free_port_on(PSTN_IP);
    let pstn: SocketAddr = format!("{PSTN_IP}:{pstn_port}").parse().expect("addr");
    // The PSTN answers behind Kamailio, copying its Record-Route.
    let far_end = Sipp::new("pstn_uas_rr.xml", "127.0.0.1:9".parse().expect("addr"))
        .local_ip(PSTN_IP)
        .local_port(pstn_port)
        .timeout(Duration::from_secs(30));
    let far_end = thread::spawn(move || far_end.run());
    let edge = Kamailio::start(pstn);
    let t = trunked(&edge);
    let gw = &t.gw;
    assert_registered(&t, &edge);

    // 1001 dials 9 + number: out through the gateway, to Kamailio.
    Sipp::new("uac_call.xml", gw.sip_addr())
        .user("1001", "secret1001")
        .key("dest", "95550123")
        .pause_ms(1000)
        .timeout(Duration::from_secs(20))
        .run()
        .assert_ok("1001 calling out through the trunk", &gw.log());
    let far = far_end.join().expect("PSTN thread");
    far.assert_ok(
        "PSTN behind Kamailio answering",
        &format!(
            "{}\n--- Kamailio log ---\n{}",
            gw.log(),
            sipp::tail(&edge.log(), 6000)
        ),
    );

    // Kamailio challenged our INVITE with 407 and relayed the authenticated one.
    let klog = edge.log();
    assert!(
        klog.contains("INVITE to 5550123 from 127.0.0.1") && klog.contains("challenged with 407"),
        "{klog}"
    );
    assert!(
        klog.contains(&format!(
            "INVITE from trunk {GW_USER} relayed to PSTN as sip:5550123@{pstn}"
        )),
        "the INVITE with Proxy-Authorization was not accepted:\n{klog}"
    );
    // The PSTN got the number dialled, through Kamailio (its Via and Record-Route)...
    let via_edge = format!("Via: SIP/2.0/UDP {}", edge.addr());
    let invite = message(&far, true, "INVITE ");
    assert!(
        invite.starts_with(&format!("INVITE sip:5550123@{pstn} SIP/2.0")),
        "{invite}"
    );
    assert!(invite.contains(&via_edge), "{invite}");
    assert!(
        invite.contains(&format!("Record-Route: <sip:{}", edge.addr())),
        "{invite}"
    );
    // ... and loopstart followed the route set: ACK and BYE came through Kamailio.
    for method in ["ACK ", "BYE "] {
        let m = message(&far, true, method);
        assert!(
            m.contains(&via_edge),
            "{method}did not come through Kamailio (its Route ignored?):\n{m}"
        );
    }
    assert_eq!(gateway_field(gw, "CallsOUT"), "1");
}

#[test]
fn a_did_from_the_pstn_reaches_the_registered_gateway_through_kamailio_and_rings_1001() {
    let edge = Kamailio::start(format!("{PSTN_IP}:9").parse().expect("addr"));
    let t = trunked(&edge);
    let gw = &t.gw;
    assert_registered(&t, &edge);

    // 1001 registers with loopstart and answers there.
    let port = common::ports::free_udp_tcp_port();
    Sipp::new("register.xml", gw.sip_addr())
        .user("1001", "secret1001")
        .local_port(port)
        .run()
        .assert_ok("register 1001", &gw.log());
    let phone = Sipp::new("uas_answer.xml", gw.sip_addr())
        .local_port(port)
        .pause_ms(200)
        .timeout(Duration::from_secs(20));
    let phone = thread::spawn(move || phone.run());
    thread::sleep(Duration::from_millis(200));

    // The PSTN calls the DID at Kamailio, which looks up the trunk's contact.
    let caller = Sipp::new("uac_noauth.xml", edge.addr())
        .local_ip(PSTN_IP)
        .key("dest", DID)
        .pause_ms(1000)
        .timeout(Duration::from_secs(20))
        .run();
    // The phone's run ends (answered and hung up, or timed out) before any check.
    let phone = phone.join().expect("phone thread");
    let context = format!(
        "{}\n--- Kamailio log ---\n{}",
        gw.log(),
        sipp::tail(&edge.log(), 6000)
    );
    // Kamailio found the trunk's contact and relayed the DID to loopstart.
    let relayed = format!(
        "DID {DID} from PSTN relayed to trunk as sip:{DID}@127.0.0.1:{}",
        t.external
    );
    assert!(context.contains(&relayed), "{context}");
    // loopstart's 200 must carry Kamailio's Record-Route back (RFC 3261
    // 12.1.1), so that the PSTN's ACK and BYE go through Kamailio.
    let ok = message(&caller, true, "SIP/2.0 200");
    assert!(
        ok.contains(&format!("Record-Route: <sip:{}", edge.addr())),
        "loopstart's 200 to Kamailio's INVITE did not copy its Record-Route:\n{ok}\n\
         --- PSTN caller ---\n{}\n--- loopstart and Kamailio ---\n{context}",
        caller.report()
    );
    caller.assert_ok("PSTN calling the DID through Kamailio", &context);
    phone.assert_ok("1001 answering the DID", &context);
    let bye = message(&caller, false, "BYE ");
    assert!(
        bye.contains(&format!("Route: <sip:{}", edge.addr())),
        "{bye}"
    );
    // (uac_noauth.xml's last step also takes a retransmitted 200 to the INVITE:
    // check that the BYE itself was answered.)
    let bye_answered = sipp_messages(&caller.messages)
        .iter()
        .any(|(r, m)| *r && m.starts_with("SIP/2.0 200") && m.contains("CSeq: 2 BYE"));
    assert!(bye_answered, "no 200 to the BYE:\n{}", caller.report());
    let klog = edge.log();
    for method in ["ACK", "BYE"] {
        assert!(
            klog.contains(&format!(
                "routed in-dialog {method} from {PSTN_IP}:{} to sip:{DID}@127.0.0.1:{}",
                caller.local_port, t.external
            )),
            "Kamailio did not route the PSTN's {method} to loopstart:\n{klog}"
        );
    }
    assert_eq!(gateway_field(gw, "CallsIN"), "1");
}
