//! Who may register: users and their digest secrets, as the SIP core sees them.
//!
//! Secrets are kept as HA1 values (per algorithm) computed once at load, so a REGISTER
//! costs one hash, not two, and the plain password need not be looked at again.

use crate::sip::auth::{self, Algorithm};
use std::collections::HashMap;

/// One user's digest secrets for the domain's realm, as raw digests (no heap per user:
/// a box may hold thousands).
#[derive(Clone)]
pub struct Secrets {
    pub ha1_md5: [u8; 16],
    /// None when only an MD5 `a1-hash` was configured.
    pub ha1_sha256: Option<[u8; 32]>,
}

/// Decodes `N` bytes of lower- or upper-case hex.
fn unhex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Users of one domain, keyed by user id.
pub struct Directory {
    pub domain: String,
    pub realm: String,
    users: HashMap<String, Secrets>,
}

impl Directory {
    pub fn new(domain: &str, realm: &str) -> Directory {
        Directory {
            domain: domain.to_string(),
            realm: realm.to_string(),
            users: HashMap::new(),
        }
    }

    /// Adds a user with a plain password.
    pub fn add_password(&mut self, user: &str, password: &str) {
        let md5 = unhex(&auth::ha1(Algorithm::Md5, user, &self.realm, password));
        let sha256 = unhex(&auth::ha1(Algorithm::Sha256, user, &self.realm, password));
        if let Some(ha1_md5) = md5 {
            let secrets = Secrets {
                ha1_md5,
                ha1_sha256: sha256,
            };
            self.users.insert(user.to_string(), secrets);
        }
    }

    /// Adds a user configured with FreeSWITCH's `a1-hash` (MD5 of user:realm:password,
    /// 32 hex digits); false when the hash is not that.
    pub fn add_a1_hash(&mut self, user: &str, ha1_md5: &str) -> bool {
        match unhex(ha1_md5) {
            Some(ha1_md5) => {
                let secrets = Secrets {
                    ha1_md5,
                    ha1_sha256: None,
                };
                self.users.insert(user.to_string(), secrets);
                true
            }
            None => false,
        }
    }

    pub fn contains(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// HA1 for `user` under `alg`, or None for an unknown user (or no secret for alg).
    pub fn ha1(&self, user: &str, alg: Algorithm) -> Option<String> {
        let s = self.users.get(user)?;
        match alg {
            Algorithm::Md5 => Some(auth::hex(&s.ha1_md5)),
            Algorithm::Sha256 => s.ha1_sha256.as_ref().map(|h| auth::hex(h)),
        }
    }
}
