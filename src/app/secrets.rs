//! First-boot credentials: no password that works out of the box.
//!
//! A user whose configured password is unset or one of FreeSWITCH's well-known defaults
//! (1234, the extension number) gets a random one, generated once, stored with a
//! critical write, and announced once in the log with the command that shows it.

use crate::config::User;
use crate::store::{Durability, Store, StoreError, UserSecret};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The effective password of `user` in `domain`: the configured one, or the generated
/// one (creating it on first boot). None only for users configured with `a1-hash`.
pub fn effective_password(
    store: &Store,
    user: &User,
    domain: &str,
) -> Result<Option<String>, StoreError> {
    if user.a1_hash.is_some() && user.password.is_none() {
        return Ok(None);
    }
    if !user.has_default_password() {
        return Ok(user.password.clone());
    }
    let tree = store.tree::<UserSecret>()?;
    let key = secret_key(&user.id, domain);
    if let Some(s) = tree.get(key.as_bytes())? {
        return Ok(Some(s.password));
    }
    let secret = UserSecret {
        password: random_password(20),
        generated_at_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    tree.insert(key.as_bytes(), &secret, Durability::Critical)?;
    tracing::warn!(
        user = %user.id,
        %domain,
        "user {} had no password or a well-known default one; generated a random password: \
         read it with `loopstart user show {}` (or set `password` in {})",
        user.id,
        user.id,
        user.source
    );
    Ok(Some(secret.password))
}

/// The stored generated password of a user, if first boot made one.
pub fn generated_password(
    store: &Store,
    user_id: &str,
    domain: &str,
) -> Result<Option<String>, StoreError> {
    let tree = store.tree::<UserSecret>()?;
    Ok(tree
        .get(secret_key(user_id, domain).as_bytes())?
        .map(|s| s.password))
}

fn secret_key(user: &str, domain: &str) -> String {
    format!("{user}@{domain}")
}

/// Letters and digits without look-alikes (0/O, 1/l/I), from the OS's CSPRNG.
pub fn random_password(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(len);
    let mut bytes = [0u8; 64];
    while out.len() < len {
        if getrandom::getrandom(&mut bytes).is_err() {
            // No entropy source is a broken box; fall back to time-seeded mixing
            // rather than refusing to boot, and say so.
            tracing::error!("no OS random source: generated passwords are weak");
            let t = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = (t >> (i % 16 * 8)) as u8 ^ (i as u8).wrapping_mul(37);
            }
        }
        for &b in &bytes {
            // Rejection sampling keeps the distribution uniform.
            let limit = 256 - (256 % ALPHABET.len());
            if (b as usize) < limit && out.len() < len {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    out
}

/// 32 random bytes (nonce keys, tag seeds); on a box with no entropy source, a
/// time-derived key with a loud error rather than no SIP service at all.
pub fn random_secret() -> [u8; 32] {
    crate::sip::auth::random_secret().unwrap_or_else(|_| {
        tracing::error!("no OS random source: nonce key is weak");
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut s = [0u8; 32];
        s[..16].copy_from_slice(&t.to_le_bytes());
        s
    })
}

/// Where the first-boot event socket password lives when the config sets none.
pub fn esl_password_path(data_dir: &Path) -> PathBuf {
    data_dir.join("secrets").join("event_socket.password")
}

/// The event socket password for a config that sets none: generated at first boot into
/// `<data>/secrets/event_socket.password` (mode 0600), read back afterwards. This keeps
/// `loopstart api` working on a factory box without any password that is known outside it.
pub fn esl_password(data_dir: &Path) -> std::io::Result<String> {
    let path = esl_password_path(data_dir);
    let (pw, made) = file_secret(&path, || Ok(random_password(24)))?;
    if made {
        tracing::warn!(
            path = %path.display(),
            "no event socket password configured: generated one into {} (used by `loopstart api`)",
            path.display()
        );
    }
    Ok(pw.trim().to_string())
}

/// Where the first-boot web page password lives when web.conf sets none.
pub fn web_password_path(data_dir: &Path) -> PathBuf {
    data_dir.join("secrets").join("web.password")
}

/// The web page's password for a config that sets none, made at first start like the
/// event socket's (`loopstart web password` shows it).
pub fn web_password(data_dir: &Path) -> std::io::Result<String> {
    let path = web_password_path(data_dir);
    let (pw, made) = file_secret(&path, || Ok(random_password(16)))?;
    if made {
        tracing::warn!(
            path = %path.display(),
            "no web page password configured: generated one; read it with `loopstart web \
             password` (or set `password` in autoload_configs/web.conf.xml)"
        );
    }
    Ok(pw.trim().to_string())
}

/// A secret kept in a file: read back when it is there and not empty, else made by
/// `make` and written with mode 0600, whole or not at all (a temporary file synced and
/// renamed, then the directory synced), so a power cut during first boot leaves either
/// no secret or the complete one. The flag says whether it was made now.
pub fn file_secret(
    path: &Path,
    make: impl FnOnce() -> std::io::Result<String>,
) -> std::io::Result<(String, bool)> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    if let Ok(existing) = std::fs::read_to_string(path) {
        if !existing.trim().is_empty() {
            return Ok((existing, false));
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let value = make()?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(value.as_bytes())?;
    if !value.ends_with('\n') {
        f.write_all(b"\n")?;
    }
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok((value, true))
}

#[cfg(test)]
mod tests {
    use super::{file_secret, random_password};

    #[test]
    fn a_file_secret_is_made_once_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets").join("x.password");
        let (a, made) = file_secret(&path, || Ok("first".into())).unwrap();
        assert_eq!((a.as_str(), made), ("first", true));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (b, made) = file_secret(&path, || Ok("second".into())).unwrap();
        assert_eq!((b.trim(), made), ("first", false));
        // An empty file (a first boot cut before the rename cannot leave one, an
        // operator can) is made again.
        std::fs::write(&path, "\n").unwrap();
        let (c, made) = file_secret(&path, || Ok("third".into())).unwrap();
        assert_eq!((c.as_str(), made), ("third", true));
    }

    #[test]
    fn passwords_are_long_and_differ() {
        let a = random_password(20);
        let b = random_password(20);
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
