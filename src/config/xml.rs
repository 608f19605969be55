//! Reading FreeSWITCH-style XML: `X-PRE-PROCESS set|include|env-set`, `$${var}`
//! expansion and `<include>` splicing, into a small element tree where every element
//! remembers the file and line it came from (diagnostics after inclusion still point at
//! the right place). Preprocessing walks the parsed tree element by element, in document
//! order, so a `set` applies to everything after it, as in FreeSWITCH.

use super::diag::{Diags, Source};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A preprocessed element.
#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    /// Attributes in document order, `$${}` expanded.
    pub attrs: Vec<(String, String)>,
    /// The element's own text (its direct text children joined, trimmed), `$${}` expanded
    /// (the dialplan's `<expression>` elements).
    pub text: String,
    pub children: Vec<Element>,
    pub source: Source,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Nested includes deeper than this are refused (a loop through globs, or a mistake).
const MAX_DEPTH: usize = 16;

/// Loads `path`, preprocesses it with `vars` (which `set` extends), and returns its
/// top-level elements (an `<include>` root is unwrapped).
pub fn load_file(
    path: &Path,
    vars: &mut BTreeMap<String, String>,
    diags: &mut Diags,
) -> Vec<Element> {
    let mut stack = Vec::new();
    load_nested(path, vars, diags, &mut stack, None)
}

/// Parses `text` as if it were the file `path` (tests and callers holding text).
pub fn load_str(
    path: &Path,
    text: &str,
    vars: &mut BTreeMap<String, String>,
    diags: &mut Diags,
) -> Vec<Element> {
    let mut stack = vec![path.to_path_buf()];
    convert_text(path, text, vars, diags, &mut stack)
}

fn load_nested(
    path: &Path,
    vars: &mut BTreeMap<String, String>,
    diags: &mut Diags,
    stack: &mut Vec<PathBuf>,
    from: Option<&Source>,
) -> Vec<Element> {
    let here = Source {
        file: path.to_path_buf(),
        line: 0,
    };
    let at = from.unwrap_or(&here);
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    if stack.contains(&canonical) {
        diags.error(
            at,
            format!("include loop: {} includes itself", path.display()),
        );
        return Vec::new();
    }
    if stack.len() > MAX_DEPTH {
        diags.error(
            at,
            format!(
                "includes nested more than {MAX_DEPTH} deep at {}",
                path.display()
            ),
        );
        return Vec::new();
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            diags.error(at, format!("cannot read {}: {e}", path.display()));
            return Vec::new();
        }
    };
    stack.push(canonical);
    let out = convert_text(path, &text, vars, diags, stack);
    stack.pop();
    out
}

fn convert_text(
    path: &Path,
    text: &str,
    vars: &mut BTreeMap<String, String>,
    diags: &mut Diags,
    stack: &mut Vec<PathBuf>,
) -> Vec<Element> {
    let doc = match roxmltree::Document::parse(text) {
        Ok(d) => d,
        Err(e) => {
            let line = match &e {
                roxmltree::Error::UnexpectedEndOfStream => text.lines().count().max(1) as u32,
                _ => e.pos().row,
            };
            diags.error(
                &Source {
                    file: path.to_path_buf(),
                    line,
                },
                format!("not well-formed XML: {e}"),
            );
            return Vec::new();
        }
    };
    let mut ctx = Ctx {
        file: path.to_path_buf(),
        lines: line_starts(text),
        vars,
        diags,
        stack,
    };
    let root = doc.root_element();
    let mut out = Vec::new();
    if root.tag_name().name() == "include" {
        for child in root.children().filter(|n| n.is_element()) {
            ctx.convert(child, &mut out);
        }
    } else {
        ctx.convert(root, &mut out);
    }
    out
}

/// Byte offsets where each line starts, for offset → line in O(log n).
fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

struct Ctx<'a> {
    file: PathBuf,
    lines: Vec<usize>,
    vars: &'a mut BTreeMap<String, String>,
    diags: &'a mut Diags,
    stack: &'a mut Vec<PathBuf>,
}

