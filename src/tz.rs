//! Time zones, as FreeSWITCH takes them: the box's local time (`/etc/localtime`, or the
//! `TZ` environment variable) unless a call says otherwise with the `timezone`
//! variable (an IANA name such as `Europe/Berlin`) or `tod_tz_offset` (hours east of
//! UTC). Read from the system's TZif files (RFC 8536), including the POSIX rule in
//! their footer that covers the years after the last listed transition.

use std::fmt;
use std::path::Path;

/// Where the named zones live.
pub const ZONEINFO: &str = "/usr/share/zoneinfo";

/// A zone: its transitions and the rule after them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    /// (transition instant, offset east of UTC from then on), ascending.
    transitions: Vec<(i64, i32)>,
    /// The offset before the first transition.
    initial: i32,
    rule: Option<Rule>,
}

#[derive(Debug)]
pub struct ZoneError(pub String);

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ZoneError {}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".into(),
            transitions: Vec::new(),
            initial: 0,
            rule: None,
        }
    }

    /// The box's local zone: `TZ` (a name or `:path`), else `/etc/localtime`, else
    /// UTC.
    pub fn local() -> Zone {
        if let Ok(tz) = std::env::var("TZ") {
            let tz = tz.trim_start_matches(':');
            if let Ok(z) = Zone::named(tz).or_else(|_| Zone::load(Path::new(tz), tz)) {
                return z;
            }
            if let Some(rule) = Rule::parse(tz) {
                return Zone {
                    name: tz.into(),
                    transitions: Vec::new(),
                    initial: rule.std_offset,
                    rule: Some(rule),
                };
            }
        }
        Zone::load(Path::new("/etc/localtime"), "localtime").unwrap_or_else(|_| Zone::utc())
    }

    /// An IANA zone by name (`America/New_York`).
    pub fn named(name: &str) -> Result<Zone, ZoneError> {
        let safe = !name.is_empty()
            && !name.starts_with('/')
            && name
                .split('/')
                .all(|p| !p.is_empty() && p != "." && p != "..");
        if !safe {
            return Err(ZoneError(format!("{name:?} is not a time zone name")));
        }
        if name.eq_ignore_ascii_case("utc") {
            return Ok(Zone::utc());
        }
        Zone::load(&Path::new(ZONEINFO).join(name), name)
    }

    /// A TZif file.
    pub fn load(path: &Path, name: &str) -> Result<Zone, ZoneError> {
        let bytes = std::fs::read(path).map_err(|e| {
            ZoneError(format!(
                "time zone {name}: cannot read {}: {e}",
                path.display()
            ))
        })?;
        Zone::parse(&bytes, name)
    }

    pub fn parse(bytes: &[u8], name: &str) -> Result<Zone, ZoneError> {
        let bad = |why: &str| ZoneError(format!("time zone {name}: {why}"));
        let v1 = Header::read(bytes).ok_or_else(|| bad("not a TZif file"))?;
        // Version 2 and later repeat the data with 64-bit times, then a footer.
        let (data, header, wide) = if v1.version >= b'2' {
            let rest = bytes.get(v1.len(4)..).ok_or_else(|| bad("truncated"))?;
            let v2 = Header::read(rest).ok_or_else(|| bad("truncated second header"))?;
            (rest, v2, true)
        } else {
            (bytes, v1, false)
        };
        let time_size = if wide { 8 } else { 4 };
        let mut at = 44;
        let take = |at: &mut usize, n: usize| -> Result<&[u8], ZoneError> {
            let s = data
                .get(*at..*at + n)
                .ok_or_else(|| bad("truncated data"))?;
            *at += n;
            Ok(s)
        };
        let times = take(&mut at, header.timecnt * time_size)?;
        let idx = take(&mut at, header.timecnt)?;
        let types = take(&mut at, header.typecnt * 6)?;
        let utoff = |i: usize| -> Option<i32> {
            let t = types.get(i * 6..i * 6 + 4)?;
            Some(i32::from_be_bytes([t[0], t[1], t[2], t[3]]))
        };
        let mut transitions = Vec::with_capacity(header.timecnt);
        for i in 0..header.timecnt {
            let t = &times[i * time_size..(i + 1) * time_size];
            let when = if wide {
                i64::from_be_bytes([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]])
            } else {
                i64::from(i32::from_be_bytes([t[0], t[1], t[2], t[3]]))
            };
            let off = utoff(usize::from(idx[i])).ok_or_else(|| bad("bad type index"))?;
            transitions.push((when, off));
        }
        let initial = utoff(0).ok_or_else(|| bad("no local time types"))?;
        let mut rule = None;
        if wide {
            let footer_at = at
                + header.charcnt
                + header.leapcnt * (time_size + 4)
                + header.isstdcnt
                + header.isutcnt;
            if let Some(footer) = data.get(footer_at..) {
                let text = String::from_utf8_lossy(footer);
                rule = Rule::parse(text.trim_matches(|c: char| c == '\n' || c.is_whitespace()));
            }
        }
        Ok(Zone {
            name: name.to_string(),
            transitions,
            initial,
            rule,
        })
    }

    /// Seconds east of UTC at `unix_secs`.
    pub fn offset_at(&self, unix_secs: i64) -> i32 {
        match self.transitions.partition_point(|(t, _)| *t <= unix_secs) {
            0 if self.transitions.is_empty() => match &self.rule {
                Some(r) => r.offset_at(unix_secs),
                None => self.initial,
            },
            0 => self.initial,
            n if n == self.transitions.len() && self.rule.is_some() => self
                .rule
                .as_ref()
                .map_or(self.initial, |r| r.offset_at(unix_secs)),
            n => self.transitions[n - 1].1,
        }
    }
}

