//! `autoload_configs/fail2ban.conf.xml`: the box's own banning of brute-force sources
//! (guard::fail2ban), and the optional log in mod_fail2ban's format.
//!
//! ```xml
//! <configuration name="fail2ban.conf">
//!   <settings>
//!     <param name="max-attempts" value="5"/>
//!     <param name="time-window" value="600"/>
//!     <param name="ban-time" value="3600"/>
//!     <param name="whitelist" value="127.0.0.1/32, ::1, 192.168.1.0/24"/>
//!   </settings>
//! </configuration>
//! ```
//!
//! FreeSWITCH's mod_fail2ban (src/mod/event_handlers/mod_fail2ban, and the GitHub
//! module it came from) only writes a log for an external fail2ban, and reads its one
//! param, `logfile`, from `<bindings><config name="settings">`; that layout is read here
//! too, so its file loads unchanged. loopstart bans by itself, so the guard is on even
//! without the file, with the defaults below.
//!
//! Defaults, and why:
//! - `max-attempts` 5 in `time-window` 600 s: fail2ban's own defaults (maxretry,
//!   findtime), which FreeSWITCH users know. A digest challenge (401/407) is not a
//!   failure, only wrong credentials and the like are, so a phone with the right
//!   password never counts; password crackers try hundreds a second, and 10 minutes
//!   also catches the slow ones (one guess a minute).
//! - `ban-time` 3600 s: fail2ban's 600 s lets SIP scanners, which come back, resume
//!   within minutes; an hour costs a mistyped password little.
//! - `ban-escalation` 2 within `repeat-window` 86400 s, capped at `ban-time-max`
//!   604800 s: a source banned again within a day of its last ban gets twice the last
//!   ban (1 h, 2 h, 4 h, ... at most a week), fail2ban's bantime.increment idea.
//! - `max-bans` 10000 (about 1 MB of memory and a few hundred KB of flash), and
//!   `max-tracked` 10000 sources being counted (each holds at most max-attempts
//!   stamps): bounded under a botnet or spoofed-source flood (principle 2). When the
//!   bans are full, the temporary ban nearest its end is dropped for the new one
//!   (counted); a permanent ban is never dropped: when every ban is permanent the new
//!   ban is refused (counted). When the tracked sources are full, the one whose last
//!   failure is oldest is forgotten (counted).
//! - `whitelist` 127.0.0.1/32 and ::1: the box itself (fail2ban ignores localhost too),
//!   and no more, so other loopback aliases (test hosts) are counted. Add the LAN
//!   and the carrier here: a UDP source address can be forged.
//! - `scanner-action` ban: a SIP scanner's User-Agent or probe is not a mistake a phone
//!   makes.
//! - `logfile` none: a log nobody reads wears the box's flash.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::diag::{Diags, Source};
use super::flood::ScannerAction;
use super::values::{boolean, number, params, unknown, Param};
use super::xml::Element;
use crate::cidr::Cidr;

pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
pub const DEFAULT_TIME_WINDOW_SECS: u32 = 600;
pub const DEFAULT_BAN_TIME_SECS: u32 = 3600;
pub const DEFAULT_BAN_ESCALATION: u32 = 2;
pub const DEFAULT_BAN_TIME_MAX_SECS: u32 = 7 * 86_400;
pub const DEFAULT_REPEAT_WINDOW_SECS: u32 = 86_400;
pub const DEFAULT_MAX_BANS: u32 = 10_000;
pub const DEFAULT_MAX_TRACKED: u32 = 10_000;
pub const DEFAULT_WHITELIST: &str = "127.0.0.1/32, ::1/128";

/// Longest ban the params take: ten years (0 is permanent).
const MAX_SECS: u64 = 10 * 365 * 86_400;

