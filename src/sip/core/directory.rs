//! Who may register: users and their digest secrets, as the SIP core sees them.
//!
//! Secrets are kept as HA1 values (per algorithm) computed once at load, so a REGISTER
//! costs one hash, not two, and the plain password need not be looked at again.

use crate::sip::auth::{self, Algorithm};
use std::collections::HashMap;

/// One user's digest secrets for the domain's realm.
#[derive(Clone)]
pub struct Secrets {
    pub ha1_md5: String,
    /// None when only an MD5 `a1-hash` was configured.
    pub ha1_sha256: Option<String>,
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
        let secrets = Secrets {
            ha1_md5: auth::ha1(Algorithm::Md5, user, &self.realm, password),
            ha1_sha256: Some(auth::ha1(Algorithm::Sha256, user, &self.realm, password)),
        };
        self.users.insert(user.to_string(), secrets);
    }

    /// Adds a user configured with FreeSWITCH's `a1-hash` (MD5 of user:realm:password).
    pub fn add_a1_hash(&mut self, user: &str, ha1_md5: &str) {
        let secrets = Secrets {
            ha1_md5: ha1_md5.to_ascii_lowercase(),
            ha1_sha256: None,
        };
        self.users.insert(user.to_string(), secrets);
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
            Algorithm::Md5 => Some(s.ha1_md5.clone()),
            Algorithm::Sha256 => s.ha1_sha256.clone(),
        }
    }
}