struct Header {
    version: u8,
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

impl Header {
    fn read(b: &[u8]) -> Option<Header> {
        if b.get(..4)? != b"TZif" {
            return None;
        }
        let n = |i: usize| -> Option<usize> {
            let s = b.get(20 + 4 * i..24 + 4 * i)?;
            Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
        };
        Some(Header {
            version: *b.get(4)?,
            isutcnt: n(0)?,
            isstdcnt: n(1)?,
            leapcnt: n(2)?,
            timecnt: n(3)?,
            typecnt: n(4)?,
            charcnt: n(5)?,
        })
    }

    /// Bytes of the header plus its data block with `time_size`-byte times.
    fn len(&self, time_size: usize) -> usize {
        44 + self.timecnt * time_size
            + self.timecnt
            + self.typecnt * 6
            + self.charcnt
            + self.leapcnt * (time_size + 4)
            + self.isstdcnt
            + self.isutcnt
    }
}

/// A POSIX TZ rule (`CET-1CEST,M3.5.0,M10.5.0/3`): standard and summer offsets and
/// when summer time starts and ends (the `Mm.w.d` form, the one zone files use).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    std_offset: i32,
    dst: Option<Dst>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Dst {
    offset: i32,
    start: (u8, u8, u8, i32),
    end: (u8, u8, u8, i32),
}

impl Rule {
    fn parse(s: &str) -> Option<Rule> {
        let mut rest = s;
        skip_name(&mut rest)?;
        let std_offset = -parse_hms(&mut rest)?;
        if rest.is_empty() {
            return Some(Rule {
                std_offset,
                dst: None,
            });
        }
        skip_name(&mut rest)?;
        let offset = if rest.starts_with(',') {
            std_offset + 3600
        } else {
            -parse_hms(&mut rest)?
        };
        let rest = rest.strip_prefix(',')?;
        let (start, end) = rest.split_once(',')?;
        Some(Rule {
            std_offset,
            dst: Some(Dst {
                offset,
                start: parse_date(start)?,
                end: parse_date(end)?,
            }),
        })
    }

