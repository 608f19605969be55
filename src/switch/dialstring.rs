//! Dial strings, FreeSWITCH's syntax for "whom to ring, how": the target of `bridge`,
//! `originate` and the directory's `dial-string`.
//!
//! ```text
//! {call_timeout=20,ignore_early_media=true}[leg_timeout=10]user/1001@office,user/1002|sofia/gateway/carrier/15551234
//! ```
//!
//! `{...}` (or `<...>`) at the start sets variables on every leg; `[...]` before a leg
//! sets that leg's own. Legs separated by `,` ring at the same time; groups separated by
//! `|` are tried in turn, the next when the previous failed. A variable list may pick
//! its own separator with `^^X` (`{^^:a=1,2:b=3}`), or quote a value with `'...'`.

use std::fmt;

use super::cause::HangupCause;

/// At most this many legs in one dial string: a typo must not ring the whole office
/// a hundred times.
pub const MAX_LEGS: usize = 64;

/// A parsed dial string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialString {
    /// Variables for every leg (`{...}`).
    pub global: Vec<(String, String)>,
    /// Tried in turn; the legs of a group ring at once.
    pub groups: Vec<Vec<Leg>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leg {
    /// This leg's own variables (`[...]`), on top of the global ones.
    pub vars: Vec<(String, String)>,
    pub target: Target,
}

/// Where a leg goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `user/1001[@domain]`: every registered contact of the user.
    User {
        user: String,
        domain: Option<String>,
    },
    /// `sofia/gateway/NAME/NUMBER`: out through a trunk.
    Gateway { gateway: String, number: String },
    /// `sofia/PROFILE/URI`: a SIP URI, through a profile.
    Sofia { profile: String, uri: String },
    /// `loopback/EXTENSION[/CONTEXT]`: back into the dialplan.
    Loopback {
        extension: String,
        context: Option<String>,
    },
    /// `error/CAUSE`: fail at once with that cause.
    Error(HangupCause),
    /// `null`: a leg that answers and does nothing.
    Null,
}

/// Why a dial string was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialStringError(pub String);

impl fmt::Display for DialStringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dial string: {}", self.0)
    }
}

impl std::error::Error for DialStringError {}

impl DialString {
    pub fn parse(text: &str) -> Result<DialString, DialStringError> {
        let err = |m: String| Err(DialStringError(m));
        let mut rest = text.trim();
        let mut global = Vec::new();
        while let Some(open) = rest.chars().next().filter(|c| *c == '{' || *c == '<') {
            let close = if open == '{' { '}' } else { '>' };
            let Some(end) = rest.find(close) else {
                return err(format!("{open} without {close}"));
            };
            global.extend(parse_vars(&rest[1..end])?);
            rest = rest[end + 1..].trim_start();
        }
        let mut groups = Vec::new();
        let mut count = 0;
        for group in split_outside_brackets(rest, '|') {
            let mut legs = Vec::new();
            for leg in split_outside_brackets(group, ',') {
                let leg = leg.trim();
                if leg.is_empty() {
                    continue;
                }
                count += 1;
                if count > MAX_LEGS {
                    return err(format!("more than {MAX_LEGS} legs"));
                }
                legs.push(parse_leg(leg)?);
            }
            if !legs.is_empty() {
                groups.push(legs);
            }
        }
        if groups.is_empty() {
            return err(format!("no leg to call in {text:?}"));
        }
        Ok(DialString { global, groups })
    }
}

fn parse_leg(text: &str) -> Result<Leg, DialStringError> {
    let mut rest = text;
    let mut vars = Vec::new();
    while rest.starts_with('[') {
        let Some(end) = rest.find(']') else {
            return Err(DialStringError(format!("[ without ] in {text:?}")));
        };
        vars.extend(parse_vars(&rest[1..end])?);
        rest = rest[end + 1..].trim_start();
    }
    Ok(Leg {
        vars,
        target: parse_target(rest)?,
    })
}

fn parse_target(text: &str) -> Result<Target, DialStringError> {
    let bad = |why: &str| Err(DialStringError(format!("{text:?}: {why}")));
    let (kind, rest) = text.split_once('/').unwrap_or((text, ""));
    match kind.to_ascii_lowercase().as_str() {
        "user" => {
            let (user, domain) = match rest.split_once('@') {
                Some((u, d)) => (u, Some(d.to_string()).filter(|d| !d.is_empty())),
                None => (rest, None),
            };
            if user.is_empty() {
                return bad("user/ needs a user, e.g. user/1001@office");
            }
            Ok(Target::User {
                user: user.to_string(),
                domain,
            })
        }
        "sofia" => match rest.split_once('/') {
            Some(("gateway", gw)) => match gw.split_once('/') {
                Some((gateway, number)) if !gateway.is_empty() && !number.is_empty() => {
                    Ok(Target::Gateway {
                        gateway: gateway.to_string(),
                        number: number.to_string(),
                    })
                }
                _ => bad("expected sofia/gateway/NAME/NUMBER"),
            },
            Some((profile, uri)) if !profile.is_empty() && !uri.is_empty() => Ok(Target::Sofia {
                profile: profile.to_string(),
                uri: uri.to_string(),
            }),
            _ => bad("expected sofia/PROFILE/URI or sofia/gateway/NAME/NUMBER"),
        },
        "loopback" => {
            let (extension, context) = match rest.split_once('/') {
                Some((e, c)) => (e, Some(c.to_string())),
                None => (rest, None),
            };
            if extension.is_empty() {
                return bad("loopback/ needs an extension");
            }
            Ok(Target::Loopback {
                extension: extension.to_string(),
                context,
            })
        }
        "error" => rest
            .parse::<HangupCause>()
            .map(Target::Error)
            .map_err(|e| DialStringError(e.to_string())),
        "null" => Ok(Target::Null),
        "" => bad("empty leg"),
        other => bad(&format!(
            "unknown endpoint {other:?} (user/, sofia/, loopback/, error/ or null)"
        )),
    }
}

