//! mod_blacklist: named lists of numbers, and the `blacklist` API.
//!
//! Lists are declared in `blacklist.conf.xml` (see `config::blacklist`); each has a
//! file of entries, one per line, as in FreeSWITCH. loopstart reads a line trimmed of
//! surrounding whitespace (FreeSWITCH keeps spaces, which makes `1000 ` a key no
//! number ever matches) and skips empty lines. A line starting with `~` is a regex
//! entry: `~^1900\d+$` matches any number that pattern matches. Matching is unanchored,
//! as everywhere in FreeSWITCH's dialplan: write `^` and `$`. The regex engine is the
//! regex crate's own (regex-automata's meta engine): linear time, no look-around, each
//! pattern's compiled size capped by `max-regex-size`. An exact entry therefore cannot
//! start with `~` (no number does).
//!
//! The API is mod_blacklist's (`blacklist_api_function`), word for word:
//!
//! | command                     | answer                                        |
//! |-----------------------------|-----------------------------------------------|
//! | `check LIST ITEM`           | `true` / `false` (no newline); unknown list: `false` |
//! | `add LIST ITEM`             | `+OK\n`; unknown list: `-ERR Unknown blacklist\n` |
//! | `del LIST ITEM`             | `+OK\n` (also when absent); unknown list: as add |
//! | `save LIST`                 | `+OK\n`; unknown: as add; file not writable: nothing |
//! | `reload`                    | `+OK\n`                                       |
//! | `help`                      | the syntax, then `+OK\n`                      |
//! | other word                  | `-ERR: No such command: WORD (see 'blacklist help')\n` |
//! | missing arguments, empty    | nothing                                       |
//!
//! Subcommands are case-insensitive, list names and entries case-sensitive; arguments
//! split as `switch_separate_string` does (quotes, and the item keeps the rest of the
//! line). loopstart adds: `list` (the list names, one per line) and `list LIST` (its
//! entries, one per line, exact ones sorted, then the `~regex` ones), and answers that
//! FreeSWITCH cannot give: `-ERR list LIST is full (N entries)\n` and
//! `-ERR bad regex ...\n` for `add`.
//!
//! Persistence. FreeSWITCH keeps `add`/`del` in memory until `blacklist save LIST`
//! rewrites the list's file; a restart or `reload` before that loses them. loopstart
//! keeps run-time edits in sled instead (a [`BlacklistEdit`] per list and item, the
//! last edit winning), and replays them over the files at start and on `reload`, so
//! an added number stays blocked across a restart without rewriting the file; `save`
//! still rewrites the file as FreeSWITCH does, after which that list's edits are
//! dropped (the file holds them). Why sled rather than an automatic save: the box's
//! state lives in sled (run-time entities there, declarative config in conf/), each
//! edit is one small write instead of rewriting a possibly large file on flash, and
//! conf/ may be read-only or managed by the operator.
//!
//! The core is sans-IO: [`Blacklists::api`] returns the answer and an [`Effect`]
//! (persist an edit, write a file, reload) for the driver to carry out;
//! [`load_lists`] and [`write_list_file`] are the thin file IO.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use regex_automata::meta::Regex;

use super::args::separate_blank;
use crate::config::blacklist::BlacklistConfig;
use crate::config::{Diags, Source};
use crate::store::{DecodeError, Reader, Record, Writer};

/// `blacklist help`'s text before `+OK` (FreeSWITCH's BLACKLIST_API_SYNTAX plus
/// loopstart's `list`).
pub const API_SYNTAX: &str = "blacklist check <listname> <item>\n\
                              blacklist add <listname> <item>\n\
                              blacklist del <listname> <item>\n\
                              blacklist save <listname>\n\
                              blacklist reload\n\
                              blacklist list [<listname>]\n\
                              blacklist help\n";

/// Bounds on every list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_entries_per_list: usize,
    pub max_regex_per_list: usize,
    /// Bytes: the pattern's length and its compiled NFA's size.
    pub max_regex_size: usize,
}