    fn offset_at(&self, unix_secs: i64) -> i32 {
        let Some(dst) = &self.dst else {
            return self.std_offset;
        };
        let year = crate::civil::CivilTime::from_unix(unix_secs, self.std_offset).year;
        // Start is given in standard time, end in summer time.
        let start = transition(year, dst.start) - i64::from(self.std_offset);
        let end = transition(year, dst.end) - i64::from(dst.offset);
        let summer = if start < end {
            unix_secs >= start && unix_secs < end
        } else {
            unix_secs >= start || unix_secs < end
        };
        if summer {
            dst.offset
        } else {
            self.std_offset
        }
    }
}

fn skip_name(s: &mut &str) -> Option<()> {
    if let Some(r) = s.strip_prefix('<') {
        let end = r.find('>')?;
        *s = &r[end + 1..];
    } else {
        let end = s
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(s.len());
        if end < 3 {
            return None;
        }
        *s = &s[end..];
    }
    Some(())
}

/// `[+-]hh[:mm[:ss]]` in seconds.
fn parse_hms(s: &mut &str) -> Option<i32> {
    let (sign, body) = match s.as_bytes().first()? {
        b'-' => (-1, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, *s),
    };
    let end = body
        .find(|c: char| !(c.is_ascii_digit() || c == ':'))
        .unwrap_or(body.len());
    let mut secs = 0;
    for (i, part) in body[..end].split(':').enumerate() {
        let n: i32 = part.parse().ok()?;
        secs += n * [3600, 60, 1].get(i)?;
    }
    *s = &body[end..];
    Some(sign * secs)
}

/// `Mm.w.d[/time]`.
fn parse_date(s: &str) -> Option<(u8, u8, u8, i32)> {
    let (date, time) = match s.split_once('/') {
        Some((d, t)) => {
            let mut t = t;
            (d, parse_hms(&mut t)?)
        }
        None => (s, 7200),
    };
    let mut parts = date.strip_prefix('M')?.split('.');
    let m = parts.next()?.parse().ok()?;
    let w = parts.next()?.parse().ok()?;
    let d = parts.next()?.parse().ok()?;
    Some((m, w, d, time))
}

/// Local seconds since the epoch of day `d` (0 = Sunday) of week `w` (5 = last) of
/// month `m` in `year`, plus `time`.
fn transition(year: i32, (m, w, d, time): (u8, u8, u8, i32)) -> i64 {
    let first = days_from_civil(year, m, 1);
    let first_wday = (first + 4).rem_euclid(7); // 0 = Sunday
    let mut day = 1 + (i64::from(d) - first_wday).rem_euclid(7) + 7 * (i64::from(w.max(1)) - 1);
    let len = days_from_civil(
        if m == 12 { year + 1 } else { year },
        if m == 12 { 1 } else { m + 1 },
        1,
    ) - first;
    while day > len {
        day -= 7;
    }
    (first + day - 1) * 86_400 + i64::from(time)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_rules_switch_at_the_right_instants() {
        let berlin = Rule::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        // 2026-03-29 01:00 UTC: summer time starts (02:00 CET -> 03:00 CEST).
        assert_eq!(berlin.offset_at(1_774_745_999), 3600);
        assert_eq!(berlin.offset_at(1_774_746_000), 7200);
        // 2026-10-25 01:00 UTC: back to winter time.
        assert_eq!(berlin.offset_at(1_792_889_999), 7200);
        assert_eq!(berlin.offset_at(1_792_890_000), 3600);
        let new_york = Rule::parse("EST5EDT,M3.2.0,M11.1.0").unwrap();
        // 2026-11-29 (today): EST.
        assert_eq!(new_york.offset_at(1_795_996_800), -5 * 3600);
        // 2026-07-01: EDT.
        assert_eq!(new_york.offset_at(1_782_864_000), -4 * 3600);
        // Southern hemisphere: summer spans the new year.
        let sydney = Rule::parse("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        assert_eq!(sydney.offset_at(1_767_225_600), 11 * 3600); // 2026-01-01
        assert_eq!(sydney.offset_at(1_782_864_000), 10 * 3600); // 2026-07-01
        assert_eq!(
            Rule::parse("<+0530>-5:30").unwrap().offset_at(0),
            5 * 3600 + 1800
        );
        assert_eq!(Rule::parse("UTC0").unwrap().offset_at(0), 0);
    }

    #[test]
    fn system_zone_files_load_when_present() {
        // Debian's tzdata is on the test machines; the box carries the zones it needs.
        let Ok(berlin) = Zone::named("Europe/Berlin") else {
            panic!("tzdata missing: install the tzdata package (scripts/install-test-deps.sh)");
        };
        assert_eq!(berlin.offset_at(1_795_996_800), 3600, "Berlin in November");
        assert_eq!(berlin.offset_at(1_782_864_000), 7200, "Berlin in July");
        assert_eq!(berlin.offset_at(2_100_000_000), 7200, "July 2036");
        assert_eq!(berlin.offset_at(2_150_000_000), 3600, "February 2038");
        assert_eq!(
            berlin.offset_at(2_224_713_600),
            7200,
            "July 2040: the footer's rule"
        );
        assert_eq!(berlin.offset_at(2_210_198_400), 3600, "January 2040");
        assert!(Zone::named("../etc/passwd").is_err());
        assert!(Zone::named("No/Such_Zone").is_err());
        assert_eq!(Zone::named("UTC").unwrap().offset_at(0), 0);
    }
}
