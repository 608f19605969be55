//! Our own SIP stack, sans-IO: codec, transactions, digest auth, registrar, and the core
//! that ties them into a profile. The transports in `transport/` are the only part that
//! touches sockets.

pub mod auth;
pub mod core;
pub mod dialog;
pub mod gateway;
pub mod gateway_status;
pub mod keepalive;
pub mod profiles;
pub mod registrar;
pub mod sdp;
pub mod transaction;
pub mod transport;
pub mod wire;
