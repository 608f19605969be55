//! The guard against real SIP traffic from several loopback "hosts": a source that
//! keeps failing is banned (its datagrams dropped, unanswered) while another keeps
//! registering; the ban is an event, survives a restart, and `fail2ban unban` lifts it.

mod common;

use common::Gateway;
use std::time::Duration;

const USER: &str = "1001";
const PASS: &str = "secret1001";
const ATTACKER: &str = "127.0.0.2";
const PHONE: &str = "127.0.0.3";

const FAIL2BAN: &str = r#"<configuration name="fail2ban.conf"><settings>
  <param name="max-attempts" value="3"/>
  <param name="time-window" value="60"/>
  <param name="ban-time" value="600"/>
  <param name="whitelist" value="127.0.0.1/32"/>
</settings></configuration>"#;

/// One REGISTER with a wrong password from `ip`, expecting 401 then 403.
fn wrong_password(gw: &Gateway, ip: &str) -> common::sipp::SippRun {
    gw.sipp("register_forbidden.xml")
        .user(USER, "guessed-wrong")
        .local_ip(ip)
        .timeout(Duration::from_secs(4))
        .run()
}

fn register(gw: &Gateway, ip: &str) -> common::sipp::SippRun {
    gw.sipp("register.xml")
        .user(USER, PASS)
        .local_ip(ip)
        .timeout(Duration::from_secs(4))
        .run()
}

/// A counter of `fail2ban stats`.
fn stat(gw: &Gateway, name: &str) -> u64 {
    gw.fail2ban_stat(name)
}

#[test]
fn a_source_that_keeps_failing_is_banned_across_a_restart_until_unbanned() {
    let mut gw = Gateway::builder()
        .user(USER, PASS)
        .file("autoload_configs/fail2ban.conf.xml", FAIL2BAN)
        .start();
    let mut esl = common::esl::EslConn::logged_in(&gw);
    esl.subscribe("CUSTOM fail2ban::ban fail2ban::unban");
    for n in 1..=3 {
        wrong_password(&gw, ATTACKER)
            .assert_ok(&format!("wrong password #{n}, answered 403"), &gw.log());
    }
    let ban = esl.wait_event(
        |e| e.get("Event-Subclass") == Some("fail2ban::ban"),
        Duration::from_secs(5),
    );
    assert_eq!(ban.get("network-ip"), Some(ATTACKER));
    // Now nothing from it is answered, not even the right password.
    let dropped = register(&gw, ATTACKER);
    assert!(!dropped.success());
    assert!(
        !dropped
            .messages
            .lines()
            .any(|l| l.trim_start().starts_with("SIP/2.0 ")),
        "a banned source got an answer:\n{}",
        dropped.report()
    );
    // Another host on the same box is not affected.
    register(&gw, PHONE).assert_ok("a phone on another address", &gw.log());
    let list = gw.api("fail2ban list");
    assert!(list.contains(ATTACKER) && !list.contains(PHONE), "{list}");

    // The ban is in the store: still there after a restart.
    gw.restart();
    assert!(gw.api("fail2ban list").contains(ATTACKER));
    assert!(!register(&gw, ATTACKER).success());

    let out = gw.api(&format!("fail2ban unban {ATTACKER}"));
    assert!(out.contains("+OK"), "{out}");
    register(&gw, ATTACKER).assert_ok("the unbanned source registers again", &gw.log());
    assert!(!gw.api("fail2ban list").contains(ATTACKER));
}

#[test]
fn the_operator_bans_and_clears_by_hand_and_the_box_itself_is_never_banned() {
    let gw = Gateway::builder()
        .user(USER, PASS)
        .file("autoload_configs/fail2ban.conf.xml", FAIL2BAN)
        .start();
    let out = gw.api(&format!("fail2ban ban {PHONE} 120"));
    assert!(out.contains("+OK banned"), "{out}");
    assert!(!register(&gw, PHONE).success());
    // Whitelisted: 127.0.0.1 fails as often as it likes and is never banned.
    for _ in 0..4 {
        wrong_password(&gw, "127.0.0.1").assert_ok("wrong password from the whitelist", &gw.log());
    }
    register(&gw, "127.0.0.1").assert_ok("the whitelisted source", &gw.log());
    let refused = gw.try_api("fail2ban ban 127.0.0.1");
    assert!(refused.all().contains("-ERR"), "{}", refused.describe());
    assert!(gw.api("fail2ban clear").contains("+OK"));
    register(&gw, PHONE).assert_ok("after clear", &gw.log());
    // The four failures were counted, as whitelisted.
    assert!(
        stat(&gw, "failures-whitelisted") >= 4,
        "{}",
        gw.api("fail2ban stats")
    );
}

