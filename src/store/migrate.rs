//! Schema versions and the migrations between them.
//!
//! `meta/schema_version` holds the version the store was last written with. Opening a
//! store runs every migration above it, in order, then records the new version. A store
//! from a newer firmware is refused rather than silently misread.

use super::{Store, StoreError};

/// The schema this firmware writes.
pub const SCHEMA_VERSION: u32 = 1;

const KEY: &[u8] = b"schema_version";

/// One step: from `version - 1` to `version`.
struct Migration {
    version: u32,
    describe: &'static str,
    apply: fn(&Store) -> Result<(), StoreError>,
}

/// Version 1 is the first schema: nothing to transform, the trees are created on use.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    describe: "initial schema: registrations, user secrets",
    apply: |_| Ok(()),
}];

pub(super) fn run(store: &Store) -> Result<(), StoreError> {
    let meta = store.meta()?;
    let current = match meta.get(KEY)? {
        Some(v) => {
            let bytes: [u8; 4] = v
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Schema("schema_version is not 4 bytes".into()))?;
            u32::from_be_bytes(bytes)
        }
        None => 0,
    };
    if current > SCHEMA_VERSION {
        return Err(StoreError::Schema(format!(
            "the store is at schema {current} but this firmware knows up to {SCHEMA_VERSION}; \
             it was written by a newer loopstart: upgrade the firmware or restore a backup"
        )));
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tracing::info!(version = m.version, "store migration: {}", m.describe);
        (m.apply)(store)?;
        meta.insert(KEY, &m.version.to_be_bytes())?;
    }
    if current < SCHEMA_VERSION {
        store.sync()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_store_gets_current_version_and_newer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), 1 << 20).unwrap();
            let v = store.meta().unwrap().get(KEY).unwrap().unwrap();
            assert_eq!(v.as_ref(), &SCHEMA_VERSION.to_be_bytes());
            store
                .meta()
                .unwrap()
                .insert(KEY, &(SCHEMA_VERSION + 1).to_be_bytes())
                .unwrap();
            store.sync().unwrap();
        }
        let err = match Store::open(dir.path(), 1 << 20) {
            Ok(_) => panic!("newer schema must be refused"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("newer loopstart"), "{err}");
    }
}
