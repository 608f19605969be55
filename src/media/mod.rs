//! Media: RTP relay, codecs, tones. So far: G.711 (`g711.rs`).

pub mod g711;
