//! The switch: channels, calls, bridges and the event bus, with FreeSWITCH's names for
//! all of them. So far: hangup causes (`cause.rs`) and dial strings (`dialstring.rs`).

pub mod cause;
pub mod dialstring;

pub use cause::HangupCause;
pub use dialstring::{DialString, Leg, Target};