/// Which mod_fail2ban's lines the `logfile` gets (guard::fail2ban_log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// The module on GitHub (kurtabersold/freeswitch-mod_fail2ban), whose
    /// filter-freeswitch.conf people install:
    /// `2016-08-10T17:57:54-0400 A registration failed User:1001 IP:203.0.113.5`.
    Github,
    /// The module in FreeSWITCH's tree (src/mod/event_handlers/mod_fail2ban):
    /// `A registration failed user[1001] ip[203.0.113.5] at[2016-08-10T17:57:54.123456-0400]`.
    Freeswitch,
}

impl LogFormat {
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Github => "github",
            LogFormat::Freeswitch => "freeswitch",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fail2banConfig {
    /// `enabled`: false turns banning off (failures are still counted in stats).
    pub enabled: bool,
    /// `max-attempts`: failures within `time_window_secs` that ban a source.
    pub max_attempts: u32,
    /// `time-window` (seconds).
    pub time_window_secs: u32,
    /// `ban-time` (seconds); 0 = permanent.
    pub ban_time_secs: u32,
    /// `ban-escalation`: a repeat offence's ban is the last one times this (1 = off).
    pub ban_escalation: u32,
    /// `ban-time-max` (seconds): escalation stops here.
    pub ban_time_max_secs: u32,
    /// `repeat-window` (seconds): a ban within this long after the source's last ban
    /// ended is a repeat offence.
    pub repeat_window_secs: u32,
    /// `max-bans`: bans held at once.
    pub max_bans: u32,
    /// `max-tracked`: sources whose failures are being counted.
    pub max_tracked: u32,
    /// `whitelist`: never banned (their failures are counted in stats).
    pub whitelist: Vec<Cidr>,
    /// `logfile`: mod_fail2ban-format lines for an external fail2ban; None: no log.
    pub logfile: Option<PathBuf>,
    /// `log-format`.
    pub log_format: LogFormat,
    pub source: Source,
    /// `<flood>`: per-source request density (pike-style).
    pub flood: super::flood::FloodConfig,
    /// `<scanners>`: what gives a scanner away.
    pub scanners: super::flood::ScannerConfig,
}

impl Fail2banConfig {
    /// The settings without a file (see the module comment for why).
    pub fn defaults(source: Source) -> Fail2banConfig {
        Fail2banConfig {
            enabled: true,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            time_window_secs: DEFAULT_TIME_WINDOW_SECS,
            ban_time_secs: DEFAULT_BAN_TIME_SECS,
            ban_escalation: DEFAULT_BAN_ESCALATION,
            ban_time_max_secs: DEFAULT_BAN_TIME_MAX_SECS,
            repeat_window_secs: DEFAULT_REPEAT_WINDOW_SECS,
            max_bans: DEFAULT_MAX_BANS,
            max_tracked: DEFAULT_MAX_TRACKED,
            whitelist: Cidr::parse_list(DEFAULT_WHITELIST).unwrap_or_default(),
            logfile: None,
            log_format: LogFormat::Github,
            source,
            flood: super::flood::FloodConfig::default(),
            scanners: super::flood::ScannerConfig::default(),
        }
    }

