//! System tests: the static ARM firmware booted under QEMU (Debian's kernel, a busybox
//! initramfs assembled from rootfs/, board/qemu-virt-<arch>/board.toml, an ext4 data
//! disk), driven from the host by SIPp and an event socket client. A power cut in the
//! middle of a registration burst, a reboot from the same disk, and every registration
//! the box acknowledged is still there.
//!
//! These build the firmware (scripts/build-firmware.sh) on first use: minutes on a
//! clean checkout.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use common::conf::ConfSpec;
use common::esl::EslConn;
use common::qemu::{firmware_binary, Arch, Machine};
use common::registrations;
use common::sipp::Sipp;
use common::web::WebClient;

const ESL_PASSWORD: &str = "qemu-esl-secret";

fn password(user: &str) -> String {
    format!("pw-{user}-strong")
}

/// The guest's conf: SIP on its own address (the factory's `$${local_ip_v4}`), the
/// event socket reachable through QEMU's port forward, users 1001 and 2000-2059.
fn guest_conf(arch: Arch) -> ConfSpec {
    let mut spec = ConfSpec::new(5060, 8021, ESL_PASSWORD);
    spec.set_profile_param("sip-ip", "$${local_ip_v4}");
    spec.set_profile_param("rtp-ip", "$${local_ip_v4}");
    spec.esl_listen_ip = "0.0.0.0".into();
    common::qemu::guest_web(&mut spec);
    for id in std::iter::once("1001".to_string()).chain((2000..2060).map(|n| n.to_string())) {
        spec.users.push(common::conf::User {
            password: Some(password(&id)),
            id,
        });
    }
    spec.extra_files
        .push(("board.toml".into(), arch.board_toml()));
    spec.extra_files.push((
        "dialplan/default.xml".into(),
        // The echo test, and 20xx bridged to the user.
        common::dialplan::echo_and_users("^(20[0-5][0-9])$"),
    ));
    spec
}

/// The uuids in `cdr list`.
fn cdr_uuids(machine: &Machine) -> BTreeSet<String> {
    api(machine, "cdr list 100")
        .lines()
        .skip(1)
        .filter(|l| l.contains(','))
        .map(|l| l.split(',').next().unwrap_or_default().to_string())
        .collect()
}

/// `api CMD` over the forwarded event socket.
fn api(machine: &Machine, cmd: &str) -> String {
    let mut c = EslConn::connect(machine.esl_port);
    let greet = c.read_frame().expect("event socket greeting");
    assert_eq!(greet.header("Content-Type"), Some("auth/request"));
    let reply = c.auth(ESL_PASSWORD);
    assert_eq!(
        reply.header("Reply-Text"),
        Some("+OK accepted"),
        "{reply:?}"
    );
    c.api(cmd).body_text()
}

/// A line of `web status` (`fingerprint`, `pid`, ...).
fn web_status(machine: &Machine, field: &str) -> String {
    common::field(&api(machine, "web status"), field)
        .unwrap_or_else(|| panic!("no {field} in `web status`"))
        .to_string()
}

/// The web page through QEMU's port forward, trusting only the certificate the box
/// says it made; logs in with the password the technician reads on the box.
fn web_login(machine: &mut Machine) -> (WebClient, String) {
    let fingerprint = web_status(machine, "fingerprint");
    let web = WebClient::pinned(machine.web_addr(), &fingerprint);
    web.wait_ready(Duration::from_secs(60));
    let out = machine.shell(
        "echo pw=$(loopstart web password --conf /etc/loopstart-test)",
        Duration::from_secs(30),
    );
    let password = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("pw="))
        .filter(|p| p.len() >= 8)
        .unwrap_or_else(|| panic!("no web password from the box: {out}"))
        .to_string();
    let cookie = web.login(&password);
    let page = web.get("/", Some(&cookie)).expect("the status page");
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("is ready"), "{}", page.body);
    (web, fingerprint)
}

fn registered_users(machine: &Machine) -> BTreeSet<String> {
    let body = api(machine, "show registrations");
    registrations::parse(&body)
        .unwrap_or_else(|e| panic!("show registrations: {e}\n{body}"))
        .into_iter()
        .map(|r| r.reg_user)
        .collect()
}

fn register(target: SocketAddr, user: &str) -> Sipp {
    Sipp::new("register.xml", target)
        .user(user, &password(user))
        .expires(3600)
        .timeout(Duration::from_secs(60))
}

/// The users whose REGISTER got a 200 OK, from SIPp's message trace.
fn acknowledged(messages: &str) -> BTreeSet<String> {
    messages
        .split("message received")
        .skip(1)
        .filter_map(|block| {
            let msg = block.split_once("\n\n").map_or(block, |(_, m)| m);
            let msg = msg.split("\n----").next().unwrap_or(msg);
            if !msg.trim_start().starts_with("SIP/2.0 200") {
                return None;
            }
            let to = msg
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("to:"))?;
            let user = to.split("sip:").nth(1)?.split('@').next()?;
            Some(user.to_string())
        })
        .collect()
}

