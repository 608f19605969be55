//! A minimal ESL client for `loopstart api "CMD"`, like `fs_cli -x`.

use super::wire::{Decoder, Frame};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What went wrong, worded for the operator.
#[derive(Debug)]
pub enum ClientError {
    Connect {
        addr: SocketAddr,
        error: std::io::Error,
    },
    AuthRefused {
        addr: SocketAddr,
    },
    Protocol(String),
    /// The server answered the command with `-ERR ...` (a restricted login).
    Refused(String),
    Timeout {
        addr: SocketAddr,
    },
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect { addr, error } => write!(
                f,
                "cannot reach the event socket at {addr}: {error} (is loopstart running?)"
            ),
            ClientError::AuthRefused { addr } => write!(
                f,
                "the event socket at {addr} refused the password: see \
                 autoload_configs/event_socket.conf.xml (or <data>/secrets/event_socket.password)"
            ),
            ClientError::Protocol(s) => write!(f, "unexpected answer from the event socket: {s}"),
            ClientError::Refused(s) => write!(f, "the event socket refused the command: {s}"),
            ClientError::Timeout { addr } => {
                write!(f, "the event socket at {addr} did not answer in time")
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// How the client logs in: the event socket's password (`auth`), or a restricted
/// account (`userauth user@domain:password`).
#[derive(Clone, Copy, Debug)]
pub enum Login<'a> {
    Password(&'a str),
    User {
        user: &'a str,
        domain: &'a str,
        password: &'a str,
    },
}

/// Connects, authenticates with the password, runs one API command and returns its body.
pub async fn run_api(
    addr: SocketAddr,
    password: &str,
    command: &str,
    timeout: Duration,
) -> Result<String, ClientError> {
    run_api_as(addr, Login::Password(password), command, timeout).await
}

/// [`run_api`] with either kind of login.
pub async fn run_api_as(
    addr: SocketAddr,
    login: Login<'_>,
    command: &str,
    timeout: Duration,
) -> Result<String, ClientError> {
    tokio::time::timeout(timeout, exchange(addr, login, command))
        .await
        .map_err(|_| ClientError::Timeout { addr })?
}

async fn exchange(
    addr: SocketAddr,
    login: Login<'_>,
    command: &str,
) -> Result<String, ClientError> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|error| ClientError::Connect { addr, error })?;
    let mut dec = Decoder::new(16 * 1024 * 1024);
    let hello = read_frame(&mut stream, &mut dec).await?;
    if hello.header("Content-Type") != Some("auth/request") {
        return Err(ClientError::Protocol(format!("{hello:?}")));
    }
    let hello = match login {
        Login::Password(password) => format!("auth {password}\n\n"),
        Login::User {
            user,
            domain,
            password,
        } => format!("userauth {user}@{domain}:{password}\n\n"),
    };
    write(&mut stream, &hello).await?;
    let auth = read_frame(&mut stream, &mut dec).await?;
    if !auth
        .header("Reply-Text")
        .is_some_and(|t| t.starts_with("+OK"))
    {
        return Err(ClientError::AuthRefused { addr });
    }
    let one_line = command.replace(['\n', '\r'], " ");
    write(&mut stream, &format!("api {one_line}\n\n")).await?;
    let resp = loop {
        let f = read_frame(&mut stream, &mut dec).await?;
        match f.header("Content-Type") {
            Some("api/response") => break f,
            Some("command/reply") => {
                let text = f.header("Reply-Text").unwrap_or_default();
                if text.starts_with("-ERR") {
                    return Err(ClientError::Refused(text.to_string()));
                }
            }
            _ => {}
        }
    };
    let _ = stream.write_all(b"exit\n\n").await;
    Ok(String::from_utf8_lossy(&resp.body).into_owned())
}

async fn write(stream: &mut TcpStream, s: &str) -> Result<(), ClientError> {
    stream
        .write_all(s.as_bytes())
        .await
        .map_err(|e| ClientError::Protocol(e.to_string()))
}

async fn read_frame(stream: &mut TcpStream, dec: &mut Decoder) -> Result<Frame, ClientError> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(f) = dec
            .next_frame()
            .map_err(|e| ClientError::Protocol(e.to_string()))?
        {
            return Ok(f);
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        if n == 0 {
            return Err(ClientError::Protocol("connection closed".into()));
        }
        dec.feed(&chunk[..n]);
    }
}
