//! Counters shown by `status` and `sofia status`: every limit hit is visible.

/// What the core has seen since start.
#[derive(Debug, Clone, Default)]
pub struct CoreStats {
    pub received: u64,
    pub sent: u64,
    /// Messages that did not parse (answered 400 when addressable, else dropped).
    pub parse_errors: u64,
    /// Requests missing or with malformed mandatory headers (answered 400).
    pub bad_requests: u64,
    /// Request retransmissions absorbed by a transaction.
    pub retransmissions: u64,
    pub stray_responses: u64,
    /// Requests refused with 503 because the transaction table was full.
    pub overloaded: u64,
    pub registers_ok: u64,
    pub auth_challenges: u64,
    pub auth_failures: u64,
    /// Requests dropped unanswered by the guard's screen (scanners).
    pub screened: u64,
    // Filled from the transaction layer and registrar on read.
    pub transactions: usize,
    pub tx_absorbed: u64,
    pub tx_overloaded: u64,
    pub tx_evicted: u64,
    pub registrations: usize,
}