#[test]
fn aarch64_box_boots_registers_answers_and_keeps_every_acknowledged_registration_across_a_power_cut(
) {
    let arch = Arch::Aarch64;
    let mut machine = Machine::new(arch, &guest_conf(arch));
    machine.boot();
    let console = machine.console();
    assert!(
        console.contains("loopstart first boot: preparing /var/lib/loopstart"),
        "{console}"
    );
    // The static alsa-lib found the snd-aloop card, as the service user.
    assert!(
        console.contains("voice for fxs1, fxs2: ALSA hw:Loopback,0,0 ok (8000 Hz S16_LE x2"),
        "{console}"
    );

    // Digest registration over UDP and over TCP, through QEMU's port forward.
    register(machine.sip_addr(), "1001")
        .run()
        .assert_ok("REGISTER 1001 over UDP", &machine.console());
    register(machine.sip_addr(), "2000")
        .tcp()
        .run()
        .assert_ok("REGISTER 2000 over TCP", &machine.console());
    let status = api(&machine, "status");
    assert!(status.contains("UP"), "{status}");
    let users = registered_users(&machine);
    assert!(
        users.contains("1001") && users.contains("2000"),
        "{users:?}"
    );
    // The web page, HTTPS on the key the box made at its first boot.
    assert!(console.contains("made the web page's TLS key"), "{console}");
    let (_, fingerprint) = web_login(&mut machine);

    // A burst of new registrations (each fsynced before its 200), and the power fails
    // in the middle of it.
    let target = machine.sip_addr();
    let burst = thread::spawn(move || {
        let mut sipp = Sipp::new("register.xml", target)
            .expires(3600)
            .calls(59)
            .timeout(Duration::from_secs(60));
        for n in 2001..2060 {
            let user = n.to_string();
            sipp = sipp.user(&user, &password(&user));
        }
        sipp.run()
    });
    let cut_at = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < cut_at {
        thread::sleep(Duration::from_millis(50));
    }
    machine.power_cut();
    let burst = burst.join().expect("the SIPp thread");
    let acked = acknowledged(&burst.messages);
    assert!(
        !acked.is_empty() && acked.len() < 59,
        "the cut should fall inside the burst; acknowledged: {acked:?}\n{}",
        burst.report()
    );

    // Power back on, same disk.
    machine.boot();
    let console = machine.console();
    assert!(
        !console.contains("first boot"),
        "second boot is not a first boot:\n{console}"
    );
    // The same key after the power cut: the browser that accepted it is not asked again.
    assert!(
        !console.contains("made the web page's TLS key"),
        "{console}"
    );
    let (_, after) = web_login(&mut machine);
    assert_eq!(
        after, fingerprint,
        "the web page's key changed across the power cut"
    );
    assert!(
        !console.contains(" ERROR "),
        "loopstart logged an error after the power cut:\n{console}"
    );
    let users = registered_users(&machine);
    let mut expected = acked.clone();
    expected.extend(["1001".to_string(), "2000".to_string()]);
    let lost: Vec<_> = expected.difference(&users).collect();
    assert!(
        lost.is_empty(),
        "acknowledged before the power cut but gone after the reboot: {lost:?}\n\
         acknowledged {acked:?}\nafter reboot {users:?}\n{}",
        machine.all_consoles()
    );
    // And the restored box still registers.
    register(machine.sip_addr(), "2059")
        .run()
        .assert_ok("REGISTER after the reboot", &machine.console());
    eprintln!(
        "power cut after {} of 59 registrations acknowledged; all {} restored",
        acked.len(),
        users.len()
    );
}

#[test]
fn armv7_box_boots_registers_and_answers_the_event_socket_and_the_web_page() {
    let arch = Arch::Armv7;
    let mut machine = Machine::new(arch, &guest_conf(arch));
    machine.boot();
    register(machine.sip_addr(), "1001")
        .run()
        .assert_ok("REGISTER 1001 on armv7", &machine.console());
    let status = api(&machine, "status");
    assert!(status.contains("UP"), "{status}");
    assert!(registered_users(&machine).contains("1001"));
    // HTTPS from ring's ARMv7 code.
    web_login(&mut machine);
    let console = machine.console();
    assert!(
        console.contains("voice for fxo1: ALSA hw:Loopback,0,1 ok (8000 Hz S16_LE x1"),
        "{console}"
    );
}

