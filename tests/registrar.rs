//! Registrar behaviour seen from outside: SIPp registers with digest auth
//! over UDP and TCP, and `loopstart api "show registrations"` shows what the
//! registrar holds (FreeSWITCH's CSV listing).

mod common;

use std::time::Duration;

use common::sipp::Transport;
use common::{Gateway, Registration};

const USER: &str = "1001";
const PASS: &str = "secret1001";

fn gateway() -> Gateway {
    Gateway::builder()
        .user(USER, PASS)
        .user("1002", "secret1002")
        .start()
}

/// Registrations of `user` whose contact URL names SIPp's local port.
fn contacts_at(regs: &[Registration], user: &str, port: u16) -> Vec<Registration> {
    let needle = format!("127.0.0.1:{port}");
    regs.iter()
        .filter(|r| r.reg_user == user && r.url.contains(&needle))
        .cloned()
        .collect()
}

fn register_and_list(transport: Transport) {
    let gw = gateway();
    let run = gw
        .sipp("register.xml")
        .transport(transport)
        .user(USER, PASS)
        .expires(300)
        .run();
    run.assert_ok("register 1001", &gw.log());
    let regs = gw.registrations();
    let mine = contacts_at(&regs, USER, run.local_port);
    assert_eq!(
        mine.len(),
        1,
        "expected one registration of {USER} at port {}, got {regs:#?}\n{}",
        run.local_port,
        gw.api("show registrations")
    );
    let r = &mine[0];
    assert_eq!(r.realm, common::DOMAIN, "realm of {r:?}");
    assert_eq!(r.network_ip, "127.0.0.1", "network_ip of {r:?}");
    assert_eq!(
        r.network_port,
        run.local_port.to_string(),
        "network_port of {r:?}"
    );
    assert!(
        r.network_proto.eq_ignore_ascii_case(transport.name()),
        "network_proto of {r:?} should be {}",
        transport.name()
    );
    assert!(
        r.expires_num().is_some(),
        "expires of {r:?} should be a number"
    );
    assert!(
        regs.iter().all(|r| r.reg_user != "1002"),
        "1002 never registered: {regs:#?}"
    );
    // The sofia view names the user too.
    let sofia = gw.api("sofia status profile internal reg");
    assert!(
        sofia.contains(USER),
        "`sofia status profile internal reg` does not mention {USER}:\n{sofia}"
    );
}

#[test]
fn register_over_udp_is_listed() {
    register_and_list(Transport::Udp);
}

#[test]
fn register_over_tcp_is_listed() {
    register_and_list(Transport::Tcp);
}

#[test]
fn wrong_password_is_forbidden_and_not_registered() {
    let gw = gateway();
    gw.sipp("register_forbidden.xml")
        .user(USER, "not-the-password")
        .run()
        .assert_ok("REGISTER with a wrong password expecting 403", &gw.log());
    gw.sipp("register_forbidden.xml")
        .user("9999", "whatever")
        .run()
        .assert_ok("REGISTER of an unknown user expecting 403", &gw.log());
    let regs = gw.registrations();
    assert!(regs.is_empty(), "nothing should be registered: {regs:#?}");
}

#[test]
fn unregister_with_expires_zero_removes_the_contact() {
    let gw = gateway();
    let port = common::ports::free_udp_tcp_port();
    gw.sipp("register.xml")
        .user(USER, PASS)
        .local_port(port)
        .run()
        .assert_ok("register", &gw.log());
    assert_eq!(contacts_at(&gw.registrations(), USER, port).len(), 1);
    gw.sipp("register.xml")
        .user(USER, PASS)
        .local_port(port)
        .expires(0)
        .run()
        .assert_ok("unregister (Expires: 0)", &gw.log());
    let regs = gw.registrations();
    assert!(
        contacts_at(&regs, USER, port).is_empty(),
        "contact should be gone after Expires: 0: {regs:#?}"
    );
}

#[test]
fn unregister_star_removes_every_contact() {
    let gw = gateway();
    let a = gw.sipp("register.xml").user(USER, PASS).run();
    a.assert_ok("register contact A", &gw.log());
    let b = gw.sipp("register.xml").user(USER, PASS).run();
    b.assert_ok("register contact B", &gw.log());
    let regs = gw.registrations();
    assert_eq!(contacts_at(&regs, USER, a.local_port).len(), 1, "{regs:#?}");
    assert_eq!(contacts_at(&regs, USER, b.local_port).len(), 1, "{regs:#?}");
    gw.sipp("unregister_all.xml")
        .user(USER, PASS)
        .run()
        .assert_ok("Contact: * with Expires: 0", &gw.log());
    let regs = gw.registrations_of(USER);
    assert!(
        regs.is_empty(),
        "all contacts of {USER} should be gone: {regs:#?}"
    );
}

