//! Bounded process helpers: every external command a test runs has a deadline,
//! so a hung peer fails the test instead of hanging CI.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// What a bounded command produced.
#[derive(Debug)]
pub struct Outcome {
    /// `None` when the command was killed at its deadline.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// True when the command ended by itself with exit code 0.
    pub fn success(&self) -> bool {
        self.status.map(|s| s.success()).unwrap_or(false)
    }

    /// Exit code, or `None` when killed (deadline or signal).
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// stdout and stderr together, for messages and loose matching.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// A readable dump for assertion messages.
    pub fn describe(&self) -> String {
        let status = match self.status {
            Some(s) => format!("{s}"),
            None => "killed at deadline".to_string(),
        };
        format!(
            "status: {status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` with stdin closed and stdout/stderr captured through files in
/// `scratch`, killing it (by PID) after `timeout`.
pub fn run_bounded(cmd: &mut Command, scratch: &Path, timeout: Duration) -> Outcome {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let out_path = scratch.join(format!("cmd-{n}.stdout"));
    let err_path = scratch.join(format!("cmd-{n}.stderr"));
    let out = File::create(&out_path).expect("create stdout capture file");
    let err = File::create(&err_path).expect("create stderr capture file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    let status = wait_bounded(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    Outcome {
        status,
        stdout: read_lossy(&out_path),
        stderr: read_lossy(&err_path),
    }
}

/// Waits for `child` at most `timeout`; `None` if it is still running.
pub fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        sleep(Duration::from_millis(20));
    }
}

/// Sends a signal to one process by PID (never by name).
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A file's contents as text, empty if missing.
pub fn read_lossy(path: &Path) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Polls `f` every 100 ms until it returns `Some`, at most `timeout`.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        sleep(Duration::from_millis(100));
    }
}

/// Is `program` on PATH? Used to give a clear message when a peer is missing.
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Panics with install instructions when `program` is missing.
pub fn require(program: &str, package: &str) {
    assert!(
        have(program),
        "`{program}` not found on PATH: install Debian package `{package}` \
         (./scripts/install-test-deps.sh does)"
    );
}

/// Where `program` is: on PATH, else in the sbin dirs a non-root PATH often
/// lacks (Debian installs kamailio in /usr/sbin).
pub fn locate(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(std::path::PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Like [`require`], also looking in the sbin dirs: the program's path.
pub fn require_located(program: &str, package: &str) -> std::path::PathBuf {
    locate(program).unwrap_or_else(|| {
        panic!(
            "`{program}` not found on PATH nor in /usr/sbin: install Debian package \
             `{package}` (./scripts/install-test-deps.sh does)"
        )
    })
}
