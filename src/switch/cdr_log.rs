//! The CDR log: every call record, one per leg, kept in the store (the source of
//! truth, written as a critical write: flushed and fsynced before [`CdrLog::write`]
//! returns) and appended to mod_cdr_csv's CSV files for billing tools.
//!
//! The CSV files are FreeSWITCH's: `<log-base>/cdr-csv/Master.csv` with the default
//! template, and `<accountcode>.csv` for a call with an accountcode (with the template
//! named like the accountcode if there is one) unless `master-file-only`; only the legs
//! `legs` asks for; one line per record, no header line. Rotation (`rotate-on-hup`)
//! renames the files to `Master.csv.YYYY-MM-DD-hh-mm-ss` (local time); the next record
//! starts a new file.
//!
//! Differences from mod_cdr_csv, on purpose:
//! * Every leg is stored whatever `legs` says; `legs` only filters the CSV files.
//! * A CSV write failure never loses the record (it is in the store; `loopstart cdr
//!   export` writes it again) and is counted ([`CdrLog::csv_failures`]).
//! * An accountcode that is not a plain file name (`../x`, `a/b`, `.hidden`) gets no
//!   file of its own: the caller must not choose where we write.
//! * Rotation renames every `*.csv` file in the folder (not only those written since
//!   start), and never overwrites an earlier rotated file (`.1`, `.2`, ... are added).
//! * The store is bounded by `max-records` and `max-age-days` ([`CdrLog::prune`]).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::cdr::{self, Cdr};
use crate::civil::CivilTime;
use crate::config::cdr_csv::{CdrCsvConfig, Legs};
use crate::store::{Durability, Store, StoreError, Tree};

/// Which leg of a call a record is for: A (the caller's, inbound) or B (originated by
/// the switch for a bridge).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegKind {
    A,
    B,
}

/// Keys removed per store pass while pruning (bounds the memory a prune takes; small
/// in tests so that they cross batches).
const PRUNE_BATCH: usize = if cfg!(test) { 3 } else { 1024 };
/// Longest accountcode used as a file name.
const MAX_ACCOUNTCODE_FILE: usize = 128;

/// The CDR log (see the module documentation).
pub struct CdrLog {
    tree: Tree<Cdr>,
    csv: CdrCsvConfig,
    dir: PathBuf,
    /// Records in the tree (sled's `len` is a full scan: counted once at open).
    count: usize,
    csv_failures: u64,
    utc_offset: i32,
}

impl CdrLog {
    /// Opens the log on `store`; the CSV files go to `<log-base>/cdr-csv/`, `log-base`
    /// defaulting to `data_dir`. The folder is created at the first write (a missing or
    /// unwritable folder is then logged, never fatal to the calls).
    pub fn open(store: &Store, csv: CdrCsvConfig, data_dir: &Path) -> Result<CdrLog, StoreError> {
        let tree = store.tree::<Cdr>()?;
        let count = tree.len();
        let dir = csv
            .log_base
            .clone()
            .unwrap_or_else(|| data_dir.to_path_buf())
            .join("cdr-csv");
        Ok(CdrLog {
            tree,
            csv,
            dir,
            count,
            csv_failures: 0,
            utc_offset: 0,
        })
    }

    /// Seconds east of UTC for the rotated files' names (FreeSWITCH uses local time).
    pub fn set_utc_offset(&mut self, secs: i32) {
        self.utc_offset = secs;
    }

    /// The folder of the CSV files: `<log-base>/cdr-csv`.
    pub fn csv_dir(&self) -> &Path {
        &self.dir
    }

    /// Records in the store.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// CSV lines that could not be written since open (for `status`).
    pub fn csv_failures(&self) -> u64 {
        self.csv_failures
    }

    /// Records `cdr` of leg `leg`: into the store, flushed and fsynced before this
    /// returns (an `Err` means the record is not known to be durable: the call's end
    /// must not be acknowledged as recorded), then into the CSV files this leg and
    /// `legs` call for. A CSV failure is logged and counted, not returned.
    pub fn write(&mut self, leg: LegKind, cdr: &Cdr) -> Result<(), StoreError> {
        self.write_batch(std::slice::from_ref(&(leg, cdr)))
    }

