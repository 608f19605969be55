//! Argument splitting as FreeSWITCH's `switch_separate_string(buf, ' ', argv, n)`
//! (src/switch_utils.c, `separate_string_blank_delim` + `cleanup_separated_string`),
//! so API commands and application data split exactly as they do there:
//!
//! * runs of spaces separate arguments; leading and trailing spaces are dropped;
//! * at most `max` arguments: the last one keeps the rest of the text, spaces and all
//!   (`blacklist check LIST a b` checks `a b`);
//! * `'single quotes'` group words and are removed (a lone `'` is kept);
//! * a backslash escapes the next character while splitting; afterwards `\'`, `\"`,
//!   `\\` lose their backslash and `\n`, `\r`, `\t`, `\s` become newline, return, tab,
//!   space; any other backslash stays.

/// Splits `text` into at most `max` arguments (none for empty text, one empty argument
/// for blank text, as FreeSWITCH).
pub fn separate_blank(text: &str, max: usize) -> Vec<String> {
    let b = text.as_bytes();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    if max == 0 {
        return Vec::new();
    }
    #[derive(PartialEq)]
    enum State {
        Start,
        SkipInitial,
        Find,
        SkipEnding,
    }
    let mut state = State::Start;
    let mut quoted = false;
    let mut i = 0;
    while i < b.len() && spans.len() < max {
        match state {
            State::Start => {
                spans.push((i, b.len()));
                state = State::SkipInitial;
            }
            State::SkipInitial => {
                if b[i] == b' ' {
                    i += 1;
                } else {
                    state = State::Find;
                }
            }
            State::Find => {
                if b[i] == b'\\' {
                    i += 1;
                } else if b[i] == b'\'' {
                    quoted = !quoted;
                } else if b[i] == b' ' && !quoted {
                    if let Some(last) = spans.last_mut() {
                        last.1 = i;
                    }
                    state = State::SkipEnding;
                }
                i += 1;
            }
            State::SkipEnding => {
                if b[i] == b' ' {
                    i += 1;
                } else {
                    state = State::Start;
                }
            }
        }
    }
    spans
        .into_iter()
        .map(|(s, e)| cleanup(&b[s..e.min(b.len())]))
        .collect()
}

/// `cleanup_separated_string` with no delimiter: quotes, escapes, outer spaces.
fn cleanup(arg: &[u8]) -> String {
    let start = arg.iter().position(|&c| c != b' ').unwrap_or(arg.len());
    let arg = &arg[start..];
    let mut out: Vec<u8> = Vec::with_capacity(arg.len());
    let mut end: Option<usize> = None;
    let mut quoted = false;
    let mut i = 0;
    while i < arg.len() {
        let c = arg[i];
        if c == b'\\' {
            if let Some(&e) = arg.get(i + 1) {
                let mapped = match e {
                    b'\'' | b'"' | b'\\' => Some(e),
                    b'n' => Some(b'\n'),
                    b'r' => Some(b'\r'),
                    b't' => Some(b'\t'),
                    b's' => Some(b' '),
                    _ => None,
                };
                if let Some(m) = mapped {
                    out.push(m);
                    end = Some(out.len());
                    i += 2;
                    continue;
                }
            }
        }
        if c == b'\'' && (quoted || arg[i + 1..].contains(&b'\'')) {
            quoted = !quoted;
            if quoted {
                end = Some(out.len());
            }
        } else {
            out.push(c);
            if c != b' ' || quoted {
                end = Some(out.len());
            }
        }
        i += 1;
    }
    out.truncate(end.unwrap_or(out.len()));
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// C's `atoi`: leading spaces, a sign, digits; anything else ends the number; no
/// digits is 0. Saturates instead of overflowing.
pub fn atoi(s: &str) -> i64 {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for c in digits.bytes() {
        if !c.is_ascii_digit() {
            break;
        }
        n = n.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str, max: usize) -> Vec<String> {
        separate_blank(s, max)
    }

    #[test]
    fn spaces_separate_and_the_last_argument_keeps_the_rest() {
        assert_eq!(
            split("check  spammers 1000", 3),
            ["check", "spammers", "1000"]
        );
        assert_eq!(split("  check spammers  ", 3), ["check", "spammers"]);
        assert_eq!(
            split("check spammers a b  c ", 3),
            ["check", "spammers", "a b  c"]
        );
        assert!(split("", 3).is_empty());
        // As in FreeSWITCH: blank text is one empty argument.
        assert_eq!(split("   ", 3), [""]);
        assert_eq!(split("a b", 1), ["a b"]);
    }

    #[test]
    fn quotes_group_and_escapes_unescape() {
        assert_eq!(split("add 'my list' x", 3), ["add", "my list", "x"]);
        assert_eq!(split("a it\\'s", 3), ["a", "it's"]);
        assert_eq!(split("a b\\sc", 3), ["a", "b c"]);
        assert_eq!(split("a b\\ c d", 3), ["a", "b\\ c", "d"]);
        assert_eq!(split("a don't", 3), ["a", "don't"]);
        assert_eq!(split("a \\", 3), ["a", "\\"]);
    }

    #[test]
    fn atoi_is_c_atoi() {
        assert_eq!(atoi("10"), 10);
        assert_eq!(atoi("10abc"), 10);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi(""), 0);
        assert_eq!(atoi("-5"), -5);
        assert_eq!(atoi(" +7"), 7);
        assert_eq!(atoi("99999999999999999999999"), i64::MAX);
    }
}
