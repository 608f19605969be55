//! The web process's server: HTTPS connections, each one request, each bounded in
//! time and size, at most `max_connections` at once; the pages' data comes from the
//! gateway's API over the event socket.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::http::{self, Method, Request, Response, Status};
use super::pages;
use super::session::{Sessions, COOKIE};

/// The status page: a title and the API command whose answer goes under it.
const STATUS_SECTIONS: [(&str, &str); 4] = [
    ("Gateway", "status"),
    ("SIP profiles and trunks", "sofia status"),
    ("Registered phones", "show registrations"),
    ("Calls", "show calls"),
];

/// The gateway's API, as the page reaches it: the event socket, with the page's own
/// restricted account.
pub struct GatewayApi {
    pub addr: SocketAddr,
    /// The [`super::ESL_USER`] account's password.
    pub password: String,
}

impl GatewayApi {
    pub async fn call(&self, command: &str) -> Result<String, String> {
        let login = crate::esl::Login::User {
            user: super::ESL_USER,
            domain: super::ESL_DOMAIN,
            password: &self.password,
        };
        crate::esl::run_api_as(self.addr, login, command, Duration::from_secs(5))
            .await
            .map_err(|e| e.to_string())
    }

    /// Whether the guard has banned `ip`. When the gateway cannot say (it is
    /// restarting), the page is still served: the login itself needs the gateway to
    /// count a failure, and refuses without it.
    async fn is_banned(&self, ip: IpAddr) -> bool {
        self.call(&format!("fail2ban check {ip}"))
            .await
            .is_ok_and(|r| r.starts_with("+OK banned"))
    }

    /// Tells the guard about a wrong password; true when that banned the source.
    async fn login_failed(&self, ip: IpAddr) -> Result<bool, String> {
        let r = self
            .call(&format!("fail2ban failure web-login {ip} admin"))
            .await?;
        if r.starts_with("-ERR") {
            return Err(r.trim().to_string());
        }
        Ok(r.starts_with("+OK banned"))
    }
}

/// What the server needs besides its socket.
pub struct Server {
    pub tls: TlsAcceptor,
    pub api: GatewayApi,
    pub password: String,
    pub hostname: String,
    pub limits: http::Limits,
    pub request_timeout: Duration,
    pub max_connections: usize,
    pub sessions: Mutex<Sessions>,
}

impl Server {
    /// Serves until the listener fails.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        let slots = Arc::new(Semaphore::new(self.max_connections));
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "web: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Over the limit: the connection is closed at once rather than queued.
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::warn!(%peer, max = self.max_connections,
                    "web: too many connections (max-connections in web.conf); closed one");
                drop(stream);
                continue;
            };
            let server = self.clone();
            tokio::spawn(async move {
                let timeout = server.request_timeout;
                if tokio::time::timeout(timeout, server.connection(stream, peer))
                    .await
                    .is_err()
                {
                    tracing::info!(%peer, "web: request not complete within request-timeout; closed");
                }
                drop(slot);
            });
        }
    }

    async fn connection(&self, stream: TcpStream, peer: SocketAddr) {
        if self.api.is_banned(peer.ip()).await {
            tracing::info!(%peer, "web: banned source's connection closed");
            return;
        }
        let mut tls = match self.tls.accept(stream).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "web: TLS handshake failed");
                return;
            }
        };
        let response = match read_request(&mut tls, self.limits).await {
            Ok(Some(req)) => {
                let head = req.method == Method::Head;
                (self.respond(&req, peer).await, head)
            }
            Ok(None) => return,
            Err(e) => {
                tracing::info!(%peer, status = e.status().code(), reason = e.reason(),
                    "web: request refused");
                (Response::text(e.status(), e.reason()), false)
            }
        };
        let (response, head_only) = response;
        if tls.write_all(&response.to_bytes(head_only)).await.is_ok() {
            let _ = tls.shutdown().await;
        }
    }

    async fn respond(&self, req: &Request, peer: SocketAddr) -> Response {
        let logged_in = self.session(req).is_some();
        match (req.method, req.path.as_str()) {
            (Method::Get | Method::Head, "/style.css") => Response {
                status: Status::Ok,
                headers: vec![("Content-Type", "text/css".into())],
                body: pages::STYLE.as_bytes().to_vec(),
            },
            (Method::Get | Method::Head, "/") if logged_in => self.status_page().await,
            (Method::Get | Method::Head, "/") => Response::redirect("/login"),
            (Method::Get | Method::Head, "/login") if logged_in => Response::redirect("/"),
            (Method::Get | Method::Head, "/login") => {
                Response::html(Status::Ok, pages::login(&self.hostname, None))
            }
            (Method::Post, path) if !same_origin(req) => {
                tracing::warn!(%peer, path, origin = req.header("origin").unwrap_or(""),
                    "web: cross-site POST refused");
                self.error(
                    Status::Forbidden,
                    "Refused",
                    "This form was sent from another site.",
                )
            }
            (Method::Post, "/login") => self.login(req, peer).await,
            (Method::Post, "/logout") => {
                if let (Some(token), Ok(mut s)) = (req.cookie(COOKIE), self.sessions.lock()) {
                    s.close(token);
                }
                Response::redirect("/login").with_header("Set-Cookie", cookie(""))
            }
            _ => self.error(Status::NotFound, "Not found", "There is no such page."),
        }
    }

    fn session(&self, req: &Request) -> Option<()> {
        let token = req.cookie(COOKIE)?;
        let mut sessions = self.sessions.lock().ok()?;
        sessions.touch(token, Instant::now()).then_some(())
    }

    async fn login(&self, req: &Request, peer: SocketAddr) -> Response {
        let given = req.form_field("password").unwrap_or_default();
        if crate::sip::auth::ct_eq(given.as_bytes(), self.password.as_bytes()) {
            let Ok(random) = random_token() else {
                return self.error(
                    Status::ServiceUnavailable,
                    "Unavailable",
                    "The box has no random source for a session; see its log.",
                );
            };
            let token = match self.sessions.lock() {
                Ok(mut s) => s.open(random, Instant::now()),
                Err(_) => {
                    return self.error(Status::ServiceUnavailable, "Unavailable", "Try again.")
                }
            };
            tracing::info!(%peer, "web: logged in");
            return Response::redirect("/").with_header("Set-Cookie", cookie(&token));
        }
        tracing::warn!(%peer, "web: wrong password");
        match self.api.login_failed(peer.ip()).await {
            Ok(false) => Response::html(
                Status::Unauthorized,
                pages::login(&self.hostname, Some("Wrong password.")),
            ),
            Ok(true) => self.error(
                Status::Forbidden,
                "Banned",
                "Too many wrong passwords from this address: it is banned for a while.",
            ),
            // A guess the guard cannot count is not allowed either.
            Err(e) => {
                tracing::error!(%peer, error = %e, "web: cannot report a failed login to the guard");
                self.error(
                    Status::ServiceUnavailable,
                    "Unavailable",
                    "The gateway is not answering; try again in a moment.",
                )
            }
        }
    }

    async fn status_page(&self) -> Response {
        let mut sections = Vec::new();
        for (title, command) in STATUS_SECTIONS {
            sections.push(pages::Section {
                title,
                command,
                answer: self.api.call(command).await,
            });
        }
        Response::html(Status::Ok, pages::status(&self.hostname, &sections))
    }

    fn error(&self, status: Status, title: &str, text: &str) -> Response {
        Response::html(status, pages::error(&self.hostname, title, text))
    }
}

