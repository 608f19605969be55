//! The inbound Event Socket listener (FreeSWITCH's mod_event_socket, inbound mode).
//!
//! One task per connection. A connection must authenticate within `auth_timeout`;
//! after that it may run `api`/`bgapi` commands and subscribe to events. Everything is
//! bounded: connections, frame size, queued events (a slow reader loses events, counted
//! in the log, rather than growing memory).

use super::account::{self, EslAccount, Grant};
use super::api::ApiRegistry;
use super::wire::{encode, Decoder, Frame};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};

/// Largest command block a client may send.
pub const MAX_FRAME: usize = 64 * 1024;

const DISCONNECT_BODY: &str = "Disconnected, goodbye.\nSee you soon from loopstart.\n";

/// Listener settings.
#[derive(Debug, Clone)]
pub struct EslServerConfig {
    pub listen: SocketAddr,
    pub password: String,
    pub max_connections: usize,
    pub auth_timeout: Duration,
    /// `userauth` logins with restricted grants, besides the password's full access.
    pub accounts: Vec<EslAccount>,
}

/// An event as ESL clients see it: headers (Event-Name first) and an optional body.
#[derive(Clone, Debug)]
pub struct EslEvent {
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl EslEvent {
    pub fn name(&self) -> &str {
        self.header("Event-Name").unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `text/event-plain` rendering: url-encoded header values, then the body.
    pub fn to_plain(&self) -> String {
        let mut inner = String::new();
        for (n, v) in &self.headers {
            inner.push_str(n);
            inner.push_str(": ");
            inner.push_str(&url_encode(v));
            inner.push('\n');
        }
        if let Some(b) = &self.body {
            inner.push_str(&format!("Content-Length: {}\n\n{b}", b.len()));
        } else {
            inner.push('\n');
        }
        format!(
            "Content-Length: {}\nContent-Type: text/event-plain\n\n{inner}",
            inner.len()
        )
    }
}

/// What the guard (fail2ban) learns from the event socket.
#[derive(Debug, Clone)]
pub enum EslNotice {
    AuthFailed { peer: SocketAddr },
    AuthOk { peer: SocketAddr },
}

/// Decides whether a peer may connect (`apply-inbound-acl`).
pub type AclCheck = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// Refuses passwords that are missing, empty or FreeSWITCH's well-known default.
pub fn validate_password(p: Option<&str>) -> Result<&str, String> {
    match p {
        Some(p) if !p.trim().is_empty() && !p.trim().eq_ignore_ascii_case("ClueCon") => Ok(p),
        _ => Err(
            "refusing to start the event socket with no password or the well-known default \
             \"ClueCon\": set <param name=\"password\" value=\"...\"/> in \
             autoload_configs/event_socket.conf.xml, or remove the param to have one \
             generated at first boot"
                .into(),
        ),
    }
}

/// Accepts connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    config: EslServerConfig,
    api: ApiRegistry,
    events: Option<broadcast::Sender<EslEvent>>,
    notices: Option<mpsc::Sender<EslNotice>>,
    shutdown: watch::Receiver<bool>,
) {
    serve_with_acl(listener, config, api, events, notices, None, shutdown).await
}

/// `serve` with an ACL check on each peer.
pub async fn serve_with_acl(
    listener: TcpListener,
    config: EslServerConfig,
    api: ApiRegistry,
    events: Option<broadcast::Sender<EslEvent>>,
    notices: Option<mpsc::Sender<EslNotice>>,
    acl: Option<AclCheck>,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = Arc::new(config);
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "event socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        if let Some(acl) = &acl {
            if !acl(peer.ip()) {
                tracing::info!(%peer, "event socket connection refused: banned, or outside apply-inbound-acl");
                tokio::spawn(rude_rejection(stream));
                continue;
            }
        }
        if open.load(Ordering::Relaxed) >= config.max_connections {
            tracing::warn!(%peer, max = config.max_connections, "event socket full: connection refused");
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let conn = Connection {
            config: config.clone(),
            api: api.clone(),
            events: events.as_ref().map(|e| e.subscribe()),
            notices: notices.clone(),
            peer,
            subscribed: BTreeSet::new(),
            all_events: false,
            grant: Grant::all(),
        };
        let open = open.clone();
        tokio::spawn(async move {
            conn.run(stream).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn rude_rejection(mut stream: TcpStream) {
    let msg = encode(
        &[("Content-Type", "text/rude-rejection")],
        Some("Access Denied, go away.\n"),
    );
    let _ = stream.write_all(&msg).await;
}

struct Connection {
    config: Arc<EslServerConfig>,
    api: ApiRegistry,
    events: Option<broadcast::Receiver<EslEvent>>,
    notices: Option<mpsc::Sender<EslNotice>>,
    peer: SocketAddr,
    subscribed: BTreeSet<String>,
    all_events: bool,
    /// What the login allows (set at authentication).
    grant: Grant,
}

enum Next {
    Continue,
    Close,
}

impl Connection {
    async fn run(mut self, stream: TcpStream) {
        let (mut rd, mut wr) = stream.into_split();
        if wr
            .write_all(b"Content-Type: auth/request\n\n")
            .await
            .is_err()
        {
            return;
        }
        let mut dec = Decoder::new(MAX_FRAME);
        let mut chunk = vec![0u8; 8192];
        let deadline = tokio::time::Instant::now() + self.config.auth_timeout;
        let mut authed = false;
        let (bg_tx, mut bg_rx) = mpsc::channel::<EslEvent>(64);
        loop {
            let read = async {
                if authed {
                    rd.read(&mut chunk).await
                } else {
                    match tokio::time::timeout_at(deadline, rd.read(&mut chunk)).await {
                        Ok(r) => r,
                        Err(_) => Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "no auth in time",
                        )),
                    }
                }
            };
            let event = async {
                match self.events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = read => {
                    let n = match r {
                        Ok(0) => return,
                        Ok(n) => n,
                        Err(e) => {
                            tracing::debug!(peer = %self.peer, error = %e, "event socket connection closed");
                            return;
                        }
                    };
                    dec.feed(&chunk[..n]);
                    loop {
                        let frame = match dec.next_frame() {
                            Ok(Some(f)) => f,
                            Ok(None) => break,
                            Err(e) => {
                                tracing::info!(peer = %self.peer, error = %e, "event socket: bad frame, closing");
                                return;
                            }
                        };
                        let next = if authed {
                            self.command(frame, &mut wr, &bg_tx).await
                        } else {
                            self.auth(frame, &mut wr, &mut authed).await
                        };
                        if let Next::Close = next {
                            return;
                        }
                    }
                }
                ev = event => match ev {
                    Ok(ev) => {
                        if authed && self.wants(&ev) && wr.write_all(ev.to_plain().as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(peer = %self.peer, lost = n, "event socket client too slow: events dropped");
                    }
                    Err(broadcast::error::RecvError::Closed) => self.events = None,
                },
                Some(ev) = bg_rx.recv() => {
                    if self.wants(&ev) && wr.write_all(ev.to_plain().as_bytes()).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// `event plain CHANNEL_ANSWER CUSTOM sofia::gateway_state`: names, and the
    /// subclasses of CUSTOM events.
    fn wants(&self, ev: &EslEvent) -> bool {
        self.all_events
            || self.subscribed.contains(ev.name())
            || (ev.name() == "CUSTOM"
                && ev
                    .header("Event-Subclass")
                    .is_some_and(|s| self.subscribed.contains(s)))
    }

    async fn auth(&mut self, frame: Frame, wr: &mut OwnedWriteHalf, authed: &mut bool) -> Next {
        let cmd = frame.command.unwrap_or_default();
        let login = if let Some(pw) = cmd.strip_prefix("auth ") {
            crate::sip::auth::ct_eq(pw.trim().as_bytes(), self.config.password.as_bytes())
                .then(|| (Grant::all(), None))
        } else if let Some(rest) = cmd.strip_prefix("userauth ") {
            account::parse_userauth(rest)
                .and_then(|(user, domain, pw)| {
                    account::find(&self.config.accounts, user, domain, pw)
                })
                .map(|a| (a.grant.clone(), Some(a.grant.reply_headers())))
        } else {
            return match reply(wr, "-ERR invalid").await {
                Ok(()) => Next::Continue,
                Err(()) => Next::Close,
            };
        };
        if let Some((grant, headers)) = login {
            *authed = true;
            self.grant = grant;
            self.notify(EslNotice::AuthOk { peer: self.peer }).await;
            let mut fields = vec![
                ("Content-Type", "command/reply".to_string()),
                ("Reply-Text", "+OK accepted".to_string()),
            ];
            fields.extend(headers.into_iter().flatten());
            let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
            match wr.write_all(&encode(&fields, None)).await {
                Ok(()) => Next::Continue,
                Err(_) => Next::Close,
            }
        } else {
            tracing::warn!(peer = %self.peer, "event socket authentication failed");
            self.notify(EslNotice::AuthFailed { peer: self.peer }).await;
            let _ = reply(wr, "-ERR invalid").await;
            disconnect(wr).await;
            Next::Close
        }
    }

    async fn notify(&self, n: EslNotice) {
        if let Some(tx) = &self.notices {
            let _ = tx.try_send(n);
        }
    }

    async fn command(
        &mut self,
        frame: Frame,
        wr: &mut OwnedWriteHalf,
        bg: &mpsc::Sender<EslEvent>,
    ) -> Next {
        let line = frame.command.unwrap_or_default();
        let (verb, rest) = match line.split_once(' ') {
            Some((v, r)) => (v, r.trim()),
            None => (line.as_str(), ""),
        };
        let denied = match verb {
            "api" | "bgapi" => !self.grant.allows_api(rest),
            "log" => !self.grant.allows_log(),
            "event" => !rest
                .split_whitespace()
                .skip(1)
                .all(|name| name == "CUSTOM" || self.grant.allows_event(name)),
            _ => false,
        };
        if denied {
            tracing::info!(peer = %self.peer, command = %line, "event socket: permission denied for this login");
            return match reply(wr, "-ERR permission denied").await {
                Ok(()) => Next::Continue,
                Err(()) => Next::Close,
            };
        }
        let result = match verb {
            "api" => {
                let body = self.api.execute(rest).await;
                let msg = encode(&[("Content-Type", "api/response")], Some(&body));
                wr.write_all(&msg).await.map_err(|_| ())
            }
            "bgapi" => {
                let uuid = crate::ids::uuid_v4();
                let out = encode(
                    &[
                        ("Content-Type", "command/reply"),
                        ("Reply-Text", &format!("+OK Job-UUID: {uuid}")),
                        ("Job-UUID", &uuid),
                    ],
                    None,
                );
                let api = self.api.clone();
                let bg = bg.clone();
                let cmdline = rest.to_string();
                tokio::spawn(async move {
                    let body = api.execute(&cmdline).await;
                    let (name, args) = cmdline.split_once(' ').unwrap_or((&cmdline, ""));
                    let ev = EslEvent {
                        headers: vec![
                            ("Event-Name".into(), "BACKGROUND_JOB".into()),
                            ("Job-UUID".into(), uuid),
                            ("Job-Command".into(), name.to_string()),
                            ("Job-Command-Arg".into(), args.to_string()),
                        ],
                        body: Some(body),
                    };
                    let _ = bg.send(ev).await;
                });
                wr.write_all(&out).await.map_err(|_| ())
            }
            "event" => {
                let mut words = rest.split_whitespace();
                let format = words.next().unwrap_or("plain").to_string();
                for w in words {
                    if w == "ALL" {
                        self.all_events = true;
                    } else if w != "CUSTOM" {
                        self.subscribed.insert(w.to_string());
                    }
                }
                // Events are delivered in plain format whatever was asked; json and
                // xml rendering come with the events issue.
                reply(wr, &format!("+OK event listener enabled {format}")).await
            }
            "noevents" => {
                self.all_events = false;
                self.subscribed.clear();
                reply(wr, "+OK no longer listening for events").await
            }
            "exit" => {
                let _ = reply(wr, "+OK bye").await;
                disconnect(wr).await;
                return Next::Close;
            }
            // Accepted for client compatibility; logging and filters are not
            // implemented on the socket yet.
            "log" => reply(wr, "+OK log level set").await,
            "nolog" => reply(wr, "+OK no longer logging").await,
            "linger" => reply(wr, "+OK will linger").await,
            "nolinger" => reply(wr, "+OK will not linger").await,
            "filter" => reply(wr, &format!("+OK filter added. [{rest}]")).await,
            "divert_events" | "myevents" => reply(wr, "+OK").await,
            "auth" => reply(wr, "+OK accepted").await,
            _ => reply(wr, "-ERR command not found").await,
        };
        match result {
            Ok(()) => Next::Continue,
            Err(()) => Next::Close,
        }
    }
}

async fn reply(wr: &mut OwnedWriteHalf, text: &str) -> Result<(), ()> {
    let msg = encode(
        &[("Content-Type", "command/reply"), ("Reply-Text", text)],
        None,
    );
    wr.write_all(&msg).await.map_err(|_| ())
}

async fn disconnect(wr: &mut OwnedWriteHalf) {
    let msg = encode(
        &[("Content-Type", "text/disconnect-notice")],
        Some(DISCONNECT_BODY),
    );
    let _ = wr.write_all(&msg).await;
    let _ = wr.shutdown().await;
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