#[test]
fn a_register_flood_from_one_source_does_not_starve_another() {
    let conf = r#"<configuration name="fail2ban.conf">
  <settings><param name="whitelist" value="127.0.0.1/32"/></settings>
  <flood>
    <param name="sampling-time-unit" value="1"/>
    <param name="reqs-density-per-unit" value="100"/>
    <param name="remove-latency" value="5"/>
  </flood>
</configuration>"#;
    let gw = Gateway::builder()
        .user(USER, PASS)
        .user("1002", "secret1002")
        .file("autoload_configs/fail2ban.conf.xml", conf)
        .start();
    // 127.0.0.2 floods REGISTERs (3,000 at 500/s, about 6 s; each is two requests with
    // the digest round); 127.0.0.3 registers 100 times at 10/s meanwhile, 20 requests a
    // second: a fifth of the density, so that SIPp catching up after a stall on a busy
    // machine stays within it (at 20/s, 40 requests a second against a density of 40,
    // one CI run blocked the phone). Both bounded in count and time.
    let flooder = gw
        .sipp("register.xml")
        .user("1002", "secret1002")
        .local_ip(ATTACKER)
        .calls(3000)
        .rate(500)
        .timeout(Duration::from_secs(20));
    let flooder = std::thread::spawn(move || flooder.run());
    std::thread::sleep(Duration::from_millis(500));
    let phone = gw
        .sipp("register.xml")
        .user(USER, PASS)
        .local_ip(PHONE)
        .calls(100)
        .rate(10)
        .timeout(Duration::from_secs(20))
        .run();
    let flood = flooder.join().expect("flooder");
    // SIPp exits 0 only when every one of its calls succeeded: 100 of 100 (the bar is
    // above 99%).
    phone.assert_ok("a phone registering through the flood", &gw.log());
    assert!(
        !flood.success(),
        "the flood was not limited:\n{}",
        flood.report()
    );
    assert!(gw.log().contains("SIP flood"), "{}", gw.log());
    assert!(
        stat(&gw, "failures-flood") >= 1,
        "{}",
        gw.api("fail2ban stats")
    );
    // The detector's own counters: the flood, and thousands of datagrams dropped.
    assert!(stat(&gw, "floods") >= 1, "{}", gw.api("fail2ban stats"));
    assert!(
        stat(&gw, "flood-dropped") > 1000,
        "{}",
        gw.api("fail2ban stats")
    );
}

/// A TCP connection from `ip` (a loopback "host") to `port` on 127.0.0.1, with a 2 s
/// read timeout.
fn tcp_from(ip: &str, port: u16) -> std::net::TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let local: std::net::SocketAddr = format!("{ip}:0").parse().expect("address");
    socket.bind(&local.into()).expect("bind the source address");
    let to: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    socket
        .connect_timeout(&to.into(), Duration::from_secs(2))
        .expect("connect");
    let stream: std::net::TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    stream
}

/// What arrives on `stream` next (empty at EOF, on a reset or after the timeout).
fn read_some(stream: &mut std::net::TcpStream) -> String {
    read_or_closed(stream).unwrap_or_default()
}

/// What arrives on `stream` next: `None` when the other side closed it (EOF or reset),
/// `Some("")` when nothing came before the timeout.
fn read_or_closed(stream: &mut std::net::TcpStream) -> Option<String> {
    use std::io::{ErrorKind, Read};
    let mut buf = [0u8; 2048];
    match stream.read(&mut buf) {
        Ok(0) => None,
        Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).to_string()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Some(String::new())
        }
        Err(_) => None,
    }
}

/// One event socket connection from `ip`: the first frame the box sends, and (when it
/// asks for a password) its answer to `password`.
fn esl_attempt(gw: &Gateway, ip: &str, password: &str) -> (String, String) {
    use std::io::Write;
    let mut stream = tcp_from(ip, gw.esl_port());
    let greeting = read_some(&mut stream);
    if !greeting.contains("auth/request") {
        return (greeting, String::new());
    }
    let _ = stream.write_all(format!("auth {password}\n\n").as_bytes());
    let answer = read_some(&mut stream);
    (greeting, answer)
}

