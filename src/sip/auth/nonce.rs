//! Server nonces: stateless (any nonce we issued can be checked without storing it),
//! plus a bounded table of nonce-counts for replay protection.
//!
//! A nonce is 56 hex characters: the issue time in Unix milliseconds (16), a sequence
//! number (8) so that two nonces issued in the same millisecond differ, and the first
//! 16 bytes of HMAC-SHA-256(secret, time ‖ sequence) (32). Hex keeps it safe inside a
//! quoted-string and in any phone's buffer.

use super::digest::{ct_eq, hex, push_hex, HmacSha256};
use super::{Algorithm, Challenge};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

const NONCE_LEN: usize = 56;
const MAC_LEN: usize = 16;

/// What a nonce is worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceStatus {
    /// Ours, fresh, and (with qop) a nonce-count higher than any seen.
    Valid,
    /// Ours but expired (or pushed out of the replay table): the client should retry on
    /// a `stale=TRUE` challenge without asking the user again.
    Stale,
    /// Not ours: forged, mangled, or made with another secret (before a restart).
    Invalid,
    /// The nonce-count is not above the highest already seen for this nonce.
    Replayed,
}

/// Issues and checks nonces. See the module docs for the format.
///
/// Replay protection (qop=auth only; the RFC 2069 form has no counter) keeps the highest
/// `nc` per nonce in a table of at most `replay_capacity` entries. When it is full the
/// entry first inserted is evicted and its issue time becomes a watermark: a nonce
/// issued at or before the watermark that is no longer in the table is answered
/// `Stale`, so eviction costs the client a retry, never a replay window.
#[derive(Debug)]
pub struct NonceManager {
    key: HmacSha256,
    ttl_ms: u64,
    seq: u32,
    capacity: usize,
    seen: HashMap<NonceId, u32>,
    order: VecDeque<NonceId>,
    watermark_ms: Option<u64>,
    evictions: u64,
}

/// What tells our nonces apart (the MAC makes the pair unique to one issue): the
/// replay table keys on it, 12 bytes instead of the 56-character nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct NonceId {
    issued_ms: u64,
    seq: u32,
}

/// 32 random bytes from the OS, for [`NonceManager::new`]. A secret that changes at
/// each start only costs phones one extra challenge after a restart.
pub fn random_secret() -> Result<[u8; 32], getrandom::Error> {
    let mut s = [0u8; 32];
    getrandom::getrandom(&mut s)?;
    Ok(s)
}

impl NonceManager {
    /// `ttl` is how long a nonce stays fresh (FreeSWITCH's `nonce-ttl`, in seconds
    /// there); `replay_capacity` bounds the nonce-count table (at least 1).
    pub fn new(secret: [u8; 32], ttl: Duration, replay_capacity: usize) -> Self {
        NonceManager {
            key: HmacSha256::new(&secret),
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            seq: 0,
            capacity: replay_capacity.max(1),
            seen: HashMap::new(),
            order: VecDeque::new(),
            watermark_ms: None,
            evictions: 0,
        }
    }

    /// A fresh nonce.
    pub fn issue(&mut self, now_unix_ms: u64) -> String {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let mac = self.mac(now_unix_ms, seq);
        let mut s = String::with_capacity(NONCE_LEN);
        let _ = write!(s, "{now_unix_ms:016x}{seq:08x}");
        push_hex(&mut s, &mac);
        s
    }

    /// A challenge with a fresh nonce and `qop="auth"`, ready to be displayed into a
    /// `WWW-Authenticate` / `Proxy-Authenticate` header.
    pub fn challenge(
        &mut self,
        realm: &str,
        algorithm: Algorithm,
        stale: bool,
        now_unix_ms: u64,
    ) -> Challenge {
        Challenge {
            realm: realm.to_string(),
            nonce: self.issue(now_unix_ms),
            opaque: None,
            algorithm,
            qop_auth: true,
            stale,
        }
    }

    /// Checks `nonce` and, when it is `Valid` with a nonce-count, records `nc` as the
    /// highest seen. `nc` is `None` for the RFC 2069 form.
    pub fn check(&mut self, nonce: &str, nc: Option<u32>, now_unix_ms: u64) -> NonceStatus {
        let status = self.peek(nonce, nc, now_unix_ms);
        if let (NonceStatus::Valid, Some(nc), Some(id)) = (status, nc, read_id(nonce)) {
            self.record(id, nc, now_unix_ms);
        }
        status
    }

    /// Records `nc` for a nonce that [`peek`](Self::peek) just found `Valid`, without
    /// checking it again (each check costs a MAC).
    pub fn commit(&mut self, nonce: &str, nc: Option<u32>, now_unix_ms: u64) {
        if let (Some(nc), Some(id)) = (nc, read_id(nonce)) {
            self.record(id, nc, now_unix_ms);
        }
    }

