//! The location service: bindings of addresses-of-record to contacts, in memory, with
//! expiry. Sans-IO: times are Unix milliseconds passed in by the caller, because bindings
//! outlive the process (they are persisted and restored at start).

use crate::store::Binding;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// Bindings by AOR, with an expiry queue.
#[derive(Default)]
pub struct Location {
    by_aor: HashMap<String, Vec<Binding>>,
    /// (expires_at, key): lazily cleaned; an entry whose binding changed is skipped.
    expiry: BinaryHeap<Reverse<(u64, Vec<u8>)>>,
    count: usize,
}

impl Location {
    pub fn new() -> Location {
        Location::default()
    }

    /// Number of live bindings.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of AORs with at least one binding.
    pub fn aor_count(&self) -> usize {
        self.by_aor.len()
    }

    pub fn bindings(&self, aor: &str) -> &[Binding] {
        self.by_aor.get(aor).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every binding, sorted by AOR then contact, for listings.
    pub fn all(&self) -> Vec<&Binding> {
        let mut v: Vec<&Binding> = self.by_aor.values().flatten().collect();
        v.sort_by(|a, b| (&a.aor, &a.contact_uri).cmp(&(&b.aor, &b.contact_uri)));
        v
    }

    /// Inserts or replaces the binding with the same key.
    pub fn upsert(&mut self, binding: Binding) {
        let key = binding.key();
        self.expiry
            .push(Reverse((binding.expires_at_unix_ms, key.clone())));
        // Most AORs have one phone: start at capacity 1, not Vec's default of 4 bindings.
        let list = self
            .by_aor
            .entry(binding.aor.clone())
            .or_insert_with(|| Vec::with_capacity(1));
        match list.iter_mut().find(|b| b.key() == key) {
            Some(slot) => *slot = binding,
            None => {
                list.push(binding);
                self.count += 1;
            }
        }
    }

    /// Removes the binding with `key` from `aor`; returns it.
    pub fn remove(&mut self, aor: &str, key: &[u8]) -> Option<Binding> {
        let list = self.by_aor.get_mut(aor)?;
        let pos = list.iter().position(|b| b.key() == key)?;
        let removed = list.swap_remove(pos);
        self.count -= 1;
        if list.is_empty() {
            self.by_aor.remove(aor);
        }
        Some(removed)
    }

    /// Removes and returns every binding whose time has come.
    pub fn expire(&mut self, now_unix_ms: u64) -> Vec<Binding> {
        let mut gone = Vec::new();
        while let Some(Reverse((at, _))) = self.expiry.peek() {
            if *at > now_unix_ms {
                break;
            }
            let Some(Reverse((at, key))) = self.expiry.pop() else {
                break;
            };
            let Some(aor) = aor_of_key(&key) else {
                continue;
            };
            let still_due = self
                .bindings(&aor)
                .iter()
                .any(|b| b.expires_at_unix_ms == at && b.key() == key);
            if still_due {
                if let Some(b) = self.remove(&aor, &key) {
                    gone.push(b);
                }
            }
        }
        // Keep the queue from growing without bound under constant refreshes: when it
        // holds far more stale entries than bindings, rebuild it.
        if self.expiry.len() > 4 * self.count + 1024 {
            self.rebuild_expiry();
        }
        gone
    }

    /// When the next binding expires, if any.
    pub fn next_expiry(&self) -> Option<u64> {
        self.expiry.peek().map(|Reverse((at, _))| *at)
    }

    fn rebuild_expiry(&mut self) {
        self.expiry = self
            .by_aor
            .values()
            .flatten()
            .map(|b| Reverse((b.expires_at_unix_ms, b.key())))
            .collect();
    }
}

fn aor_of_key(key: &[u8]) -> Option<String> {
    let end = key.iter().position(|&b| b == 0)?;
    String::from_utf8(key[..end].to_vec()).ok()
}
