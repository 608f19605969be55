//! Our own SIP stack, sans-IO: codec, transactions, digest auth, registrar. The
//! transports in `transport/` are the only part that touches sockets.

pub mod wire;
