//! A loopstart box under QEMU: the static ARM firmware in Debian's kernel with a
//! busybox initramfs (qemu-tests/build-image.sh), a data disk of its own, SIP and the
//! event socket forwarded to free host ports on 127.0.0.1.
//!
//! The image is built from the current tree on first use in a test process
//! (`scripts/build-firmware.sh ARCH`, then `qemu-tests/build-image.sh ARCH`), with a
//! lock file so that parallel test processes build it once. The test's own conf goes
//! into a small cpio appended to the image's initramfs (the kernel unpacks
//! concatenated archives), as `/etc/loopstart-test`, selected through
//! `/etc/default/loopstart`.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::conf::ConfSpec;
use super::{ports, process, repo};

/// How long a boot may take before the test gives up: TCG emulation on a shared
/// 2-core machine, with other tests running.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(180);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Aarch64,
    Armv7,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Aarch64 => "aarch64",
            Arch::Armv7 => "armv7",
        }
    }

    fn qemu(self) -> &'static str {
        match self {
            Arch::Aarch64 => "qemu-system-aarch64",
            Arch::Armv7 => "qemu-system-arm",
        }
    }

    fn cpu(self) -> &'static str {
        match self {
            Arch::Aarch64 => "cortex-a53",
            Arch::Armv7 => "cortex-a15",
        }
    }

    /// The board definition the image carries for this machine.
    pub fn board_toml(self) -> String {
        let path = repo().join(format!("board/qemu-virt-{}/board.toml", self.name()));
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

fn firmware_cache() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    target.join("firmware")
}

/// Builds (or brings up to date) the firmware and the image for `arch`; returns the
/// image directory (vmlinuz, base.cpio.gz). Panics with the build's output on failure.
pub fn image(arch: Arch) -> PathBuf {
    static AARCH64: OnceLock<PathBuf> = OnceLock::new();
    static ARMV7: OnceLock<PathBuf> = OnceLock::new();
    let cell = match arch {
        Arch::Aarch64 => &AARCH64,
        Arch::Armv7 => &ARMV7,
    };
    cell.get_or_init(|| {
        process::require(arch.qemu(), "qemu-system-arm");
        process::require("flock", "util-linux");
        let cache = firmware_cache();
        fs::create_dir_all(&cache).expect("create the firmware cache");
        let scratch = tempfile::tempdir().expect("temp dir");
        // flock: one build at a time across the test processes nextest runs.
        let script = format!(
            "scripts/build-firmware.sh {a} && qemu-tests/build-image.sh {a}",
            a = arch.name()
        );
        let mut cmd = Command::new("flock");
        // A clean environment, as in a shell: the nested cargo should see what the one
        // in scripts/test.sh saw, not what the test runner exports to a test.
        cmd.env_clear();
        for var in [
            "PATH",
            "HOME",
            "USER",
            "TMPDIR",
            "LANG",
            "CARGO_HOME",
            "RUSTUP_HOME",
            "CARGO_TARGET_DIR",
        ] {
            if let Some(value) = std::env::var_os(var) {
                cmd.env(var, value);
            }
        }
        cmd.current_dir(repo())
            .env("FIRMWARE_CACHE", &cache)
            .arg(cache.join("build.lock"))
            .args(["sh", "-c", &script]);
        let out = process::run_bounded(&mut cmd, scratch.path(), Duration::from_secs(1500));
        assert!(
            out.success(),
            "building the {} image failed:\n{}",
            arch.name(),
            out.describe()
        );
        let dir = cache.join(format!("qemu-{}", arch.name()));
        assert!(
            dir.join("base.cpio.gz").is_file(),
            "no image in {}",
            dir.display()
        );
        dir
    })
    .clone()
}

/// The firmware binary `image(arch)` built (scripts/build-firmware.sh's output).
pub fn firmware_binary(arch: Arch) -> PathBuf {
    image(arch);
    firmware_cache()
        .join("out")
        .join(arch.name())
        .join("loopstart")
}

/// Where the guest's web page listens (its conf: [`guest_web`]).
pub const GUEST_WEB_PORT: u16 = 8443;

/// Points a guest conf's web page at [`GUEST_WEB_PORT`] on every address.
pub fn guest_web(spec: &mut ConfSpec) {
    spec.web_port = GUEST_WEB_PORT;
}

/// One emulated box: its disk survives power cuts and reboots of this value.
pub struct Machine {
    pub arch: Arch,
    dir: tempfile::TempDir,
    initrd: PathBuf,
    child: Option<Child>,
    boots: usize,
    /// The connection to the serial console, once a test typed into it.
    typing: Option<ConsoleTyping>,
    pub sip_port: u16,
    pub esl_port: u16,
    /// The host port forwarded to the guest's web page (8443).
    pub web_port: u16,
}