    /// The line `loopstart check` prints.
    pub fn summary(&self) -> String {
        let mut s = String::from("fail2ban: ");
        if !self.enabled {
            s.push_str("off (enabled=false: failures are counted, nobody is banned)");
        } else {
            let _ = write!(
                s,
                "ban after {} failures in {} s for {}",
                self.max_attempts,
                self.time_window_secs,
                secs_text(self.ban_time_secs)
            );
            if self.ban_time_secs > 0 && self.ban_escalation > 1 {
                let _ = write!(
                    s,
                    " (x{} per repeat within {} s, at most {})",
                    self.ban_escalation,
                    self.repeat_window_secs,
                    secs_text(self.ban_time_max_secs)
                );
            }
            let _ = write!(
                s,
                "; scanners {}",
                match self.scanners.action {
                    ScannerAction::Ban => "banned at once",
                    ScannerAction::Count => "counted",
                    ScannerAction::Log => "logged only",
                }
            );
        }
        let wl: Vec<String> = self.whitelist.iter().map(Cidr::to_string).collect();
        let _ = write!(
            s,
            "; whitelist {}; max {} bans, {} tracked; log {}",
            if wl.is_empty() {
                "none".to_string()
            } else {
                wl.join(", ")
            },
            self.max_bans,
            self.max_tracked,
            match &self.logfile {
                Some(p) => format!("{} ({} format)", p.display(), self.log_format.name()),
                None => "off".to_string(),
            }
        );
        s.push('\n');
        s
    }
}

fn secs_text(secs: u32) -> String {
    if secs == 0 {
        "ever".to_string()
    } else {
        format!("{secs} s")
    }
}

/// Reads `autoload_configs/fail2ban.conf.xml` under `conf_dir`; no file: the defaults.
pub fn load(
    conf_dir: &Path,
    vars: &mut std::collections::BTreeMap<String, String>,
    diags: &mut Diags,
) -> Fail2banConfig {
    let path = conf_dir.join("autoload_configs").join("fail2ban.conf.xml");
    match super::read_configuration(&path, "fail2ban.conf", vars, diags) {
        Some(el) => fail2ban(&el, diags),
        None => Fail2banConfig::defaults(Source {
            file: path,
            line: 0,
        }),
    }
}

/// Reads `<configuration name="fail2ban.conf">`: `<settings>`, or mod_fail2ban's
/// `<bindings><config name="settings">`.
pub fn fail2ban(el: &Element, diags: &mut Diags) -> Fail2banConfig {
    let mut c = Fail2banConfig::defaults(el.source.clone());
    let mut all = Vec::new();
    for section in &el.children {
        match section.name.as_str() {
            "settings" => {
                for p in params(section, diags) {
                    param(&mut c, &p, diags);
                    all.push(p);
                }
            }
            "bindings" => {
                for config in &section.children {
                    if config.name == "config" {
                        for p in params(config, diags) {
                            param(&mut c, &p, diags);
                            all.push(p);
                        }
                    } else {
                        diags.warn(
                            &config.source,
                            format!(
                                "unknown element <{}> in <bindings> (ignored; expected <config>)",
                                config.name
                            ),
                        );
                    }
                }
            }
            "flood" => c.flood = super::flood::flood(section, diags),
            "scanners" => {
                // `<settings>`' scanner-action, unless `<scanners action>` says otherwise.
                let action = c.scanners.action;
                c.scanners = super::flood::scanners(section, diags);
                if section.attr("action").is_none() {
                    c.scanners.action = action;
                }
            }
            other => diags.warn(
                &section.source,
                format!(
                    "unknown element <{other}> in fail2ban.conf (ignored; expected <settings>, <flood> or <scanners>)"
                ),
            ),
        }
    }
    if c.ban_time_secs > 0 && c.ban_time_max_secs < c.ban_time_secs {
        if let Some(p) = all.iter().rev().find(|p| p.name == "ban-time-max") {
            diags.error(
                &p.source,
                format!(
                    "param \"ban-time-max\" value \"{}\" is shorter than ban-time ({} s); \
                     allowed: at least ban-time",
                    p.value.trim(),
                    c.ban_time_secs
                ),
            );
        }
    }
    // ban-time-max below a (longer) ban-time left at its default: escalation simply
    // starts from ban-time.
    c.ban_time_max_secs = c.ban_time_max_secs.max(c.ban_time_secs);
    c
}

fn param(c: &mut Fail2banConfig, p: &Param, diags: &mut Diags) {
    let secs = |p: &Param, diags: &mut Diags, min: u64, unit: &str| -> Option<u32> {
        number(p, diags, min, MAX_SECS, unit)
    };
    match p.name.as_str() {
        "enabled" => {
            if let Some(b) = boolean(p, diags) {
                c.enabled = b;
            }
        }
        "max-attempts" => {
            if let Some(n) = number(p, diags, 1, 1000, "failures") {
                c.max_attempts = n;
            }
        }
        "time-window" => {
            if let Some(n) = secs(p, diags, 1, "seconds") {
                c.time_window_secs = n;
            }
        }
        "ban-time" => {
            if let Some(n) = secs(p, diags, 0, "seconds; 0 = permanent") {
                c.ban_time_secs = n;
            }
        }
        "ban-escalation" => {
            if let Some(n) = number(p, diags, 1, 100, "multiplier per repeat offence; 1 = off") {
                c.ban_escalation = n;
            }
        }
        "ban-time-max" => {
            if let Some(n) = secs(p, diags, 1, "seconds") {
                c.ban_time_max_secs = n;
            }
        }
        "repeat-window" => {
            if let Some(n) = secs(p, diags, 0, "seconds; 0 = no escalation") {
                c.repeat_window_secs = n;
            }
        }
        "max-bans" => {
            if let Some(n) = number(p, diags, 1, 1_000_000, "bans") {
                c.max_bans = n;
            }
        }
        "max-tracked" => {
            if let Some(n) = number(p, diags, 1, 1_000_000, "sources") {
                c.max_tracked = n;
            }
        }
        "whitelist" => match Cidr::parse_list(&p.value) {
            Ok(list) => c.whitelist = list,
            Err(e) => diags.error(
                &p.source,
                format!(
                    "param \"whitelist\": {e}; allowed: addresses or CIDR blocks separated by \
                     commas (empty: none)"
                ),
            ),
        },
        "logfile" => {
            let v = p.value.trim();
            if v.is_empty() {
                diags.error(
                    &p.source,
                    "param \"logfile\" is empty; allowed: a file path such as \
                     /var/log/loopstart/fail2ban.log (leave the param out for no log)",
                );
            } else {
                c.logfile = Some(PathBuf::from(v));
            }
        }
        "log-format" => match p.value.trim().to_ascii_lowercase().as_str() {
            "github" => c.log_format = LogFormat::Github,
            "freeswitch" => c.log_format = LogFormat::Freeswitch,
            _ => diags.error(
                &p.source,
                format!(
                    "param \"log-format\" value \"{}\" is not a log format; allowed: github \
                     (kurtabersold/freeswitch-mod_fail2ban's lines) or freeswitch (the lines \
                     of FreeSWITCH's own mod_fail2ban)",
                    p.value
                ),
            ),
        },
        // The same setting as `<scanners action="...">`.
        "scanner-action" => match p.value.trim().to_ascii_lowercase().as_str() {
            "count" => c.scanners.action = ScannerAction::Count,
            "ban" => c.scanners.action = ScannerAction::Ban,
            "log" => c.scanners.action = ScannerAction::Log,
            _ => diags.error(
                &p.source,
                format!(
                    "param \"scanner-action\" value \"{}\" is not an action; allowed: ban \
                     (at once), count (one failure towards max-attempts) or log (report only)",
                    p.value
                ),
            ),
        },
        _ => unknown(p, &[], diags),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::xml::load_str;
    use crate::config::Severity;

    fn parse_doc(text: &str) -> (Fail2banConfig, Diags) {
        let mut diags = Diags::default();
        let els = load_str(
            Path::new("fail2ban.conf.xml"),
            text,
            &mut Default::default(),
            &mut diags,
        );
        let c = fail2ban(&els[0], &mut diags);
        (c, diags)
    }

    fn parse(settings: &str) -> (Fail2banConfig, Diags) {
        parse_doc(&format!(
            "<configuration name=\"fail2ban.conf\">\n<settings>\n{settings}\n</settings>\n</configuration>"
        ))
    }

    fn errors(d: &Diags) -> Vec<String> {
        d.0.iter()
            .filter(|x| x.severity == Severity::Error)
            .map(|x| x.to_string())
            .collect()
    }

    #[test]
    fn without_params_the_guard_is_on_with_secure_defaults() {
        let (c, diags) = parse("");
        assert!(diags.0.is_empty(), "{diags:?}");
        assert!(c.enabled);
        assert_eq!(
            (c.max_attempts, c.time_window_secs, c.ban_time_secs),
            (5, 600, 3600)
        );
        assert_eq!(
            (c.ban_escalation, c.ban_time_max_secs, c.repeat_window_secs),
            (2, 604_800, 86_400)
        );
        assert_eq!((c.max_bans, c.max_tracked), (10_000, 10_000));
        assert_eq!(
            c.whitelist,
            vec![
                Cidr::parse("127.0.0.1").unwrap(),
                Cidr::parse("::1").unwrap()
            ]
        );
        assert_eq!(c.logfile, None);
        assert_eq!(c.scanners.action, ScannerAction::Ban);
    }

    #[test]
    fn a_missing_file_gives_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let mut diags = Diags::default();
        let c = load(dir.path(), &mut Default::default(), &mut diags);
        assert!(diags.0.is_empty());
        assert_eq!(c.max_attempts, DEFAULT_MAX_ATTEMPTS);
        assert!(c.enabled);
        assert!(c
            .source
            .file
            .ends_with("autoload_configs/fail2ban.conf.xml"));
    }

    #[test]
    fn every_param_is_read() {
        let (c, diags) = parse(
            r#"<param name="enabled" value="yes"/>
<param name="max-attempts" value="3"/>
<param name="time-window" value="60"/>
<param name="ban-time" value="0"/>
<param name="ban-escalation" value="4"/>
<param name="ban-time-max" value="100000"/>
<param name="repeat-window" value="3600"/>
<param name="max-bans" value="50"/>
<param name="max-tracked" value="70"/>
<param name="whitelist" value=" 10.0.0.0/8, 2001:db8::/32 ,"/>
<param name="logfile" value="/var/log/loopstart/fail2ban.log"/>
<param name="log-format" value="FreeSWITCH"/>
<param name="scanner-action" value="count"/>"#,
        );
        assert!(diags.0.is_empty(), "{diags:?}");
        assert_eq!(
            (c.max_attempts, c.time_window_secs, c.ban_time_secs),
            (3, 60, 0)
        );
        assert_eq!(
            (c.ban_escalation, c.ban_time_max_secs, c.repeat_window_secs),
            (4, 100_000, 3600)
        );
        assert_eq!((c.max_bans, c.max_tracked), (50, 70));
        assert_eq!(c.whitelist.len(), 2);
        assert!(c.whitelist[1].contains("2001:db8::5".parse().unwrap()));
        assert_eq!(
            c.logfile.as_deref(),
            Some(Path::new("/var/log/loopstart/fail2ban.log"))
        );
        assert_eq!(c.log_format, LogFormat::Freeswitch);
        assert_eq!(c.scanners.action, ScannerAction::Count);
        // An empty whitelist is allowed: nobody is exempt.
        let (c, diags) = parse(r#"<param name="whitelist" value=""/>"#);
        assert!(diags.0.is_empty());
        assert!(c.whitelist.is_empty());
    }

    #[test]
    fn mod_fail2ban_s_own_file_loads() {
        // FreeSWITCH's src/mod/event_handlers/mod_fail2ban/fail2ban.conf.xml.
        let (c, diags) = parse_doc(
            r#"<configuration name="fail2ban.conf" description="fail2ban log configs">
  <bindings>
    <config name="settings" desription="configs">
      <param name="logfile" value="/usr/local/freeswitch/log/fail2ban.log"/>
    </config>
  </bindings>
</configuration>"#,
        );
        assert!(diags.0.is_empty(), "{diags:?}");
        assert_eq!(
            c.logfile.as_deref(),
            Some(Path::new("/usr/local/freeswitch/log/fail2ban.log"))
        );
        assert!(c.enabled);
    }

    #[test]
    fn bad_values_are_errors_with_file_line_and_what_is_allowed() {
        let (c, diags) = parse(
            r#"<param name="max-attempts" value="0"/>
<param name="time-window" value="soon"/>
<param name="whitelist" value="10.0.0.0/8, 10.0.0.0/40"/>
<param name="scanner-action" value="shout"/>
<param name="log-format" value="syslog"/>
<param name="logfile" value=" "/>
<param name="enabled" value="perhaps"/>"#,
        );
        let e = errors(&diags);
        assert_eq!(e.len(), 7, "{e:#?}");
        assert_eq!(
            e[0],
            "fail2ban.conf.xml:3: error: param \"max-attempts\" value \"0\" is not in range; \
             allowed: 1-1000 (failures)"
        );
        assert!(e[1].starts_with("fail2ban.conf.xml:4: error: param \"time-window\" value \"soon\" is not a number; allowed: 1-"), "{}", e[1]);
        assert!(e[2].starts_with("fail2ban.conf.xml:5: error: param \"whitelist\": \"10.0.0.0/40\" is not an address or CIDR block"), "{}", e[2]);
        assert!(
            e[3].contains(":6: ") && e[3].contains("allowed: ban"),
            "{}",
            e[3]
        );
        assert!(
            e[4].contains(":7: ") && e[4].contains("allowed: github"),
            "{}",
            e[4]
        );
        assert!(
            e[5].contains(":8: ") && e[5].contains("logfile"),
            "{}",
            e[5]
        );
        assert!(
            e[6].contains(":9: ") && e[6].contains("boolean"),
            "{}",
            e[6]
        );
        // The defaults stay where a value was refused.
        assert_eq!(c.max_attempts, 5);
        assert_eq!(c.whitelist.len(), 2);
    }

    #[test]
    fn ban_time_max_below_ban_time_is_an_error() {
        let (_, diags) = parse(
            r#"<param name="ban-time" value="7200"/>
<param name="ban-time-max" value="60"/>"#,
        );
        let e = errors(&diags);
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("fail2ban.conf.xml:4: error: param \"ban-time-max\" value \"60\" is shorter than ban-time (7200 s)"), "{}", e[0]);
        // A long ban-time with the default cap: escalation starts from ban-time.
        let (c, diags) = parse(r#"<param name="ban-time" value="2000000"/>"#);
        assert!(diags.0.is_empty());
        assert_eq!(c.ban_time_max_secs, 2_000_000);
    }

    #[test]
    fn unknown_params_and_elements_are_warnings() {
        let (_, diags) = parse_doc(
            r#"<configuration name="fail2ban.conf">
<settings><param name="bantime" value="60"/></settings>
<jails/>
</configuration>"#,
        );
        let w: Vec<String> = diags.0.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            w,
            [
                "fail2ban.conf.xml:2: warning: unknown param \"bantime\" (ignored)",
                "fail2ban.conf.xml:3: warning: unknown element <jails> in fail2ban.conf (ignored; expected <settings>, <flood> or <scanners>)",
            ]
        );
    }

    #[test]
    fn the_summary_is_one_line() {
        let c = Fail2banConfig::defaults(Source {
            file: "x".into(),
            line: 0,
        });
        assert_eq!(
            c.summary(),
            "fail2ban: ban after 5 failures in 600 s for 3600 s (x2 per repeat within 86400 s, \
             at most 604800 s); scanners banned at once; whitelist 127.0.0.1/32, ::1/128; \
             max 10000 bans, 10000 tracked; log off\n"
        );
        let mut off = c.clone();
        off.enabled = false;
        off.whitelist.clear();
        assert!(off.summary().starts_with("fail2ban: off"));
        assert!(off.summary().contains("whitelist none"));
    }
}
