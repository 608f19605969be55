//! `tone_stream://` and `silence_stream://`, FreeSWITCH's syntax for tones played to a
//! call: `%(on_ms,off_ms,freq1[,freq2,...])` segments separated by `;`, then options
//! `loops=N` (-1: forever) and `v=dB`. `tone_stream://%(2000,4000,440,480);loops=-1` is
//! US ringback; `silence_stream://500` is half a second of silence. Generates 8 kHz
//! linear samples, frame by frame, with no allocation per frame.

use std::f64::consts::PI;
use std::fmt;

/// Samples per second of every generated tone.
pub const RATE: u32 = 8000;
/// At most this many frequencies mixed in one segment, and segments in one tone.
const MAX_FREQS: usize = 8;
const MAX_SEGMENTS: usize = 32;

#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub on_ms: u32,
    pub off_ms: u32,
    pub freqs: Vec<u16>,
}

/// How often the segments play.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loops {
    Times(u32),
    Forever,
}

/// A parsed tone.
#[derive(Clone, Debug, PartialEq)]
pub struct ToneSpec {
    pub segments: Vec<Segment>,
    pub loops: Loops,
    /// Level of the mix, dB below full scale (FreeSWITCH's `v=`).
    pub volume_db: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToneError(pub String);

impl fmt::Display for ToneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tone: {}", self.0)
    }
}

impl std::error::Error for ToneError {}

impl ToneSpec {
    /// `tone_stream://...`, `silence_stream://MS`, or the part after `tone_stream://`.
    pub fn parse(text: &str) -> Result<ToneSpec, ToneError> {
        let bad = |m: String| Err(ToneError(m));
        if let Some(ms) = text.strip_prefix("silence_stream://") {
            let ms = ms.split(',').next().unwrap_or("").trim();
            return match ms.parse::<i64>() {
                // FreeSWITCH: 0 or less means forever.
                Ok(n) if n <= 0 => Ok(ToneSpec {
                    segments: vec![Segment {
                        on_ms: 0,
                        off_ms: 1000,
                        freqs: Vec::new(),
                    }],
                    loops: Loops::Forever,
                    volume_db: 0,
                }),
                Ok(n) => Ok(ToneSpec {
                    segments: vec![Segment {
                        on_ms: 0,
                        off_ms: u32::try_from(n).unwrap_or(u32::MAX),
                        freqs: Vec::new(),
                    }],
                    loops: Loops::Times(1),
                    volume_db: 0,
                }),
                Err(_) => bad(format!("silence_stream://{ms}: expected milliseconds")),
            };
        }
        let body = text.strip_prefix("tone_stream://").unwrap_or(text);
        let mut spec = ToneSpec {
            segments: Vec::new(),
            loops: Loops::Times(1),
            volume_db: -10,
        };
        for part in body.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some(inner) = part.strip_prefix("%(").and_then(|p| p.strip_suffix(')')) {
                if spec.segments.len() == MAX_SEGMENTS {
                    return bad(format!("more than {MAX_SEGMENTS} segments"));
                }
                spec.segments.push(segment(inner)?);
            } else if let Some(n) = part
                .strip_prefix("loops=")
                .or_else(|| part.strip_prefix("L="))
            {
                spec.loops = match n.trim().parse::<i64>() {
                    Ok(n) if n < 0 => Loops::Forever,
                    Ok(n) => Loops::Times(u32::try_from(n.max(1)).unwrap_or(u32::MAX)),
                    Err(_) => return bad(format!("loops={n}: expected a number (-1 = forever)")),
                };
            } else if let Some(v) = part.strip_prefix("v=") {
                spec.volume_db = match v.trim().parse::<i32>() {
                    Ok(v) if (-60..=0).contains(&v) => v,
                    _ => return bad(format!("v={v}: expected -60 to 0 dB")),
                };
            } else {
                return bad(format!(
                    "{part:?}: expected %(on,off,freq...), loops=N or v=dB"
                ));
            }
        }
        if spec.segments.is_empty() {
            return bad(format!("{text:?} has no %(on,off,freq) segment"));
        }
        Ok(spec)
    }
}

fn segment(inner: &str) -> Result<Segment, ToneError> {
    let nums: Vec<&str> = inner.split(',').map(str::trim).collect();
    let ms = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| ToneError(format!("%({inner}): {s:?} is not milliseconds")))
    };
    if nums.len() < 2 {
        return Err(ToneError(format!("%({inner}): expected on,off[,freq...]")));
    }
    let freqs = nums[2..]
        .iter()
        .map(|f| {
            f.parse::<u16>()
                .ok()
                .filter(|&f| f > 0 && u32::from(f) < RATE / 2)
                .ok_or_else(|| ToneError(format!("%({inner}): frequency {f:?} is not 1-3999 Hz")))
        })
        .collect::<Result<Vec<u16>, ToneError>>()?;
    if freqs.len() > MAX_FREQS {
        return Err(ToneError(format!(
            "%({inner}): more than {MAX_FREQS} frequencies"
        )));
    }
    Ok(Segment {
        on_ms: ms(nums[0])?,
        off_ms: ms(nums[1])?,
        freqs,
    })
}

/// Plays a [`ToneSpec`] as 8 kHz samples.
pub struct ToneGenerator {
    spec: ToneSpec,
    segment: usize,
    /// Sample position within the current segment.
    at: u64,
    loops_done: u32,
    amplitude: f64,
}

impl ToneGenerator {
    pub fn new(spec: ToneSpec) -> ToneGenerator {
        let amplitude = 32_767.0 * 10f64.powf(f64::from(spec.volume_db) / 20.0);
        ToneGenerator {
            spec,
            segment: 0,
            at: 0,
            loops_done: 0,
            amplitude,
        }
    }