impl Ctx<'_> {
    fn source(&self, node: roxmltree::Node) -> Source {
        let offset = node.range().start;
        let line = match self.lines.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        Source {
            file: self.file.clone(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
        }
    }

    /// Converts `node` into elements appended to `out` (none for a `set`, the included
    /// files' elements for an include).
    fn convert(&mut self, node: roxmltree::Node, out: &mut Vec<Element>) {
        let source = self.source(node);
        let name = node.tag_name().name();
        if name == "X-PRE-PROCESS" {
            self.preprocess(node, &source, out);
            return;
        }
        let attrs = node
            .attributes()
            .map(|a| {
                (
                    a.name().to_string(),
                    expand(a.value(), self.vars, self.diags, &source),
                )
            })
            .collect();
        let mut text = String::new();
        let mut children = Vec::new();
        for child in node.children() {
            if child.is_element() {
                self.convert(child, &mut children);
            } else if child.is_text() {
                text.push_str(child.text().unwrap_or(""));
            }
        }
        let text = expand(text.trim(), self.vars, self.diags, &source);
        out.push(Element {
            name: name.to_string(),
            attrs,
            text,
            children,
            source,
        });
    }

    fn preprocess(&mut self, node: roxmltree::Node, source: &Source, out: &mut Vec<Element>) {
        let cmd = node.attribute("cmd").unwrap_or("");
        let data = expand(
            node.attribute("data").unwrap_or(""),
            self.vars,
            self.diags,
            source,
        );
        match cmd {
            "set" => match data.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    self.vars.insert(k.trim().to_string(), v.trim().to_string());
                }
                _ => self.diags.error(
                    source,
                    format!("X-PRE-PROCESS set needs data=\"name=value\", got {data:?}"),
                ),
            },
            // FreeSWITCH: data="name=ENV_NAME" sets name to the environment's ENV_NAME.
            "env-set" => match data.split_once('=') {
                Some((k, env)) if !k.trim().is_empty() => match std::env::var(env.trim()) {
                    Ok(v) => {
                        self.vars.insert(k.trim().to_string(), v);
                    }
                    Err(_) => self.diags.warn(
                        source,
                        format!(
                            "X-PRE-PROCESS env-set: environment variable {:?} is not set; \
                             {} stays {}",
                            env.trim(),
                            k.trim(),
                            if self.vars.contains_key(k.trim()) {
                                "as it was"
                            } else {
                                "undefined"
                            }
                        ),
                    ),
                },
                _ => self.diags.error(
                    source,
                    format!("X-PRE-PROCESS env-set needs data=\"name=ENV_NAME\", got {data:?}"),
                ),
            },
            "include" => self.include(&data, source, out),
            // FreeSWITCH resolves "stun:HOST" / "host:NAME" while reading the config;
            // loopstart keeps the form (valid for ext-sip-ip / ext-rtp-ip) and resolves
            // it when the profile starts, so reading the config never touches the network.
            "stun-set" => match data.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    tracing::debug!(%source, var = k.trim(), "stun-set kept as {}", v.trim());
                    self.vars.insert(k.trim().to_string(), v.trim().to_string());
                }
                _ => self.diags.error(
                    source,
                    format!("X-PRE-PROCESS stun-set needs data=\"name=stun:HOST\", got {data:?}"),
                ),
            },
            "exec" | "exec-set" => self.diags.warn(
                source,
                format!(
                    "X-PRE-PROCESS cmd {cmd:?} is not supported on the gateway (it would run \
                     a program while reading the config); ignored: use set or env-set"
                ),
            ),
            other => self.diags.warn(
                source,
                format!(
                    "unknown X-PRE-PROCESS cmd {other:?} (ignored); allowed: set, include, env-set, stun-set"
                ),
            ),
        }
    }

    /// `include`: a file or a glob, relative to the including file's directory.
    fn include(&mut self, data: &str, source: &Source, out: &mut Vec<Element>) {
        let data = data.trim();
        if data.is_empty() {
            self.diags
                .error(source, "X-PRE-PROCESS include needs data=\"file or glob\"");
            return;
        }
        let pattern = if Path::new(data).is_absolute() {
            data.to_string()
        } else {
            // The directory part is literal even if it has glob characters in its name.
            let base = self.file.parent().unwrap_or(Path::new("."));
            let base = glob::Pattern::escape(&base.to_string_lossy());
            format!("{base}/{data}")
        };
        let files = match glob::glob(&pattern) {
            Ok(paths) => {
                let mut v: Vec<PathBuf> = paths
                    .filter_map(Result::ok)
                    .filter(|p| p.is_file())
                    .collect();
                v.sort();
                v
            }
            Err(e) => {
                self.diags
                    .error(source, format!("bad include pattern {data:?}: {e}"));
                return;
            }
        };
        let is_glob = data.contains(['*', '?', '[']);
        if files.is_empty() && !is_glob {
            self.diags.warn(
                source,
                format!("include {data:?}: no such file (nothing included)"),
            );
        }
        for f in files {
            let loaded = load_nested(&f, self.vars, self.diags, self.stack, Some(source));
            out.extend(loaded);
        }
    }
}

