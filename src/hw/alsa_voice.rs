//! ALSA PCM access for port voice (the `alsa` feature; the firmware links a static
//! alsa-lib, which reads its configuration from `/usr/share/alsa` at run time).

use alsa::pcm::{Access, Format, HwParams, PCM};
use alsa::{Direction, ValueOr};

use super::VOICE_RATE_HZ;

/// Opens `device` both ways with the voice format and `channels`, then closes it.
pub(super) fn probe(device: &str, channels: u8) -> Result<String, String> {
    let mut periods = Vec::new();
    for (dir, name) in [
        (Direction::Playback, "playback"),
        (Direction::Capture, "capture"),
    ] {
        let pcm = PCM::new(device, dir, true).map_err(|e| format!("{name}: open: {e}"))?;
        let hw = HwParams::any(&pcm).map_err(|e| format!("{name}: {e}"))?;
        hw.set_access(Access::RWInterleaved)
            .map_err(|e| format!("{name}: interleaved access: {e}"))?;
        hw.set_format(Format::s16())
            .map_err(|e| format!("{name}: S16_LE: {e}"))?;
        hw.set_channels(u32::from(channels))
            .map_err(|e| format!("{name}: {channels} channels: {e}"))?;
        hw.set_rate(VOICE_RATE_HZ, ValueOr::Nearest)
            .map_err(|e| format!("{name}: {VOICE_RATE_HZ} Hz: {e}"))?;
        pcm.hw_params(&hw).map_err(|e| format!("{name}: {e}"))?;
        let period = pcm
            .hw_params_current()
            .and_then(|h| h.get_period_size())
            .map_err(|e| format!("{name}: {e}"))?;
        periods.push(format!("{name} period {period} frames"));
    }
    Ok(format!(
        "{VOICE_RATE_HZ} Hz S16_LE x{channels}, {}",
        periods.join(", ")
    ))
}
