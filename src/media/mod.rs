//! Media: RTP relay, codecs, tones. So far: the relay rewriter (`relay.rs`), the paced
//! sender (`pacer.rs`), G.711 (`g711.rs`), tone generation (`tone.rs`), DTMF as RFC 4733
//! events (`dtmf.rs`), and the media
//! engine (`engine/`) that anchors each call's RTP on its own thread using them.

pub mod dtmf;
pub mod engine;
pub mod g711;
pub mod pacer;
pub mod relay;
pub mod tone;
