//! The box's web page, against the real binary: HTTPS on the key made at first start,
//! a login with the password made at first start, the gateway's status behind it;
//! wrong passwords banned by the guard; bounded against hostile clients; its own
//! unprivileged, memory-capped process, restarted when it dies, while calls go on.

mod common;

use common::Gateway;
use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

const USER: &str = "1001";
const PASS: &str = "secret1001";

fn gateway() -> Gateway {
    Gateway::builder().user(USER, PASS).start()
}

#[test]
fn the_page_is_https_on_a_key_made_at_first_start_and_kept_across_restarts() {
    let mut gw = gateway();
    let pem = gw.data_dir().join("secrets").join("web-tls.pem");
    let web = gw.web();
    web.wait_ready(Duration::from_secs(10));

    // The client trusts only the file's certificate: the handshake proves the page
    // serves it. Not logged in: to the login form.
    let r = web.get("/", None).expect("GET /");
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/login"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    let r = web.get("/login", None).expect("GET /login");
    assert!(r.body.contains("name=\"password\""), "{}", r.body);

    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&pem).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the key file is private");

    // The fingerprint the operator compares: the CLI and the API agree.
    let fp = gw.web_status("fingerprint");
    assert_eq!(fp.len(), 95, "{fp}");
    let out = gw.cli(&[
        "web",
        "fingerprint",
        "--data",
        &gw.data_dir().to_string_lossy(),
    ]);
    assert_eq!(
        out.stdout.trim(),
        format!("SHA-256 {fp}"),
        "{}",
        out.describe()
    );
    assert!(gw.log().contains(&fp), "the log names the fingerprint");

    // A restart keeps key and password (a browser that accepted the key once is not
    // asked again).
    let password = gw.web_password();
    assert_eq!(password.len(), 16, "{password}");
    gw.restart();
    web.wait_ready(Duration::from_secs(10));
    assert_eq!(gw.web_status("fingerprint"), fp);
    assert_eq!(gw.web_password(), password);
    web.login(&password);
}

#[test]
fn the_generated_password_opens_the_status_and_logout_closes_it() {
    let gw = gateway();
    let web = gw.web();
    web.wait_ready(Duration::from_secs(10));
    gw.sipp("register.xml")
        .user(USER, PASS)
        .timeout(Duration::from_secs(5))
        .run()
        .assert_ok("a phone registers", &gw.log());

    let r = web
        .post_form("/login", "password=not-it", None)
        .expect("POST /login");
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.body.contains("Wrong password"), "{}", r.body);
    assert!(r.cookie().is_none());

    let cookie = web.login(&gw.web_password());
    assert!(cookie.starts_with("loopstart_session="), "{cookie}");
    let page = web.get("/", Some(&cookie)).expect("GET /");
    assert_eq!(page.status, 200, "{page:?}");
    // The gateway's own answers: its status, the profile, the phone that registered.
    assert!(page.body.contains("is ready"), "{}", page.body);
    assert!(page.body.contains("internal"), "{}", page.body);
    assert!(
        page.body.contains(&format!("{USER},127.0.0.1")),
        "the registered phone: {}",
        page.body
    );
    let css = web.get("/style.css", None).expect("GET /style.css");
    assert_eq!(css.header("content-type"), Some("text/css"));

    // A form from another site is refused even with the cookie.
    let forged = web
        .raw(
            format!(
                "POST /logout HTTP/1.1\r\nHost: localhost\r\nOrigin: https://evil.example\r\n\
                 Cookie: {cookie}\r\nContent-Length: 0\r\n\r\n"
            )
            .as_bytes(),
        )
        .expect("forged POST");
    assert_eq!(forged.status, 403, "{forged:?}");
    assert_eq!(web.get("/", Some(&cookie)).unwrap().status, 200);

    let out = web.post_form("/logout", "", Some(&cookie)).expect("logout");
    assert_eq!(out.status, 303);
    let after = web.get("/", Some(&cookie)).expect("GET / after logout");
    assert_eq!(after.status, 303, "the session is over: {after:?}");
}