/// `a=1,b=2`, `^^:a=1,2:b=3` (own separator), `a='x,y'` (quoted).
fn parse_vars(text: &str) -> Result<Vec<(String, String)>, DialStringError> {
    let (sep, body) = match text.strip_prefix("^^") {
        Some(rest) => {
            let mut chars = rest.chars();
            match chars.next() {
                Some(c) => (c, chars.as_str()),
                None => return Err(DialStringError("^^ without a separator".into())),
            }
        }
        None => (',', text),
    };
    let mut out = Vec::new();
    for item in split_outside_quotes(body, sep) {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some((name, value)) = item.split_once('=') else {
            return Err(DialStringError(format!("{item:?} is not NAME=VALUE")));
        };
        let value = value.trim();
        let value = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .unwrap_or(value);
        out.push((name.trim().to_string(), value.to_string()));
    }
    Ok(out)
}

/// Splits on `sep` where it is not inside `[]`, `{}` or `<>`.
fn split_outside_brackets(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '[' | '{' | '<' => depth += 1,
            ']' | '}' | '>' => depth -= 1,
            c if c == sep && depth <= 0 => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Splits on `sep` where it is not inside single quotes.
fn split_outside_quotes(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == '\'' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(u: &str, d: Option<&str>) -> Target {
        Target::User {
            user: u.into(),
            domain: d.map(str::to_string),
        }
    }

    #[test]
    fn simultaneous_and_sequential_groups() {
        let d = DialString::parse(
            "{call_timeout=20}[leg_timeout=10]user/1001@office,user/1002|sofia/gateway/carrier/15551234",
        )
        .unwrap();
        assert_eq!(d.global, [("call_timeout".to_string(), "20".to_string())]);
        assert_eq!(d.groups.len(), 2);
        assert_eq!(
            d.groups[0][0].vars,
            [("leg_timeout".to_string(), "10".to_string())]
        );
        assert_eq!(d.groups[0][0].target, user("1001", Some("office")));
        assert_eq!(d.groups[0][1].target, user("1002", None));
        assert_eq!(
            d.groups[1][0].target,
            Target::Gateway {
                gateway: "carrier".into(),
                number: "15551234".into()
            }
        );
    }

    #[test]
    fn the_directorys_dial_string_form_parses() {
        // FreeSWITCH's default directory dial-string, once expanded.
        let d = DialString::parse(
            "{^^:sip_invite_domain=office.test:presence_id=1001@office.test}sofia/internal/sip:1001@192.0.2.10:5060",
        )
        .unwrap();
        assert_eq!(d.global.len(), 2);
        assert_eq!(
            d.global[1],
            ("presence_id".into(), "1001@office.test".into())
        );
        assert_eq!(
            d.groups[0][0].target,
            Target::Sofia {
                profile: "internal".into(),
                uri: "sip:1001@192.0.2.10:5060".into()
            }
        );
    }

    #[test]
    fn commas_inside_brackets_and_quotes_do_not_split() {
        let d = DialString::parse(
            "[a='x,y',b=2]user/1001,[c=3]error/user_busy,loopback/9196/default,null",
        )
        .unwrap();
        let legs = &d.groups[0];
        assert_eq!(legs.len(), 4);
        assert_eq!(legs[0].vars[0], ("a".into(), "x,y".into()));
        assert_eq!(legs[1].target, Target::Error(HangupCause::UserBusy));
        assert_eq!(
            legs[2].target,
            Target::Loopback {
                extension: "9196".into(),
                context: Some("default".into())
            }
        );
        assert_eq!(legs[3].target, Target::Null);
    }

    #[test]
    fn bad_dial_strings_say_what_is_wrong() {
        for (text, want) in [
            ("", "no leg"),
            ("{a=1}", "no leg"),
            ("{a=1 user/1001", "{ without }"),
            ("[x=1user/1001", "[ without ]"),
            ("pots/1001", "unknown endpoint"),
            (
                "sofia/gateway/carrier",
                "expected sofia/gateway/NAME/NUMBER",
            ),
            ("user/@office", "needs a user"),
            ("error/NOT_A_CAUSE", "unknown hangup cause"),
            ("{novalue}user/1001", "not NAME=VALUE"),
        ] {
            let e = DialString::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let many = vec!["user/1001"; MAX_LEGS + 1].join(",");
        assert!(DialString::parse(&many)
            .unwrap_err()
            .to_string()
            .contains("more than"));
    }
}