impl Machine {
    /// Prepares a box for `arch` with `spec` as its configuration (the spec's ports
    /// are the guest's; the host ports are chosen here) and a fresh data disk.
    pub fn new(arch: Arch, spec: &ConfSpec) -> Machine {
        let image = image(arch);
        let dir = tempfile::Builder::new()
            .prefix(&format!("loopstart-qemu-{}-", arch.name()))
            .tempdir()
            .expect("temp dir");
        let overlay = dir.path().join("overlay");
        spec.write(&overlay.join("etc/loopstart-test"));
        super::conf::write_file(
            &overlay.join("etc/default/loopstart"),
            "LOOPSTART_CONF=/etc/loopstart-test\n",
        );
        let cpio = dir.path().join("overlay.cpio");
        sh(
            &format!(
                "cd '{}' && find . | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet > '{}'",
                overlay.display(),
                cpio.display()
            ),
            dir.path(),
        );
        let mut initrd = fs::read(image.join("base.cpio.gz")).expect("read base.cpio.gz");
        // The kernel looks for the next archive at a 4-byte boundary and skips zeros.
        initrd.resize(initrd.len().next_multiple_of(4), 0);
        initrd.extend(fs::read(&cpio).expect("read overlay.cpio"));
        let initrd_path = dir.path().join("initrd");
        fs::write(&initrd_path, initrd).expect("write initrd");
        fs::copy(image.join("vmlinuz"), dir.path().join("vmlinuz")).expect("copy kernel");
        sh(
            "mke2fs -q -F -t ext4 -L loopstart-data disk.img 64M",
            dir.path(),
        );
        Machine {
            arch,
            dir,
            initrd: initrd_path,
            child: None,
            boots: 0,
            typing: None,
            sip_port: 0,
            esl_port: 0,
            web_port: 0,
        }
    }

