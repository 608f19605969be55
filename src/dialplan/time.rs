//! Time conditions (`wday="2-6" time-of-day="08:00-17:00"` ...), evaluated against a
//! civil time the caller computes in the configured timezone: the engine never reads
//! a clock.

use std::fmt;

pub use crate::civil::CivilTime;

/// One time test of a condition; all of a condition's tests must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeTest {
    Year(Ranges),
    Yday(Ranges),
    /// Week of the year, FreeSWITCH's count: days 1-7 are week 1.
    Week(Ranges),
    /// Week of the month, weeks starting on Sunday (FreeSWITCH's count).
    Mweek(Ranges),
    Mon(Ranges),
    Mday(Ranges),
    Wday(Ranges),
    Hour(Ranges),
    Minute(Ranges),
    MinuteOfDay(Ranges),
    /// Seconds of the day, start..=end; wraps past midnight when start > end.
    TimeOfDay(u32, u32),
    /// YYYYMMDDhhmmss stamps, inclusive.
    DateTime(i64, i64),
}

/// `1-5,7`: inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ranges(Vec<(i64, i64)>);

impl Ranges {
    fn contains(&self, v: i64) -> bool {
        self.0.iter().any(|&(a, b)| a <= v && v <= b)
    }
}

/// The condition attributes that are time tests.
pub const ATTRIBUTES: &[&str] = &[
    "year",
    "yday",
    "week",
    "mweek",
    "mon",
    "mday",
    "wday",
    "hour",
    "minute",
    "minute-of-day",
    "time-of-day",
    "date-time",
];

/// Why a time attribute's value was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct BadTime(pub String);

impl fmt::Display for BadTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TimeTest {
    /// Parses one attribute (`name` from [`ATTRIBUTES`]).
    pub fn parse(name: &str, value: &str) -> Result<TimeTest, BadTime> {
        let v = value.trim();
        Ok(match name {
            "year" => TimeTest::Year(ranges(v, 1970, 9999, &[])?),
            "yday" => TimeTest::Yday(ranges(v, 1, 366, &[])?),
            "week" => TimeTest::Week(ranges(v, 1, 53, &[])?),
            "mweek" => TimeTest::Mweek(ranges(v, 1, 6, &[])?),
            "mon" => TimeTest::Mon(ranges(v, 1, 12, &MONTHS)?),
            "mday" => TimeTest::Mday(ranges(v, 1, 31, &[])?),
            "wday" => TimeTest::Wday(ranges(v, 1, 7, &WEEKDAYS)?),
            "hour" => TimeTest::Hour(ranges(v, 0, 23, &[])?),
            "minute" => TimeTest::Minute(ranges(v, 0, 59, &[])?),
            "minute-of-day" => TimeTest::MinuteOfDay(ranges(v, 1, 1440, &[])?),
            "time-of-day" => {
                let (a, b) = v
                    .split_once('-')
                    .ok_or_else(|| BadTime(format!("time-of-day {v:?}: expected HH:MM-HH:MM")))?;
                TimeTest::TimeOfDay(clock(a)?, clock(b)?)
            }
            "date-time" => {
                let (a, b) = v.split_once('~').ok_or_else(|| {
                    BadTime(format!(
                        "date-time {v:?}: expected YYYY-MM-DD HH:MM~YYYY-MM-DD HH:MM"
                    ))
                })?;
                TimeTest::DateTime(date_time(a)?, date_time(b)?)
            }
            other => return Err(BadTime(format!("{other} is not a time condition"))),
        })
    }

    pub fn holds(&self, t: &CivilTime) -> bool {
        match self {
            TimeTest::Year(r) => r.contains(i64::from(t.year)),
            TimeTest::Yday(r) => r.contains(i64::from(t.yday)),
            TimeTest::Week(r) => r.contains((i64::from(t.yday) - 1) / 7 + 1),
            TimeTest::Mweek(r) => {
                // The weekday the month began on, then which Sunday-started row of the
                // month's calendar this day sits in.
                let (mday, wday) = (i64::from(t.mday), i64::from(t.wday));
                let first = (7 - (mday - wday) % 7) % 7;
                r.contains((mday + first + 6) / 7)
            }
            TimeTest::Mon(r) => r.contains(i64::from(t.month)),
            TimeTest::Mday(r) => r.contains(i64::from(t.mday)),
            TimeTest::Wday(r) => r.contains(i64::from(t.wday)),
            TimeTest::Hour(r) => r.contains(i64::from(t.hour)),
            TimeTest::Minute(r) => r.contains(i64::from(t.minute)),
            TimeTest::MinuteOfDay(r) => {
                r.contains(i64::from(t.hour) * 60 + i64::from(t.minute) + 1)
            }
            TimeTest::TimeOfDay(a, b) => {
                let s = t.seconds_of_day();
                if a <= b {
                    *a <= s && s <= *b
                } else {
                    s >= *a || s <= *b
                }
            }
            TimeTest::DateTime(a, b) => (*a..=*b).contains(&t.stamp()),
        }
    }
}

const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// `1-5,7` or, where `names` are given, `mon-fri,sun`.
fn ranges(v: &str, min: i64, max: i64, names: &[&str]) -> Result<Ranges, BadTime> {
    let one = |s: &str| -> Result<i64, BadTime> {
        let s = s.trim();
        let n = match s.parse::<i64>() {
            Ok(n) => n,
            Err(_) => names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(s))
                .map(|i| i as i64 + 1)
                .ok_or_else(|| BadTime(format!("{s:?} is not a number from {min} to {max}")))?,
        };
        if n < min || n > max {
            return Err(BadTime(format!("{n} is out of range {min}-{max}")));
        }
        Ok(n)
    };
    let mut out = Vec::new();
    for part in v.split(',').filter(|p| !p.trim().is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (one(a)?, one(b)?),
            None => {
                let n = one(part)?;
                (n, n)
            }
        };
        if a <= b {
            out.push((a, b));
        } else {
            // A range across the end wraps (wday="sat-mon").
            out.push((a, max));
            out.push((min, b));
        }
    }
    if out.is_empty() {
        return Err(BadTime("empty range".into()));
    }
    Ok(Ranges(out))
}

/// `HH:MM` or `HH:MM:SS` → seconds of the day.
fn clock(s: &str) -> Result<u32, BadTime> {
    let bad = || BadTime(format!("{:?}: expected HH:MM or HH:MM:SS", s.trim()));
    let mut parts = s.trim().split(':');
    let h: u32 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let m: u32 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let sec: u32 = match parts.next() {
        Some(p) => p.parse().map_err(|_| bad())?,
        None => 0,
    };
    if parts.next().is_some() || h > 23 || m > 59 || sec > 59 {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60 + sec)
}

/// `YYYY-MM-DD HH:MM[:SS]` → stamp.
fn date_time(s: &str) -> Result<i64, BadTime> {
    let s = s.trim();
    let bad = || BadTime(format!("{s:?}: expected YYYY-MM-DD HH:MM[:SS]"));
    let (date, time) = s.split_once(' ').ok_or_else(bad)?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, day) = match (d.next(), d.next(), d.next(), d.next()) {
        (Some(Some(y)), Some(Some(mo)), Some(Some(day)), None)
            if (1..=12).contains(&mo) && (1..=31).contains(&day) =>
        {
            (y, mo, day)
        }
        _ => return Err(bad()),
    };
    let secs = i64::from(clock(time)?);
    Ok(((y * 100 + mo) * 100 + day) * 1_000_000
        + secs / 3600 * 10_000
        + secs % 3600 / 60 * 100
        + secs % 60)
}
