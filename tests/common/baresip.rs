//! baresip (Debian `baresip-core`, v1.0.0) as a real phone registered to a
//! test gateway. Each instance has its own config dir, SIP port and RTP port
//! range; audio only from/to files:
//!
//! - the source is `aufile` (a WAV file, 8 kHz mono S16LE) or silence;
//! - the player is an unconnected `aubridge` device, i.e. a null player;
//! - `sndfile` dumps what the phone hears (and sends) to WAV files in
//!   `<dir>/rec/`: `dump-<time>-dec.wav` is the decoded received audio.
//!
//! Commands (`/dial 1002`) run at start with `-e` (the `menu` module provides
//! them and auto-answers when the account has `answermode=auto`). baresip
//! quits by itself after `quit_after` seconds (`-t`), hanging up its calls.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::sipp::Transport;
use super::{ports, process, Gateway};

/// How to start a phone.
pub struct BaresipBuilder {
    user: String,
    password: String,
    registrar_port: u16,
    transport: Transport,
    auto_answer: bool,
    source: Option<PathBuf>,
    commands: Vec<String>,
    quit_after: u32,
}

/// A running baresip; killed (by PID) on drop.
pub struct Baresip {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    user: String,
}

impl BaresipBuilder {
    /// Registers over TCP instead of UDP.
    pub fn transport(mut self, t: Transport) -> Self {
        self.transport = t;
        self
    }
    /// Answers incoming calls at once (`;answermode=auto`).
    pub fn auto_answer(mut self) -> Self {
        self.auto_answer = true;
        self
    }
    /// Sends this WAV file (8 kHz, mono, S16LE) as the microphone.
    pub fn source(mut self, wav: &Path) -> Self {
        self.source = Some(wav.to_path_buf());
        self
    }
    /// Runs a command at start (`-e`), e.g. `/dial 1002`.
    pub fn command(mut self, cmd: &str) -> Self {
        self.commands.push(cmd.to_string());
        self
    }
    /// Quits (hanging up, unregistering) after `secs` seconds (default 60).
    pub fn quit_after(mut self, secs: u32) -> Self {
        self.quit_after = secs;
        self
    }

    pub fn start(self) -> Baresip {
        process::require("baresip", "baresip-core");
        let dir = tempfile::Builder::new()
            .prefix("loopstart-baresip-")
            .tempdir()
            .expect("temp dir");
        let port = ports::free_udp_tcp_port();
        let rec = dir.path().join("rec");
        fs::create_dir_all(&rec).expect("create rec dir");
        let source = match &self.source {
            Some(p) => p.clone(),
            None => {
                // One minute of silence: aufile needs a real WAV file.
                let p = dir.path().join("silence.wav");
                super::audio::write_wav(&p, &vec![0i16; 8000 * 60]);
                p
            }
        };
        write_config(dir.path(), port, &source, &rec);
        let tp = match self.transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        };
        let answer = if self.auto_answer {
            ";answermode=auto"
        } else {
            ""
        };
        fs::write(
            dir.path().join("accounts"),
            format!(
                "<sip:{}@127.0.0.1:{}{tp}>;auth_pass={};regint=60{answer}\n",
                self.user, self.registrar_port, self.password
            ),
        )
        .expect("write accounts");
        fs::write(dir.path().join("contacts"), "").expect("write contacts");
        let log = fs::File::create(dir.path().join("baresip.log")).expect("log file");
        let mut cmd = Command::new("baresip");
        cmd.arg("-f")
            .arg(dir.path())
            .args(["-t", &self.quit_after.to_string()])
            .arg("-s"); // SIP trace into the log, for failure messages
        for c in &self.commands {
            cmd.args(["-e", c]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn baresip");
        Baresip {
            child: Some(child),
            dir,
            port,
            user: self.user,
        }
    }
}

impl Baresip {
    /// A phone for `user` registering to `gw` over UDP.
    pub fn builder(gw: &Gateway, user: &str, password: &str) -> BaresipBuilder {
        BaresipBuilder {
            user: user.to_string(),
            password: password.to_string(),
            registrar_port: gw.sip_port(),
            transport: Transport::Udp,
            auto_answer: false,
            source: None,
            commands: Vec::new(),
            quit_after: 60,
        }
    }

    /// Its local SIP port (in the Contact it registers).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The RTP port range it was configured with (`rtp_ports`).
    pub fn rtp_ports(&self) -> (u16, u16) {
        rtp_ports(self.port)
    }

    /// The address its RTP comes from, once it logged "receiving from".
    pub fn rtp_peer(&self) -> Option<std::net::SocketAddr> {
        self.log()
            .lines()
            .find_map(|l| l.split("receiving from ").nth(1))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        process::read_lossy(&self.dir.path().join("baresip.log"))
    }

    /// The log headed by the user, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "--- baresip {} (port {}) log ---\n{}",
            self.user,
            self.port,
            self.log()
        )
    }

    /// Waits until the gateway lists this phone's contact for its user.
    pub fn wait_registered(&self, gw: &Gateway, timeout: Duration) {
        let needle = format!("127.0.0.1:{}", self.port);
        let found = process::poll_until(timeout, || {
            gw.registrations_of(&self.user)
                .iter()
                .any(|r| r.url.contains(&needle))
                .then_some(())
        });
        assert!(
            found.is_some(),
            "baresip {} did not register within {timeout:?}; registrations: {:#?}\n{}\n\
             --- gateway log ---\n{}",
            self.user,
            gw.registrations(),
            self.describe(),
            gw.log()
        );
    }

    /// Is the process still running?
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Waits (bounded) for baresip to quit by itself (`-t`); true if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        match self.child.as_mut() {
            Some(c) => process::wait_bounded(c, timeout).is_some(),
            None => true,
        }
    }

    /// The WAV files sndfile wrote for received (decoded) audio.
    pub fn received_recordings(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(self.dir.path().join("rec"))
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.ends_with("-dec.wav"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// SIGTERM and wait: baresip hangs up and unregisters on a clean quit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            process::signal(c.id(), "TERM");
            if process::wait_bounded(&mut c, Duration::from_secs(10)).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// SIP on loopback, G.711 only, file audio, account loader, `menu` for the
/// dial command and auto-answer; no UI, no ALSA/video/NAT modules.
fn rtp_ports(sip_port: u16) -> (u16, u16) {
    let lo = 40000 + (sip_port % 1000) * 10;
    (lo, lo + 9)
}

fn write_config(dir: &Path, port: u16, source: &Path, rec: &Path) {
    let (lo, hi) = rtp_ports(port);
    let config = format!(
        "poll_method\t\tepoll\n\
         sip_listen\t\t127.0.0.1:{port}\n\
         call_local_timeout\t120\n\
         call_max_calls\t\t4\n\
         audio_player\t\taubridge,rx\n\
         audio_source\t\taufile,{source}\n\
         audio_alert\t\taubridge,alert\n\
         audio_path\t\t{dir}\n\
         rtp_ports\t\t{lo}-{hi}\n\
         snd_path\t\t{rec}\n\
         module_path\t\t/usr/lib/baresip/modules\n\
         module\t\t\tg711.so\n\
         module\t\t\taufile.so\n\
         module\t\t\taubridge.so\n\
         module\t\t\tsndfile.so\n\
         module_app\t\tmenu.so\n\
         module_tmp\t\taccount.so\n",
        source = source.display(),
        dir = dir.display(),
        rec = rec.display(),
    );
    fs::write(dir.join("config"), config).expect("write baresip config");
}
