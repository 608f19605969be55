//! The switch's built-in applications (FreeSWITCH's mod_dptools set): each dialplan
//! action's name and expanded data parsed into a typed [`App`], so execution in
//! `engine.rs` matches on meanings, not strings, and a bad argument is reported with
//! the application's name before anything happens to the call.
//!
//! Applications with a module of their own (callcenter, voicemail, ...) will live in
//! `crate::apps`, above the switch; these are the ones the switch itself must know to
//! run a call.

use std::fmt;

use super::cause::HangupCause;
use super::dialstring::DialString;
use crate::guard::limit::LimitArgs;
use crate::media::tone::ToneSpec;

#[derive(Clone, Debug, PartialEq)]
pub enum App {
    Answer,
    PreAnswer,
    RingReady,
    Set {
        name: String,
        value: String,
    },
    /// `export [nolocal:]name=value`: also set on every leg this channel dials.
    Export {
        name: String,
        value: String,
        local: bool,
    },
    Unset(String),
    Hangup(HangupCause),
    Respond {
        code: u16,
        reason: Option<String>,
    },
    Transfer {
        extension: String,
        dialplan: String,
        context: Option<String>,
    },
    Bridge(DialString),
    Sleep(u64),
    Log {
        level: String,
        message: String,
    },
    Echo,
    Park,
    Playback(ToneSpec),
    /// mod_dptools' `limit` (the hash backend; see `guard::limit`).
    Limit(LimitArgs),
}

/// Why an application cannot run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppError {
    /// Not an application this switch has (yet).
    Unknown(String),
    /// Known, but its data is wrong.
    BadData { app: String, reason: String },
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Unknown(a) => write!(f, "no application named {a:?}"),
            AppError::BadData { app, reason } => write!(f, "{app}: {reason}"),
        }
    }
}

impl App {
    /// `name` and its data with `${variables}` already expanded.
    pub fn parse(name: &str, data: &str) -> Result<App, AppError> {
        let bad = |reason: String| AppError::BadData {
            app: name.to_string(),
            reason,
        };
        let data = data.trim();
        Ok(match name {
            "answer" => App::Answer,
            "pre_answer" => App::PreAnswer,
            "ring_ready" => App::RingReady,
            "set" => {
                let (n, v) = split_assignment(data)
                    .ok_or_else(|| bad(format!("{data:?} is not name=value")))?;
                App::Set { name: n, value: v }
            }
            "export" => {
                let (local, rest) = match data.strip_prefix("nolocal:") {
                    Some(r) => (false, r),
                    None => (true, data),
                };
                let (n, v) = split_assignment(rest)
                    .ok_or_else(|| bad(format!("{data:?} is not name=value")))?;
                App::Export {
                    name: n,
                    value: v,
                    local,
                }
            }
            "unset" => {
                if data.is_empty() {
                    return Err(bad("which variable?".into()));
                }
                App::Unset(data.to_string())
            }
            "hangup" => {
                let cause = if data.is_empty() {
                    HangupCause::NormalClearing
                } else {
                    data.parse::<HangupCause>()
                        .map_err(|e| bad(e.to_string()))?
                };
                App::Hangup(cause)
            }
            "respond" => {
                let (code, reason) = match data.split_once(' ') {
                    Some((c, r)) => (c, Some(r.trim().to_string())),
                    None => (data, None),
                };
                let code: u16 = code
                    .parse()
                    .ok()
                    .filter(|c| (100..700).contains(c))
                    .ok_or_else(|| bad(format!("{code:?} is not a SIP status code")))?;
                App::Respond { code, reason }
            }
            "transfer" => {
                let mut words = data.split_whitespace();
                let extension = words
                    .next()
                    .ok_or_else(|| bad("transfer needs a destination".into()))?
                    .to_string();
                let dialplan = words.next().unwrap_or("XML").to_string();
                let context = words.next().map(str::to_string);
                App::Transfer {
                    extension,
                    dialplan,
                    context,
                }
            }
            "bridge" => App::Bridge(DialString::parse(data).map_err(|e| bad(e.to_string()))?),
            "sleep" => App::Sleep(
                data.parse()
                    .map_err(|_| bad(format!("{data:?} is not milliseconds")))?,
            ),
            "log" => {
                let (level, message) = match data.split_once(' ') {
                    Some((l, m)) if is_log_level(l) => (l.to_ascii_uppercase(), m.to_string()),
                    _ => ("DEBUG".to_string(), data.to_string()),
                };
                App::Log { level, message }
            }
            "echo" => App::Echo,
            "park" => App::Park,
            "playback" => {
                if data.starts_with("tone_stream://") || data.starts_with("silence_stream://") {
                    App::Playback(ToneSpec::parse(data).map_err(|e| bad(e.to_string()))?)
                } else {
                    return Err(bad(format!(
                        "{data:?}: only tone_stream:// and silence_stream:// can be played so far"
                    )));
                }
            }
            "limit" => App::Limit(LimitArgs::parse(data).map_err(|e| bad(e.to_string()))?),
            other => return Err(AppError::Unknown(other.to_string())),
        })
    }
}

