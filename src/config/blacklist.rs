//! `autoload_configs/blacklist.conf.xml`: mod_blacklist's named lists.
//!
//! ```xml
//! <configuration name="mod_blacklist.conf" description="Blacklist module">
//!   <settings>                                        <!-- loopstart only, optional -->
//!     <param name="max-entries-per-list" value="10000"/>
//!     <param name="max-regex-per-list" value="100"/>
//!     <param name="max-regex-size" value="65536"/>
//!   </settings>
//!   <lists>
//!     <list name="spammers" filename="$${conf_dir}/blacklists/spammers.list"/>
//!   </lists>
//! </configuration>
//! ```
//!
//! As FreeSWITCH's mod_blacklist (`do_config`): the configuration is named
//! `mod_blacklist.conf`, each `<list>` has a `name` and a `filename`, and the file holds
//! one entry per line. Unlike FreeSWITCH, a list without name or filename, or defined
//! twice, is an error naming file and line (FreeSWITCH logs and skips it, or lets the
//! later one win), and a relative filename is taken relative to the conf folder (not
//! the daemon's working directory). The list files themselves are read by
//! `guard::blacklist` (their format, with loopstart's `~regex` lines, is described
//! there).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::diag::{Diags, Source};
use super::values::{number, params, unknown};
use super::xml::Element;

/// Defaults for the bounds (see [`BlacklistConfig`]).
pub const DEFAULT_MAX_ENTRIES_PER_LIST: usize = 10_000;
pub const DEFAULT_MAX_REGEX_PER_LIST: usize = 100;
pub const DEFAULT_MAX_REGEX_SIZE: usize = 64 * 1024;

/// The lists of blacklist.conf.xml; empty without the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlacklistConfig {
    pub lists: Vec<BlacklistList>,
    /// Entries (exact and regex) a list may hold; more are refused (file lines
    /// warned about, `blacklist add` answered with -ERR).
    pub max_entries_per_list: usize,
    /// Regex entries a list may hold (each is tried on every check).
    pub max_regex_per_list: usize,
    /// Largest compiled regex, in bytes (the regex engine's NFA size limit).
    pub max_regex_size: usize,
}

impl Default for BlacklistConfig {
    fn default() -> Self {
        BlacklistConfig {
            lists: Vec::new(),
            max_entries_per_list: DEFAULT_MAX_ENTRIES_PER_LIST,
            max_regex_per_list: DEFAULT_MAX_REGEX_PER_LIST,
            max_regex_size: DEFAULT_MAX_REGEX_SIZE,
        }
    }
}

/// `<list name=".." filename=".."/>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlacklistList {
    /// Case-sensitive, as mod_blacklist's hash of lists.
    pub name: String,
    /// Absolute (a relative filename was joined to the conf folder).
    pub filename: PathBuf,
    pub source: Source,
}

impl BlacklistConfig {
    pub fn list(&self, name: &str) -> Option<&BlacklistList> {
        self.lists.iter().find(|l| l.name == name)
    }
}

/// Reads `autoload_configs/blacklist.conf.xml` under `conf_dir`; no file, no lists.
pub fn load(
    conf_dir: &Path,
    vars: &mut BTreeMap<String, String>,
    diags: &mut Diags,
) -> BlacklistConfig {
    let path = conf_dir.join("autoload_configs").join("blacklist.conf.xml");
    match super::read_configuration(&path, "mod_blacklist.conf", vars, diags) {
        Some(el) => blacklist(&el, conf_dir, diags),
        None => BlacklistConfig::default(),
    }
}

/// Reads `<configuration name="mod_blacklist.conf">`; relative filenames are joined
/// to `conf_dir`.
pub fn blacklist(el: &Element, conf_dir: &Path, diags: &mut Diags) -> BlacklistConfig {
    let mut c = BlacklistConfig::default();
    for section in &el.children {
        match section.name.as_str() {
            "settings" => settings(section, &mut c, diags),
            "lists" => {
                for l in &section.children {
                    if l.name != "list" {
                        diags.warn(
                            &l.source,
                            format!(
                                "unknown element <{}> in <lists> (ignored; expected <list>)",
                                l.name
                            ),
                        );
                        continue;
                    }
                    if let Some(list) = list(l, conf_dir, diags) {
                        if let Some(first) = c.list(&list.name) {
                            diags.error(
                                &list.source,
                                format!(
                                    "blacklist {:?} is defined twice (first at {}); keep one",
                                    list.name, first.source
                                ),
                            );
                        } else {
                            c.lists.push(list);
                        }
                    }
                }
            }
            other => diags.warn(
                &section.source,
                format!(
                    "unknown element <{other}> in mod_blacklist.conf (ignored; expected \
                     <lists> or <settings>)"
                ),
            ),
        }
    }
    c
}

fn settings(el: &Element, c: &mut BlacklistConfig, diags: &mut Diags) {
    for p in params(el, diags) {
        match p.name.as_str() {
            "max-entries-per-list" => {
                if let Some(v) = number(&p, diags, 1, 1_000_000, "entries") {
                    c.max_entries_per_list = v;
                }
            }
            "max-regex-per-list" => {
                if let Some(v) = number(&p, diags, 0, 10_000, "regex entries") {
                    c.max_regex_per_list = v;
                }
            }
            "max-regex-size" => {
                if let Some(v) = number(&p, diags, 1024, 16 * 1024 * 1024, "bytes") {
                    c.max_regex_size = v;
                }
            }
            _ => unknown(&p, &[], diags),
        }
    }
}

