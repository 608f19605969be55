//! [`Message`] to bytes.

use super::message::{Message, Request, Response};

impl Request {
    /// Serialises with a correct Content-Length for the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        todo!()
    }
}

impl Response {
    pub fn to_bytes(&self) -> Vec<u8> {
        todo!()
    }
}

impl Message {
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}
