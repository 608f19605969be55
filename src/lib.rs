//! loopstart: firmware for embedded telephony gateways.
//!
//! The binary (`src/main.rs`) is a thin command line over this library. The map of the
//! modules is `../shared/DESIGN.md`; arrows point down only:
//! `cli` → `app` → `esl` / `hw` → `sip` / `store` / `config`.

pub mod app;
pub mod cidr;
pub mod civil;
pub mod cli;
pub mod config;
pub mod dialplan;
pub mod esl;
pub mod guard;
pub mod hw;
pub mod ids;
pub mod media;
pub mod sip;
pub mod store;
pub mod switch;
pub mod tz;
pub mod web;