/// The firmware bar (issue: under 8 MiB stripped for the whole firmware as it grows),
/// and what makes it a firmware: fully static, stripped, for the right CPU.
#[test]
fn firmware_binaries_are_static_stripped_and_under_8_mib() {
    const BAR: u64 = 8 * 1024 * 1024;
    for (arch, machine) in [(Arch::Aarch64, "ARM aarch64"), (Arch::Armv7, "ARM, EABI5")] {
        let bin = firmware_binary(arch);
        let size = std::fs::metadata(&bin)
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()))
            .len();
        assert!(
            size < BAR,
            "{}: {size} bytes, over the {BAR}-byte bar",
            bin.display()
        );
        let scratch = tempfile::tempdir().expect("temp dir");
        let file = common::process::run_bounded(
            std::process::Command::new("file").arg(&bin),
            scratch.path(),
            Duration::from_secs(20),
        );
        let out = file.stdout;
        for want in [machine, "statically linked", "stripped"] {
            assert!(
                out.contains(want),
                "`file` on the {} build: {out}",
                arch.name()
            );
        }
        assert!(
            !out.contains("interpreter") && !out.contains("not stripped"),
            "{out}"
        );
        eprintln!("{}: {size} bytes", arch.name());
    }
}

/// The technician's view on the serial console: loopstart runs as its own unprivileged
/// user, and a factory reset wipes the box's state so the next boot is a first boot.
#[test]
fn aarch64_box_runs_loopstart_unprivileged_and_a_factory_reset_starts_over() {
    let arch = Arch::Aarch64;
    let mut machine = Machine::new(arch, &guest_conf(arch));
    machine.boot();
    register(machine.sip_addr(), "1001")
        .run()
        .assert_ok("REGISTER 1001", &machine.console());

    // The process's owner as a number (busybox's ps shows names cut to 8
    // characters); 100 is the loopstart user of rootfs/etc/passwd.
    let owner = machine.shell(
        "stat -c 'owner=%u.' /proc/$(pidof loopstart)",
        Duration::from_secs(30),
    );
    assert!(
        owner.contains("owner=100."),
        "loopstart must run as the loopstart user (uid 100), not root:\n{owner}"
    );

    machine.type_command("loopstart-factory-reset --yes", Duration::from_secs(30));
    machine.wait_off(Duration::from_secs(90));
    assert!(
        machine
            .console()
            .contains("loopstart: factory reset done; rebooting"),
        "{}",
        machine.console()
    );

    machine.boot();
    let console = machine.console();
    assert!(
        console.contains("loopstart first boot: preparing /var/lib/loopstart"),
        "after a factory reset the next boot is a first boot:\n{console}"
    );
    assert!(console.contains("0 registrations restored"), "{console}");
    assert!(
        registered_users(&machine).is_empty(),
        "registrations survived the factory reset"
    );
}

/// Calls on the box: phones on the host call through QEMU's port forward, one to the
/// echo test and one bridged to another registered phone; their records are written
/// (fsynced) as the calls end and are still there after the power fails.
#[test]
fn aarch64_box_carries_calls_and_keeps_their_records_across_a_power_cut() {
    let arch = Arch::Aarch64;
    let mut machine = Machine::new(arch, &guest_conf(arch));
    machine.boot();
    let target = machine.sip_addr();
    let call = |dest: &str| {
        Sipp::new("uac_call.xml", target)
            .user("1001", &password("1001"))
            .key("dest", dest)
            .pause_ms(500)
            .timeout(Duration::from_secs(60))
            .run()
    };
    call("9196").assert_ok("echo test on the box", &machine.console());
    call("9196").assert_ok("second echo call", &machine.console());

    // 2000 registers from the host; the box rings it through the NAT of QEMU's user
    // network (the binding's source address and port).
    let port = common::ports::free_udp_tcp_port();
    register(target, "2000")
        .local_port(port)
        .run()
        .assert_ok("REGISTER 2000", &machine.console());
    let callee = Sipp::new("uas_answer.xml", target)
        .local_port(port)
        .pause_ms(200)
        .timeout(Duration::from_secs(60));
    let callee = thread::spawn(move || callee.run());
    thread::sleep(Duration::from_millis(300));
    call("2000").assert_ok("1001 calls 2000 through the box", &machine.console());
    callee
        .join()
        .expect("callee thread")
        .assert_ok("2000 answers", &machine.console());

    // Two echo calls and a bridged call with two legs: four records.
    let before = cdr_uuids(&machine);
    assert_eq!(before.len(), 4, "{}", api(&machine, "cdr list 100"));
    let listing = api(&machine, "cdr list 100");
    assert!(listing.contains(",1001,2000,"), "{listing}");

    // The records were synced when the calls ended: pull the plug.
    thread::sleep(Duration::from_millis(500));
    machine.power_cut();
    machine.boot();
    let after = cdr_uuids(&machine);
    assert_eq!(
        before,
        after,
        "call records lost in the power cut\n{}",
        machine.all_consoles()
    );
}
