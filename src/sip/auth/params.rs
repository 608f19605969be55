//! The shared syntax of `WWW-Authenticate` and `Authorization` values:
//! `Digest name=value, name="quoted \"value\"", ...` (RFC 7235 §2.1, RFC 3261 §25.1).
//! Names are case-insensitive; values are tokens or quoted-strings with `\` escapes.

use super::AuthError;
pub(crate) use crate::sip::wire::write_quoted;
use std::borrow::Cow;
#[cfg(test)]
use std::fmt;

/// More parameters than any real header carries; past this the input is hostile.
const MAX_PARAMS: usize = 32;

/// One `name=value` pair, borrowed from the header: `name` as written (compare it
/// case-insensitively), `value` unescaped (owned only when it had escapes).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Param<'a> {
    pub name: &'a str,
    pub value: Cow<'a, str>,
}

/// Parses `Digest <params>`; any other scheme is [`AuthError::Unsupported`].
/// A parameter given twice is an error: which one to believe would be a guess.
pub(crate) fn parse_digest(header_value: &str) -> Result<Vec<Param<'_>>, AuthError> {
    let s = header_value.trim_matches(is_lws);
    let scheme_end = s.find(is_lws).unwrap_or(s.len());
    let scheme = &s[..scheme_end];
    if scheme.is_empty() {
        return Err(AuthError::Malformed("empty header value".into()));
    }
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(AuthError::Unsupported(format!(
            "authentication scheme {scheme:?} (only Digest)"
        )));
    }
    let params = parse_params(&s[scheme_end..])?;
    for (i, p) in params.iter().enumerate() {
        if params[..i]
            .iter()
            .any(|q| q.name.eq_ignore_ascii_case(p.name))
        {
            return Err(AuthError::Malformed(format!(
                "parameter {} given twice",
                p.name
            )));
        }
    }
    Ok(params)
}

fn is_lws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn parse_params(input: &str) -> Result<Vec<Param<'_>>, AuthError> {
    let mut out = Vec::new();
    let mut rest = input;
    loop {
        rest = rest.trim_start_matches(|c| is_lws(c) || c == ',');
        if rest.is_empty() {
            return Ok(out);
        }
        if out.len() == MAX_PARAMS {
            return Err(AuthError::Malformed(format!(
                "more than {MAX_PARAMS} parameters"
            )));
        }
        let name_end = rest.find(|c| !is_tchar(c)).unwrap_or(rest.len());
        let name = &rest[..name_end];
        if name.is_empty() {
            return Err(AuthError::Malformed(format!(
                "expected a parameter name at {:?}",
                snippet(rest)
            )));
        }
        rest = rest[name_end..].trim_start_matches(is_lws);
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| AuthError::Malformed(format!("parameter {name} has no '=' value")))?;
        rest = rest.trim_start_matches(is_lws);
        let value;
        if let Some(q) = rest.strip_prefix('"') {
            let (v, after) = quoted(q, name)?;
            value = v;
            rest = after;
        } else {
            // Lenient token: anything up to a comma or whitespace (phones put '/' or
            // ':' in unquoted values now and then).
            let end = rest
                .find(|c: char| c == ',' || is_lws(c))
                .unwrap_or(rest.len());
            let v = &rest[..end];
            if v.is_empty() {
                return Err(AuthError::Malformed(format!(
                    "parameter {name} has an empty value"
                )));
            }
            if v.contains(|c: char| c.is_control() || c == '"') {
                return Err(AuthError::Malformed(format!(
                    "parameter {name} has a bad character in its value"
                )));
            }
            value = Cow::Borrowed(v);
            rest = &rest[end..];
        }
        rest = rest.trim_start_matches(is_lws);
        if !(rest.is_empty() || rest.starts_with(',')) {
            return Err(AuthError::Malformed(format!(
                "expected ',' after parameter {name}, found {:?}",
                snippet(rest)
            )));
        }
        out.push(Param { name, value });
    }
}

