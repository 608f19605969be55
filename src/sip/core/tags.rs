//! To-tags (RFC 3261 §19.3): unique, unguessable enough, and cheap at 20k per second.

/// xorshift64* over a random seed, rendered as 16 hex digits.
pub struct TagGen(u64);

impl TagGen {
    pub fn new(seed: u64) -> TagGen {
        TagGen(seed | 1)
    }

    pub fn next(&mut self) -> String {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        format!("{:016x}", x.wrapping_mul(0x2545_f491_4f6c_dd1d))
    }
}
