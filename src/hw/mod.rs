//! The box's hardware: analog ports on a line card, their voice through ALSA.
//!
//! What the board has comes from `board.toml` (`config::board`). This module opens it:
//! so far the voice side, checked at start so that a box whose codec is missing says so
//! in its log instead of failing on the first call. The line-card protocol, the
//! `LineCard`/`VoicePort` traits and the simulator come with the analog-ports work.

#[cfg(feature = "alsa")]
mod alsa_voice;

use crate::config::board::Board;

/// The voice format every port speaks: 8 kHz, signed 16-bit little-endian samples.
pub const VOICE_RATE_HZ: u32 = 8000;

/// What opening one ALSA device for a board's ports found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoiceProbe {
    pub device: String,
    /// The ports whose voice this device carries.
    pub ports: Vec<String>,
    pub outcome: Result<String, String>,
}

/// Opens every ALSA device the board's ports use, for playback and capture at
/// 8 kHz S16_LE with the board's channel count, and closes them again.
pub fn probe_voice(board: &Board) -> Vec<VoiceProbe> {
    let mut devices: Vec<(String, u8, Vec<String>)> = Vec::new();
    for p in &board.ports {
        match devices.iter_mut().find(|(d, _, _)| *d == p.alsa.device) {
            Some((_, _, ports)) => ports.push(p.name.clone()),
            None => devices.push((p.alsa.device.clone(), p.alsa.channels, vec![p.name.clone()])),
        }
    }
    devices
        .into_iter()
        .map(|(device, channels, ports)| {
            let outcome = open_device(&device, channels);
            VoiceProbe {
                device,
                ports,
                outcome,
            }
        })
        .collect()
}

#[cfg(feature = "alsa")]
fn open_device(device: &str, channels: u8) -> Result<String, String> {
    alsa_voice::probe(device, channels)
}

#[cfg(not(feature = "alsa"))]
fn open_device(_device: &str, _channels: u8) -> Result<String, String> {
    Err("this build has no ALSA support (built without the `alsa` feature)".into())
}

/// Logs the board and what the voice probe found, as an operator reads it at start.
pub fn report(board: &Board) {
    tracing::info!(
        board = %board.name,
        ports = board.ports.len(),
        "board {}: {} analog port(s)",
        board.name,
        board.ports.len()
    );
    for probe in probe_voice(board) {
        let ports = probe.ports.join(", ");
        match &probe.outcome {
            Ok(detail) => tracing::info!(
                device = %probe.device,
                "voice for {ports}: ALSA {} ok ({detail})",
                probe.device
            ),
            Err(e) => tracing::warn!(
                device = %probe.device,
                "voice for {ports}: ALSA {} unusable: {e}; calls on these ports will have \
                 no audio (check the sound driver and board.toml's alsa-device)",
                probe.device
            ),
        }
    }
}