    /// Fills `frame` with the next samples; returns how many it wrote (fewer than the
    /// frame at the end, 0 once the tone is over).
    pub fn fill(&mut self, frame: &mut [i16]) -> usize {
        let mut written = 0;
        while written < frame.len() {
            let Some(seg) = self.spec.segments.get(self.segment) else {
                return written;
            };
            let on = u64::from(seg.on_ms) * u64::from(RATE) / 1000;
            let total = on + u64::from(seg.off_ms) * u64::from(RATE) / 1000;
            if self.at >= total {
                self.next_segment();
                if self.finished() {
                    return written;
                }
                continue;
            }
            let n = ((total - self.at) as usize).min(frame.len() - written);
            for (k, sample) in frame[written..written + n].iter_mut().enumerate() {
                let t = self.at + k as u64;
                *sample = if t < on && !seg.freqs.is_empty() {
                    let per = self.amplitude / seg.freqs.len() as f64;
                    let mix: f64 = seg
                        .freqs
                        .iter()
                        .map(|&f| (2.0 * PI * f64::from(f) * t as f64 / f64::from(RATE)).sin())
                        .sum();
                    (per * mix) as i16
                } else {
                    0
                };
            }
            self.at += n as u64;
            written += n;
        }
        written
    }

    fn next_segment(&mut self) {
        self.at = 0;
        self.segment += 1;
        if self.segment == self.spec.segments.len() {
            self.loops_done += 1;
            let again = match self.spec.loops {
                Loops::Forever => true,
                Loops::Times(n) => self.loops_done < n,
            };
            if again {
                self.segment = 0;
            }
        }
    }

    pub fn finished(&self) -> bool {
        self.segment >= self.spec.segments.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative power at `freq` (Goertzel), 0..1 of a full-scale sine.
    fn power_at(samples: &[i16], freq: f64) -> f64 {
        let k = 2.0 * (2.0 * PI * freq / f64::from(RATE)).cos();
        let (mut s1, mut s2) = (0.0, 0.0);
        for &x in samples {
            let s0 = f64::from(x) + k * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let p = s1 * s1 + s2 * s2 - k * s1 * s2;
        p / (samples.len() as f64 * samples.len() as f64 / 4.0) / (32_767.0 * 32_767.0)
    }

    fn render(spec: &str, max: usize) -> Vec<i16> {
        let mut g = ToneGenerator::new(ToneSpec::parse(spec).unwrap());
        let mut out = Vec::new();
        let mut frame = [0i16; 160];
        while out.len() < max {
            let n = g.fill(&mut frame);
            out.extend_from_slice(&frame[..n]);
            if n < frame.len() {
                break;
            }
        }
        out
    }

    #[test]
    fn the_tutorial_tone_has_its_three_frequencies_for_200_ms() {
        let s = render("tone_stream://%(200,0,500,600,700)", 100_000);
        assert_eq!(s.len(), 1600, "200 ms at 8 kHz");
        for f in [500.0, 600.0, 700.0] {
            assert!(power_at(&s, f) > 0.01, "{f} Hz missing");
        }
        assert!(power_at(&s, 1000.0) < 0.001, "1000 Hz should be absent");
    }

    #[test]
    fn ringback_alternates_tone_and_silence_and_loops() {
        let spec = ToneSpec::parse("tone_stream://%(2000,4000,440,480);loops=-1").unwrap();
        assert_eq!(spec.loops, Loops::Forever);
        let s = render("tone_stream://%(2000,4000,440,480);loops=2", 200_000);
        assert_eq!(s.len(), 2 * 6 * 8000, "two 6-second cycles");
        let on = &s[..16_000];
        let off = &s[16_000..48_000];
        assert!(power_at(on, 440.0) > 0.01 && power_at(on, 480.0) > 0.01);
        assert!(off.iter().all(|&x| x == 0));
        assert!(power_at(&s[48_000..64_000], 440.0) > 0.01, "second cycle");
    }

    #[test]
    fn silence_stream_is_silent_for_its_length() {
        let s = render("silence_stream://500", 100_000);
        assert_eq!(s.len(), 4000);
        assert!(s.iter().all(|&x| x == 0));
        let forever = ToneSpec::parse("silence_stream://0").unwrap();
        assert_eq!(forever.loops, Loops::Forever);
    }

    #[test]
    fn volume_sets_the_level() {
        let loud = render("tone_stream://v=0;%(100,0,1000)", 10_000);
        let quiet = render("tone_stream://v=-20;%(100,0,1000)", 10_000);
        let peak = |s: &[i16]| s.iter().map(|x| i32::from(*x).abs()).max().unwrap_or(0);
        assert!(peak(&loud) > 32_000);
        let ratio = f64::from(peak(&loud)) / f64::from(peak(&quiet));
        assert!((9.0..11.0).contains(&ratio), "-20 dB is a tenth: {ratio}");
    }

    #[test]
    fn bad_tones_say_what_is_wrong() {
        for (text, want) in [
            ("tone_stream://", "no %(on,off,freq) segment"),
            ("tone_stream://%(200,abc,400)", "is not milliseconds"),
            ("tone_stream://%(200,0,5000)", "not 1-3999 Hz"),
            ("tone_stream://%(200)", "expected on,off"),
            ("tone_stream://%(200,0,400);loops=x", "expected a number"),
            (
                "tone_stream://%(200,0,400);bogus",
                "expected %(on,off,freq...)",
            ),
            ("silence_stream://soon", "expected milliseconds"),
        ] {
            let e = ToneSpec::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