impl Limits {
    pub fn from_config(c: &BlacklistConfig) -> Limits {
        Limits {
            max_entries_per_list: c.max_entries_per_list,
            max_regex_per_list: c.max_regex_per_list,
            max_regex_size: c.max_regex_size,
        }
    }
}

/// One list: its file, exact entries and regex entries.
#[derive(Debug)]
pub struct List {
    pub file: PathBuf,
    exact: BTreeSet<String>,
    /// `(pattern without ~, compiled)` in insertion order.
    regexes: Vec<(String, Regex)>,
}

impl List {
    fn new(file: PathBuf) -> List {
        List {
            file,
            exact: BTreeSet::new(),
            regexes: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.exact.len() + self.regexes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when `item` is an exact entry or matches a regex entry.
    pub fn matches(&self, item: &str) -> bool {
        self.exact.contains(item) || self.regexes.iter().any(|(_, r)| r.is_match(item))
    }

    fn contains_entry(&self, entry: &str) -> bool {
        match entry.strip_prefix('~') {
            Some(p) => self.regexes.iter().any(|(q, _)| q == p),
            None => self.exact.contains(entry),
        }
    }

    /// The entries as the file holds them: exact sorted, then `~regex` in order.
    pub fn entries(&self) -> impl Iterator<Item = String> + '_ {
        self.exact
            .iter()
            .cloned()
            .chain(self.regexes.iter().map(|(p, _)| format!("~{p}")))
    }

    /// The file's text for `save`.
    pub fn file_text(&self) -> String {
        let mut s = String::new();
        for e in self.entries() {
            s.push_str(&e);
            s.push('\n');
        }
        s
    }
}

/// Why an entry was not added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddError {
    UnknownList,
    Full { max: usize },
    TooManyRegex { max: usize },
    BadRegex(String),
}

impl std::fmt::Display for AddError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddError::UnknownList => write!(f, "Unknown blacklist"),
            AddError::Full { max } => write!(f, "list is full ({max} entries)"),
            AddError::TooManyRegex { max } => {
                write!(f, "list has the most regex entries allowed ({max})")
            }
            AddError::BadRegex(e) => write!(f, "bad regex: {e}"),
        }
    }
}

/// Counters for `status`: every limit hit is visible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub checks: u64,
    pub hits: u64,
    pub refused_full: u64,
    pub refused_regex: u64,
}

/// Check counters, atomic so that `check` takes `&self` (the dialplan checks under a
/// read lock).
#[derive(Debug, Default)]
struct CheckCounters {
    checks: AtomicU64,
    hits: AtomicU64,
}

/// What the driver must do after an API command (the answer assumes it succeeds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    /// Store this edit (tree [`BlacklistEdit::TREE`], key [`BlacklistEdit::key`]).
    Persist(BlacklistEdit),
    /// Write `text` to `path` (see [`write_list_file`]), then remove the stored
    /// edits of `list` (keys starting with [`BlacklistEdit::list_prefix`]). When the
    /// file cannot be written, answer nothing instead (as FreeSWITCH does) and keep
    /// the edits.
    Save {
        list: String,
        path: PathBuf,
        text: String,
    },
    /// Re-read the configuration and files ([`load_lists`]), replay the stored edits
    /// ([`Blacklists::replay`]), and replace the lists.
    Reload,
}

/// An API answer and what to do for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiOutcome {
    pub reply: String,
    pub effect: Effect,
}

impl ApiOutcome {
    fn reply(s: impl Into<String>) -> ApiOutcome {
        ApiOutcome {
            reply: s.into(),
            effect: Effect::None,
        }
    }
}

/// Every named list.
#[derive(Debug)]
pub struct Blacklists {
    lists: BTreeMap<String, List>,
    limits: Limits,
    stats: Stats,
    counters: CheckCounters,
}