#[test]
fn wrong_passwords_from_the_lan_are_banned_by_the_guard() {
    let gw = Gateway::builder()
        .user(USER, PASS)
        .file(
            "autoload_configs/fail2ban.conf.xml",
            r#"<configuration name="fail2ban.conf"><settings>
  <param name="max-attempts" value="3"/>
  <param name="ban-time" value="600"/>
</settings></configuration>"#,
        )
        .start();
    let web = gw.web();
    web.wait_ready(Duration::from_secs(10));
    let guesser = web.from("127.0.0.9");
    for i in 1..=2 {
        let r = guesser.post_form("/login", "password=guess", None).unwrap();
        assert_eq!(r.status, 401, "guess {i}: {r:?}");
    }
    let r = guesser.post_form("/login", "password=guess", None).unwrap();
    assert_eq!(r.status, 403, "the third guess bans: {r:?}");
    assert!(r.body.contains("banned"), "{}", r.body);
    assert_eq!(gw.fail2ban_stat("failures-web-login"), 3);
    let list = gw.api("fail2ban list");
    assert!(
        list.contains("127.0.0.9") && list.contains("web-login"),
        "{list}"
    );

    // Banned: the connection is closed before the handshake, even with the right
    // password; the box itself (whitelisted) is not affected.
    assert!(
        guesser.get("/login", None).is_err(),
        "a banned source must not get the page"
    );
    web.login(&gw.web_password());
    // The ban is the guard's, for SIP too.
    assert!(!gw
        .sipp("register.xml")
        .user(USER, PASS)
        .local_ip("127.0.0.9")
        .timeout(Duration::from_secs(3))
        .run()
        .success());
}

#[test]
fn hostile_requests_get_status_codes_and_idle_connections_cannot_lock_the_page() {
    let gw = Gateway::builder()
        .user(USER, PASS)
        .web_param("max-connections", "3")
        .web_param("request-timeout", "2")
        .web_param("max-request-bytes", "2048")
        .start();
    let web = gw.web();
    web.wait_ready(Duration::from_secs(10));

    let cases: [(&str, Vec<u8>, u16); 4] = [
        (
            "chunked body",
            b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            501,
        ),
        (
            "body over max-request-bytes",
            b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n".to_vec(),
            413,
        ),
        (
            "huge header",
            format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000)).into_bytes(),
            431,
        ),
        (
            "unknown method",
            b"PUT / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            405,
        ),
    ];
    for (what, raw, code) in cases {
        let r = web.raw(&raw).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(r.status, code, "{what}: {r:?}");
    }

    // Three connections that never send a byte hold every slot: a fourth is closed at
    // once, not queued ...
    let idle: Vec<_> = (0..3).map(|_| web.connect().expect("connect")).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = web.connect().expect("connect");
    let _ = extra.write_all(b"\x16\x03\x01");
    let mut byte = [0u8; 1];
    let n = extra.read(&mut byte);
    assert!(
        matches!(n, Ok(0) | Err(_)),
        "over max-connections the connection is closed: {n:?}"
    );
    // ... the gateway answers meanwhile (calls do not go through the web process) ...
    gw.sipp("register.xml")
        .user(USER, PASS)
        .timeout(Duration::from_secs(5))
        .run()
        .assert_ok("a phone registers while the page is saturated", &gw.log());
    // ... and request-timeout (2 s) frees the slots.
    let started = Instant::now();
    for mut s in idle {
        let n = s.read(&mut byte);
        assert!(matches!(n, Ok(0) | Err(_)), "idle connection closed: {n:?}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed by request-timeout"
    );
    web.wait_ready(Duration::from_secs(5));
}

#[test]
fn the_page_runs_unprivileged_capped_and_is_restarted_when_it_dies() {
    let gw = Gateway::builder()
        .user(USER, PASS)
        .web_param("memory-limit-mb", "40")
        .start();
    let web = gw.web();
    web.wait_ready(Duration::from_secs(10));
    let pid: u32 = gw.web_status("pid").parse().expect("a pid in `web status`");
    let gateway_pid = gw.pid().expect("gateway pid");
    assert_ne!(pid, gateway_pid, "the page is its own process");

    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let data = limits
        .lines()
        .find(|l| l.starts_with("Max data size"))
        .expect("Max data size line");
    assert!(data.contains(&(40u64 * 1024 * 1024).to_string()), "{data}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let me = std::fs::read_to_string("/proc/self/status").unwrap();
    let my_uid = me.lines().find(|l| l.starts_with("Uid:")).unwrap();
    if my_uid.split_whitespace().nth(1) == Some("0") {
        assert!(
            uid.split_whitespace().skip(1).all(|u| u == "65534"),
            "started as root, the page runs as nobody: {uid}"
        );
    } else {
        assert_eq!(uid, my_uid, "never more privileged than the gateway");
    }

    // Killed (as by the OOM killer or its memory limit): restarted, the calls untouched.
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    gw.sipp("register.xml")
        .user(USER, PASS)
        .timeout(Duration::from_secs(5))
        .run()
        .assert_ok("a phone registers while the page is down", &gw.log());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now_pid = gw.web_status("pid");
        if now_pid.parse::<u32>().is_ok_and(|p| p != pid) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not restarted: {now_pid}\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(gw.web_status("restarts"), "1");
    web.wait_ready(Duration::from_secs(10));
    web.login(&gw.web_password());
    assert!(gw.log().contains("web page process exited"), "{}", gw.log());
}