/// A REGISTER without credentials over TCP from `ip`: the answer's status line, ""
/// when none came, `None` when the gateway closed the connection.
fn tcp_register(gw: &Gateway, ip: &str) -> Option<String> {
    use std::io::Write;
    let mut stream = tcp_from(ip, gw.sip_port());
    let port = stream.local_addr().map(|a| a.port()).unwrap_or(0);
    let register = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {ip}:{port};branch=z9hG4bKtcp{port}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{USER}@127.0.0.1>;tag=t{port}\r\n\
         To: <sip:{USER}@127.0.0.1>\r\n\
         Call-ID: tcp-{port}@{ip}\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:{USER}@{ip}:{port};transport=tcp>\r\n\
         Expires: 60\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let _ = stream.write_all(register.as_bytes());
    read_or_closed(&mut stream).map(|r| r.lines().next().unwrap_or_default().to_string())
}

#[test]
fn a_banned_source_cannot_even_open_a_sip_tcp_connection() {
    let gw = Gateway::builder()
        .user(USER, PASS)
        .file("autoload_configs/fail2ban.conf.xml", FAIL2BAN)
        .start();
    let challenged = Some("SIP/2.0 401 Unauthorized".to_string());
    assert_eq!(tcp_register(&gw, ATTACKER), challenged);
    assert!(gw.api(&format!("fail2ban ban {ATTACKER}")).contains("+OK"));
    // Closed at once: not left open, unanswered.
    assert_eq!(
        tcp_register(&gw, ATTACKER),
        None,
        "a banned source's connection was kept"
    );
    assert_eq!(tcp_register(&gw, PHONE), challenged);
    assert!(gw
        .api(&format!("fail2ban unban {ATTACKER}"))
        .contains("+OK"));
    assert_eq!(tcp_register(&gw, ATTACKER), challenged);
}

#[test]
fn event_socket_password_guessing_bans_the_source() {
    let gw = Gateway::builder()
        .user(USER, PASS)
        .file("autoload_configs/fail2ban.conf.xml", FAIL2BAN)
        .start();
    for n in 1..=3 {
        let (greeting, answer) = esl_attempt(&gw, ATTACKER, "ClueCon");
        assert!(greeting.contains("auth/request"), "attempt {n}: {greeting}");
        assert!(answer.contains("-ERR invalid"), "attempt {n}: {answer}");
    }
    // Banned: not even asked for a password any more.
    let (greeting, _) = esl_attempt(&gw, ATTACKER, &gw.esl_password());
    assert!(!greeting.contains("auth/request"), "{greeting}");
    assert!(gw.api("fail2ban list").contains(ATTACKER));
    assert_eq!(
        stat(&gw, "failures-esl-auth"),
        3,
        "{}",
        gw.api("fail2ban stats")
    );
    // Another address still gets in with the password.
    let (_, answer) = esl_attempt(&gw, PHONE, &gw.esl_password());
    assert!(answer.contains("+OK accepted"), "{answer}");
}

#[test]
fn a_ban_ends_on_time_and_every_failure_is_logged_for_an_external_fail2ban() {
    let conf = r#"<configuration name="fail2ban.conf"><settings>
  <param name="max-attempts" value="2"/>
  <param name="ban-time" value="2"/>
  <param name="whitelist" value="127.0.0.1/32"/>
  <param name="logfile" value="$${conf_dir}/fail2ban.log"/>
</settings></configuration>"#;
    let gw = Gateway::builder()
        .user(USER, PASS)
        .file("autoload_configs/fail2ban.conf.xml", conf)
        .start();
    let mut esl = common::esl::EslConn::logged_in(&gw);
    esl.subscribe("CUSTOM fail2ban::ban fail2ban::unban");
    for n in 1..=2 {
        wrong_password(&gw, ATTACKER).assert_ok(&format!("wrong password #{n}"), &gw.log());
    }
    let ban = esl.wait_event(
        |e| e.get("Event-Subclass") == Some("fail2ban::ban"),
        Duration::from_secs(5),
    );
    assert_eq!(ban.get("ban-seconds"), Some("2"));
    assert!(gw.api("fail2ban list").contains(ATTACKER));
    let unban = esl.wait_event(
        |e| e.get("Event-Subclass") == Some("fail2ban::unban"),
        Duration::from_secs(6),
    );
    assert_eq!(unban.get("reason"), Some("expired"));
    register(&gw, ATTACKER).assert_ok("after the ban ended", &gw.log());
    // The lines kurtabersold/freeswitch-mod_fail2ban writes, which its
    // filter-freeswitch.conf matches: "A registration failed User:\d+ IP:<HOST>".
    let log = std::fs::read_to_string(gw.conf_dir().join("fail2ban.log")).expect("fail2ban.log");
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("A registration failed User:{USER} IP:{ATTACKER}")))
        .collect();
    assert_eq!(lines.len(), 2, "{log}");
}
