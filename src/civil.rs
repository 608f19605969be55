//! Civil time: a Unix time as a calendar and a clock show it, at a fixed offset from
//! UTC. Shared by the SIP Date header, the dialplan's time conditions and CDR stamps;
//! no timezone database (the offset comes from configuration).

/// A moment as a calendar shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i32,
    /// 1-12.
    pub month: u8,
    /// 1-31.
    pub mday: u8,
    /// 1 = Sunday ... 7 = Saturday, as FreeSWITCH counts.
    pub wday: u8,
    /// 1-366.
    pub yday: u16,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl CivilTime {
    /// The civil time `offset_secs` east of UTC at `unix_secs`.
    pub fn from_unix(unix_secs: i64, offset_secs: i32) -> CivilTime {
        let t = unix_secs + i64::from(offset_secs);
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400);
        // Howard Hinnant's days-to-civil.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let mday = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        const BEFORE: [u16; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let yday = BEFORE[(month - 1) as usize] + mday as u16 + u16::from(leap && month > 2);
        // 1970-01-01 was a Thursday (5 when Sunday is 1).
        let wday = ((days + 4).rem_euclid(7) + 1) as u8;
        CivilTime {
            year: year as i32,
            month: month as u8,
            mday: mday as u8,
            wday,
            yday,
            hour: (secs / 3600) as u8,
            minute: (secs % 3600 / 60) as u8,
            second: (secs % 60) as u8,
        }
    }

    pub fn seconds_of_day(&self) -> u32 {
        u32::from(self.hour) * 3600 + u32::from(self.minute) * 60 + u32::from(self.second)
    }

    /// Comparable stamp for date-time ranges: YYYYMMDDhhmmss as a number.
    pub fn stamp(&self) -> i64 {
        (((i64::from(self.year) * 100 + i64::from(self.month)) * 100 + i64::from(self.mday))
            * 1_000_000)
            + i64::from(self.hour) * 10_000
            + i64::from(self.minute) * 100
            + i64::from(self.second)
    }
}

/// RFC 7231 IMF-fixdate, e.g. `Sun, 22 Nov 2026 10:53:52 GMT` (SIP's Date header, on
/// every 200 to a REGISTER: built by hand, no formatting machinery).
pub fn http_date(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = CivilTime::from_unix(i64::try_from(unix_secs).unwrap_or(i64::MAX), 0);
    let mut out = String::with_capacity(29);
    let two = |out: &mut String, n: u8| {
        out.push(char::from(b'0' + n / 10 % 10));
        out.push(char::from(b'0' + n % 10));
    };
    out.push_str(DAYS[usize::from(t.wday - 1)]);
    out.push_str(", ");
    two(&mut out, t.mday);
    out.push(' ');
    out.push_str(MONTHS[usize::from(t.month - 1)]);
    out.push(' ');
    // A four-digit year: two pairs.
    let year = t.year.clamp(0, 9999) as u16;
    two(&mut out, (year / 100) as u8);
    two(&mut out, (year % 100) as u8);
    out.push(' ');
    two(&mut out, t.hour);
    out.push(':');
    two(&mut out, t.minute);
    out.push(':');
    two(&mut out, t.second);
    out.push_str(" GMT");
    out
}