    pub fn sip_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.sip_port))
    }

    /// The guest's web page, as the host reaches it.
    pub fn web_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.web_port))
    }

    fn console_path(&self, boot: usize) -> PathBuf {
        self.dir.path().join(format!("console-{boot}.log"))
    }

    /// What the box printed on its serial console during the current (or last) boot.
    pub fn console(&self) -> String {
        process::read_lossy(&self.console_path(self.boots))
    }

    /// Every boot's console, for failure messages.
    pub fn all_consoles(&self) -> String {
        (1..=self.boots)
            .map(|b| {
                format!(
                    "=== boot {b} ===\n{}",
                    process::read_lossy(&self.console_path(b))
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Powers the box on and waits until loopstart says it is ready.
    pub fn boot(&mut self) {
        assert!(self.child.is_none(), "the box is already on");
        self.boots += 1;
        self.sip_port = ports::free_udp_tcp_port();
        self.esl_port = ports::free_tcp_port();
        self.web_port = ports::free_tcp_port();
        let d = self.dir.path();
        let console = self.console_path(self.boots);
        let net = format!(
            "user,id=n0,hostfwd=udp:127.0.0.1:{s}-:5060,hostfwd=tcp:127.0.0.1:{s}-:5060,\
             hostfwd=tcp:127.0.0.1:{e}-:8021,hostfwd=tcp:127.0.0.1:{w}-:{GUEST_WEB_PORT}",
            s = self.sip_port,
            e = self.esl_port,
            w = self.web_port
        );
        let mut cmd = Command::new(self.arch.qemu());
        cmd.current_dir(d)
            .args([
                "-M",
                "virt",
                "-cpu",
                self.arch.cpu(),
                "-m",
                "256",
                "-smp",
                "1",
            ])
            .args(["-display", "none", "-monitor", "none", "-no-reboot"])
            // The serial console: a unix socket a test can type into (the technician's
            // shell), everything it prints also logged to a file.
            .arg("-chardev")
            .arg(format!(
                "socket,id=con,path={},server=on,wait=off,logfile={}",
                self.console_socket().display(),
                console.display()
            ))
            .args(["-serial", "chardev:con"])
            .arg("-kernel")
            .arg(d.join("vmlinuz"))
            .arg("-initrd")
            .arg(&self.initrd)
            .args(["-append", "console=ttyAMA0 loglevel=4 panic=-1"])
            .args([
                "-drive",
                "file=disk.img,format=raw,if=none,id=d0,cache=writeback",
            ])
            .args(["-device", "virtio-blk-device,drive=d0"])
            .args(["-netdev", &net, "-device", "virtio-net-device,netdev=n0"])
            // The line card's UART: a virtio console whose host end is a unix socket.
            .args(["-device", "virtio-serial-device"])
            .arg("-chardev")
            .arg(format!(
                "socket,id=lc,path={},server=on,wait=off",
                d.join("linecard.sock").display()
            ))
            .args(["-device", "virtconsole,chardev=lc"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                fs::File::create(d.join(format!("qemu-{}.stderr", self.boots)))
                    .expect("qemu stderr"),
            ));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.arch.qemu()));
        self.child = Some(child);
        let started = Instant::now();
        let ready = process::poll_until(BOOT_TIMEOUT, || {
            if process::read_lossy(&console).contains("loopstart ready") {
                return Some(true);
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            exited.map(|_| false)
        });
        if ready != Some(true) {
            let stderr = process::read_lossy(&d.join(format!("qemu-{}.stderr", self.boots)));
            self.power_cut();
            panic!(
                "{} box not ready after {:?} (boot {}); QEMU stderr:\n{stderr}\nconsole:\n{}",
                self.arch.name(),
                started.elapsed(),
                self.boots,
                self.console()
            );
        }
    }

    fn console_socket(&self) -> PathBuf {
        self.dir.path().join("console.sock")
    }

    /// Runs `command` in a root shell on the serial console (the technician's
    /// console) and returns what it printed.
    pub fn shell(&mut self, command: &str, timeout: Duration) -> String {
        let before = self.console().len();
        // Markers computed by the shell, so the echo of the typed line does not count.
        let (start, end) = (format!("__out_{before}__"), format!("__end_{before}__"));
        self.type_command(
            &format!("echo __out_$(( {before} ))__; {command}; echo __end_$(( {before} ))__"),
            timeout,
        );
        let console_path = self.console_path(self.boots);
        let output = process::poll_until(timeout, || {
            let text = process::read_lossy(&console_path);
            let tail = text.get(before..).unwrap_or_default();
            let from = tail.rfind(&start)? + start.len();
            let to = tail.rfind(&end).filter(|&to| to >= from)?;
            Some(tail[from..to].to_string())
        });
        output.unwrap_or_else(|| {
            panic!(
                "`{command}` did not finish within {timeout:?}:\n{}",
                self.console()
            )
        })
    }

    /// Types `command` and Enter into the console's root shell without waiting for it
    /// (for a command that takes the box down). busybox asks for Enter before it
    /// starts the shell; what is typed before the prompt is lost, so the first use
    /// waits for the prompt.
    pub fn type_command(&mut self, command: &str, timeout: Duration) {
        if self.typing.is_none() {
            let before = self.console().len();
            self.typing = Some(ConsoleTyping::connect(&self.console_socket()));
            self.type_keys("\r");
            let console_path = self.console_path(self.boots);
            let prompt = process::poll_until(timeout, || {
                let text = process::read_lossy(&console_path);
                text.get(before..)
                    .unwrap_or_default()
                    .contains("# ")
                    .then_some(())
            });
            if prompt.is_none() {
                panic!("no shell prompt on the console:\n{}", self.console());
            }
        }
        self.type_keys(&format!("{command}\r"));
    }

    /// Types at a serial line's pace: the emulated UART's receive FIFO holds 16
    /// bytes, and a whole line written at once was seen to stall after 16.
    fn type_keys(&mut self, keys: &str) {
        use std::io::Write;
        let typing = self.typing.as_mut().expect("console connected");
        for chunk in keys.as_bytes().chunks(8) {
            typing
                .stream
                .write_all(chunk)
                .expect("type into the console");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until QEMU exits by itself (the guest rebooted or powered off: the
    /// machine runs with -no-reboot).
    pub fn wait_off(&mut self, timeout: Duration) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        self.typing = None;
        if process::wait_bounded(child, timeout).is_none() {
            panic!(
                "the box did not go down within {timeout:?}:\n{}",
                self.console()
            );
        }
        self.child = None;
    }

    /// Pulls the plug: QEMU is killed, whatever the guest had not written to its disk
    /// is lost, as on a box whose power fails.
    pub fn power_cut(&mut self) {
        self.typing = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn is_on(&self) -> bool {
        self.child.is_some()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.power_cut();
    }
}

/// A connection to the console socket. What the console prints is read and thrown
/// away by a thread (the log file has it): unread, it would back up and stall the
/// guest's UART.
struct ConsoleTyping {
    stream: std::os::unix::net::UnixStream,
}

impl ConsoleTyping {
    fn connect(socket: &Path) -> ConsoleTyping {
        let stream = std::os::unix::net::UnixStream::connect(socket)
            .unwrap_or_else(|e| panic!("console socket {}: {e}", socket.display()));
        let mut reader = stream.try_clone().expect("clone the console stream");
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        ConsoleTyping { stream }
    }
}

impl Drop for ConsoleTyping {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

fn sh(script: &str, dir: &Path) {
    let mut cmd = Command::new("sh");
    cmd.current_dir(dir).args(["-c", script]);
    let out = process::run_bounded(&mut cmd, dir, Duration::from_secs(120));
    assert!(out.success(), "{script}:\n{}", out.describe());
}