/// `name=value`; the value may contain `=`.
fn split_assignment(data: &str) -> Option<(String, String)> {
    let (n, v) = data.split_once('=')?;
    let n = n.trim();
    if n.is_empty() {
        return None;
    }
    Some((n.to_string(), v.to_string()))
}

fn is_log_level(word: &str) -> bool {
    matches!(
        word.to_ascii_uppercase().as_str(),
        "CONSOLE" | "ALERT" | "CRIT" | "ERR" | "WARNING" | "NOTICE" | "INFO" | "DEBUG"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applications_parse_as_freeswitch_writes_them() {
        assert_eq!(
            App::parse("set", "hangup_after_bridge=true").unwrap(),
            App::Set {
                name: "hangup_after_bridge".into(),
                value: "true".into()
            }
        );
        assert_eq!(
            App::parse("set", "a=b=c").unwrap(),
            App::Set {
                name: "a".into(),
                value: "b=c".into()
            }
        );
        assert_eq!(
            App::parse("export", "nolocal:x=1").unwrap(),
            App::Export {
                name: "x".into(),
                value: "1".into(),
                local: false
            }
        );
        assert_eq!(
            App::parse("hangup", "").unwrap(),
            App::Hangup(HangupCause::NormalClearing)
        );
        assert_eq!(
            App::parse("hangup", "USER_BUSY").unwrap(),
            App::Hangup(HangupCause::UserBusy)
        );
        assert_eq!(
            App::parse("respond", "486 Busy Here").unwrap(),
            App::Respond {
                code: 486,
                reason: Some("Busy Here".into())
            }
        );
        assert_eq!(
            App::parse("transfer", "1000 XML default").unwrap(),
            App::Transfer {
                extension: "1000".into(),
                dialplan: "XML".into(),
                context: Some("default".into())
            }
        );
        assert_eq!(App::parse("sleep", "1000").unwrap(), App::Sleep(1000));
        assert_eq!(
            App::parse("log", "INFO hello there").unwrap(),
            App::Log {
                level: "INFO".into(),
                message: "hello there".into()
            }
        );
        assert!(
            matches!(App::parse("bridge", "user/1001,user/1002").unwrap(), App::Bridge(d) if d.groups[0].len() == 2)
        );
        assert!(matches!(
            App::parse("playback", "tone_stream://%(100,0,440)").unwrap(),
            App::Playback(_)
        ));
        assert!(
            matches!(App::parse("limit", "hash outbound 1001 2 !USER_BUSY").unwrap(),
                App::Limit(a) if a.max == 2 && a.realm == "outbound")
        );
    }

    #[test]
    fn bad_data_names_the_application() {
        assert_eq!(
            App::parse("voicemail", "x"),
            Err(AppError::Unknown("voicemail".into()))
        );
        let e = App::parse("sleep", "soon").unwrap_err().to_string();
        assert!(e.starts_with("sleep:"), "{e}");
        assert!(App::parse("hangup", "NOT_A_CAUSE").is_err());
        assert!(App::parse("respond", "99").is_err());
        assert!(App::parse("set", "novalue").is_err());
        let e = App::parse("limit", "hash outbound")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("limit: USAGE: limit <backend>"), "{e}");
        let e = App::parse("playback", "/tmp/x.wav")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tone_stream"), "{e}");
    }
}