    /// Like [`check`](Self::check) but records nothing: [`verify`](fn@super::verify) peeks
    /// first and commits only once the digest is right, so a forged request cannot burn
    /// a genuine client's nonce-counts.
    pub fn peek(&self, nonce: &str, nc: Option<u32>, now_unix_ms: u64) -> NonceStatus {
        let Some(id) = self.decode(nonce) else {
            return NonceStatus::Invalid;
        };
        let issued_ms = id.issued_ms;
        let age_ok = if issued_ms <= now_unix_ms {
            now_unix_ms - issued_ms <= self.ttl_ms
        } else {
            // Clock stepped back since issue: tolerate up to one ttl.
            issued_ms - now_unix_ms <= self.ttl_ms
        };
        if !age_ok {
            return NonceStatus::Stale;
        }
        let Some(nc) = nc else {
            return NonceStatus::Valid;
        };
        match self.seen.get(&id) {
            Some(&last) if nc <= last => NonceStatus::Replayed,
            Some(_) => NonceStatus::Valid,
            None if self.watermark_ms.is_some_and(|w| issued_ms <= w) => NonceStatus::Stale,
            None if nc == 0 => NonceStatus::Replayed,
            None => NonceStatus::Valid,
        }
    }

    /// A per-user stand-in HA1 for unknown users, so that they cost the same hashing
    /// as known ones. Derived from the secret: nobody can compute a matching response.
    pub(crate) fn dummy_ha1(&self, alg: Algorithm, username: &str) -> String {
        let mac = self.key.mac(&[b"dummy-ha1\0", username.as_bytes()]);
        let mut h = hex(&mac);
        h.truncate(alg.hex_len());
        h
    }

    /// Entries in the replay table now.
    pub fn tracked(&self) -> usize {
        self.seen.len()
    }

