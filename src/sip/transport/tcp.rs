//! TCP: one task per connection, framing messages by Content-Length (RFC 3261 §18.3).
//!
//! Bounded everywhere: at most `max_connections` at once, a read buffer no larger than
//! one maximal message, a connection idle for `idle_timeout` is closed, and a stream
//! that cannot be framed (oversize, bad Content-Length) is closed — after such an error
//! the byte stream has no recoverable message boundary.

use super::StreamEvent;
use crate::sip::wire::{frame_stream, Limits};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Limits for the TCP transport.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub wire: Limits,
}

/// Accepts connections until the listener fails; each gets its own task. A source
/// `admit` refuses (a banned one) is closed at once, before a byte is read.
pub async fn accept_loop(
    listener: TcpListener,
    limits: TcpLimits,
    admit: Option<crate::sip::core::AddressCheck>,
    events: mpsc::Sender<StreamEvent>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "SIP TCP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if admit.as_ref().is_some_and(|a| !a.allows(peer.ip())) {
            tracing::debug!(%peer, "SIP TCP connection refused: source banned");
            drop(stream);
            continue;
        }
        if open.load(Ordering::Relaxed) >= limits.max_connections {
            tracing::warn!(
                %peer,
                max = limits.max_connections,
                "SIP TCP connection refused: too many connections open"
            );
            drop(stream);
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let events = events.clone();
        let open = open.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, limits, events).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// How long an outgoing connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a connection to `peer` (a carrier's proxy, for a trunk over TCP) and serves
/// it like an accepted one. The returned writer takes messages at once; they leave when
/// the connection is up, and are dropped (logged) if it never comes.
pub fn connect(
    peer: SocketAddr,
    limits: TcpLimits,
    events: mpsc::Sender<StreamEvent>,
) -> mpsc::Sender<Vec<u8>> {
    let (out_tx, out_rx) = mpsc::channel::<Vec<u8>>(64);
    let writer = out_tx.clone();
    tokio::spawn(async move {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(peer)).await {
            Ok(Ok(stream)) => serve(stream, peer, limits, events, (out_tx, out_rx)).await,
            Ok(Err(e)) => {
                tracing::warn!(%peer, error = %e, "SIP TCP connection failed");
                let _ = events.send(StreamEvent::Closed { peer }).await;
            }
            Err(_) => {
                tracing::warn!(%peer, "SIP TCP connection timed out");
                let _ = events.send(StreamEvent::Closed { peer }).await;
            }
        }
    });
    writer
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    limits: TcpLimits,
    events: mpsc::Sender<StreamEvent>,
) {
    let out = mpsc::channel::<Vec<u8>>(64);
    serve(stream, peer, limits, events, out).await;
}

/// Reads framed messages from a connection and writes what comes on `out`.
async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    limits: TcpLimits,
    events: mpsc::Sender<StreamEvent>,
    (out_tx, mut out_rx): (mpsc::Sender<Vec<u8>>, mpsc::Receiver<Vec<u8>>),
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    if events
        .send(StreamEvent::Opened {
            peer,
            writer: out_tx,
        })
        .await
        .is_err()
    {
        return;
    }
    let write_task = tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });

    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 8192];
    'read: loop {
        let n = match tokio::time::timeout(limits.idle_timeout, reader.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => n,
            Err(_) => {
                tracing::debug!(%peer, "SIP TCP connection idle: closing");
                break;
            }
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match frame_stream(&buf, &limits.wire) {
                Ok(Some((skip, len))) => {
                    let bytes = buf[skip..skip + len].to_vec();
                    buf.drain(..skip + len);
                    if events
                        .send(StreamEvent::Message { peer, bytes })
                        .await
                        .is_err()
                    {
                        break 'read;
                    }
                }
                Ok(None) => {
                    if buf.len() > limits.wire.max_message_bytes {
                        tracing::info!(%peer, "SIP TCP message too large: closing connection");
                        break 'read;
                    }
                    break;
                }
                Err(e) => {
                    tracing::info!(%peer, error = %e, "unframeable SIP TCP stream: closing connection");
                    break 'read;
                }
            }
        }
    }
    let _ = events.send(StreamEvent::Closed { peer }).await;
    write_task.abort();
}
