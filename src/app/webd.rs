//! Starts the web page's process (`loopstart webd`, src/web/) and keeps it running.
//!
//! The gateway prepares what the page needs (its password, its TLS key, both made at
//! first start) and hands it over on the child's stdin. The child gets a data limit
//! (RLIMIT_DATA = `memory-limit-mb`); when it exits for any reason it is started again,
//! after a pause that grows while it keeps failing. The calls never wait on it.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::secrets;
use crate::config::Config;
use crate::esl::{ApiRegistry, EslAccount, Grant};
use crate::web::{tls, WebdSetup};

/// The web process's event socket account (see [`crate::web::ESL_USER`]), with the
/// password made for this start.
pub fn esl_account(password: &str) -> EslAccount {
    EslAccount {
        user: crate::web::ESL_USER.to_string(),
        domain: crate::web::ESL_DOMAIN.to_string(),
        password: password.to_string(),
        grant: Grant::api_only(crate::web::ESL_ALLOWED_API),
    }
}

/// Where the key and certificate live.
pub fn tls_path(data_dir: &Path) -> PathBuf {
    data_dir.join("secrets").join("web-tls.pem")
}

/// The web page's key and certificate (one PEM text), made at first start, and the
/// certificate's fingerprint.
pub fn tls_identity(data_dir: &Path, hostname: &str) -> Result<(String, String), String> {
    let path = tls_path(data_dir);
    let (pem, made) = secrets::file_secret(&path, || {
        tls::generate_pem(&tls::default_names(hostname)).map_err(std::io::Error::other)
    })
    .map_err(|e| {
        format!(
            "cannot make the web page's TLS key in {}: {e}",
            path.display()
        )
    })?;
    let fingerprint = tls::Identity::from_pem(&pem)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .fingerprint();
    if made {
        tracing::warn!(path = %path.display(), %fingerprint,
            "made the web page's TLS key and self-signed certificate; when the browser \
             warns, compare its SHA-256 fingerprint with {fingerprint}");
    }
    Ok((pem, fingerprint))
}

/// What the running web process looks like, for `web status`.
#[derive(Default)]
pub struct WebdState {
    pid: AtomicU32,
    starts: AtomicU32,
    stopping: AtomicBool,
    listen: std::sync::Mutex<Option<(SocketAddr, String)>>,
}

impl WebdState {
    /// `web status`: the page's address, certificate fingerprint, process and restarts.
    pub fn register_api(self: &Arc<Self>, registry: &mut ApiRegistry) {
        let state = self.clone();
        registry.register_fn(
            "web",
            "web status",
            "The web page's address, certificate and process",
            move |args| {
                let state = state.clone();
                Box::pin(async move {
                    match args.trim() {
                        "" | "status" => Ok(state.status()),
                        _ => Ok("-USAGE: web status\n".into()),
                    }
                })
            },
        );
    }

    fn status(&self) -> String {
        let Ok(listen) = self.listen.lock() else {
            return "-ERR unavailable\n".into();
        };
        let Some((addr, fingerprint)) = listen.as_ref() else {
            return "web page: off (enabled=false in web.conf)\n".into();
        };
        let pid = self.pid.load(Ordering::Relaxed);
        let starts = self.starts.load(Ordering::Relaxed);
        format!(
            "url: https://{addr}/\nfingerprint: {fingerprint}\npid: {}\nrestarts: {}\n",
            if pid == 0 {
                "none (restarting)".to_string()
            } else {
                pid.to_string()
            },
            starts.saturating_sub(1)
        )
    }

    /// Stops the web process (at the gateway's shutdown) and keeps it stopped.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let pid = self.pid.load(Ordering::SeqCst);
        if pid != 0 {
            // SAFETY: a signal to our own child, by the PID we were given at spawn.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
    }
}

/// Prepares the web page and starts supervising its process; None when web.conf turns
/// it off. `esl` is where the event socket listens (already listening) and the password
/// of the page's own account there ([`esl_account`]).
pub fn start(
    config: &Config,
    data_dir: &Path,
    hostname: &str,
    esl: (SocketAddr, &str),
    state: &Arc<WebdState>,
) -> Result<Option<String>, String> {
    let web = &config.web;
    if !web.enabled {
        return Ok(None);
    }
    let password = match &web.password {
        Some(p) => p.clone(),
        None => secrets::web_password(data_dir).map_err(|e| {
            format!(
                "cannot make the web page password under {}: {e}",
                data_dir.display()
            )
        })?,
    };
    let (tls_pem, fingerprint) = tls_identity(data_dir, hostname)?;
    let listen = SocketAddr::new(web.listen_ip, web.listen_port);
    let (esl_addr, esl_password) = esl;
    let setup = WebdSetup {
        listen,
        hostname: hostname.to_string(),
        max_connections: web.max_connections,
        request_timeout_secs: web.request_timeout_secs,
        max_request_bytes: web.max_request_bytes,
        session_timeout_secs: web.session_timeout_secs,
        max_sessions: web.max_sessions,
        esl_addr: reachable(esl_addr),
        esl_password: esl_password.to_string(),
        password,
        tls_pem,
    };
    let setup = toml::to_string(&setup).map_err(|e| format!("web setup: {e}"))?;
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find loopstart's own binary to start the web page: {e}"))?;
    if let Ok(mut l) = state.listen.lock() {
        *l = Some((listen, fingerprint.clone()));
    }
    let limit = u64::from(web.memory_limit_mb) * 1024 * 1024;
    let state = state.clone();
    std::thread::Builder::new()
        .name("webd-supervisor".into())
        .spawn(move || supervise(&exe, &setup, limit, &state))
        .map_err(|e| format!("cannot start the web page's supervisor: {e}"))?;
    Ok(Some(format!(
        "web page on https://{listen}/ (certificate SHA-256 {fingerprint})"
    )))
}

/// The event socket as the web process dials it: a wildcard listen address is reached
/// on loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// Runs the web process until the gateway stops, restarting it when it exits.
fn supervise(exe: &Path, setup: &str, memory_limit: u64, state: &WebdState) {
    let mut pause = Duration::from_secs(1);
    while !state.stopping.load(Ordering::SeqCst) {
        let started = Instant::now();
        let outcome = run_once(exe, setup, memory_limit, state);
        state.pid.store(0, Ordering::SeqCst);
        if state.stopping.load(Ordering::SeqCst) {
            break;
        }
        // A process that ran a while had a one-off failure: restart at once-ish.
        if started.elapsed() > Duration::from_secs(60) {
            pause = Duration::from_secs(1);
        }
        match outcome {
            Ok(status) => {
                tracing::warn!(%status, "web page process exited; restarting it in {pause:?} (calls are not affected)")
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start the web page process; retrying in {pause:?}")
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

fn run_once(
    exe: &Path,
    setup: &str,
    memory_limit: u64,
    state: &WebdState,
) -> std::io::Result<std::process::ExitStatus> {
    use std::os::unix::process::CommandExt as _;
    let mut cmd = Command::new(exe);
    cmd.arg("webd")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // SAFETY: between fork and exec only async-signal-safe calls: setrlimit, and
    // prctl so the child dies with the gateway rather than outliving it.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: memory_limit as libc::rlim_t,
                rlim_max: memory_limit as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    state.pid.store(child.id(), Ordering::SeqCst);
    state.starts.fetch_add(1, Ordering::SeqCst);
    if let Some(mut stdin) = child.stdin.take() {
        // The setup, then end of input; a child that died already shows in wait().
        let _ = stdin.write_all(setup.as_bytes());
    }
    child.wait()
}
