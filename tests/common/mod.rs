//! Test harness: starts the real `loopstart` binary on free loopback ports
//! with its own temporary conf and data dirs, talks to it through its CLI,
//! and kills it (by PID) on drop. Hermetic and parallel-safe.
//!
//! ```ignore
//! mod common;
//! let gw = common::Gateway::builder().user("1001", "secret1001").start();
//! let regs = gw.registrations();
//! ```
#![allow(dead_code, unused_imports)]

pub mod audio;
pub mod baresip;
pub mod conf;
pub mod dialplan;
pub mod esl;
pub mod ports;
pub mod process;
pub mod qemu;
pub mod registrations;
pub mod rtp;
pub mod sip;
pub mod sipp;
pub mod sipvicious;
pub mod trunk;
pub mod web;

use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub use conf::{ConfSpec, EslPassword, User, DOMAIN};
pub use process::Outcome;
pub use registrations::Registration;

/// How long a start may take before the test fails.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// The line the gateway logs once every listener is bound.
pub const READY_LINE: &str = "loopstart ready";
/// Deadline for one CLI command (`api`, `check`, `user show`).
pub const CLI_TIMEOUT: Duration = Duration::from_secs(20);

/// The value of a `name: value` line in an API answer (`fail2ban stats`, `web status`).
pub fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

/// Path of the binary under test (built by cargo for integration tests).
/// The repository's root (board/, rootfs/, yocto/, conf/ ...).
pub fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_loopstart")
}

/// Builds a test gateway's configuration.
pub struct GatewayBuilder {
    users: Vec<User>,
    params: Vec<(String, String)>,
    esl_password: EslPassword,
    esl_params: Vec<(String, String)>,
    extra_files: Vec<(String, String)>,
    web_params: Vec<(String, String)>,
    env: Vec<(String, String)>,
}

/// Why a gateway did not come up.
#[derive(Debug)]
pub struct StartError {
    /// Exit status if the process ended; `None` if it hung without the ready line.
    pub status: Option<ExitStatus>,
    /// What it wrote to stderr (and stdout).
    pub log: String,
}

/// A running gateway plus its temporary dirs.
pub struct Gateway {
    /// Root temp dir: conf/, data/, logs.
    root: tempfile::TempDir,
    spec: ConfSpec,
    child: Option<Child>,
    generation: usize,
    /// Extra environment for the process (e.g. systemd's NOTIFY_SOCKET).
    env: Vec<(String, String)>,
}

impl GatewayBuilder {
    /// Adds a user with a configured password.
    pub fn user(mut self, id: &str, password: &str) -> Self {
        self.users.push(User {
            id: id.to_string(),
            password: Some(password.to_string()),
        });
        self
    }

    /// Adds a user without a password param (generated at first boot).
    pub fn user_without_password(mut self, id: &str) -> Self {
        self.users.push(User {
            id: id.to_string(),
            password: None,
        });
        self
    }

    /// Sets a `sip_profiles/internal.xml` param (replaces defaults).
    pub fn profile_param(mut self, name: &str, value: &str) -> Self {
        self.params.push((name.to_string(), value.to_string()));
        self
    }

    /// `sip-expires-min` (default 60).
    pub fn expires_min(self, secs: u32) -> Self {
        self.profile_param("sip-expires-min", &secs.to_string())
    }

    /// `nonce-ttl` (default 60).
    pub fn nonce_ttl(self, secs: u32) -> Self {
        self.profile_param("nonce-ttl", &secs.to_string())
    }

    /// Event socket password (default: a random non-default one).
    pub fn esl_password(mut self, password: &str) -> Self {
        self.esl_password = EslPassword::Set(password.to_string());
        self
    }

    /// Adds an event_socket.conf param (e.g. `apply-inbound-acl`).
    pub fn esl_param(mut self, name: &str, value: &str) -> Self {
        self.esl_params.push((name.to_string(), value.to_string()));
        self
    }

    /// Writes event_socket.conf.xml without a password param.
    pub fn no_esl_password(mut self) -> Self {
        self.esl_password = EslPassword::Missing;
        self
    }

