//! Reading FreeSWITCH-style XML: `X-PRE-PROCESS set|include`, `$${var}` expansion and
//! `<include>` splicing, into a small element tree where every element remembers the
//! file and line it came from (diagnostics after inclusion still point at the right
//! place).

use super::diag::{Diags, Source};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A preprocessed element.
#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
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

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Nested includes deeper than this are a loop.
const MAX_DEPTH: usize = 16;

/// Loads `path`, preprocesses it with `vars` (which `set` extends), and returns its
/// top-level elements (an `<include>` root is unwrapped).
pub fn load_file(
    path: &Path,
    vars: &mut BTreeMap<String, String>,
    diags: &mut Diags,
) -> Vec<Element> {
    load_depth(path, vars, diags, 0, None)
}

fn load_depth(
    path: &Path,
    vars: &mut BTreeMap<String, String>,
    diags: &mut Diags,
    depth: usize,
    from: Option<&Source>,
) -> Vec<Element> {
    let here = Source {
        file: path.to_path_buf(),
        line: 0,
    };
    if depth > MAX_DEPTH {
        diags.error(
            from.unwrap_or(&here),
            "includes nested too deeply (an include loop?)",
        );
        return Vec::new();
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            diags.error(
                from.unwrap_or(&here),
                format!("cannot read {}: {e}", path.display()),
            );
            return Vec::new();
        }
    };
    let doc = match roxmltree::Document::parse(&text) {
        Ok(d) => d,
        Err(e) => {
            let line = match &e {
                roxmltree::Error::UnexpectedEndOfStream => text.lines().count() as u32,
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
        doc: &doc,
        file: path.to_path_buf(),
        vars,
        diags,
        depth,
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

struct Ctx<'a, 'd> {
    doc: &'a roxmltree::Document<'d>,
    file: PathBuf,
    vars: &'a mut BTreeMap<String, String>,
    diags: &'a mut Diags,
    depth: usize,
}

impl Ctx<'_, '_> {
    fn source(&self, node: roxmltree::Node) -> Source {
        Source {
            file: self.file.clone(),
            line: self.doc.text_pos_at(node.range().start).row,
        }
    }

    /// Converts `node` into elements appended to `out` (zero for a `set`, several for an
    /// include).
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
        let mut children = Vec::new();
        for child in node.children().filter(|n| n.is_element()) {
            self.convert(child, &mut children);
        }
        out.push(Element {
            name: name.to_string(),
            attrs,
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
                Some((k, v)) => {
                    self.vars.insert(k.trim().to_string(), v.trim().to_string());
                }
                None => self.diags.error(
                    source,
                    format!("X-PRE-PROCESS set needs name=value, got {data:?}"),
                ),
            },
            "include" => {
                let base = self.file.parent().unwrap_or(Path::new("."));
                let pattern = if Path::new(&data).is_absolute() {
                    PathBuf::from(&data)
                } else {
                    base.join(&data)
                };
                let files = match glob::glob(&pattern.to_string_lossy()) {
                    Ok(paths) => {
                        let mut v: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
                        v.sort();
                        v
                    }
                    Err(e) => {
                        self.diags
                            .error(source, format!("bad include pattern {data:?}: {e}"));
                        return;
                    }
                };
                if files.is_empty() && !data.contains('*') {
                    self.diags
                        .warn(source, format!("include {data:?} matches no file"));
                }
                for f in files {
                    let loaded =
                        load_depth(&f, self.vars, self.diags, self.depth + 1, Some(source));
                    out.extend(loaded);
                }
            }
            // FreeSWITCH also has exec/env-set/stun-set; none is safe or needed on the box.
            other => self.diags.warn(
                source,
                format!("X-PRE-PROCESS cmd {other:?} is not supported (use set or include)"),
            ),
        }
    }
}

/// Expands `$${name}`; unknown names expand to nothing, with a warning.
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
                        format!("undefined variable $${{{name}}} expands to nothing"),
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
