//! First-boot credentials: no password that works out of the box.
//!
//! A user whose configured password is unset or one of FreeSWITCH's well-known defaults
//! (1234, the extension number) gets a random one, generated once, stored with a
//! critical write, and announced once in the log with the command that shows it.

use crate::config::User;
use crate::store::{Durability, Store, StoreError, UserSecret};
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
pub fn esl_password_path(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("secrets").join("event_socket.password")
}

/// The event socket password for a config that sets none: generated at first boot into
/// `<data>/secrets/event_socket.password` (mode 0600), read back afterwards. This keeps
/// `loopstart api` working on a factory box without any password that is known outside it.
pub fn esl_password(data_dir: &std::path::Path) -> std::io::Result<String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = esl_password_path(data_dir);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let pw = existing.trim().to_string();
        if !pw.is_empty() {
            return Ok(pw);
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let pw = random_password(24);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(pw.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    tracing::warn!(
        path = %path.display(),
        "no event socket password configured: generated one into {} (used by `loopstart api`)",
        path.display()
    );
    Ok(pw)
}

#[cfg(test)]
mod tests {
    use super::random_password;

    #[test]
    fn passwords_are_long_and_differ() {
        let a = random_password(20);
        let b = random_password(20);
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