    /// How many entries were pushed out of the full replay table (for `status`).
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    fn mac(&self, issued_ms: u64, seq: u32) -> [u8; MAC_LEN] {
        let full = self
            .key
            .mac(&[&issued_ms.to_be_bytes(), &seq.to_be_bytes()]);
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// The identity of a nonce we made, or None (malformed, or the MAC is not ours).
    fn decode(&self, nonce: &str) -> Option<NonceId> {
        let id = read_id(nonce)?;
        let mut given = [0u8; MAC_LEN];
        for (i, b) in given.iter_mut().enumerate() {
            let at = 24 + 2 * i;
            *b = u8::from_str_radix(nonce.get(at..at + 2)?, 16).ok()?;
        }
        ct_eq(&given, &self.mac(id.issued_ms, id.seq)).then_some(id)
    }

    fn record(&mut self, id: NonceId, nc: u32, now_unix_ms: u64) {
        if let Some(last) = self.seen.get_mut(&id) {
            *last = nc;
            return;
        }
        // Expired nonces can only ever be answered `Stale`: their counts need no memory.
        while let Some(front) = self.order.front() {
            if front.issued_ms.saturating_add(self.ttl_ms) >= now_unix_ms {
                break;
            }
            self.seen.remove(front);
            self.order.pop_front();
        }
        while self.seen.len() >= self.capacity {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.seen.remove(&old);
            self.evictions += 1;
            self.watermark_ms = Some(
                self.watermark_ms
                    .map_or(old.issued_ms, |w| w.max(old.issued_ms)),
            );
        }
        self.seen.insert(id, nc);
        self.order.push_back(id);
    }
}

/// The issue time and sequence number written in a nonce, unchecked (see `decode`).
fn read_id(nonce: &str) -> Option<NonceId> {
    if nonce.len() != NONCE_LEN || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(NonceId {
        issued_ms: u64::from_str_radix(nonce.get(0..16)?, 16).ok()?,
        seq: u32::from_str_radix(nonce.get(16..24)?, 16).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn expired_nonces_are_forgotten() {
        let mut m = mgr(1000);
        for i in 0..10 {
            let n = m.issue(T0 + i);
            assert_eq!(m.check(&n, Some(1), T0 + i), NonceStatus::Valid);
        }
        assert_eq!(m.tracked(), 10);
        let later = T0 + 61_000;
        let n = m.issue(later);
        assert_eq!(m.check(&n, Some(1), later), NonceStatus::Valid);
        assert_eq!(m.tracked(), 1, "the ten expired ones were dropped");
    }

    fn mgr(cap: usize) -> NonceManager {
        NonceManager::new([7; 32], Duration::from_secs(60), cap)
    }

    #[test]
    fn issued_nonce_is_valid_and_unique() {
        let mut m = mgr(8);
        let a = m.issue(T0);
        let b = m.issue(T0);
        assert_ne!(a, b);
        assert_eq!(a.len(), NONCE_LEN);
        assert_eq!(m.check(&a, None, T0 + 1000), NonceStatus::Valid);
        assert_eq!(m.check(&b, Some(1), T0), NonceStatus::Valid);
    }

    #[test]
    fn expiry_gives_stale() {
        let mut m = mgr(8);
        let n = m.issue(T0);
        assert_eq!(m.check(&n, None, T0 + 60_000), NonceStatus::Valid);
        assert_eq!(m.check(&n, None, T0 + 60_001), NonceStatus::Stale);
        assert_eq!(m.check(&n, Some(1), T0 + 3_600_000), NonceStatus::Stale);
        // A clock stepped far back is not a way to keep a nonce forever.
        assert_eq!(m.check(&n, None, T0 - 61_000), NonceStatus::Stale);
        assert_eq!(m.check(&n, None, T0 - 1_000), NonceStatus::Valid);
    }

    #[test]
    fn forged_or_foreign_nonce_is_invalid() {
        let mut m = mgr(8);
        let n = m.issue(T0);
        // Flip one MAC digit.
        let mut forged = n.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(m.check(&forged, None, T0), NonceStatus::Invalid);
        // Move the timestamp forward, keep the MAC.
        let later = format!("{:016x}{}", T0 + 1, &n[16..]);
        assert_eq!(m.check(&later, None, T0), NonceStatus::Invalid);
        // Another secret.
        let mut other = NonceManager::new([8; 32], Duration::from_secs(60), 8);
        assert_eq!(other.check(&n, None, T0), NonceStatus::Invalid);
        for junk in [
            "",
            "xyz",
            &"g".repeat(56),
            &n[..55],
            "ü".repeat(28).as_str(),
        ] {
            assert_eq!(m.check(junk, Some(1), T0), NonceStatus::Invalid, "{junk}");
        }
    }

    #[test]
    fn nc_replay() {
        let mut m = mgr(8);
        let n = m.issue(T0);
        assert_eq!(m.check(&n, Some(1), T0), NonceStatus::Valid);
        assert_eq!(m.check(&n, Some(1), T0), NonceStatus::Replayed);
        assert_eq!(m.check(&n, Some(3), T0), NonceStatus::Valid);
        assert_eq!(m.check(&n, Some(2), T0), NonceStatus::Replayed);
        assert_eq!(m.check(&n, Some(4), T0), NonceStatus::Valid);
        let fresh = m.issue(T0);
        assert_eq!(m.check(&fresh, Some(0), T0), NonceStatus::Replayed);
        // peek does not record.
        assert_eq!(m.peek(&fresh, Some(1), T0), NonceStatus::Valid);
        assert_eq!(m.peek(&fresh, Some(1), T0), NonceStatus::Valid);
        assert_eq!(m.tracked(), 1);
    }

    #[test]
    fn eviction_never_reopens_a_replay() {
        let mut m = mgr(2);
        let a = m.issue(T0);
        let b = m.issue(T0 + 1);
        let c = m.issue(T0 + 2);
        let d = m.issue(T0 + 3);
        assert_eq!(m.check(&a, Some(1), T0 + 10), NonceStatus::Valid);
        assert_eq!(m.check(&b, Some(1), T0 + 10), NonceStatus::Valid);
        assert_eq!(m.check(&d, Some(1), T0 + 10), NonceStatus::Valid); // evicts a
        assert_eq!(m.tracked(), 2);
        assert_eq!(m.evictions(), 1);
        // a is gone from the table: its replay must not pass.
        assert_eq!(m.check(&a, Some(1), T0 + 10), NonceStatus::Stale);
        assert_eq!(m.check(&b, Some(1), T0 + 10), NonceStatus::Replayed);
        assert_eq!(m.check(&b, Some(2), T0 + 10), NonceStatus::Valid);
        // c (issued after a) was never seen: still usable; this evicts b.
        assert_eq!(m.check(&c, Some(1), T0 + 10), NonceStatus::Valid);
        assert_eq!(m.check(&b, Some(3), T0 + 10), NonceStatus::Stale);
        assert!(m.tracked() <= 2);
        // RFC 2069 form is unaffected by the table.
        assert_eq!(m.check(&a, None, T0 + 10), NonceStatus::Valid);
    }

    #[test]
    fn table_stays_bounded() {
        let mut m = mgr(16);
        for i in 0..1000 {
            let n = m.issue(T0 + i);
            assert_eq!(m.check(&n, Some(1), T0 + i), NonceStatus::Valid);
        }
        assert_eq!(m.tracked(), 16);
        assert_eq!(m.evictions(), 984);
    }

    #[test]
    fn dummy_ha1_shape() {
        let m = mgr(1);
        assert_eq!(m.dummy_ha1(Algorithm::Md5, "x").len(), 32);
        assert_eq!(m.dummy_ha1(Algorithm::Sha256, "x").len(), 64);
        assert_ne!(
            m.dummy_ha1(Algorithm::Md5, "x"),
            m.dummy_ha1(Algorithm::Md5, "y")
        );
    }

    #[test]
    fn random_secret_works() {
        let a = random_secret().unwrap();
        let b = random_secret().unwrap();
        assert_ne!(a, b);
    }
}
