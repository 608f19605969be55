//! The switch: channels, calls, bridges and the event bus, with FreeSWITCH's names for
//! all of them. So far: channels with their states and variables (`channel.rs`),
//! hangup causes (`cause.rs`), dial strings (`dialstring.rs`), call detail records
//! (`cdr.rs`) and their log: store, CSV files, retention (`cdr_log.rs`), and events
//! (`event.rs`).

pub mod apps;
pub mod cause;
pub mod cdr;
pub mod cdr_log;
pub mod channel;
pub mod dial;
pub mod dialstring;
pub mod dtmf;
pub mod engine;
pub mod event;
mod execute;
mod inbound;
mod limit;
pub mod session;

pub use cause::HangupCause;
pub use channel::{CallState, CallerProfile, Channel, ChannelState};
pub use dialstring::{DialString, Leg, Target};
pub use engine::{
    Clock, Finished, MediaNotice, MediaOp, MediaPorts, ProfileCalls, Switch, SwitchApi,
    SwitchConfig,
};
pub use session::{MediaId, Session, Wait};

#[cfg(test)]
mod tests;
