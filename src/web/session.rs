//! Logged-in browsers: a random token in a cookie, forgotten after an idle time.
//!
//! Pure (the caller passes `now`); bounded: when `max` are held, a new login replaces
//! the one idle longest, so a flood of logins cannot grow memory.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The cookie's name.
pub const COOKIE: &str = "loopstart_session";

pub struct Sessions {
    last_seen: HashMap<String, Instant>,
    idle: Duration,
    max: usize,
}

impl Sessions {
    pub fn new(idle: Duration, max: usize) -> Sessions {
        Sessions {
            last_seen: HashMap::new(),
            idle,
            max: max.max(1),
        }
    }

    /// A new session for a browser that gave the right password; `random` is 32 fresh
    /// random bytes (the caller's CSPRNG).
    pub fn open(&mut self, random: [u8; 32], now: Instant) -> String {
        self.expire(now);
        if self.last_seen.len() >= self.max {
            let oldest = self
                .last_seen
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.last_seen.remove(&k);
            }
        }
        let token: String = random.iter().map(|b| format!("{b:02x}")).collect();
        self.last_seen.insert(token.clone(), now);
        token
    }

    /// Whether `token` is a live session; using it keeps it alive.
    pub fn touch(&mut self, token: &str, now: Instant) -> bool {
        self.expire(now);
        match self.last_seen.get_mut(token) {
            Some(t) => {
                *t = now;
                true
            }
            None => false,
        }
    }

    pub fn close(&mut self, token: &str) {
        self.last_seen.remove(token);
    }

    pub fn len(&self) -> usize {
        self.last_seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last_seen.is_empty()
    }

    fn expire(&mut self, now: Instant) {
        let idle = self.idle;
        self.last_seen
            .retain(|_, t| now.saturating_duration_since(*t) < idle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_while_used_and_dies_idle() {
        let t0 = Instant::now();
        let mut s = Sessions::new(Duration::from_secs(60), 4);
        let tok = s.open([7; 32], t0);
        assert_eq!(tok.len(), 64);
        assert!(s.touch(&tok, t0 + Duration::from_secs(50)));
        assert!(s.touch(&tok, t0 + Duration::from_secs(100)));
        assert!(!s.touch(&tok, t0 + Duration::from_secs(161)));
        assert!(!s.touch("guess", t0));
    }

    #[test]
    fn a_full_table_drops_the_longest_idle_and_logout_ends_one() {
        let t0 = Instant::now();
        let mut s = Sessions::new(Duration::from_secs(600), 2);
        let a = s.open([1; 32], t0);
        let b = s.open([2; 32], t0 + Duration::from_secs(1));
        assert!(s.touch(&a, t0 + Duration::from_secs(2)));
        let c = s.open([3; 32], t0 + Duration::from_secs(3));
        assert_eq!(s.len(), 2);
        assert!(!s.touch(&b, t0 + Duration::from_secs(4)));
        assert!(s.touch(&a, t0 + Duration::from_secs(4)));
        s.close(&c);
        assert!(!s.touch(&c, t0 + Duration::from_secs(5)));
    }
}
