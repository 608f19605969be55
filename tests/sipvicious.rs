//! The guard against the real attack tool, SIPVicious (Debian's `sipvicious` 0.3.3):
//! `svwar` enumerating extensions and `svcrack` guessing a password, each from a
//! loopback "host" of its own, none of them whitelisted, while a phone on another
//! address keeps registering and calling.

mod common;

use common::process::Outcome;
use common::sipp::{Sipp, SippRun};
use common::sipvicious::{found, svcrack, svwar};
use common::Gateway;
use std::thread;
use std::time::Duration;

const USER: &str = "1001";
/// A strong password: in no dictionary.
const PASS: &str = "q7Vd-93kX-Lm2p-Rw8z";
const PHONE: &str = "127.0.0.5";

/// 1001 with its strong password, 1002, and the echo test on 9196. Without
/// `fail2ban`, the box's defaults (5 failures in 600 s, scanners banned at once,
/// only 127.0.0.1 and ::1 whitelisted).
fn gateway(fail2ban: Option<&str>) -> Gateway {
    let mut b = Gateway::builder()
        .user(USER, PASS)
        .user("1002", "secret1002")
        .file(
            "dialplan/default.xml",
            &common::dialplan::echo_and_users("^(10[0-9][0-9])$"),
        );
    if let Some(conf) = fail2ban {
        b = b.file("autoload_configs/fail2ban.conf.xml", conf);
    }
    b.start()
}

/// The phone meanwhile: 30 REGISTERs at 5/s, then calls to the echo test.
fn phone(gw: &Gateway) -> thread::JoinHandle<(SippRun, SippRun)> {
    let register = gw
        .sipp("register.xml")
        .user(USER, PASS)
        .local_ip(PHONE)
        .calls(30)
        .rate(5)
        .timeout(Duration::from_secs(20));
    let call = Sipp::new("uac_call.xml", gw.sip_addr())
        .user(USER, PASS)
        .local_ip(PHONE)
        .key("dest", "9196")
        .pause_ms(500)
        .calls(3)
        .timeout(Duration::from_secs(20));
    thread::spawn(move || (register.run(), call.run()))
}

fn assert_phone_unharmed(gw: &Gateway, runs: (SippRun, SippRun)) {
    runs.0
        .assert_ok("the phone registering through the attack", &gw.log());
    runs.1
        .assert_ok("the phone calling through the attack", &gw.log());
}

fn is_banned(gw: &Gateway, ip: &str) -> bool {
    gw.api("fail2ban list").lines().any(|l| l.contains(ip))
}

/// A counter of `fail2ban stats`.
fn stat(gw: &Gateway, name: &str) -> u64 {
    gw.fail2ban_stat(name)
}

/// Whether the tool got no answer to its first request (it says so and stops: "No
/// server response", or with Python 3.10 on, where a socket timeout is a socket
/// error, "socket error: timed out").
fn got_no_answer(out: &Outcome) -> bool {
    let all = out.all();
    all.contains("No server response") || all.contains("socket error: timed out")
}

