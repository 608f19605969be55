//! G.711 (ITU-T, 1972): µ-law (PCMU, North America, Japan) and A-law (PCMA, the rest
//! of the world), 8-bit companded samples of 14- and 13-bit linear PCM. Decoding is a
//! table lookup; encoding finds the segment by the position of the highest set bit.
//! Transcoding PCMU <-> PCMA goes through linear, one table lookup each way.

/// µ-law: bias added before finding the segment, and the largest magnitude coded.
const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32_635;

/// Linear 16-bit sample → µ-law byte.
pub fn ulaw_encode(sample: i16) -> u8 {
    let s = i32::from(sample);
    let (sign, magnitude) = if s < 0 {
        (0x80, (-s).min(ULAW_CLIP))
    } else {
        (0x00, s.min(ULAW_CLIP))
    };
    let biased = magnitude + ULAW_BIAS;
    // Segment 0..7: bits above bit 7 of the biased magnitude.
    let segment = (31 - (biased as u32).leading_zeros())
        .saturating_sub(7)
        .min(7);
    let mantissa = (biased >> (segment + 3)) & 0x0F;
    !(sign | ((segment as i32) << 4) as u8 | mantissa as u8)
}

/// µ-law byte → linear 16-bit sample.
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

/// Linear 16-bit sample → A-law byte.
pub fn alaw_encode(sample: i16) -> u8 {
    let s = i32::from(sample) >> 3; // A-law codes 13 bits
    let (sign, magnitude) = if s >= 0 { (0x80, s) } else { (0x00, -s - 1) };
    let magnitude = magnitude.min(0x0FFF);
    let code = if magnitude < 32 {
        (magnitude >> 1) as u8
    } else {
        let segment = 31 - (magnitude as u32).leading_zeros() - 4; // 1..7
        ((segment << 4) as u8) | ((magnitude >> segment) & 0x0F) as u8
    };
    (sign | code) ^ 0x55
}

/// A-law byte → linear 16-bit sample.
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

/// PCMU → PCMA for a frame, in place.
pub fn ulaw_to_alaw(frame: &mut [u8]) {
    for b in frame {
        *b = alaw_encode(ulaw_decode(*b));
    }
}

/// PCMA → PCMU for a frame, in place.
pub fn alaw_to_ulaw(frame: &mut [u8]) {
    for b in frame {
        *b = ulaw_encode(alaw_decode(*b));
    }
}

const fn ulaw_decode_slow(code: u8) -> i16 {
    let c = !code;
    let sign = c & 0x80;
    let segment = ((c >> 4) & 0x07) as i32;
    let mantissa = (c & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << segment) - ULAW_BIAS;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_decode_slow(code: u8) -> i16 {
    let c = code ^ 0x55;
    let segment = ((c >> 4) & 0x07) as i32;
    let mantissa = (c & 0x0F) as i32;
    let magnitude = if segment == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (segment - 1)
    };
    if c & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

/// Builds a decode table at compile time (a macro: const fns cannot call through a
/// function pointer).
macro_rules! decode_table {
    ($decode:ident) => {{
        let mut t = [0i16; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = $decode(i as u8);
            i += 1;
        }
        t
    }};
}

static ULAW_TO_LINEAR: [i16; 256] = decode_table!(ulaw_decode_slow);
static ALAW_TO_LINEAR: [i16; 256] = decode_table!(alaw_decode_slow);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_from_the_recommendation() {
        // Silence: µ-law 0xFF (and 0x7F, negative zero), A-law 0xD5.
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        // Full scale.
        assert_eq!(ulaw_decode(0x80), 32_124);
        assert_eq!(ulaw_decode(0x00), -32_124);
        assert_eq!(alaw_decode(0xAA), 32_256);
        assert_eq!(alaw_decode(0x2A), -32_256);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            let back = ulaw_encode(ulaw_decode(code));
            // µ-law's negative zero comes back as positive zero.
            let want = if code == 0x7F { 0xFF } else { code };
            assert_eq!(back, want, "µ-law {code:#04x}");
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
        }
    }

    #[test]
    fn quantisation_error_stays_within_the_segment_step() {
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let u = i32::from(ulaw_decode(ulaw_encode(s)));
            let a = i32::from(alaw_decode(alaw_encode(s)));
            let x = i32::from(s).clamp(-32_124, 32_124);
            // The step doubles with each segment: at most 1/16 of the magnitude + a
            // little, never more than 1024.
            let bound = (x.abs() / 16).clamp(16, 1024);
            assert!((u - x).abs() <= bound, "µ-law {s} -> {u}");
            assert!(
                (a - i32::from(s).clamp(-32_256, 32_256)).abs() <= bound,
                "A-law {s} -> {a}"
            );
        }
    }

    #[test]
    fn transcoding_keeps_the_signal() {
        let tone: Vec<i16> = (0..160)
            .map(|n| {
                (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * n as f64 / 8000.0).sin()) as i16
            })
            .collect();
        let mut frame: Vec<u8> = tone.iter().map(|&s| ulaw_encode(s)).collect();
        ulaw_to_alaw(&mut frame);
        for (&code, &s) in frame.iter().zip(&tone) {
            let got = i32::from(alaw_decode(code));
            assert!((got - i32::from(s)).abs() <= 8000 / 16 + 16, "{s} -> {got}");
        }
        // Back to µ-law: the two grids differ, so a code may move, by one step at most.
        alaw_to_ulaw(&mut frame);
        for (&code, &s) in frame.iter().zip(&tone) {
            let once = i32::from(ulaw_decode(ulaw_encode(s)));
            let twice = i32::from(ulaw_decode(code));
            assert!(
                (twice - once).abs() <= (once.abs() / 16).max(16),
                "{s}: {once} -> {twice}"
            );
        }
    }
}