    /// Adds a web.conf param (e.g. `max-connections`).
    pub fn web_param(mut self, name: &str, value: &str) -> Self {
        self.web_params.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets an environment variable for the gateway process.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds a file to the conf dir (path relative to it).
    pub fn file(mut self, rel: &str, text: &str) -> Self {
        self.extra_files.push((rel.to_string(), text.to_string()));
        self
    }

    fn spec(&self, sip_port: u16, esl_port: u16) -> ConfSpec {
        let mut spec = ConfSpec::new(sip_port, esl_port, "x");
        spec.esl_password = self.esl_password.clone();
        spec.esl_params = self.esl_params.clone();
        spec.users = self.users.clone();
        for (n, v) in &self.params {
            spec.set_profile_param(n, v);
        }
        spec.extra_files = self.extra_files.clone();
        spec.web_params = self.web_params.clone();
        spec
    }

    /// Writes the conf (fresh ports) without starting anything.
    pub fn build(&self) -> Gateway {
        let root = tempfile::Builder::new()
            .prefix("loopstart-test-")
            .tempdir()
            .expect("create temp dir");
        let spec = self.spec(ports::free_udp_tcp_port(), ports::free_tcp_port());
        let gw = Gateway {
            root,
            spec,
            child: None,
            generation: 0,
            env: self.env.clone(),
        };
        fs::create_dir_all(gw.data_dir()).expect("create data dir");
        gw.spec.write(&gw.conf_dir());
        gw
    }

    /// Writes the conf and starts the gateway, retrying with new ports if
    /// another test grabbed one in between; panics with the log on failure.
    pub fn start(self) -> Gateway {
        match self.try_start() {
            Ok(gw) => gw,
            Err(e) => panic!(
                "loopstart did not become ready (status {:?}); its log:\n{}",
                e.status, e.log
            ),
        }
    }

    /// Like [`start`](Self::start) but returns why it failed.
    pub fn try_start(self) -> Result<Gateway, StartError> {
        let mut last = None;
        for _ in 0..3 {
            let mut gw = self.build();
            match gw.spawn_and_wait() {
                Ok(()) => return Ok(gw),
                Err(e) if looks_like_port_clash(&e.log) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(StartError {
            status: None,
            log: "no attempt made".into(),
        }))
    }
}

fn looks_like_port_clash(log: &str) -> bool {
    let l = log.to_ascii_lowercase();
    l.contains("address already in use") || l.contains("addrinuse") || l.contains("os error 98")
}

impl Gateway {
    /// Starts describing a gateway: no users, default profile.
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder {
            users: Vec::new(),
            params: Vec::new(),
            esl_password: EslPassword::Set(format!("test-esl-{}", std::process::id())),
            esl_params: Vec::new(),
            extra_files: Vec::new(),
            web_params: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }
    pub fn conf_dir(&self) -> PathBuf {
        self.root.path().join("conf")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }
    pub fn spec(&self) -> &ConfSpec {
        &self.spec
    }
    /// SIP address (UDP and TCP).
    pub fn sip_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.spec.sip_port))
    }
    pub fn sip_port(&self) -> u16 {
        self.spec.sip_port
    }
    pub fn esl_port(&self) -> u16 {
        self.spec.esl_port
    }
    /// The web page's address (HTTPS).
    pub fn web_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.spec.web_port))
    }
    /// The event socket password from the conf ("" if none).
    pub fn esl_password(&self) -> String {
        match &self.spec.esl_password {
            EslPassword::Set(p) => p.clone(),
            EslPassword::Missing => String::new(),
        }
    }
    /// PID of the running process, if any.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    fn log_path(&self, generation: usize) -> PathBuf {
        self.root
            .path()
            .join(format!("loopstart-{generation}.stderr"))
    }

    /// stderr of the current (or last) run.
    pub fn log(&self) -> String {
        process::read_lossy(&self.log_path(self.generation))
    }

    /// stderr of every run so far, oldest first.
    pub fn all_logs(&self) -> String {
        (0..=self.generation)
            .map(|g| {
                format!(
                    "=== run {g} ===\n{}",
                    process::read_lossy(&self.log_path(g))
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Spawns `loopstart run` and waits for the ready line.
    fn spawn_and_wait(&mut self) -> Result<(), StartError> {
        let log_path = self.log_path(self.generation);
        let err = File::create(&log_path).expect("create log file");
        let out = err.try_clone().expect("clone log file");
        let child = Command::new(bin())
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .arg("run")
            .arg("--conf")
            .arg(self.conf_dir())
            .arg("--data")
            .arg(self.data_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| StartError {
                status: None,
                log: format!("cannot spawn {}: {e}", bin()),
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if process::read_lossy(&log_path).contains(READY_LINE) {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                return Err(StartError {
                    status: Some(status),
                    log: process::read_lossy(&log_path),
                });
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(StartError {
                    status: None,
                    log: format!(
                        "no {READY_LINE:?} line within {READY_TIMEOUT:?}\n{}",
                        process::read_lossy(&log_path)
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the gateway (again) with the same dirs and ports.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "gateway is already running");
        self.generation += 1;
        if let Err(e) = self.spawn_and_wait() {
            panic!(
                "loopstart did not become ready again (status {:?}); logs:\n{}",
                e.status,
                self.all_logs()
            );
        }
    }

    /// SIGTERM, then waits (10 s) for a clean exit; returns the exit status.
    /// Panics (with the log) if it does not stop in time.
    pub fn stop(&mut self) -> ExitStatus {
        let Some(mut child) = self.child.take() else {
            panic!("gateway is not running");
        };
        process::signal(child.id(), "TERM");
        match process::wait_bounded(&mut child, Duration::from_secs(10)) {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "loopstart did not exit within 10 s of SIGTERM; log:\n{}",
                    self.log()
                );
            }
        }
    }

    /// Stops cleanly (asserting exit code 0) and starts again.
    pub fn restart(&mut self) {
        let status = self.stop();
        assert!(
            status.success(),
            "loopstart exited with {status} on SIGTERM; log:\n{}",
            self.log()
        );
        self.start_again();
    }

    /// Is the process still running?
    pub fn is_alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the process (SIGKILL by PID) if running.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs any `loopstart` subcommand, bounded.
    pub fn cli(&self, args: &[&str]) -> Outcome {
        let mut cmd = Command::new(bin());
        cmd.env("NO_COLOR", "1").args(args);
        process::run_bounded(&mut cmd, self.root.path(), CLI_TIMEOUT)
    }

    /// `loopstart api --conf DIR CMD`, unchecked.
    pub fn try_api(&self, command: &str) -> Outcome {
        let conf = self.conf_dir();
        let conf = conf.to_string_lossy();
        self.cli(&["api", "--conf", &conf, command])
    }

    /// `loopstart api --conf DIR CMD`: the printed body; panics (with the
    /// gateway log) when the command fails.
    pub fn api(&self, command: &str) -> String {
        let out = self.try_api(command);
        assert!(
            out.success(),
            "`loopstart api {command:?}` failed:\n{}\n--- gateway log ---\n{}",
            out.describe(),
            self.log()
        );
        out.stdout
    }

    /// An HTTPS client for the web page that trusts only the certificate in this
    /// gateway's data dir (made at its first start).
    pub fn web(&self) -> web::WebClient {
        let pem = self.data_dir().join("secrets").join("web-tls.pem");
        web::WebClient::new(self.web_addr(), web::certificate_in(&pem))
    }

    /// `loopstart web password`: the page's password.
    pub fn web_password(&self) -> String {
        let (conf, data) = (self.conf_dir(), self.data_dir());
        let out = self.cli(&[
            "web",
            "password",
            "--conf",
            &conf.to_string_lossy(),
            "--data",
            &data.to_string_lossy(),
        ]);
        assert!(out.success(), "loopstart web password: {}", out.describe());
        out.stdout.trim().to_string()
    }

    /// A line `web status` prints (`pid`, `fingerprint`, `restarts`, `url`).
    pub fn web_status(&self, name: &str) -> String {
        field(&self.api("web status"), name)
            .unwrap_or_default()
            .to_string()
    }

    /// A counter of `fail2ban stats` (`name: value` lines); 0 when absent.
    pub fn fail2ban_stat(&self, name: &str) -> u64 {
        field(&self.api("fail2ban stats"), name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The uuids `show channels` lists now, in its order.
    pub fn channel_uuids(&self) -> Vec<String> {
        self.api("show channels")
            .lines()
            .skip(1)
            .filter(|l| l.contains(','))
            .map(|l| l.split(',').next().unwrap_or_default().to_string())
            .collect()
    }

    /// Parsed `show registrations`; panics with the body if unparsable.
    pub fn registrations(&self) -> Vec<Registration> {
        let body = self.api("show registrations");
        match registrations::parse(&body) {
            Ok(r) => r,
            Err(e) => panic!("cannot parse `show registrations`: {e}\n--- body ---\n{body}"),
        }
    }

    /// Registrations of one user.
    pub fn registrations_of(&self, user: &str) -> Vec<Registration> {
        self.registrations()
            .into_iter()
            .filter(|r| r.reg_user == user)
            .collect()
    }

    /// Waits until `pred` holds on the registrations; panics with `what`,
    /// the last listing and the log otherwise.
    pub fn wait_registrations(
        &self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&[Registration]) -> bool,
    ) -> Vec<Registration> {
        let mut last = Vec::new();
        let found = process::poll_until(timeout, || {
            last = self.registrations();
            pred(&last).then(|| last.clone())
        });
        match found {
            Some(r) => r,
            None => panic!(
                "timed out after {timeout:?} waiting for: {what}\nlast registrations: {last:#?}\n\
                 --- gateway log ---\n{}",
                self.log()
            ),
        }
    }

    /// `loopstart user show ID --conf DIR --data DIR`: the password.
    pub fn user_password(&self, id: &str) -> String {
        let conf = self.conf_dir();
        let data = self.data_dir();
        let out = self.cli(&[
            "user",
            "show",
            id,
            "--conf",
            &conf.to_string_lossy(),
            "--data",
            &data.to_string_lossy(),
        ]);
        assert!(
            out.success(),
            "`loopstart user show {id}` failed:\n{}",
            out.describe()
        );
        // Accept "PASSWORD" or "password: PASSWORD": the last word printed.
        out.stdout
            .split_whitespace()
            .last()
            .unwrap_or_else(|| panic!("`loopstart user show {id}` printed nothing"))
            .to_string()
    }

    /// A SIPp run against this gateway (see [`sipp::Sipp`]).
    pub fn sipp(&self, scenario: &str) -> sipp::Sipp {
        sipp::Sipp::new(scenario, self.sip_addr())
    }
}

impl Drop for Gateway {
    /// SIGTERM first (so children such as a web process get cleaned up by
    /// the gateway), SIGKILL after 3 s.
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            process::signal(c.id(), "TERM");
            if process::wait_bounded(&mut c, Duration::from_secs(3)).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