    /// Several records made durable by one sync (group commit: the calls that ended
    /// while the previous sync ran). An `Err` means none is known to be durable.
    pub fn write_batch(&mut self, batch: &[(LegKind, &Cdr)]) -> Result<(), StoreError> {
        let mut result = Ok(());
        for (_, cdr) in batch {
            let key = cdr::key(cdr);
            let existed = !matches!(self.tree.get(&key), Ok(None));
            match self.tree.insert(&key, *cdr, Durability::Lazy) {
                Ok(()) if !existed => self.count += 1,
                Ok(()) => {}
                Err(e) => {
                    tracing::error!(
                        uuid = cdr.get("uuid").unwrap_or_default(),
                        error = %e,
                        "CDR not stored; it still goes to the CSV files. Check free space on the \
                         data partition and the store's health (loopstart check)"
                    );
                    result = Err(e);
                }
            }
        }
        if let Err(e) = self.tree.sync() {
            tracing::error!(error = %e, records = batch.len(),
                "CDRs written but not synced to disk: they may not survive a power cut. Check the data partition");
            result = Err(e);
        }
        // One open and one write per file for the whole batch.
        let mut files: Vec<(PathBuf, Vec<u8>, usize)> = Vec::new();
        for (i, (leg, cdr)) in batch.iter().enumerate() {
            let wanted = match self.csv.legs {
                Legs::A => *leg == LegKind::A,
                Legs::B => *leg == LegKind::B,
                Legs::Both => true,
            };
            if !wanted {
                continue;
            }
            for (path, line) in self.csv_lines(cdr) {
                let slot = match files.iter().position(|(p, ..)| *p == path) {
                    Some(k) => k,
                    None => {
                        files.push((path, Vec::new(), i));
                        files.len() - 1
                    }
                };
                files[slot].1.extend_from_slice(line.as_bytes());
                files[slot].1.push(b'\n');
            }
        }
        for (path, bytes, first) in files {
            self.append(&path, &bytes, batch[first].1);
        }
        result
    }

    /// The CSV lines a record gets: its accountcode's file (unless master-file-only)
    /// and Master.csv.
    fn csv_lines(&self, cdr: &Cdr) -> Vec<(PathBuf, String)> {
        let default = self
            .csv
            .template(&self.csv.default_template)
            .unwrap_or(crate::config::cdr_csv::EXAMPLE_TEMPLATE);
        let mut lines = Vec::with_capacity(2);
        let account = cdr.get("accountcode").filter(|a| !a.is_empty());
        if let (Some(account), false) = (account, self.csv.master_file_only) {
            if is_plain_file_name(account) {
                let template = self.csv.template(account).unwrap_or(default);
                let path = self.dir.join(format!("{account}.csv"));
                lines.push((path, cdr.render(template)));
            } else {
                tracing::warn!(
                    uuid = cdr.get("uuid").unwrap_or_default(),
                    accountcode = account,
                    "accountcode is not a plain file name: its record goes to Master.csv \
                     only (use letters, digits, '-', '_', '.', '@', '+')"
                );
            }
        }
        lines.push((self.dir.join("Master.csv"), cdr.render(default)));
        lines
    }

