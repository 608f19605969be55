//! `board.toml`: what the box is made of — the line card's UART, the analog ports and
//! the ALSA channel that carries each port's voice, the LEDs and the reset button.
//!
//! The file is written by whoever builds the box (`board/<name>/board.toml` in the
//! repository, installed as `/etc/loopstart/board.toml` by the image), not by the
//! operator; so unlike the FreeSWITCH-style XML, an unknown key is an error here: a
//! misspelt `alsa-chanel` must not silently put two ports on one channel.
//! A conf dir without `board.toml` is a box without analog ports (a developer machine,
//! a SIP-only gateway).

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::diag::{ConfigErrors, Diagnostic, Diags, Severity, Source};

/// The board file's name inside the conf dir.
pub const FILE_NAME: &str = "board.toml";

/// At most this many analog ports: the line-card protocol addresses 32 lines.
pub const MAX_PORTS: usize = 32;

/// Serial speeds a line-card UART can be set to (termios' standard rates).
const UART_SPEEDS: &[u32] = &[
    9_600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 500_000, 576_000, 921_600, 1_000_000,
    1_152_000, 1_500_000, 2_000_000, 3_000_000, 4_000_000,
];

/// A validated board definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Board {
    pub source: PathBuf,
    pub name: String,
    pub description: String,
    pub uart: Option<Uart>,
    pub ports: Vec<Port>,
    pub leds: Vec<Led>,
    pub reset_button: Option<ResetButton>,
}

/// The serial line to the line card's microcontroller (hook state, ring, polarity).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uart {
    pub device: PathBuf,
    pub baud: u32,
}

/// FXS feeds a phone (we ring it, it goes off hook); FXO is a line from the exchange
/// (it rings us, we seize it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortKind {
    Fxs,
    Fxo,
}

impl fmt::Display for PortKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PortKind::Fxs => "FXS",
            PortKind::Fxo => "FXO",
        })
    }
}

/// One analog port: its line on the card and where its voice is in ALSA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub kind: PortKind,
    /// The line number the line-card protocol uses for this port.
    pub line: u8,
    pub alsa: AlsaChannel,
}

/// A port's voice: one channel of an interleaved ALSA PCM device (8 kHz, 16-bit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlsaChannel {
    /// ALSA PCM name, e.g. `hw:0,0` or `hw:Loopback,0,0`.
    pub device: String,
    /// This port's channel within the device's frames.
    pub channel: u8,
    /// How many channels the device's frames carry.
    pub channels: u8,
}

/// A GPIO line by chip and offset, as the kernel's character device names them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Gpio {
    pub chip: String,
    pub line: u32,
    pub active_low: bool,
}

impl fmt::Display for Gpio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.chip, self.line)?;
        if self.active_low {
            f.write_str(" (active low)")?;
        }
        Ok(())
    }
}

/// What an LED shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedRole {
    Power,
    /// Lit while every SIP profile listens and the trunks are registered.
    Sip,
    /// Lit while the named port is in use.
    Port(String),
}

impl fmt::Display for LedRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedRole::Power => f.write_str("power"),
            LedRole::Sip => f.write_str("sip"),
            LedRole::Port(p) => write!(f, "port {p}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Led {
    pub role: LedRole,
    pub gpio: Gpio,
}

/// Held for `factory_reset_hold_sec`, the button wipes the data partition's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResetButton {
    pub gpio: Gpio,
    pub factory_reset_hold_sec: u32,
}

/// Loads `board.toml` from the conf dir; `Ok(None)` when the box has none.
pub fn load(conf_dir: &Path) -> Result<Option<Board>, ConfigErrors> {
    let path = conf_dir.join(FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigErrors(vec![Diagnostic {
                severity: Severity::Error,
                source: Source {
                    file: path,
                    line: 0,
                },
                message: format!("cannot read the board definition: {e}"),
            }]))
        }
    };
    parse(&path, &text).map(Some)
}

/// Parses and validates a board definition; every error names the file and line.
pub fn parse(path: &Path, text: &str) -> Result<Board, ConfigErrors> {
    let at = |span: std::ops::Range<usize>| Source {
        file: path.to_path_buf(),
        line: line_of(text, span.start),
    };
    let raw: RawBoard = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| line_of(text, s.start));
        ConfigErrors(vec![Diagnostic {
            severity: Severity::Error,
            source: Source {
                file: path.to_path_buf(),
                line,
            },
            message: e.message().trim_end().to_string(),
        }])
    })?;
    let mut diags = Diags::default();
    let board = validate(path, raw, &at, &mut diags);
    if diags.has_errors() {
        return Err(ConfigErrors(diags.0));
    }
    Ok(board)
}

