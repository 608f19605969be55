//! loopstart as a systemd service (rootfs/lib/systemd/system/loopstart.service is
//! `Type=notify` with `WatchdogSec`): it reports READY=1 once listening, pings the
//! watchdog while its SIP driver answers, and says STOPPING=1 on SIGTERM.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::Gateway;

fn messages_until(
    socket: &UnixDatagram,
    deadline: Duration,
    mut done: impl FnMut(&[String]) -> bool,
) -> Vec<String> {
    let until = Instant::now() + deadline;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < until && !done(&seen) {
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        if let Ok(n) = socket.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    seen
}

#[test]
fn tells_systemd_it_is_ready_pings_the_watchdog_and_says_when_it_stops() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
    let mut gw = Gateway::builder()
        .user("1001", "secret1001")
        .env("NOTIFY_SOCKET", &path.to_string_lossy())
        .env("WATCHDOG_USEC", "400000")
        .start();

    let seen = messages_until(&socket, Duration::from_secs(10), |m| {
        m.iter().filter(|x| x.as_str() == "WATCHDOG=1").count() >= 3
    });
    let ready = seen.iter().position(|m| m.starts_with("READY=1\n"));
    let ready = ready.unwrap_or_else(|| panic!("no READY=1 in {seen:?}\n{}", gw.log()));
    assert!(
        seen[ready].contains("STATUS=sip profile internal on"),
        "{seen:?}"
    );
    let pings = seen.iter().filter(|m| m.as_str() == "WATCHDOG=1").count();
    assert!(pings >= 3, "watchdog every 200 ms expected, got {seen:?}");
    assert!(
        seen.iter().position(|m| m == "WATCHDOG=1") > Some(ready),
        "READY=1 comes first: {seen:?}"
    );

    let status = gw.stop();
    assert!(status.success(), "{status}\n{}", gw.log());
    let after = messages_until(&socket, Duration::from_secs(2), |m| {
        m.iter().any(|x| x == "STOPPING=1")
    });
    assert!(
        after.iter().any(|m| m == "STOPPING=1"),
        "no STOPPING=1 in {after:?}"
    );
}

#[test]
fn no_watchdog_pings_for_another_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
    let gw = Gateway::builder()
        .user("1001", "secret1001")
        .env("NOTIFY_SOCKET", &path.to_string_lossy())
        .env("WATCHDOG_USEC", "200000")
        .env("WATCHDOG_PID", "1")
        .start();
    let seen = messages_until(&socket, Duration::from_secs(2), |_| false);
    assert!(
        seen.iter().any(|m| m.starts_with("READY=1")),
        "{seen:?}\n{}",
        gw.log()
    );
    assert!(!seen.iter().any(|m| m == "WATCHDOG=1"), "{seen:?}");
}
