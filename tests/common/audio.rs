//! Test audio: 8 kHz mono 16-bit WAV files, tones, and a Goertzel filter to
//! tell which tone a recording holds.

use std::f64::consts::PI;
use std::fs;
use std::path::Path;

/// Sample rate of every file here (G.711).
pub const RATE: u32 = 8000;

/// `secs` seconds of a sine at `hz`, amplitude `amp` (of i16::MAX).
pub fn tone(hz: f64, secs: f64, amp: f64) -> Vec<i16> {
    let n = (secs * RATE as f64) as usize;
    (0..n)
        .map(|i| {
            let v = (2.0 * PI * hz * i as f64 / RATE as f64).sin() * amp * i16::MAX as f64;
            v.round() as i16
        })
        .collect()
}

/// Writes a canonical 44-byte-header PCM WAV (8 kHz, mono, S16LE).
pub fn write_wav(path: &Path, samples: &[i16]) {
    let data_len = (samples.len() * 2) as u32;
    let mut b = Vec::with_capacity(44 + data_len as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&RATE.to_le_bytes());
    b.extend_from_slice(&(RATE * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    fs::write(path, b).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// A parsed WAV file.
#[derive(Debug)]
pub struct Wav {
    pub rate: u32,
    pub channels: u16,
    pub bits: u16,
    /// Samples of the first channel.
    pub samples: Vec<i16>,
}

/// Reads a PCM 16-bit WAV. Tolerates a data chunk whose length was never
/// patched (writer not closed): then the data runs to the end of the file.
pub fn read_wav(path: &Path) -> Result<Wav, String> {
    let b = fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err(format!("{}: not a RIFF/WAVE file", path.display()));
    }
    let mut pos = 12;
    let mut fmt: Option<(u16, u32, u16)> = None;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let len = u32::from_le_bytes(b[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            if body + 16 > b.len() {
                return Err("truncated fmt chunk".into());
            }
            let format = u16::from_le_bytes([b[body], b[body + 1]]);
            if format != 1 {
                return Err(format!("WAV format {format}, expected PCM (1)"));
            }
            let channels = u16::from_le_bytes([b[body + 2], b[body + 3]]);
            let rate = u32::from_le_bytes(b[body + 4..body + 8].try_into().unwrap());
            let bits = u16::from_le_bytes([b[body + 14], b[body + 15]]);
            fmt = Some((channels, rate, bits));
        } else if id == b"data" {
            let (channels, rate, bits) = fmt.ok_or("data chunk before fmt chunk")?;
            if bits != 16 {
                return Err(format!("{bits} bits per sample, expected 16"));
            }
            let end = if len == 0 || body + len > b.len() {
                b.len()
            } else {
                body + len
            };
            let frame = 2 * channels.max(1) as usize;
            let samples = b[body..end]
                .chunks_exact(frame)
                .map(|f| i16::from_le_bytes([f[0], f[1]]))
                .collect();
            return Ok(Wav {
                rate,
                channels,
                bits,
                samples,
            });
        }
        pos = body + len + (len & 1);
    }
    Err(format!("{}: no data chunk", path.display()))
}

/// Power of `hz` in `x` (Goertzel), normalised by the block length so blocks
/// of different sizes compare.
pub fn goertzel(x: &[i16], rate: u32, hz: f64) -> f64 {
    let w = 2.0 * PI * hz / rate as f64;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = v as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    power / (x.len() as f64 * x.len() as f64)
}

/// Root mean square of the samples.
pub fn rms(x: &[i16]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len() as f64).sqrt()
}

/// What a window of a recording holds: RMS, and the tone's power against
/// the strongest of the other probe frequencies.
#[derive(Debug)]
pub struct ToneReport {
    pub samples: usize,
    pub window: (usize, usize),
    pub rms: f64,
    pub target_hz: f64,
    pub target_power: f64,
    /// (hz, power) at each other probe frequency.
    pub others: Vec<(f64, f64)>,
}

impl ToneReport {
    /// Target power over the strongest other probe (∞ if all others are 0).
    pub fn ratio(&self) -> f64 {
        let max_other = self.others.iter().map(|o| o.1).fold(0.0, f64::max);
        if max_other == 0.0 {
            f64::INFINITY
        } else {
            self.target_power / max_other
        }
    }
}

/// Analyses the middle half of `samples` for a tone at `hz` against `others`.
pub fn analyse(samples: &[i16], rate: u32, hz: f64, others: &[f64]) -> ToneReport {
    let (a, b) = (samples.len() / 4, samples.len() * 3 / 4);
    let mut r = analyse_window(&samples[a..b], rate, hz, others);
    r.samples = samples.len();
    r.window = (a, b);
    r
}

/// Analyses all of `w` for a tone at `hz` against `others`.
pub fn analyse_window(w: &[i16], rate: u32, hz: f64, others: &[f64]) -> ToneReport {
    ToneReport {
        samples: w.len(),
        window: (0, w.len()),
        rms: rms(w),
        target_hz: hz,
        target_power: goertzel(w, rate, hz),
        others: others.iter().map(|&f| (f, goertzel(w, rate, f))).collect(),
    }
}
