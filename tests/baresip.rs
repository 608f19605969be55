//! baresip as a real phone: it registers to the gateway (digest, UDP and
//! TCP), shows up in `show registrations`, and unregisters when it quits.
//! Audio is from/to files only (aufile), no UI module, bounded by `-t`.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::sipp::Transport;
use common::{ports, process, Gateway};

/// A baresip process with its own config dir; killed (by PID) on drop.
struct Baresip {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
}

impl Baresip {
    fn start(gw: &Gateway, transport: Transport) -> Baresip {
        process::require("baresip", "baresip");
        let dir = tempfile::Builder::new()
            .prefix("loopstart-baresip-")
            .tempdir()
            .expect("temp dir");
        let port = ports::free_udp_tcp_port();
        write_config(dir.path(), port);
        let tp = match transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        };
        fs::write(
            dir.path().join("accounts"),
            format!(
                "<sip:1001@127.0.0.1:{}{tp}>;auth_pass=secret1001;regint=60\n",
                gw.sip_port()
            ),
        )
        .expect("write accounts");
        fs::write(dir.path().join("contacts"), "").expect("write contacts");
        let log = fs::File::create(dir.path().join("baresip.log")).expect("log file");
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .args(["-t", "60"]) // quits by itself even if the test dies
            .arg("-s") // SIP trace into the log, for failure messages
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn baresip");
        Baresip {
            child: Some(child),
            dir,
            port,
        }
    }

    fn log(&self) -> String {
        process::read_lossy(&self.dir.path().join("baresip.log"))
    }

    /// SIGTERM and wait: baresip unregisters on a clean quit.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            process::signal(c.id(), "TERM");
            if process::wait_bounded(&mut c, Duration::from_secs(10)).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Minimal config: SIP on loopback, G.711, audio to/from nothing, account
/// loader; no UI, no ALSA/video/NAT modules.
fn write_config(dir: &Path, port: u16) {
    let config = format!(
        "poll_method\t\tepoll\n\
         sip_listen\t\t127.0.0.1:{port}\n\
         call_local_timeout\t120\n\
         call_max_calls\t\t4\n\
         audio_player\t\taufile,/dev/null\n\
         audio_source\t\taufile,/dev/null\n\
         audio_alert\t\taufile,/dev/null\n\
         rtp_ports\t\t{lo}-{hi}\n\
         module_path\t\t/usr/lib/baresip/modules\n\
         module\t\t\tg711.so\n\
         module\t\t\taufile.so\n\
         module_tmp\t\taccount.so\n",
        lo = 40000 + (port % 1000) * 10,
        hi = 40000 + (port % 1000) * 10 + 9,
    );
    fs::write(dir.join("config"), config).expect("write baresip config");
}

fn phone_registers(transport: Transport) {
    let gw = Gateway::builder().user("1001", "secret1001").start();
    let mut phone = Baresip::start(&gw, transport);
    let needle = format!("127.0.0.1:{}", phone.port);
    let mut last = Vec::new();
    let found = process::poll_until(Duration::from_secs(15), || {
        last = gw.registrations_of("1001");
        last.iter().find(|r| r.url.contains(&needle)).cloned()
    });
    let reg = found.unwrap_or_else(|| {
        panic!(
            "baresip did not register within 15 s; registrations: {last:#?}\n\
             --- baresip log ---\n{}\n--- gateway log ---\n{}",
            phone.log(),
            gw.log()
        )
    });
    assert!(
        reg.network_proto.eq_ignore_ascii_case(transport.name()),
        "network_proto {:?}, expected {}",
        reg.network_proto,
        transport.name()
    );
    assert!(
        phone.log().contains("200 OK"),
        "baresip should report 200 OK:\n{}",
        phone.log()
    );
    phone.stop();
    let gone = process::poll_until(Duration::from_secs(5), || {
        gw.registrations_of("1001")
            .iter()
            .all(|r| !r.url.contains(&needle))
            .then_some(())
    });
    assert!(
        gone.is_some(),
        "baresip's unregister on quit did not remove the binding: {:#?}\n--- baresip log ---\n{}",
        gw.registrations_of("1001"),
        phone.log()
    );
}

#[test]
fn baresip_registers_over_udp() {
    phone_registers(Transport::Udp);
}

#[test]
fn baresip_registers_over_tcp() {
    phone_registers(Transport::Tcp);
}
