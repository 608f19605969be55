//! mod_blacklist at run time: the lists of `blacklist.conf.xml` read at start, the
//! run-time edits replayed over them from sled, the `blacklist` API, and the read-only
//! `blacklist check` the dialplan calls as `${blacklist(check LIST NUMBER)}`.
//!
//! The lists sit behind an `RwLock` shared by the API task and the switch's hunt: a
//! check is a read (its counters are atomics), so calls never wait on each other, and
//! an edit holds the write lock only to change memory. Persisting happens after the
//! lock is released, under its own mutex (edits reach sled in the order they were
//! made), and a `blacklist add` answers `+OK` only once its edit is fsynced, as a
//! fail2ban ban is: an operator who saw `+OK` can pull the plug.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use super::StartError;
use crate::config::blacklist::BlacklistConfig;
use crate::config::Diags;
use crate::esl::ApiRegistry;
use crate::guard::blacklist::{load_lists, write_list_file, BlacklistEdit, Blacklists, Effect};
use crate::store::{Durability, Store, Tree};
use crate::switch::SwitchApi;

/// The box's blacklists, shared by the API and the dialplan.
pub struct SharedBlacklists {
    lists: RwLock<Blacklists>,
    edits: Tree<BlacklistEdit>,
    /// Held while an edit goes to sled, so edits are stored in the order made.
    persisting: Mutex<()>,
    /// Where `reload` (and `reloadxml`) read blacklist.conf.xml again.
    conf_dir: PathBuf,
}

impl SharedBlacklists {
    /// Reads the lists' files and replays the stored edits over them.
    pub fn start(
        config: &BlacklistConfig,
        store: &Store,
        conf_dir: PathBuf,
    ) -> Result<Arc<SharedBlacklists>, StartError> {
        let edits = store
            .tree::<BlacklistEdit>()
            .map_err(|e| StartError(format!("cannot open the blacklist edits: {e}")))?;
        let lists = build(config, &edits);
        let total: usize = lists
            .names()
            .filter_map(|n| lists.list(n))
            .map(|l| l.len())
            .sum();
        if lists.names().next().is_some() {
            tracing::info!(
                lists = lists.names().count(),
                entries = total,
                "blacklists loaded"
            );
        }
        Ok(Arc::new(SharedBlacklists {
            lists: RwLock::new(lists),
            edits,
            persisting: Mutex::new(()),
            conf_dir,
        }))
    }

    /// `${blacklist(check LIST ITEM)}` for the switch's hunt and expansions; other
    /// subcommands change state and are not run from a dialplan.
    pub fn hook(self: &Arc<Self>) -> SwitchApi {
        let me = self.clone();
        Arc::new(move |name: &str, args: &str| {
            if name != "blacklist" {
                return None;
            }
            me.lists.read().ok()?.api_check(args)
        })
    }

    /// `blacklist check|add|del|save|reload|list|help`.
    pub fn register_api(self: &Arc<Self>, registry: &mut ApiRegistry) {
        let me = self.clone();
        registry.register_fn(
            "blacklist",
            "check|add|del <listname> <item> | save <listname> | reload | list [<listname>] | help",
            "Number blacklists (mod_blacklist)",
            move |args| {
                let me = me.clone();
                Box::pin(async move { Ok(me.api(&args)) })
            },
        );
    }

    fn api(&self, args: &str) -> String {
        let now = super::driver::unix_ms() / 1000;
        let _order = self.persisting.lock();
        let outcome = match self.lists.write() {
            Ok(mut l) => l.api(args, now),
            Err(_) => return "-ERR the blacklists are unavailable\n".into(),
        };
        match outcome.effect {
            Effect::None => outcome.reply,
            Effect::Persist(edit) => {
                if let Err(e) = self.edits.insert(&edit.key(), &edit, Durability::Critical) {
                    tracing::error!(list = %edit.list, item = %edit.item, error = %e,
                        "could not store a blacklist edit: it holds until restart only");
                    return format!("-ERR stored in memory only: {e}\n");
                }
                outcome.reply
            }
            Effect::Save { list, path, text } => match write_list_file(&path, &text) {
                Ok(()) => {
                    self.forget_edits(&list);
                    tracing::info!(%list, file = %path.display(), "blacklist saved");
                    outcome.reply
                }
                Err(e) => {
                    // mod_blacklist answers nothing when the file cannot be written.
                    tracing::error!(%list, file = %path.display(), error = %e,
                        "cannot write the blacklist file; its edits stay stored");
                    String::new()
                }
            },
            Effect::Reload => match self.reload() {
                Ok(()) => outcome.reply,
                Err(e) => format!("-ERR {e}\n"),
            },
        }
    }

    /// The lists' size and counters, one line for `status`.
    pub fn status_line(&self) -> String {
        let Ok(l) = self.lists.read() else {
            return "blacklist: unavailable".into();
        };
        let entries: usize = l.names().filter_map(|n| l.list(n)).map(|x| x.len()).sum();
        let s = l.stats();
        format!(
            "blacklist: {} lists, {entries} entries; {} checks, {} hits; {} adds refused \
             (list full), {} regex entries refused",
            l.names().count(),
            s.checks,
            s.hits,
            s.refused_full,
            s.refused_regex
        )
    }

    /// Reads blacklist.conf.xml and the list files again, with the stored edits over
    /// them (`blacklist reload`, `reloadxml`). When the config does not load, the
    /// lists stay as they were.
    pub fn reload(&self) -> Result<(), String> {
        let config = crate::config::load(&self.conf_dir)
            .map_err(|e| format!("blacklist reload: nothing changed:\n{e}"))?;
        self.replace(&config.blacklist);
        Ok(())
    }

    /// New lists from `config` (already loaded, e.g. by `reloadxml`).
    pub fn replace(&self, config: &BlacklistConfig) {
        let fresh = build(config, &self.edits);
        if let Ok(mut l) = self.lists.write() {
            *l = fresh;
        }
        tracing::info!("blacklists reloaded");
    }

    /// Drops the stored edits of `list` (its file now holds them).
    fn forget_edits(&self, list: &str) {
        let prefix = BlacklistEdit::list_prefix(list);
        let keys: Vec<Vec<u8>> = self
            .edits
            .iter()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with(&prefix))
            .collect();
        for k in keys {
            if let Err(e) = self.edits.remove(&k, Durability::Lazy) {
                tracing::warn!(%list, error = %e, "could not drop a saved blacklist edit");
            }
        }
    }
}

/// The lists of `config` with the stored edits replayed; problems are warnings that
/// name the file and line (or the store).
fn build(config: &BlacklistConfig, edits: &Tree<BlacklistEdit>) -> Blacklists {
    let mut diags = Diags::default();
    let mut lists = load_lists(config, &mut diags);
    let mut stored = Vec::new();
    for (key, item) in edits.iter() {
        match item {
            Ok(e) => stored.push(e),
            Err(e) => {
                tracing::warn!(key = %String::from_utf8_lossy(&key), error = %e,
                    "dropping an unreadable blacklist edit");
                let _ = edits.remove(&key, Durability::Lazy);
            }
        }
    }
    lists.replay(stored.iter(), &mut diags);
    for d in &diags.0 {
        tracing::warn!("{d}");
    }
    lists
}