    /// Appends `bytes` (whole lines) in one write to `path` (opened per batch: no
    /// handle to hold per accountcode, and a rotation needs no reopen).
    fn append(&mut self, path: &Path, bytes: &[u8], cdr: &Cdr) {
        let open = || OpenOptions::new().create(true).append(true).open(path);
        let result = match open() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&self.dir).and_then(|()| open())
            }
            other => other,
        }
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.flush()));
        if let Err(e) = result {
            self.csv_failures += 1;
            tracing::error!(
                path = %path.display(),
                uuid = cdr.get("uuid").unwrap_or_default(),
                error = %e,
                "CDR lines not written to the CSV file; the records are kept in the store \
                 (`cdr list`). Check that the folder exists and is writable and the disk \
                 is not full"
            );
        }
    }

    /// Applies `max-records` and `max-age-days` at `now_unix_us`: the oldest records
    /// (by end time) go first. Lazy writes; returns how many were removed.
    pub fn prune(&mut self, now_unix_us: u64) -> usize {
        let mut removed = 0;
        if self.csv.max_age_days > 0 {
            let age_us = u64::from(self.csv.max_age_days) * 86_400 * 1_000_000;
            let cutoff = now_unix_us.saturating_sub(age_us);
            removed += self.remove_front(usize::MAX, |key| end_of(key) < cutoff);
        }
        if self.csv.max_records > 0 {
            let max = usize::try_from(self.csv.max_records).unwrap_or(usize::MAX);
            let excess = self.count.saturating_sub(max);
            if excess > 0 {
                removed += self.remove_front(excess, |_| true);
            }
        }
        if removed > 0 {
            tracing::info!(
                removed,
                kept = self.count,
                "old CDRs pruned (max-records, max-age-days in cdr_csv.conf.xml)"
            );
        }
        removed
    }

    /// Removes up to `limit` records from the front while `old(key)`.
    fn remove_front(&mut self, limit: usize, old: impl Fn(&[u8]) -> bool) -> usize {
        let mut removed = 0;
        while removed < limit {
            let batch: Vec<Vec<u8>> = self
                .tree
                .iter()
                .map(|(k, _)| k)
                .take_while(|k| old(k))
                .take((limit - removed).min(PRUNE_BATCH))
                .collect();
            if batch.is_empty() {
                break;
            }
            let full = batch.len() == PRUNE_BATCH;
            for key in batch {
                if let Err(e) = self.tree.remove(&key, Durability::Lazy) {
                    tracing::warn!(error = %e, "CDR prune stopped: cannot remove a record");
                    return removed;
                }
                removed += 1;
                self.count = self.count.saturating_sub(1);
            }
            if !full {
                break;
            }
        }
        removed
    }

    /// The newest `n` records, newest first. (Walks the store from the oldest: the
    /// typed tree has no reverse iteration yet; memory stays bounded by `n`.)
    pub fn list(&self, n: usize) -> Vec<Cdr> {
        if n == 0 {
            return Vec::new();
        }
        let mut newest = VecDeque::with_capacity(n.min(1024));
        for (key, record) in self.tree.iter() {
            match record {
                Ok(cdr) => {
                    if newest.len() == n {
                        newest.pop_front();
                    }
                    newest.push_back(cdr);
                }
                Err(e) => tracing::warn!(key = %hex(&key), error = %e, "unreadable CDR skipped"),
            }
        }
        newest.into_iter().rev().collect()
    }

    /// Rotates the CSV files now (SIGHUP, `cdr_csv rotate`); see [`CdrLog::rotate_at`].
    pub fn rotate(&mut self) -> io::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        self.rotate_at(now)
    }

    /// With `rotate-on-hup`, renames every `*.csv` file of the folder to
    /// `NAME.csv.YYYY-MM-DD-hh-mm-ss` (local time at `now_unix_us`; `.1`, `.2`, ... added
    /// rather than overwrite an earlier one); the next record starts a new file. Without
    /// it, nothing to do (files are opened per record). Every file is tried; the first
    /// error is returned.
    pub fn rotate_at(&mut self, now_unix_us: u64) -> io::Result<()> {
        if !self.csv.rotate_on_hup {
            return Ok(());
        }
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".csv"))
            .collect();
        names.sort();
        let t = CivilTime::from_unix((now_unix_us / 1_000_000) as i64, self.utc_offset);
        let stamp = format!(
            "{:04}-{:02}-{:02}-{:02}-{:02}-{:02}",
            t.year, t.month, t.mday, t.hour, t.minute, t.second
        );
        let mut first_error = None;
        for name in names {
            let from = self.dir.join(&name);
            let mut to = self.dir.join(format!("{name}.{stamp}"));
            let mut n = 0;
            while to.exists() {
                n += 1;
                to = self.dir.join(format!("{name}.{stamp}.{n}"));
            }
            match fs::rename(&from, &to) {
                Ok(()) => {
                    tracing::info!(from = %from.display(), to = %to.display(), "CDR file rotated")
                }
                Err(e) => {
                    tracing::error!(
                        path = %from.display(),
                        error = %e,
                        "CDR file not rotated; new lines keep going to it. Check the folder's permissions"
                    );
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Writes every stored record, oldest first, as CSV lines of `template` after a
    /// header line of its field names; returns how many records were written.
    pub fn export_csv<W: Write + ?Sized>(&self, template: &str, out: &mut W) -> io::Result<usize> {
        writeln!(out, "{}", cdr::header(template))?;
        let mut n = 0;
        for (key, record) in self.tree.iter() {
            match record {
                Ok(cdr) => {
                    writeln!(out, "{}", cdr.render(template))?;
                    n += 1;
                }
                Err(e) => {
                    tracing::warn!(key = %hex(&key), error = %e, "unreadable CDR not exported")
                }
            }
        }
        out.flush()?;
        Ok(n)
    }
}

/// The API's `cdr list [n]` table, in the shape of `show registrations`: a header
/// line of field names, one comma-separated row per record, then `N total.`.
pub fn format_list(cdrs: &[Cdr]) -> String {
    const COLUMNS: [&str; 7] = [
        "uuid",
        "caller_id_number",
        "destination_number",
        "start_stamp",
        "duration",
        "billsec",
        "hangup_cause",
    ];
    let mut out = COLUMNS.join(",");
    out.push('\n');
    for c in cdrs {
        let row: Vec<String> = COLUMNS
            .iter()
            .map(|name| {
                c.get(name)
                    .unwrap_or_default()
                    .replace(',', "%2C")
                    .replace(['\r', '\n'], "")
            })
            .collect();
        let _ = writeln!(out, "{}", row.join(","));
    }
    let _ = write!(out, "\n{} total.\n", cdrs.len());
    out
}

/// The end time (µs) a store key starts with.
fn end_of(key: &[u8]) -> u64 {
    key.get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// An accountcode usable as a file name in the CSV folder, as it is.
fn is_plain_file_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ACCOUNTCODE_FILE
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '+'))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
#[path = "cdr_log_tests.rs"]
mod tests;
