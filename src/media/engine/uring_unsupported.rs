//! `uring` where the io-uring crate has no kernel bindings (32-bit ARM): a `Ring` that
//! cannot be made, so the media thread runs its epoll backend. The methods exist for
//! `backend` to compile; none can be reached, the type having no value.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::Duration;

use super::backend::Ready;

/// Never built: [`Ring::new`] always refuses.
pub enum Ring {}

impl Ring {
    pub fn new(_bell: RawFd) -> io::Result<Ring> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring bindings are built for x86_64 and aarch64 only",
        ))
    }

    pub fn arm(&mut self, _fd: RawFd, _token: u64) -> io::Result<()> {
        match *self {}
    }

    pub fn cancel(&mut self, _token: u64) -> io::Result<()> {
        match *self {}
    }

    pub fn submit(&mut self) -> io::Result<()> {
        match *self {}
    }

    pub fn send(&mut self, _fd: RawFd, _packet: &[u8], _dest: SocketAddr) -> io::Result<()> {
        match *self {}
    }

    pub fn wait(&mut self, _timeout: Option<Duration>, _done: &mut Vec<Ready>) -> io::Result<()> {
        match *self {}
    }

    pub fn packet(
        &mut self,
        _bid: u16,
        _len: u32,
        _into: &mut [u8],
    ) -> Option<(usize, SocketAddr)> {
        match *self {}
    }
}