fn list(el: &Element, conf_dir: &Path, diags: &mut Diags) -> Option<BlacklistList> {
    for (name, _) in &el.attrs {
        if name != "name" && name != "filename" {
            diags.warn(
                &el.source,
                format!("unknown attribute {name:?} on <list> (ignored; known: name, filename)"),
            );
        }
    }
    let name = el.attr("name").unwrap_or("").trim();
    if name.is_empty() {
        diags.error(
            &el.source,
            "<list> needs a name (e.g. name=\"spammers\"); it is how `blacklist check` \
             and ${blacklist(check NAME ...)} refer to it",
        );
        return None;
    }
    if name.contains(char::is_whitespace) {
        diags.error(
            &el.source,
            format!(
                "blacklist name {name:?} has a space: `blacklist check NAME NUMBER` could \
                 not name it; use letters, digits, - or _"
            ),
        );
        return None;
    }
    let filename = el.attr("filename").unwrap_or("").trim();
    if filename.is_empty() {
        diags.error(
            &el.source,
            format!(
                "list {name} has no filename; give the file holding its numbers, one per \
                 line (e.g. filename=\"$${{conf_dir}}/blacklists/{name}.list\")"
            ),
        );
        return None;
    }
    let path = Path::new(filename);
    let filename = if path.is_absolute() {
        path.to_path_buf()
    } else {
        conf_dir.join(path)
    };
    Some(BlacklistList {
        name: name.to_string(),
        filename,
        source: el.source.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::xml::load_str;

    fn parse(xml: &str) -> (BlacklistConfig, Diags) {
        let mut diags = Diags::default();
        let mut vars = BTreeMap::new();
        vars.insert("conf_dir".to_string(), "/etc/loopstart".to_string());
        let els = load_str(
            Path::new("autoload_configs/blacklist.conf.xml"),
            xml,
            &mut vars,
            &mut diags,
        );
        let el = els
            .into_iter()
            .find(|e| e.name == "configuration")
            .expect("a <configuration>");
        let c = blacklist(&el, Path::new("/conf"), &mut diags);
        (c, diags)
    }

    fn messages(d: &Diags) -> Vec<String> {
        d.0.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn lists_as_freeswitch_writes_them() {
        let (c, d) = parse(
            "<configuration name=\"mod_blacklist.conf\" description=\"Blacklist module\">\n\
             <lists>\n\
             <list name=\"spammers\" filename=\"$${conf_dir}/blacklists/spammers.list\"/>\n\
             <list name=\"Premium\" filename=\"blacklists/premium.list\"/>\n\
             </lists>\n\
             </configuration>\n",
        );
        assert!(d.0.is_empty(), "{:?}", messages(&d));
        assert_eq!(c.lists.len(), 2);
        let s = c.list("spammers").unwrap();
        assert_eq!(
            s.filename,
            PathBuf::from("/etc/loopstart/blacklists/spammers.list")
        );
        assert_eq!(s.source.line, 3);
        assert_eq!(
            c.list("Premium").unwrap().filename,
            PathBuf::from("/conf/blacklists/premium.list")
        );
        assert!(c.list("premium").is_none(), "names are case-sensitive");
        assert_eq!(c.max_entries_per_list, DEFAULT_MAX_ENTRIES_PER_LIST);
    }

    #[test]
    fn missing_name_or_filename_and_duplicates_are_errors_with_lines() {
        let (c, d) = parse(
            "<configuration name=\"mod_blacklist.conf\">\n\
             <lists>\n\
             <list filename=\"/x\"/>\n\
             <list name=\"a\"/>\n\
             <list name=\"b\" filename=\"/b\"/>\n\
             <list name=\"b\" filename=\"/b2\" color=\"red\"/>\n\
             <node/>\n\
             </lists>\n\
             </configuration>\n",
        );
        let m = messages(&d);
        assert_eq!(c.lists.len(), 1);
        assert!(
            m[0].contains("blacklist.conf.xml:3: error: <list> needs a name"),
            "{m:?}"
        );
        assert!(m[1].contains(":4: error: list a has no filename"), "{m:?}");
        assert!(m
            .iter()
            .any(|x| x.contains(":6: warning: unknown attribute \"color\"")));
        assert!(m
            .iter()
            .any(|x| x.contains(":6: error: blacklist \"b\" is defined twice (first at ")));
        assert!(m
            .iter()
            .any(|x| x.contains(":7: warning: unknown element <node>")));
    }

    #[test]
    fn settings_bound_the_lists() {
        let (c, d) = parse(
            "<configuration name=\"mod_blacklist.conf\">\n\
             <settings>\n\
             <param name=\"max-entries-per-list\" value=\"50\"/>\n\
             <param name=\"max-regex-per-list\" value=\"2\"/>\n\
             <param name=\"max-regex-size\" value=\"10\"/>\n\
             <param name=\"colour\" value=\"x\"/>\n\
             </settings>\n\
             </configuration>\n",
        );
        let m = messages(&d);
        assert_eq!(c.max_entries_per_list, 50);
        assert_eq!(c.max_regex_per_list, 2);
        assert_eq!(c.max_regex_size, DEFAULT_MAX_REGEX_SIZE);
        assert!(m[0].contains(":5: error: param \"max-regex-size\" value \"10\" is not in range"));
        assert!(m[1].contains(":6: warning: unknown param \"colour\""));
    }
}
