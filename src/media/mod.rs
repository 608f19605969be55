//! Media: RTP relay, codecs, tones. So far: the relay rewriter (`relay.rs`), the paced
//! sender (`pacer.rs`), G.711 (`g711.rs`) and tone generation (`tone.rs`).

pub mod g711;
pub mod pacer;
pub mod relay;
pub mod tone;