#[test]
fn short_registration_expires() {
    let gw = Gateway::builder().user(USER, PASS).expires_min(1).start();
    let run = gw.sipp("register.xml").user(USER, PASS).expires(2).run();
    run.assert_ok("register with Expires: 2", &gw.log());
    // Listed right away (give it the benefit of a short poll)...
    gw.wait_registrations(
        Duration::from_secs(2),
        "the 2 s registration is listed",
        |r| !contacts_at(r, USER, run.local_port).is_empty(),
    );
    // ...and gone once the 2 s have passed (allow slack for a sweep timer).
    gw.wait_registrations(
        Duration::from_secs(12),
        "the 2 s registration disappears after it expired",
        |r| contacts_at(r, USER, run.local_port).is_empty(),
    );
}

#[test]
fn refresh_updates_expires() {
    let gw = gateway();
    let port = common::ports::free_udp_tcp_port();
    gw.sipp("register.xml")
        .user(USER, PASS)
        .local_port(port)
        .expires(60)
        .run()
        .assert_ok("first register (60 s)", &gw.log());
    let first = contacts_at(&gw.registrations(), USER, port);
    assert_eq!(first.len(), 1, "{first:#?}");
    let e1 = first[0].expires_num().expect("numeric expires");
    gw.sipp("register.xml")
        .user(USER, PASS)
        .local_port(port)
        .expires(3600)
        .run()
        .assert_ok("refresh (3600 s)", &gw.log());
    let second = contacts_at(&gw.registrations(), USER, port);
    assert_eq!(
        second.len(),
        1,
        "refresh must not duplicate the binding: {second:#?}"
    );
    let e2 = second[0].expires_num().expect("numeric expires");
    // Whether absolute (epoch) or relative, 3600 vs 60 differs by ~3540.
    assert!(
        e2 >= e1 + 3000,
        "expires should move forward by ~3540 s after the refresh: {e1} -> {e2}"
    );
}

#[test]
fn too_brief_expiry_gets_423() {
    let gw = Gateway::builder().user(USER, PASS).expires_min(60).start();
    gw.sipp("register_423.xml")
        .user(USER, PASS)
        .expires(10)
        .run()
        .assert_ok("REGISTER with Expires: 10 < sip-expires-min 60", &gw.log());
    let regs = gw.registrations();
    assert!(regs.is_empty(), "a 423'd REGISTER must not bind: {regs:#?}");
}

#[test]
fn registrations_survive_restart() {
    let mut gw = gateway();
    let run = gw.sipp("register.xml").user(USER, PASS).expires(3600).run();
    run.assert_ok("register", &gw.log());
    let before = contacts_at(&gw.registrations(), USER, run.local_port);
    assert_eq!(before.len(), 1, "{before:#?}");
    gw.restart();
    let after = contacts_at(&gw.registrations(), USER, run.local_port);
    assert_eq!(
        after.len(),
        1,
        "registration lost across restart; logs:\n{}",
        gw.all_logs()
    );
    assert_eq!(
        after[0].url, before[0].url,
        "contact changed across restart"
    );
    // Absolute (epoch) expiries must not change; relative ones only shrink.
    let (e1, e2) = (
        before[0].expires_num().expect("numeric expires"),
        after[0].expires_num().expect("numeric expires"),
    );
    assert!(
        e1.abs_diff(e2) <= 30,
        "expiry changed across restart: {e1} -> {e2}"
    );
    // And the restarted registrar still authenticates.
    gw.sipp("register.xml")
        .user("1002", "secret1002")
        .run()
        .assert_ok("register 1002 after restart", &gw.log());
    assert_eq!(gw.registrations_of("1002").len(), 1);
}

#[test]
fn many_users_register_in_one_run() {
    let mut b = Gateway::builder();
    for i in 0..20 {
        b = b.user(&format!("2{i:03}"), &format!("pw-2{i:03}"));
    }
    let gw = b.start();
    let mut sipp = gw.sipp("register.xml").calls(20);
    for i in 0..20 {
        sipp = sipp.user(&format!("2{i:03}"), &format!("pw-2{i:03}"));
    }
    sipp.run().assert_ok("20 users register", &gw.log());
    let regs = gw.registrations();
    for i in 0..20 {
        let u = format!("2{i:03}");
        assert!(
            regs.iter().any(|r| r.reg_user == u),
            "{u} missing: {regs:#?}"
        );
    }
}

#[test]
fn apply_register_acl_refuses_sources_outside_it_with_403_and_still_challenges_inside() {
    let gw = Gateway::builder()
        .user(USER, PASS)
        .profile_param("apply-register-acl", "127.0.0.1/32")
        .start();
    let outside = gw
        .sipp("register.xml")
        .user(USER, PASS)
        .local_ip("127.0.0.2")
        .run();
    assert!(!outside.success());
    assert!(
        outside.messages.contains("SIP/2.0 403 Forbidden"),
        "{}",
        outside.report()
    );
    assert!(
        !outside.messages.contains("SIP/2.0 401"),
        "refused before any challenge: {}",
        outside.report()
    );
    assert!(
        gw.log().contains("outside apply-register-acl"),
        "{}",
        gw.log()
    );
    let inside = gw.sipp("register.xml").user(USER, PASS).run();
    inside.assert_ok("REGISTER from inside the ACL", &gw.log());
    assert!(
        inside.messages.contains("SIP/2.0 401"),
        "inside is still challenged: {}",
        inside.report()
    );
    assert_eq!(gw.registrations().len(), 1);
}
