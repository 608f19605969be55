//! The switch: channels, calls, bridges and the event bus, with FreeSWITCH's names for
//! all of them. So far: hangup causes (`cause.rs`).

pub mod cause;

pub use cause::HangupCause;
