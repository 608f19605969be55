//! systemd's service notification protocol (`sd_notify`), so the unit can be
//! `Type=notify` with a watchdog: `READY=1` once every listener is up, `WATCHDOG=1`
//! while the SIP drivers answer, `STOPPING=1` on the way out.
//!
//! The protocol is one datagram per message on the unix socket named by
//! `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace). Without the
//! variable (busybox boxes, a developer's shell) every call is a no-op.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

pub struct Notifier {
    socket: UnixDatagram,
    to: SocketAddr,
}

impl Notifier {
    /// The notifier systemd asked for, if any. A bad `NOTIFY_SOCKET` is logged and
    /// ignored: failing to start over it would be worse than no notifications.
    pub fn from_env() -> Option<Notifier> {
        let name = std::env::var_os("NOTIFY_SOCKET")?;
        let name = name.to_string_lossy();
        let to = match name.strip_prefix('@') {
            Some(abstract_name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(abstract_name.as_bytes())
            }
            None => SocketAddr::from_pathname(name.as_ref()),
        };
        match (to, UnixDatagram::unbound()) {
            (Ok(to), Ok(socket)) => Some(Notifier { socket, to }),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(socket = %name, error = %e, "NOTIFY_SOCKET unusable: systemd will not hear from loopstart");
                None
            }
        }
    }

    pub fn send(&self, message: &str) {
        if let Err(e) = self.socket.send_to_addr(message.as_bytes(), &self.to) {
            tracing::warn!(error = %e, "sd_notify failed: {}", message.lines().next().unwrap_or(""));
        }
    }
}

/// How often to ping the watchdog: half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3)
/// advises; None when systemd set no watchdog or set it for another process.
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID") {
        if pid.to_string_lossy().trim() != std::process::id().to_string() {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}