fn validate(
    path: &Path,
    raw: RawBoard,
    at: &dyn Fn(std::ops::Range<usize>) -> Source,
    diags: &mut Diags,
) -> Board {
    let name_span = raw.board.name.span();
    let name = raw.board.name.into_inner();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        diags.error(
            &at(name_span),
            format!("board name {name:?}: use letters, digits, '-' and '_' only"),
        );
    }

    let uart = raw.uart.map(|u| {
        let device = PathBuf::from(u.device.get_ref());
        if !device.starts_with("/dev/") {
            diags.error(
                &at(u.device.span()),
                format!(
                    "uart device {}: expected a device under /dev/ (e.g. /dev/ttyS1)",
                    device.display()
                ),
            );
        }
        if !UART_SPEEDS.contains(u.baud.get_ref()) {
            diags.error(
                &at(u.baud.span()),
                format!(
                    "uart baud {}: not a standard serial speed; one of {}",
                    u.baud.get_ref(),
                    UART_SPEEDS
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        Uart {
            device,
            baud: *u.baud.get_ref(),
        }
    });

    if raw.port.len() > MAX_PORTS {
        diags.error(
            &at(raw.port[MAX_PORTS].name.span()),
            format!(
                "{} ports: the line card addresses at most {MAX_PORTS}",
                raw.port.len()
            ),
        );
    }
    if !raw.port.is_empty() && uart.is_none() {
        diags.error(
            &at(raw.port[0].name.span()),
            "ports need a [uart] section: the line card that rings and reads them is driven over it",
        );
    }
    let mut port_names = BTreeSet::new();
    let mut lines = BTreeSet::new();
    let mut ports = Vec::new();
    for p in raw.port {
        let pname = p.name.get_ref().clone();
        if !port_names.insert(pname.clone()) {
            diags.error(&at(p.name.span()), format!("port {pname} is defined twice"));
        }
        let line = *p.line.get_ref();
        if usize::from(line) >= MAX_PORTS {
            diags.error(
                &at(p.line.span()),
                format!("port {pname}: line {line} is out of range 0..{MAX_PORTS}"),
            );
        } else if !lines.insert(line) {
            diags.error(
                &at(p.line.span()),
                format!("port {pname}: line {line} is already used by another port"),
            );
        }
        let (channel, channels) = (*p.alsa_channel.get_ref(), *p.alsa_channels.get_ref());
        if channels == 0 || channel >= channels {
            diags.error(
                &at(p.alsa_channel.span()),
                format!(
                    "port {pname}: alsa-channel {channel} does not exist in a {channels}-channel \
                     device (channels count from 0)"
                ),
            );
        }
        let device = p.alsa_device.get_ref().trim().to_string();
        if device.is_empty() {
            diags.error(
                &at(p.alsa_device.span()),
                format!("port {pname}: alsa-device is empty (e.g. \"hw:0,0\")"),
            );
        }
        if let Some(other) = ports
            .iter()
            .find(|q: &&Port| q.alsa.device == device && q.alsa.channel == channel)
        {
            diags.error(
                &at(p.alsa_channel.span()),
                format!(
                    "port {pname}: {device} channel {channel} already carries port {}",
                    other.name
                ),
            );
        }
        if let Some(first) = ports.iter().find(|q: &&Port| q.alsa.device == device) {
            if first.alsa.channels != channels {
                diags.error(
                    &at(p.alsa_channels.span()),
                    format!(
                        "port {pname}: {device} is given {channels} channels here and {} for \
                         port {}; a device has one frame layout",
                        first.alsa.channels, first.name
                    ),
                );
            }
        }
        ports.push(Port {
            name: pname,
            kind: p.kind,
            line,
            alsa: AlsaChannel {
                device,
                channel,
                channels,
            },
        });
    }

    let mut gpios_in_use: BTreeSet<(String, u32)> = BTreeSet::new();
    let mut check_gpio = |raw: &Spanned<String>, active_low: bool, diags: &mut Diags| {
        let gpio = parse_gpio(raw.get_ref(), active_low);
        match gpio {
            Some(g) => {
                if !gpios_in_use.insert((g.chip.clone(), g.line)) {
                    diags.error(
                        &at(raw.span()),
                        format!("gpio {}:{} is used twice", g.chip, g.line),
                    );
                }
                Some(g)
            }
            None => {
                diags.error(
                    &at(raw.span()),
                    format!(
                        "gpio {:?}: expected CHIP:LINE, e.g. \"gpiochip0:17\"",
                        raw.get_ref()
                    ),
                );
                None
            }
        }
    };

    let mut leds = Vec::new();
    let mut roles = BTreeSet::new();
    for l in raw.led {
        let role = match l.role.get_ref().as_str() {
            "power" => Some(LedRole::Power),
            "sip" => Some(LedRole::Sip),
            other => match other.strip_prefix("port:") {
                Some(p) if port_names.contains(p) => Some(LedRole::Port(p.to_string())),
                Some(p) => {
                    diags.error(
                        &at(l.role.span()),
                        format!("led role port:{p}: no port named {p} on this board"),
                    );
                    None
                }
                None => {
                    diags.error(
                        &at(l.role.span()),
                        format!("led role {other:?}: expected \"power\", \"sip\" or \"port:NAME\""),
                    );
                    None
                }
            },
        };
        if let Some(r) = &role {
            if !roles.insert(r.to_string()) {
                diags.error(&at(l.role.span()), format!("a second LED shows {r}"));
            }
        }
        let gpio = check_gpio(&l.gpio, l.active_low, diags);
        if let (Some(role), Some(gpio)) = (role, gpio) {
            leds.push(Led { role, gpio });
        }
    }

    let reset_button = raw.reset_button.and_then(|b| {
        let hold = *b.factory_reset_hold_sec.get_ref();
        if !(1..=60).contains(&hold) {
            diags.error(
                &at(b.factory_reset_hold_sec.span()),
                format!("factory-reset-hold-sec {hold}: expected 1 to 60 seconds"),
            );
        }
        check_gpio(&b.gpio, b.active_low, diags).map(|gpio| ResetButton {
            gpio,
            factory_reset_hold_sec: hold,
        })
    });

    Board {
        source: path.to_path_buf(),
        name,
        description: raw.board.description,
        uart,
        ports,
        leds,
        reset_button,
    }
}

/// `gpiochip0:17` → chip `gpiochip0`, line 17.
fn parse_gpio(text: &str, active_low: bool) -> Option<Gpio> {
    let (chip, line) = text.rsplit_once(':')?;
    if chip.is_empty() || !chip.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    Some(Gpio {
        chip: chip.to_string(),
        line: line.parse().ok()?,
        active_low,
    })
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> u32 {
    let upto = text.get(..offset.min(text.len())).unwrap_or(text);
    u32::try_from(upto.bytes().filter(|&b| b == b'\n').count() + 1).unwrap_or(u32::MAX)
}

impl Board {
    /// What `loopstart check` prints about the board.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = write!(s, "board {}", self.name);
        if !self.description.is_empty() {
            let _ = write!(s, " ({})", self.description);
        }
        let _ = writeln!(s, ": {}", self.source.display());
        match &self.uart {
            Some(u) => {
                let _ = writeln!(s, "  line card: {} at {} baud", u.device.display(), u.baud);
            }
            None => {
                let _ = writeln!(s, "  line card: none");
            }
        }
        for p in &self.ports {
            let _ = writeln!(
                s,
                "  port {} ({}, line {}): voice {} channel {} of {}",
                p.name, p.kind, p.line, p.alsa.device, p.alsa.channel, p.alsa.channels
            );
        }
        for l in &self.leds {
            let _ = writeln!(s, "  led {}: gpio {}", l.role, l.gpio);
        }
        if let Some(b) = &self.reset_button {
            let _ = writeln!(
                s,
                "  reset button: gpio {}, held {} s = factory reset",
                b.gpio, b.factory_reset_hold_sec
            );
        }
        s
    }
}

// --- the file as written -----------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoard {
    board: RawIdentity,
    uart: Option<RawUart>,
    #[serde(default)]
    port: Vec<RawPort>,
    #[serde(default)]
    led: Vec<RawLed>,
    #[serde(rename = "reset-button")]
    reset_button: Option<RawResetButton>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUart {
    device: Spanned<String>,
    baud: Spanned<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPort {
    name: Spanned<String>,
    kind: PortKind,
    line: Spanned<u8>,
    alsa_device: Spanned<String>,
    alsa_channel: Spanned<u8>,
    #[serde(default = "one_channel")]
    alsa_channels: Spanned<u8>,
}

fn one_channel() -> Spanned<u8> {
    Spanned::new(0..0, 1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLed {
    role: Spanned<String>,
    gpio: Spanned<String>,
    #[serde(default)]
    active_low: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawResetButton {
    gpio: Spanned<String>,
    #[serde(default)]
    active_low: bool,
    #[serde(default = "ten_seconds")]
    factory_reset_hold_sec: Spanned<u32>,
}

fn ten_seconds() -> Spanned<u32> {
    Spanned::new(0..0, 10)
}