impl Blacklists {
    pub fn new(limits: Limits) -> Blacklists {
        Blacklists {
            lists: BTreeMap::new(),
            limits,
            stats: Stats::default(),
            counters: CheckCounters::default(),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn stats(&self) -> Stats {
        Stats {
            checks: self.counters.checks.load(Ordering::Relaxed),
            hits: self.counters.hits.load(Ordering::Relaxed),
            ..self.stats
        }
    }

    pub fn list(&self, name: &str) -> Option<&List> {
        self.lists.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.lists.keys().map(String::as_str)
    }

    /// Declares an empty list backed by `file` (replacing one of the same name).
    pub fn declare(&mut self, name: &str, file: PathBuf) {
        self.lists.insert(name.to_string(), List::new(file));
    }

    /// Fills a declared list from its file's text; each refused line is a warning
    /// naming the file and line.
    pub fn load_text(&mut self, name: &str, text: &str, diags: &mut Diags) {
        let file = match self.lists.get(name) {
            Some(l) => l.file.clone(),
            None => return,
        };
        for (i, line) in text.lines().enumerate() {
            let entry = line.trim();
            if entry.is_empty() {
                continue;
            }
            if let Err(e) = self.add(name, entry) {
                let at = Source {
                    file: file.clone(),
                    line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                };
                diags.warn(&at, format!("blacklist {name}: {entry:?} left out: {e}"));
                if matches!(e, AddError::Full { .. }) {
                    break;
                }
            }
        }
    }

    /// `blacklist check`: false for an unknown list, as FreeSWITCH.
    pub fn check(&self, name: &str, item: &str) -> bool {
        self.counters.checks.fetch_add(1, Ordering::Relaxed);
        let hit = self.lists.get(name).is_some_and(|l| l.matches(item));
        if hit {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// `blacklist check LIST ITEM` alone, for the dialplan's `${blacklist(...)}` (a
    /// read-only path: no edit, no effect). Other subcommands answer None: route
    /// them through [`Blacklists::api`].
    pub fn api_check(&self, cmd: &str) -> Option<String> {
        let cmd = cmd.split(['\n', '\r']).next().unwrap_or("");
        let argv = separate_blank(cmd, 3);
        if !argv.first()?.eq_ignore_ascii_case("check") {
            return None;
        }
        let arg = |i: usize| argv.get(i).map(String::as_str).filter(|s| !s.is_empty());
        Some(match (arg(1), arg(2)) {
            (Some(list), Some(item)) => {
                if self.check(list, item) {
                    "true".into()
                } else {
                    "false".into()
                }
            }
            _ => String::new(),
        })
    }

    /// Adds an entry (`~` first: a regex); Ok(false) when it was already there.
    pub fn add(&mut self, name: &str, entry: &str) -> Result<bool, AddError> {
        let limits = self.limits;
        let list = self.lists.get_mut(name).ok_or(AddError::UnknownList)?;
        if list.contains_entry(entry) {
            return Ok(false);
        }
        if list.len() >= limits.max_entries_per_list {
            self.stats.refused_full += 1;
            return Err(AddError::Full {
                max: limits.max_entries_per_list,
            });
        }
        match entry.strip_prefix('~') {
            Some(pattern) => {
                if list.regexes.len() >= limits.max_regex_per_list {
                    self.stats.refused_regex += 1;
                    return Err(AddError::TooManyRegex {
                        max: limits.max_regex_per_list,
                    });
                }
                match compile(pattern, limits.max_regex_size) {
                    Ok(r) => list.regexes.push((pattern.to_string(), r)),
                    Err(e) => {
                        self.stats.refused_regex += 1;
                        return Err(AddError::BadRegex(e));
                    }
                }
            }
            None => {
                list.exact.insert(entry.to_string());
            }
        }
        Ok(true)
    }

    /// Removes an entry; Ok(false) when it was not there.
    pub fn del(&mut self, name: &str, entry: &str) -> Result<bool, AddError> {
        let list = self.lists.get_mut(name).ok_or(AddError::UnknownList)?;
        Ok(match entry.strip_prefix('~') {
            Some(p) => {
                let before = list.regexes.len();
                list.regexes.retain(|(q, _)| q != p);
                before != list.regexes.len()
            }
            None => list.exact.remove(entry),
        })
    }

    /// Applies stored edits over the lists read from files (at start, after reload);
    /// an edit that no longer applies (list gone, list full) is a warning.
    pub fn replay<'a>(
        &mut self,
        edits: impl IntoIterator<Item = &'a BlacklistEdit>,
        diags: &mut Diags,
    ) {
        let at = Source {
            file: PathBuf::from("store:blacklist_edits"),
            line: 0,
        };
        for e in edits {
            let r = if e.added {
                self.add(&e.list, &e.item).map(|_| ())
            } else {
                self.del(&e.list, &e.item).map(|_| ())
            };
            if let Err(err) = r {
                diags.warn(
                    &at,
                    format!(
                        "blacklist {}: stored {} of {:?} not applied: {err}",
                        e.list,
                        if e.added { "add" } else { "del" },
                        e.item
                    ),
                );
            }
        }
    }

    /// The `blacklist` API command; `now_unix` stamps stored edits.
    pub fn api(&mut self, cmd: &str, now_unix: u64) -> ApiOutcome {
        // mod_blacklist's trim(): the command ends at the first newline or return.
        let cmd = cmd.split(['\n', '\r']).next().unwrap_or("");
        let argv = separate_blank(cmd, 3);
        let Some(sub) = argv.first().filter(|s| !s.is_empty()) else {
            return ApiOutcome::reply("");
        };
        let arg = |i: usize| argv.get(i).map(String::as_str).filter(|s| !s.is_empty());
        let sub = sub.to_ascii_lowercase();
        match sub.as_str() {
            "check" => {
                let (Some(list), Some(item)) = (arg(1), arg(2)) else {
                    return ApiOutcome::reply("");
                };
                if !self.lists.contains_key(list) {
                    tracing::error!(list, "Unknown blacklist");
                }
                let hit = self.check(list, item);
                ApiOutcome::reply(if hit { "true" } else { "false" })
            }
            "add" | "del" => {
                let (Some(list), Some(item)) = (arg(1), arg(2)) else {
                    return ApiOutcome::reply("");
                };
                let adding = sub == "add";
                let r = if adding {
                    self.add(list, item)
                } else {
                    self.del(list, item)
                };
                match r {
                    Ok(changed) => ApiOutcome {
                        reply: "+OK\n".into(),
                        effect: if changed {
                            tracing::info!(list, item, "blacklist {sub}");
                            Effect::Persist(BlacklistEdit {
                                list: list.to_string(),
                                item: item.to_string(),
                                added: adding,
                                at_unix: now_unix,
                            })
                        } else {
                            Effect::None
                        },
                    },
                    Err(AddError::UnknownList) => {
                        tracing::error!(list, "Unknown blacklist");
                        ApiOutcome::reply("-ERR Unknown blacklist\n")
                    }
                    Err(e) => {
                        tracing::warn!(list, item, error = %e, "blacklist add refused");
                        ApiOutcome::reply(format!("-ERR list {list}: {e}\n"))
                    }
                }
            }
            "save" => {
                let Some(name) = arg(1) else {
                    return ApiOutcome::reply("");
                };
                match self.lists.get(name) {
                    Some(l) => ApiOutcome {
                        reply: "+OK\n".into(),
                        effect: Effect::Save {
                            list: name.to_string(),
                            path: l.file.clone(),
                            text: l.file_text(),
                        },
                    },
                    None => ApiOutcome::reply("-ERR Unknown blacklist\n"),
                }
            }
            "reload" => ApiOutcome {
                reply: "+OK\n".into(),
                effect: Effect::Reload,
            },
            "help" => ApiOutcome::reply(format!("{API_SYNTAX}+OK\n")),
            "list" => match arg(1) {
                None => {
                    let mut s = String::new();
                    for n in self.names() {
                        let _ = writeln!(s, "{n}");
                    }
                    ApiOutcome::reply(s)
                }
                Some(name) => match self.lists.get(name) {
                    Some(l) => {
                        let mut s = String::new();
                        for e in l.entries() {
                            let _ = writeln!(s, "{e}");
                        }
                        ApiOutcome::reply(s)
                    }
                    None => ApiOutcome::reply("-ERR Unknown blacklist\n"),
                },
            },
            _ => ApiOutcome::reply(format!(
                "-ERR: No such command: {} (see 'blacklist help')\n",
                argv[0]
            )),
        }
    }
}

/// Compiles a regex entry with the size bound.
fn compile(pattern: &str, max_size: usize) -> Result<Regex, String> {
    if pattern.is_empty() {
        return Err("empty pattern (it would match every number)".into());
    }
    if pattern.len() > max_size {
        return Err(format!("pattern longer than {max_size} bytes"));
    }
    Regex::builder()
        .configure(
            Regex::config()
                .nfa_size_limit(Some(max_size))
                .dfa_size_limit(Some(max_size))
                .hybrid_cache_capacity(max_size.max(256 * 1024)),
        )
        .syntax(regex_automata::util::syntax::Config::new().nest_limit(32))
        .build(pattern)
        .map_err(|e| {
            if let Some(limit) = e.size_limit() {
                return format!("compiles larger than max-regex-size ({limit} bytes)");
            }
            // One line for an API answer: the kind of syntax error, not the drawing.
            match e.syntax_error() {
                Some(regex_syntax::Error::Parse(p)) => p.kind().to_string(),
                Some(regex_syntax::Error::Translate(t)) => t.kind().to_string(),
                _ => e.to_string(),
            }
        })
}

/// A run-time `add` or `del`, kept in sled until the list is saved to its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlacklistEdit {
    pub list: String,
    /// As given: `~` first for a regex entry.
    pub item: String,
    /// true: add; false: del.
    pub added: bool,
    pub at_unix: u64,
}

impl BlacklistEdit {
    /// Store key: list, NUL, item (the last edit of an item replaces the earlier).
    pub fn key(&self) -> Vec<u8> {
        let mut k = Self::list_prefix(&self.list);
        k.extend_from_slice(self.item.as_bytes());
        k
    }

    /// Prefix of every key of `list`'s edits.
    pub fn list_prefix(list: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(list.len() + 1);
        k.extend_from_slice(list.as_bytes());
        k.push(0);
        k
    }
}

impl Record for BlacklistEdit {
    const TREE: &'static str = "blacklist_edits";
    const VERSION: u8 = 1;

    fn encode(&self, w: &mut Writer) {
        w.str(&self.list);
        w.str(&self.item);
        w.u8(u8::from(self.added));
        w.u64(self.at_unix);
    }

    fn decode(_version: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let list = r.str()?;
        let item = r.str()?;
        let added = match r.u8()? {
            0 => false,
            1 => true,
            t => return Err(DecodeError(format!("bad add/del flag {t}"))),
        };
        Ok(BlacklistEdit {
            list,
            item,
            added,
            at_unix: r.u64()?,
        })
    }
}

/// Builds the lists of `config` from their files (a missing or unreadable file: an
/// empty list and a warning; `blacklist add` and `save` still work on it).
pub fn load_lists(config: &BlacklistConfig, diags: &mut Diags) -> Blacklists {
    let mut b = Blacklists::new(Limits::from_config(config));
    for l in &config.lists {
        b.declare(&l.name, l.filename.clone());
        match std::fs::read_to_string(&l.filename) {
            Ok(text) => b.load_text(&l.name, &text, diags),
            Err(e) => diags.warn(
                &l.source,
                format!(
                    "blacklist {}: cannot read {}: {e}; the list starts empty \
                     (`blacklist save {}` creates the file)",
                    l.name,
                    l.filename.display(),
                    l.name
                ),
            ),
        }
    }
    b
}

/// `save`'s write: a temporary file beside it, fsynced, renamed over the list file,
/// so a power cut leaves the old list or the new one, never half of one.
pub fn write_list_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "blacklist_tests.rs"]
mod tests;