/// Expands `$${name}`; unknown names expand to nothing, with a warning at `source`.
/// A single `${name}` is a channel variable for later and is left alone.
pub fn expand(
    s: &str,
    vars: &BTreeMap<String, String>,
    diags: &mut Diags,
    source: &Source,
) -> String {
    if !s.contains("$${") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("$${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match vars.get(name) {
                    Some(v) => out.push_str(v),
                    None => diags.warn(
                        source,
                        format!("undefined variable $${{{name}}} expands to nothing (define it in vars.xml with X-PRE-PROCESS set)"),
                    ),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn expand_replaces_known_keeps_channel_vars_and_warns_on_unknown() {
        let v = vars(&[("a", "1"), ("b", "two")]);
        let mut d = Diags::default();
        let src = Source {
            file: "x.xml".into(),
            line: 7,
        };
        assert_eq!(
            expand("$${a}-$${b}-${c}-$${zz}!", &v, &mut d, &src),
            "1-two-${c}-!"
        );
        assert_eq!(d.0.len(), 1);
        assert_eq!(d.0[0].to_string(), "x.xml:7: warning: undefined variable $${zz} expands to nothing (define it in vars.xml with X-PRE-PROCESS set)");
        assert_eq!(
            expand("$${unterminated", &v, &mut d, &src),
            "$${unterminated"
        );
    }

    #[test]
    fn set_applies_in_document_order_and_lines_are_kept() {
        let text = "<include>\n  <a v=\"$${x}\"/>\n  <X-PRE-PROCESS cmd=\"set\" data=\"x=1\"/>\n\n  <b v=\"$${x}\">  hello $${x} </b>\n</include>\n";
        let mut v = BTreeMap::new();
        let mut d = Diags::default();
        let els = load_str(Path::new("t.xml"), text, &mut v, &mut d);
        assert_eq!(els.len(), 2);
        assert_eq!(els[0].attr("v"), Some(""));
        assert_eq!(els[0].source.line, 2);
        assert_eq!(els[1].attr("v"), Some("1"));
        assert_eq!(els[1].text, "hello 1");
        assert_eq!(els[1].source.line, 5);
        assert_eq!(d.0.len(), 1, "{:?}", d.0);
        assert_eq!(d.0[0].source.line, 2);
    }

    #[test]
    fn unsupported_commands_warn_and_bad_set_errors() {
        let text = "<include>\n<X-PRE-PROCESS cmd=\"exec\" data=\"rm -rf /\"/>\n<X-PRE-PROCESS cmd=\"set\" data=\"novalue\"/>\n</include>";
        let mut v = BTreeMap::new();
        let mut d = Diags::default();
        load_str(Path::new("t.xml"), text, &mut v, &mut d);
        assert_eq!(d.0.len(), 2);
        assert!(
            d.0[0].to_string().starts_with("t.xml:2: warning"),
            "{}",
            d.0[0]
        );
        assert!(
            d.0[1].to_string().starts_with("t.xml:3: error"),
            "{}",
            d.0[1]
        );
        assert!(v.is_empty());
    }

    #[test]
    fn env_set_reads_the_environment() {
        std::env::set_var("LOOPSTART_TEST_ENV_SET", "from-env");
        let text =
            "<include><X-PRE-PROCESS cmd=\"env-set\" data=\"e=LOOPSTART_TEST_ENV_SET\"/></include>";
        let mut v = BTreeMap::new();
        let mut d = Diags::default();
        load_str(Path::new("t.xml"), text, &mut v, &mut d);
        assert_eq!(v.get("e").map(String::as_str), Some("from-env"));
        assert!(d.0.is_empty());
    }

    #[test]
    fn broken_xml_names_file_and_line() {
        let mut v = BTreeMap::new();
        let mut d = Diags::default();
        load_str(Path::new("b.xml"), "<a>\n<b>\n</a>\n", &mut v, &mut d);
        assert_eq!(d.0.len(), 1);
        assert!(d.has_errors());
        assert_eq!(d.0[0].source.line, 3, "{}", d.0[0]);
    }

    #[test]
    fn include_loops_are_errors_not_hangs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.xml"),
            "<include>\n<X-PRE-PROCESS cmd=\"include\" data=\"b.xml\"/>\n</include>",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.xml"),
            "<include>\n<x/>\n<X-PRE-PROCESS cmd=\"include\" data=\"a.xml\"/>\n</include>",
        )
        .unwrap();
        let mut v = BTreeMap::new();
        let mut d = Diags::default();
        let els = load_file(&dir.path().join("a.xml"), &mut v, &mut d);
        assert_eq!(els.len(), 1);
        let err =
            d.0.iter()
                .find(|x| x.message.contains("include loop"))
                .unwrap();
        assert!(err.source.file.ends_with("b.xml"));
        assert_eq!(err.source.line, 3);
    }

    #[test]
    fn include_base_with_glob_characters_is_literal() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("conf[1]");
        std::fs::create_dir_all(odd.join("d")).unwrap();
        std::fs::write(odd.join("d/u.xml"), "<include><user id=\"7\"/></include>").unwrap();
        std::fs::write(
            odd.join("top.xml"),
            "<users><X-PRE-PROCESS cmd=\"include\" data=\"d/*.xml\"/></users>",
        )
        .unwrap();
        let mut v = BTreeMap::new();
        let mut d = Diags::default();
        let els = load_file(&odd.join("top.xml"), &mut v, &mut d);
        assert!(d.0.is_empty(), "{:?}", d.0);
        assert_eq!(els[0].children.len(), 1);
        assert_eq!(els[0].children[0].attr("id"), Some("7"));
    }
}