/// Reads until a whole request is in, or it breaks a limit. `Ok(None)`: the client
/// left before sending one.
async fn read_request<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    limits: http::Limits,
) -> Result<Option<Request>, http::HttpError> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(req) = http::parse(&buf, limits)? {
            return Ok(Some(req));
        }
        // parse() refuses an oversized head; the body is capped by Content-Length.
        if buf.len() > limits.max_head + limits.max_body {
            return Err(http::HttpError::BodyTooLarge);
        }
    }
}

/// A POST from a page of this box (or from a client that sends no Origin, which no
/// browser does for a cross-site form).
fn same_origin(req: &Request) -> bool {
    match (req.header("origin"), req.header("host")) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .strip_prefix("https://")
            .is_some_and(|o| o.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
    }
}

fn cookie(token: &str) -> String {
    let max_age = if token.is_empty() { "; Max-Age=0" } else { "" };
    format!("{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict{max_age}")
}

fn random_token() -> Result<[u8; 32], getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b)?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pages_account_may_run_what_the_page_calls_and_nothing_that_changes_calls() {
        let grant = crate::app::webd::esl_account("x").grant;
        for (_, command) in super::STATUS_SECTIONS {
            assert!(grant.allows_api(command), "{command}");
        }
        assert!(grant.allows_api("fail2ban check 192.0.2.1"));
        assert!(grant.allows_api("fail2ban failure web-login 192.0.2.1 admin"));
        for command in [
            "originate user/1001 &echo()",
            "uuid_kill x",
            "hupall",
            "reloadxml",
            "uuid_transfer x 1000",
        ] {
            assert!(!grant.allows_api(command), "{command}");
        }
        assert!(!grant.allows_event("ALL") && !grant.allows_log());
    }

    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request {
        Request {
            method: Method::Post,
            path: "/login".into(),
            query: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
        }
    }

    #[test]
    fn only_this_box_may_post_its_forms() {
        assert!(same_origin(&req(&[
            ("host", "gw:8443"),
            ("origin", "https://gw:8443")
        ])));
        assert!(same_origin(&req(&[("host", "gw:8443")])));
        assert!(!same_origin(&req(&[
            ("host", "gw:8443"),
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&req(&[
            ("host", "gw:8443"),
            ("origin", "http://gw:8443")
        ])));
        assert!(!same_origin(&req(&[("origin", "https://gw:8443")])));
    }

    #[test]
    fn the_session_cookie_is_secure_and_a_logout_clears_it() {
        let c = cookie("abc");
        assert!(c.contains("Secure") && c.contains("HttpOnly") && c.contains("SameSite=Strict"));
        assert!(cookie("").ends_with("Max-Age=0"));
    }
}
