//! The box's web page: a separate, unprivileged, memory-capped process
//! (`loopstart webd`) that `loopstart run` starts and restarts (app::webd).
//!
//! Design notes:
//! - **Its own process** (DESIGN principle 6). A hostile client on the LAN may exhaust
//!   it, crash it or make it hit its memory limit: the calls run in the gateway process
//!   and do not notice. It holds nothing of the gateway's state: every page is made of
//!   API answers, read over the event socket like `loopstart api` does.
//! - **Everything it needs arrives on stdin** ([`WebdSetup`]: address, limits, the
//!   event socket's password, the page password, the TLS key), so it opens no file of
//!   the data directory, and when started as root it drops to `nobody` once listening.
//! - **HTTPS only**, on a key made at first start ([`tls`]).
//! - **Its own small HTTP reader** ([`http`]) instead of tiny_http: every connection is
//!   bounded in time (`request-timeout`), size (`max-request-bytes`) and number
//!   (`max-connections`), none of which tiny_http offers, and tiny_http's TLS is
//!   rustls 0.20, which panics on a bad key file.
//! - **Logins count with the guard**: a wrong password is a `web-login` failure for
//!   fail2ban, and a banned source's connections are closed before the TLS handshake.

pub mod http;
pub mod pages;
pub mod server;
pub mod session;
pub mod tls;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The event socket account the web process logs in with (`userauth
/// webd@loopstart:TOKEN`, a token made at every start), and the only API commands it
/// may run: the status page's and the guard's. A subverted page process can read
/// status and report login failures; it cannot originate, kill calls or reload.
pub const ESL_USER: &str = "webd";
pub const ESL_DOMAIN: &str = "loopstart";
pub const ESL_ALLOWED_API: [&str; 4] = ["status", "sofia", "show", "fail2ban"];

/// What `loopstart run` hands the web process on its stdin.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebdSetup {
    pub listen: SocketAddr,
    pub hostname: String,
    pub max_connections: u32,
    pub request_timeout_secs: u32,
    pub max_request_bytes: u32,
    pub session_timeout_secs: u32,
    pub max_sessions: u32,
    pub esl_addr: SocketAddr,
    /// The password of the [`ESL_USER`] account.
    pub esl_password: String,
    pub password: String,
    /// Key and certificate (tls::generate_pem).
    pub tls_pem: String,
}

/// Largest setup read from stdin (a PEM and a few lines).
const MAX_SETUP_BYTES: u64 = 64 * 1024;

/// `loopstart webd`: reads its setup from stdin, listens, drops root, serves.
pub fn run_webd() -> Result<(), String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_SETUP_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the setup on stdin: {e}"))?;
    let setup: WebdSetup = toml::from_str(&text)
        .map_err(|e| format!("bad setup on stdin (webd is started by `loopstart run`): {e}"))?;
    let identity = tls::Identity::from_pem(&setup.tls_pem).map_err(|e| e.to_string())?;
    let fingerprint = identity.fingerprint();
    let tls_config = identity.server_config().map_err(|e| e.to_string())?;

    let listener = std::net::TcpListener::bind(setup.listen).map_err(|e| {
        format!(
            "cannot listen on {} for the web page: {e} (change listen-ip/listen-port in \
             autoload_configs/web.conf.xml)",
            setup.listen
        )
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("web listener: {e}"))?;
    drop_root()?;

    let server = Arc::new(server::Server {
        tls: tokio_rustls::TlsAcceptor::from(tls_config),
        api: server::GatewayApi {
            addr: setup.esl_addr,
            password: setup.esl_password,
        },
        password: setup.password,
        hostname: setup.hostname,
        limits: http::Limits {
            max_head: 16 * 1024,
            max_body: setup.max_request_bytes as usize,
        },
        request_timeout: Duration::from_secs(setup.request_timeout_secs.into()),
        max_connections: setup.max_connections.max(1) as usize,
        sessions: Mutex::new(session::Sessions::new(
            Duration::from_secs(setup.session_timeout_secs.into()),
            setup.max_sessions as usize,
        )),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("web listener: {e}"))?;
        tracing::info!(listen = %setup.listen, %fingerprint,
            "web page ready at https://{}/ (certificate SHA-256 {fingerprint})", setup.listen);
        server
            .serve(listener)
            .await
            .map_err(|e| format!("web listener failed: {e}"))
    })
}

/// A web process started as root keeps no privilege: it becomes `nobody` once its
/// port is bound (it reads no file afterwards).
fn drop_root() -> Result<(), String> {
    // SAFETY: plain system calls on this thread's credentials; no memory is shared.
    unsafe {
        if libc::geteuid() != 0 {
            return Ok(());
        }
        const NOBODY: libc::uid_t = 65534;
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(NOBODY) != 0
            || libc::setuid(NOBODY) != 0
        {
            return Err(format!(
                "cannot drop root for the web page: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    tracing::info!("web page runs as nobody (started as root)");
    Ok(())
}
