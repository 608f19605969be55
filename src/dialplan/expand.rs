//! `${var}` expansion as FreeSWITCH does it at run time: nested (`${a_${b}}`), a
//! missing variable is empty, `${name(args)}` calls a function (an API command such as
//! `blacklist` or `sofia_contact`). `$${globals}` were expanded when the file was read.
//! Bounded: at most [`MAX_DEPTH`] nested levels and [`MAX_LEN`] bytes of output, so a
//! variable that expands to itself cannot run away.
//!
//! API calls ([`expand_with`] given an [`ApiHook`]) follow
//! `switch_channel_expand_variables_check` (src/switch_channel.c): the text between
//! `${` and its `}` is a call when it has a space or a `(`, whichever comes first:
//! `${name(args)}` (args end at the matching `)`) or `${name args}`. Name and args are
//! expanded on their own, then trimmed (`switch_api_execute` strips them), and the
//! command's output goes in as it is, not expanded again. A command that does not exist
//! expands to nothing: `switch_api_execute` then fails and the expander drops its
//! "INVALID COMMAND!" text. The channel's own [`Lookup::function`] is asked first.
//! Without a hook, expansion is as it always was here.

/// Deepest `${...}` nesting expanded.
pub const MAX_DEPTH: usize = 16;
/// Longest expansion produced; the rest is cut.
pub const MAX_LEN: usize = 64 * 1024;

/// Where expansion looks names up.
pub trait Lookup {
    /// A channel variable (or caller-profile field).
    fn variable(&self, name: &str) -> Option<String>;
    /// `${name(args)}`: a function; None when there is no such function.
    fn function(&self, _name: &str, _args: &str) -> Option<String> {
        None
    }
}

/// Runs an API command for `${name(args)}`: `(name, args)` in, its output out; None
/// when there is no such command. The switch plugs its API registry in here.
pub type ApiHook<'a> = &'a dyn Fn(&str, &str) -> Option<String>;

/// Expands every `${...}` in `template`.
pub fn expand(template: &str, lookup: &dyn Lookup) -> String {
    expand_with(template, lookup, None)
}

/// Expands every `${...}` in `template`, calling API commands through `api`.
pub fn expand_with(template: &str, lookup: &dyn Lookup, api: Option<ApiHook<'_>>) -> String {
    let mut out = String::with_capacity(template.len());
    expand_into(template, lookup, api, 0, &mut out);
    out
}

fn expand_into(
    text: &str,
    lookup: &dyn Lookup,
    api: Option<ApiHook<'_>>,
    depth: usize,
    out: &mut String,
) {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        push_bounded(out, &rest[..start]);
        let inner_start = start + 2;
        match matching_brace(&rest[inner_start..]) {
            Some(len) => {
                let inner = &rest[inner_start..inner_start + len];
                if depth < MAX_DEPTH {
                    let value = match (api, split_call(inner)) {
                        (Some(api), Some((name, args))) => {
                            let mut n = String::new();
                            expand_into(name, lookup, Some(api), depth + 1, &mut n);
                            let mut a = String::new();
                            expand_into(args, lookup, Some(api), depth + 1, &mut a);
                            let (n, a) = (n.trim(), a.trim());
                            lookup
                                .function(n, a)
                                .or_else(|| api(n, a))
                                .unwrap_or_default()
                        }
                        _ => {
                            // The name may itself hold ${...}: expand it first.
                            let mut name = String::new();
                            expand_into(inner, lookup, api, depth + 1, &mut name);
                            resolve(&name, lookup)
                        }
                    };
                    push_bounded(out, &value);
                }
                rest = &rest[inner_start + len + 1..];
            }
            None => {
                // An unclosed `${` is kept as it is.
                push_bounded(out, &rest[start..]);
                return;
            }
        }
    }
    push_bounded(out, rest);
}

fn resolve(name: &str, lookup: &dyn Lookup) -> String {
    if let Some(open) = name.find('(') {
        if let Some(args) = name[open + 1..].strip_suffix(')') {
            let func = name[..open].trim();
            if let Some(v) = lookup.function(func, args) {
                return v;
            }
        }
    }
    lookup.variable(name.trim()).unwrap_or_default()
}

/// `name(args)` or `name args` as FreeSWITCH splits them (before expansion): the name
/// ends at the first space or `(`; args end at the `)` that closes the opening one (for
/// the space form: at the first `)` after a `(`), else at the end.
fn split_call(inner: &str) -> Option<(&str, &str)> {
    let at = inner.find([' ', '('])?;
    let paren = inner.as_bytes()[at] == b'(';
    let name = inner[..at].trim_end_matches(' ');
    let rest = &inner[at + 1..];
    let mut depth: usize = usize::from(paren);
    let mut end = rest.len();
    for (i, c) in rest.bytes().enumerate() {
        match c {
            b'(' => depth += 1,
            b')' if depth > 1 => depth -= 1,
            b')' if depth == 1 => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    Some((name, &rest[..end]))
}

/// Length of the text up to the `}` that closes an already opened `${`.
fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn push_bounded(out: &mut String, s: &str) {
    let room = MAX_LEN.saturating_sub(out.len());
    if s.len() <= room {
        out.push_str(s);
    } else {
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&s[..cut]);
    }
}

/// Replaces `$1`..`$9` with a regex match's captures (absent ones are empty), as
/// FreeSWITCH does in action data when the condition matched.
pub fn substitute_captures(data: &str, captures: &[Option<String>]) -> String {
    let mut out = String::with_capacity(data.len());
    let mut chars = data.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c == '$' {
            if let Some(&(_, d)) = chars.peek() {
                if let Some(n) = d.to_digit(10).filter(|n| (1..=9).contains(n)) {
                    chars.next();
                    if let Some(Some(v)) = captures.get(n as usize) {
                        out.push_str(v);
                    }
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}
