//! Runs the system `sipp` (Debian sip-tester, 3.6.x) with a scenario from
//! tests/sipp/, bounded in calls and time, in its own temp dir so parallel
//! runs never share log files. On failure the message carries SIPp's error
//! log, the SIP messages it exchanged and its final screen.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::ports;
use super::process::{self, Outcome};

/// Directory of the scenarios.
pub fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp")
}

/// SIP transport for a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    fn flag(self) -> &'static str {
        match self {
            Transport::Udp => "u1",
            Transport::Tcp => "t1",
        }
    }
    /// Lowercase name as in `show registrations`' network_proto.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// One configured SIPp invocation.
#[derive(Clone, Debug)]
pub struct Sipp {
    scenario: PathBuf,
    target: SocketAddr,
    transport: Transport,
    users: Vec<(String, String)>,
    keys: Vec<(String, String)>,
    calls: u32,
    local_port: Option<u16>,
    local_ip: String,
    timeout: Duration,
    pause_ms: Option<u32>,
    rate: Option<u32>,
}

/// The result of a SIPp run, with its logs.
pub struct SippRun {
    pub outcome: Outcome,
    /// Local SIP port SIPp used (appears in the Contact it registered).
    pub local_port: u16,
    pub errors: String,
    pub messages: String,
    pub screen: String,
    command: String,
}

impl Sipp {
    /// `scenario` is a file name in tests/sipp/ (e.g. "register.xml").
    pub fn new(scenario: &str, target: SocketAddr) -> Sipp {
        Sipp {
            scenario: scenario_dir().join(scenario),
            target,
            transport: Transport::Udp,
            users: Vec::new(),
            keys: vec![("expires".into(), "60".into())],
            calls: 1,
            local_port: None,
            local_ip: "127.0.0.1".into(),
            timeout: Duration::from_secs(20),
            pause_ms: None,
            rate: None,
        }
    }

    pub fn transport(mut self, t: Transport) -> Self {
        self.transport = t;
        self
    }
    pub fn tcp(self) -> Self {
        self.transport(Transport::Tcp)
    }
    /// Adds a line to the injection file (one call uses one line).
    pub fn user(mut self, id: &str, password: &str) -> Self {
        self.users.push((id.into(), password.into()));
        self
    }
    /// `-key NAME VALUE` (replaces an earlier value).
    pub fn key(mut self, name: &str, value: &str) -> Self {
        self.keys.retain(|(n, _)| n != name);
        self.keys.push((name.into(), value.into()));
        self
    }
    /// Shortcut for `-key expires N`.
    pub fn expires(self, secs: u32) -> Self {
        self.key("expires", &secs.to_string())
    }
    /// `-d MS`: how long a scenario's `<pause/>` lasts.
    pub fn pause_ms(mut self, ms: u32) -> Self {
        self.pause_ms = Some(ms);
        self
    }
    /// `-r N`: new calls per second.
    pub fn rate(mut self, per_second: u32) -> Self {
        self.rate = Some(per_second);
        self
    }
    /// `-m N`.
    pub fn calls(mut self, n: u32) -> Self {
        self.calls = n;
        self
    }
    /// Fixed local port (e.g. to re-register the same contact).
    pub fn local_port(mut self, port: u16) -> Self {
        self.local_port = Some(port);
        self
    }
    /// Where the scenario's requests go (a server scenario ignores it).
    pub fn target(mut self, to: SocketAddr) -> Self {
        self.target = to;
        self
    }
    /// `-i IP`: play another host on loopback (127.0.0.2, ...).
    pub fn local_ip(mut self, ip: &str) -> Self {
        self.local_ip = ip.into();
        self
    }
    /// Overall deadline (SIPp's -timeout; the process is killed 10 s later).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Runs SIPp; retries (new port) when it could not bind its socket.
    pub fn run(&self) -> SippRun {
        process::require("sipp", "sip-tester");
        let mut last = None;
        for _ in 0..3 {
            let run = self.run_once();
            let bind_failed = matches!(run.outcome.code(), Some(254) | Some(255))
                && run.outcome.all().to_ascii_lowercase().contains("bind");
            if bind_failed && self.local_port.is_none() {
                last = Some(run);
                continue;
            }
            return run;
        }
        last.expect("at least one SIPp attempt")
    }

    fn run_once(&self) -> SippRun {
        let dir = tempfile::Builder::new()
            .prefix("loopstart-sipp-")
            .tempdir()
            .expect("create sipp temp dir");
        let d = dir.path();
        let mut csv = String::from("SEQUENTIAL\n");
        for (u, p) in &self.users {
            csv.push_str(&format!(
                "{u};[authentication username={u} password={p}];\n"
            ));
        }
        if self.users.is_empty() {
            csv.push_str("nobody;[authentication username=nobody password=none];\n");
        }
        std::fs::write(d.join("users.csv"), csv).expect("write users.csv");
        let local_port = self.local_port.unwrap_or_else(ports::free_udp_tcp_port);
        let secs = self.timeout.as_secs().max(1);
        let mut cmd = Command::new("sipp");
        cmd.current_dir(d)
            .arg(self.target.to_string())
            .arg("-sf")
            .arg(&self.scenario)
            .arg("-inf")
            .arg(d.join("users.csv"))
            .args(["-m", &self.calls.to_string()])
            .args(["-i", &self.local_ip, "-p", &local_port.to_string()])
            .args(["-t", self.transport.flag()])
            .arg("-nostdin")
            // On failure, do not send a BYE for a REGISTER "call".
            .args(["-default_behaviors", "-bye"])
            .args(["-timeout", &format!("{secs}s"), "-timeout_error"])
            .args(["-recv_timeout", "5000"])
            .arg("-trace_err")
            .arg("-error_file")
            .arg(d.join("errors.log"))
            .arg("-trace_msg")
            .arg("-message_file")
            .arg(d.join("messages.log"))
            .arg("-trace_screen")
            .arg("-screen_file")
            .arg(d.join("screen.log"));
        for (k, v) in &self.keys {
            cmd.args(["-key", k, v]);
        }
        if let Some(r) = self.rate {
            cmd.args(["-r", &r.to_string()]);
        }
        if let Some(ms) = self.pause_ms {
            cmd.args(["-d", &ms.to_string()]);
        }
        let command = format!("{cmd:?}");
        let outcome = process::run_bounded(&mut cmd, d, self.timeout + Duration::from_secs(10));
        SippRun {
            errors: process::read_lossy(&d.join("errors.log")),
            messages: process::read_lossy(&d.join("messages.log")),
            screen: process::read_lossy(&d.join("screen.log")),
            outcome,
            local_port,
            command,
        }
    }
}

impl SippRun {
    /// SIPp exit code 0: every call succeeded.
    pub fn success(&self) -> bool {
        self.outcome.code() == Some(0)
    }

    /// Everything useful for a failure message.
    pub fn report(&self) -> String {
        format!(
            "command: {}\n{}\n--- SIPp errors ---\n{}\n--- SIP messages ---\n{}\n--- screen ---\n{}",
            self.command,
            self.outcome.describe(),
            self.errors,
            tail(&self.messages, 12_000),
            tail(&self.screen, 4_000)
        )
    }

    /// Panics with the report (and `context`, e.g. the gateway log) unless
    /// SIPp exited 0.
    pub fn assert_ok(&self, what: &str, context: &str) -> &Self {
        assert!(
            self.success(),
            "SIPp {what}: failed\n{}\n--- gateway log ---\n{}",
            self.report(),
            tail(context, 8_000)
        );
        self
    }
}

/// The last `max` bytes of `s` (at a char boundary).
pub fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