/// Reads the inside of a quoted-string (after the opening quote); returns the unescaped
/// text and what follows the closing quote.
fn quoted<'a>(s: &'a str, name: &str) -> Result<(Cow<'a, str>, &'a str), AuthError> {
    let control = |c: char| c.is_control() && c != '\t';
    // Most values have no escapes: borrow them.
    if let Some(end) = s.find(['"', '\\']) {
        if s.as_bytes()[end] == b'"' {
            let v = &s[..end];
            if v.contains(control) {
                return Err(AuthError::Malformed(format!(
                    "control character in the value of {name}"
                )));
            }
            return Ok((Cow::Borrowed(v), &s[end + 1..]));
        }
    }
    let mut v = String::with_capacity(s.len().min(256));
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((Cow::Owned(v), &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, e)) if !control(e) => v.push(e),
                _ => {
                    return Err(AuthError::Malformed(format!(
                        "bad escape in the value of {name}"
                    )))
                }
            },
            c if control(c) => {
                return Err(AuthError::Malformed(format!(
                    "control character in the value of {name}"
                )))
            }
            c => v.push(c),
        }
    }
    Err(AuthError::Malformed(format!(
        "unterminated quoted value of {name}"
    )))
}

fn snippet(s: &str) -> String {
    s.chars().take(20).collect()
}

/// Removes and returns the parameter `name` (any case).
pub(crate) fn take<'a>(params: &mut Vec<Param<'a>>, name: &str) -> Option<Cow<'a, str>> {
    let i = params
        .iter()
        .position(|p| p.name.eq_ignore_ascii_case(name))?;
    Some(params.swap_remove(i).value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p<'a>(n: &'a str, v: &'a str) -> Param<'a> {
        Param {
            name: n,
            value: Cow::Borrowed(v),
        }
    }

    #[test]
    fn tokens_quoted_escapes_and_spacing() {
        let got = parse_digest(
            "  digest  Realm = \"a \\\"b\\\" \\\\c\" ,nc=00000001,,\t qop=auth , uri=\"sip:x\"",
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                p("Realm", "a \"b\" \\c"),
                p("nc", "00000001"),
                p("qop", "auth"),
                p("uri", "sip:x")
            ]
        );
    }

    #[test]
    fn utf8_and_commas_inside_quotes() {
        let got = parse_digest("Digest username=\"Jürgen, Jr.\"").unwrap();
        assert_eq!(got, vec![p("username", "Jürgen, Jr.")]);
    }

    #[test]
    fn errors_say_what() {
        let cases = [
            ("", "empty"),
            ("Basic abc", "scheme"),
            ("Digest realm", "no '='"),
            ("Digest realm=\"abc", "unterminated"),
            ("Digest realm=\"a\" x", "expected ','"),
            ("Digest realm=\"a\", realm=\"b\"", "twice"),
            ("Digest =x", "parameter name"),
            ("Digest realm=,", "empty value"),
            ("Digest realm=\"a\rb\"", "control"),
            ("Digest realm=\"a\\", "escape"),
        ];
        for (input, want) in cases {
            let e = parse_digest(input).unwrap_err().to_string();
            assert!(e.contains(want), "{input:?}: {e}");
        }
    }

    #[test]
    fn too_many_params() {
        let mut s = String::from("Digest ");
        for i in 0..40 {
            s.push_str(&format!("p{i}=1,"));
        }
        assert!(parse_digest(&s)
            .unwrap_err()
            .to_string()
            .contains("more than"));
    }

    #[test]
    fn random_input_never_panics() {
        use crate::sip::auth::{Challenge, Credentials};
        const ALPHABET: &[&str] = &[
            "Digest ",
            "digest",
            " ",
            "\t",
            "\r\n",
            ",",
            "=",
            "\"",
            "\\",
            "ü",
            "€",
            "a",
            "nc",
            "qop",
            "auth",
            "realm",
            "nonce",
            "uri",
            "response",
            "username",
            "00000001",
            "ff",
            "algorithm",
            "SHA-256",
            "MD5-sess",
            "stale",
            "TRUE",
            "\0",
            ";",
            "<",
            ">",
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut s = String::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 24) as usize;
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push_str(ALPHABET[(x % ALPHABET.len() as u64) as usize]);
            }
            let _ = parse_digest(&s);
            let _ = Challenge::parse(&s);
            let _ = Credentials::parse(&s);
        }
    }

    #[test]
    fn quoting_round_trips() {
        struct Q(&'static str);
        impl fmt::Display for Q {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("Digest a=")?;
                write_quoted(f, self.0)
            }
        }
        let s = Q("x\"y\\z").to_string();
        assert_eq!(s, r#"Digest a="x\"y\\z""#);
        assert_eq!(parse_digest(&s).unwrap(), vec![p("a", "x\"y\\z")]);
    }
}
