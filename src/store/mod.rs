//! State on the box's flash, in sled.
//!
//! * Typed trees: each record type ([`Record`]) lives in its own sled tree with a
//!   versioned encoding (`codec.rs`).
//! * A schema version in the `meta` tree, with migrations run at open (`migrate.rs`).
//! * A durability policy per write ([`Durability`]): sled's `flush()` writes its buffers
//!   but does not fsync them, so a power cut can still lose an acknowledged write. Writes
//!   that must survive (money, CDRs, generated credentials) use `Critical`, which flushes
//!   and then fsyncs the data files and the directory. Everything else is `Lazy`: sled
//!   writes it back within `flush_every_ms`.

mod codec;
mod migrate;
mod records;

pub use codec::{DecodeError, Reader, Record, Writer};
pub use records::{Binding, UserSecret};

use std::fs::File;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// How hard a write must hold before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Written back by sled's background flusher; lost on a power cut in the last
    /// `flush_every_ms`.
    Lazy,
    /// Flushed and fsynced before returning.
    Critical,
}

/// Store errors, worded for an operator.
#[derive(Debug)]
pub enum StoreError {
    Open {
        path: PathBuf,
        source: sled::Error,
    },
    Io(std::io::Error),
    Sled(sled::Error),
    Decode {
        tree: &'static str,
        error: DecodeError,
    },
    Schema(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Open { path, source } => write!(
                f,
                "cannot open the store in {}: {source} (is another loopstart running with \
                 the same --data directory? is the directory writable?)",
                path.display()
            ),
            StoreError::Io(e) => write!(f, "store I/O error: {e}"),
            StoreError::Sled(e) => write!(f, "store error: {e}"),
            StoreError::Decode { tree, error } => write!(f, "tree {tree}: {error}"),
            StoreError::Schema(s) => write!(f, "store schema: {s}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Sled(e)
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e)
    }
}

/// The opened store. Cheap to clone (sled handles are reference counted).
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    dir: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store under `data_dir/db`, with sled's page cache
    /// capped at `cache_bytes`, and brings its schema up to date.
    pub fn open(data_dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let dir = data_dir.join("db");
        std::fs::create_dir_all(&dir)?;
        let config = sled::Config::new()
            .path(&dir)
            .cache_capacity(cache_bytes)
            .flush_every_ms(Some(500));
        // sled releases its file lock only when its flusher thread notices the last
        // handle is gone (up to flush_every_ms later): a quick restart waits for it.
        let mut attempts = 0;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(source) if attempts < 40 && is_lock_error(&source) => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(source) => {
                    return Err(StoreError::Open {
                        path: dir.clone(),
                        source,
                    })
                }
            }
        };
        let store = Store { db, dir };
        migrate::run(&store)?;
        Ok(store)
    }

    /// The typed tree for record type `R`.
    pub fn tree<R: Record>(&self) -> Result<Tree<R>, StoreError> {
        Ok(Tree {
            tree: self.db.open_tree(R::TREE)?,
            store: self.clone(),
            _record: PhantomData,
        })
    }

    pub(crate) fn meta(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree("meta")?)
    }

    /// Makes everything written so far durable: sled flush, then fsync of the files and
    /// the directory that hold it.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.is_file() {
                File::open(&path)?.sync_all()?;
            }
        }
        let blobs = self.dir.join("blobs");
        if blobs.is_dir() {
            File::open(&blobs)?.sync_all()?;
        }
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    /// Bytes sled reports on disk (for `status`).
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

fn is_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

/// A sled tree holding records of one type, keyed by caller-chosen byte strings.
pub struct Tree<R: Record> {
    tree: sled::Tree,
    store: Store,
    _record: PhantomData<R>,
}

impl<R: Record> Tree<R> {
    pub fn get(&self, key: &[u8]) -> Result<Option<R>, StoreError> {
        match self.tree.get(key)? {
            Some(v) => R::from_bytes(&v)
                .map(Some)
                .map_err(|error| StoreError::Decode {
                    tree: R::TREE,
                    error,
                }),
            None => Ok(None),
        }
    }

    pub fn insert(&self, key: &[u8], value: &R, durability: Durability) -> Result<(), StoreError> {
        self.tree.insert(key, value.to_bytes())?;
        self.settle(durability)
    }

    pub fn remove(&self, key: &[u8], durability: Durability) -> Result<(), StoreError> {
        self.tree.remove(key)?;
        self.settle(durability)
    }

    /// Every record; entries that fail to decode are returned as errors with their key so
    /// the caller can log and skip them instead of refusing to start.
    pub fn iter(&self) -> impl Iterator<Item = (Vec<u8>, Result<R, StoreError>)> + '_ {
        self.tree.iter().filter_map(|item| {
            let (k, v) = item.ok()?;
            let decoded = R::from_bytes(&v).map_err(|error| StoreError::Decode {
                tree: R::TREE,
                error,
            });
            Some((k.to_vec(), decoded))
        })
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Makes every write so far durable (see [`Store::sync`]): one fsync for a group of
    /// lazy writes that must all be on disk before they are acknowledged.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.store.sync()
    }

    fn settle(&self, durability: Durability) -> Result<(), StoreError> {
        match durability {
            Durability::Lazy => Ok(()),
            Durability::Critical => self.store.sync(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_tree_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), 1 << 20).unwrap();
            let secrets = store.tree::<UserSecret>().unwrap();
            let s = UserSecret {
                password: "pw".into(),
                generated_at_unix: 5,
            };
            secrets
                .insert(b"1001@example", &s, Durability::Critical)
                .unwrap();
        }
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let secrets = store.tree::<UserSecret>().unwrap();
        let got = secrets.get(b"1001@example").unwrap().unwrap();
        assert_eq!(got.password, "pw");
    }

    #[test]
    fn second_open_of_a_locked_store_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path(), 1 << 20).unwrap();
        let err = match Store::open(dir.path(), 1 << 20) {
            Ok(_) => panic!("second open should fail while the first holds the lock"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("another loopstart"), "{err}");
    }
}
