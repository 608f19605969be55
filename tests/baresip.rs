//! baresip as a real phone: it registers to the gateway (digest, UDP and
//! TCP), shows up in `show registrations`, and unregisters when it quits.
//! Audio is from/to files only (see tests/common/baresip.rs), bounded by `-t`.

mod common;

use std::time::Duration;

use common::baresip::Baresip;
use common::sipp::Transport;
use common::{process, Gateway};

fn phone_registers(transport: Transport) {
    let gw = Gateway::builder().user("1001", "secret1001").start();
    let mut phone = Baresip::builder(&gw, "1001", "secret1001")
        .transport(transport)
        .start();
    let needle = format!("127.0.0.1:{}", phone.port());
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
