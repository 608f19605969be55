//! The Event Socket (FreeSWITCH's mod_event_socket, inbound): the wire protocol in
//! `wire.rs`, the listener in `server.rs`, the API registry every domain adds its
//! commands to in `api.rs`, and the small client behind `loopstart api`.

mod account;
mod api;
mod client;
mod server;
pub mod wire;

pub use account::{from_directory as account_from_directory, EslAccount, Grant};
pub use api::{ApiCommand, ApiFuture, ApiRegistry, ApiResult};
pub use client::{run_api, run_api_as, ClientError, Login};
pub use server::{
    serve, serve_with_acl, validate_password, AclCheck, EslEvent, EslNotice, EslServerConfig,
};