#[test]
fn svwar_is_banned_at_its_first_probe_and_the_ban_survives_a_restart_until_unbanned() {
    let mut gw = gateway(None);
    let mut esl = common::esl::EslConn::logged_in(&gw);
    esl.subscribe("CUSTOM fail2ban::ban");
    let phone = phone(&gw);

    // Its User-Agent (friendly-scanner) gives svwar away.
    let scan = svwar(&gw, "127.0.0.20", "1000-1010", "REGISTER", &[]);
    assert!(found(&scan).is_empty(), "{}", scan.describe());
    assert!(got_no_answer(&scan), "{}", scan.describe());
    let ban = esl.wait_event(
        |e| e.get("network-ip") == Some("127.0.0.20"),
        Duration::from_secs(5),
    );
    assert_eq!(ban.get("reason"), Some("scanner"));
    // In compact mode it sends no User-Agent; its From tag still gives it away.
    let compact = svwar(&gw, "127.0.0.21", "1000-1010", "OPTIONS", &["-c"]);
    assert!(found(&compact).is_empty(), "{}", compact.describe());
    assert!(got_no_answer(&compact), "{}", compact.describe());
    assert!(is_banned(&gw, "127.0.0.20") && is_banned(&gw, "127.0.0.21"));
    assert!(!is_banned(&gw, PHONE));
    assert!(
        stat(&gw, "failures-scanner") >= 2,
        "{}",
        gw.api("fail2ban stats")
    );
    // Their probes were dropped unanswered, and `status` counts them.
    let status = gw.api("status");
    let dropped: u64 = status
        .split("scanners dropped ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(dropped >= 2, "{status}");
    assert_phone_unharmed(&gw, phone.join().expect("phone"));

    // The bans are in the store.
    gw.restart();
    assert!(is_banned(&gw, "127.0.0.20"), "{}", gw.api("fail2ban list"));
    let again = svwar(&gw, "127.0.0.20", "1000-1010", "REGISTER", &[]);
    assert!(got_no_answer(&again), "{}", again.describe());
    // Lifted: the address is answered again (here a phone registering from it).
    let out = gw.api("fail2ban unban 127.0.0.20");
    assert!(out.contains("+OK"), "{out}");
    gw.sipp("register.xml")
        .user(USER, PASS)
        .local_ip("127.0.0.20")
        .timeout(Duration::from_secs(5))
        .run()
        .assert_ok("registering from the unbanned address", &gw.log());
    assert!(is_banned(&gw, "127.0.0.21"));
}

/// The final status lines of the answers a tool printed (`--debug` prints each
/// datagram it receives; 100 Trying left out).
fn answers(out: &Outcome) -> std::collections::BTreeSet<String> {
    out.stdout
        .split("SIP/2.0 ")
        .skip(1)
        .filter_map(|s| s.split("\\r\\n").next())
        .filter(|s| !s.starts_with("100 "))
        .map(str::to_string)
        .collect()
}

#[test]
fn svwar_cannot_tell_existing_extensions_from_missing_ones() {
    // Scanners only logged, so that svwar gets its answers. For each method, svwar
    // probes an extension that exists (1001) and one that does not (1099), each
    // after its own probe of a random extension; the answers must be the same.
    let conf = r#"<configuration name="fail2ban.conf">
  <settings><param name="whitelist" value="127.0.0.1/32"/></settings>
  <scanners action="log"/>
</configuration>"#;
    let gw = std::sync::Arc::new(gateway(Some(conf)));
    let mut runs = Vec::new();
    for (i, (method, answer)) in [
        ("REGISTER", "401 Unauthorized"),
        ("INVITE", "407 Proxy Authentication Required"),
        ("OPTIONS", "200 OK"),
    ]
    .into_iter()
    .enumerate()
    {
        for (j, extension) in ["1001", "1099"].into_iter().enumerate() {
            let source = format!("127.0.0.{}", 22 + 2 * i + j);
            let gw = gw.clone();
            runs.push((
                method,
                answer,
                extension,
                thread::spawn(move || svwar(&gw, &source, extension, method, &["--debug"])),
            ));
        }
    }
    let mut seen = std::collections::BTreeMap::new();
    for (method, answer, extension, run) in runs {
        let scan = run.join().expect("svwar");
        assert!(scan.success(), "{method} {extension}: {}", scan.describe());
        assert!(
            found(&scan).is_empty(),
            "{method} {extension}: {}",
            scan.describe()
        );
        // This extension was answered (svwar's From comes back in the answer) ...
        assert!(
            scan.stdout
                .contains(&format!("From: \"{extension}\"<sip:{extension}@")),
            "{method} {extension}: {}",
            scan.describe()
        );
        // ... as the random one was.
        let got = answers(&scan);
        assert_eq!(
            got.iter().collect::<Vec<_>>(),
            [answer],
            "{method} {extension}: {}",
            scan.describe()
        );
        seen.entry(method).or_insert_with(Vec::new).push(got);
    }
    for (method, pair) in seen {
        assert_eq!(
            pair[0], pair[1],
            "{method}: 1001 and 1099 answered differently"
        );
    }
    assert!(gw.log().contains("SIP scanner"), "{}", gw.log());
}

#[test]
fn svcrack_finds_nothing_and_is_banned_after_max_attempts() {
    // Scanners only logged: the ban must come from the wrong passwords themselves.
    let conf = r#"<configuration name="fail2ban.conf">
  <settings>
    <param name="max-attempts" value="5"/>
    <param name="whitelist" value="127.0.0.1/32"/>
  </settings>
  <scanners action="log"/>
</configuration>"#;
    let gw = gateway(Some(conf));
    let mut esl = common::esl::EslConn::logged_in(&gw);
    esl.subscribe("CUSTOM fail2ban::ban");
    let phone = phone(&gw);
    let dictionary = [
        "1234",
        "password",
        "1001",
        "secret",
        "admin",
        "0000",
        "1111",
        "123456",
        "qwerty",
        "letmein",
        "secret1001",
        "pass1001",
        "voip",
        "sip",
        "welcome",
        "changeme",
    ];
    let crack = svcrack(&gw, "127.0.0.30", USER, &dictionary);
    assert!(found(&crack).is_empty(), "{}", crack.describe());
    let ban = esl.wait_event(
        |e| e.get("network-ip") == Some("127.0.0.30"),
        Duration::from_secs(5),
    );
    assert_eq!(ban.get("reason"), Some("register-auth"));
    assert_eq!(ban.get("attempts"), Some("5"));
    // Five guesses were judged; the rest were dropped unanswered.
    assert_eq!(
        stat(&gw, "failures-register-auth"),
        5,
        "{}",
        gw.api("fail2ban stats")
    );
    assert!(is_banned(&gw, "127.0.0.30"));
    assert_phone_unharmed(&gw, phone.join().expect("phone"));
}

#[test]
fn svcrack_with_its_own_user_agent_is_banned_before_its_first_guess() {
    let gw = gateway(None);
    let crack = svcrack(&gw, "127.0.0.31", USER, &["1234", "password", "1001"]);
    assert!(found(&crack).is_empty(), "{}", crack.describe());
    assert!(is_banned(&gw, "127.0.0.31"));
    assert_eq!(stat(&gw, "failures-register-auth"), 0);
    assert_eq!(stat(&gw, "failures-scanner"), 1);
}
