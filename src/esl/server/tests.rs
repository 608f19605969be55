use super::*;
use crate::esl::{run_api, run_api_as, wire::Decoder, Login};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn start(
    auth_timeout: Duration,
) -> (SocketAddr, broadcast::Sender<EslEvent>, watch::Sender<bool>) {
    start_with_notices(auth_timeout, None).await
}

/// [`start`], with the login notices (what the guard counts) sent to `notices`.
async fn start_with_notices(
    auth_timeout: Duration,
    notices: Option<mpsc::Sender<EslNotice>>,
) -> (SocketAddr, broadcast::Sender<EslEvent>, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut api = ApiRegistry::new();
    api.register_fn("status", "status", "test", |_| {
        Box::pin(async { Ok("UP 0 years, ready\n".to_string()) })
    });
    api.register_fn("hupall", "hupall", "test", |_| {
        Box::pin(async { Ok("+OK hung up everything\n".to_string()) })
    });
    let (ev_tx, _) = broadcast::channel(16);
    let (sd_tx, sd_rx) = watch::channel(false);
    let cfg = EslServerConfig {
        listen: addr,
        password: "s3cret".into(),
        max_connections: 4,
        auth_timeout,
        accounts: vec![EslAccount {
            user: "monitor".into(),
            domain: "example.com".into(),
            password: "m0n".into(),
            grant: Grant::api_only(["status"]),
        }],
    };
    tokio::spawn(serve(
        listener,
        cfg,
        api,
        Some(ev_tx.clone()),
        notices,
        sd_rx,
    ));
    (addr, ev_tx, sd_tx)
}

struct Client {
    s: TcpStream,
    dec: Decoder,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let mut c = Client {
            s: TcpStream::connect(addr).await.unwrap(),
            dec: Decoder::new(1 << 20),
        };
        let hello = c.frame().await.unwrap();
        assert_eq!(hello.header("Content-Type"), Some("auth/request"));
        c
    }
    async fn send(&mut self, s: &str) {
        self.s.write_all(s.as_bytes()).await.unwrap();
    }
    /// Next frame, or None when the server closed.
    async fn frame(&mut self) -> Option<Frame> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(f) = self.dec.next_frame().unwrap() {
                return Some(f);
            }
            let n = tokio::time::timeout(Duration::from_secs(5), self.s.read(&mut buf))
                .await
                .expect("server answered in time")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.dec.feed(&buf[..n]);
        }
    }
}

#[test]
fn auth_then_api_with_exact_length() {
    rt().block_on(async {
        let (addr, _ev, _sd) = start(Duration::from_secs(5)).await;
        let mut c = Client::connect(addr).await;
        c.send("api status\n\n").await;
        let f = c.frame().await.unwrap();
        assert_eq!(f.header("Reply-Text"), Some("-ERR invalid"), "before auth");
        c.send("auth s3cret\n\n").await;
        assert_eq!(
            c.frame().await.unwrap().header("Reply-Text"),
            Some("+OK accepted")
        );
        c.send("api status\n\n").await;
        let f = c.frame().await.unwrap();
        assert_eq!(f.header("Content-Type"), Some("api/response"));
        assert_eq!(f.body, b"UP 0 years, ready\n");
        assert_eq!(f.header("Content-Length"), Some("18"));
        c.send("api nope\n\n").await;
        assert_eq!(
            c.frame().await.unwrap().body,
            b"-ERR nope Command not found!\n"
        );
        c.send("frobnicate\n\n").await;
        assert_eq!(
            c.frame().await.unwrap().header("Reply-Text"),
            Some("-ERR command not found")
        );
        c.send("exit\n\n").await;
        assert_eq!(
            c.frame().await.unwrap().header("Reply-Text"),
            Some("+OK bye")
        );
        let bye = c.frame().await.unwrap();
        assert_eq!(bye.header("Content-Type"), Some("text/disconnect-notice"));
        assert!(c.frame().await.is_none());
    });
}

#[test]
fn wrong_password_disconnects() {
    rt().block_on(async {
        let (addr, _ev, _sd) = start(Duration::from_secs(5)).await;
        let mut c = Client::connect(addr).await;
        c.send("auth ClueCon\n\n").await;
        assert_eq!(
            c.frame().await.unwrap().header("Reply-Text"),
            Some("-ERR invalid")
        );
        assert_eq!(
            c.frame().await.unwrap().header("Content-Type"),
            Some("text/disconnect-notice")
        );
        assert!(c.frame().await.is_none());
    });
}

#[test]
fn silent_client_is_dropped_after_auth_timeout() {
    rt().block_on(async {
        let (addr, _ev, _sd) = start(Duration::from_millis(200)).await;
        let mut c = Client::connect(addr).await;
        assert!(c.frame().await.is_none());
    });
}

#[test]
fn oversize_command_closes() {
    rt().block_on(async {
        let (addr, _ev, _sd) = start(Duration::from_secs(5)).await;
        let mut c = Client::connect(addr).await;
        c.send("auth s3cret\n\n").await;
        c.frame().await.unwrap();
        let big = "x".repeat(MAX_FRAME + 10);
        let _ = c.s.write_all(big.as_bytes()).await;
        assert!(c.frame().await.is_none());
    });
}

#[test]
fn events_and_bgapi_after_subscription() {
    rt().block_on(async {
        let (addr, ev, _sd) = start(Duration::from_secs(5)).await;
        let mut c = Client::connect(addr).await;
        c.send("auth s3cret\n\n").await;
        c.frame().await.unwrap();
        c.send("event plain CHANNEL_CREATE BACKGROUND_JOB\n\n")
            .await;
        assert_eq!(
            c.frame().await.unwrap().header("Reply-Text"),
            Some("+OK event listener enabled plain")
        );
        let _ = ev.send(EslEvent {
            headers: vec![
                ("Event-Name".into(), "CHANNEL_CREATE".into()),
                ("Caller-Caller-ID-Name".into(), "Ext 1001".into()),
            ],
            body: None,
        });
        let f = c.frame().await.unwrap();
        assert_eq!(f.header("Content-Type"), Some("text/event-plain"));
        let body = String::from_utf8(f.body).unwrap();
        assert!(body.contains("Event-Name: CHANNEL_CREATE\n"), "{body}");
        assert!(
            body.contains("Caller-Caller-ID-Name: Ext%201001\n"),
            "{body}"
        );

        c.send("bgapi status\n\n").await;
        let r = c.frame().await.unwrap();
        let uuid = r.header("Job-UUID").unwrap().to_string();
        let job = c.frame().await.unwrap();
        let body = String::from_utf8(job.body).unwrap();
        assert!(body.contains("BACKGROUND_JOB"), "{body}");
        assert!(body.contains(&uuid), "{body}");
        assert!(body.ends_with("UP 0 years, ready\n"), "{body}");
    });
}

#[test]
fn client_runs_api_and_reports_bad_password() {
    rt().block_on(async {
        let (addr, _ev, _sd) = start(Duration::from_secs(5)).await;
        let body = run_api(addr, "s3cret", "status", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(body, "UP 0 years, ready\n");
        let err = run_api(addr, "wrong", "status", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("refused the password"), "{err}");
    });
}

#[test]
fn default_passwords_are_refused() {
    assert!(validate_password(None).is_err());
    assert!(validate_password(Some("")).is_err());
    assert!(validate_password(Some("clueCON")).is_err());
    assert_eq!(validate_password(Some("x7!k")), Ok("x7!k"));
}

#[test]
fn a_userauth_account_runs_only_what_its_grant_lists() {
    rt().block_on(async {
        let (addr, _ev, _sd) = start(Duration::from_secs(5)).await;
        let mut c = Client::connect(addr).await;
        c.send("userauth monitor@example.com:m0n\n\n").await;
        let ok = c.frame().await.unwrap();
        assert_eq!(ok.header("Reply-Text"), Some("+OK accepted"));
        assert_eq!(ok.header("Allowed-API"), Some("status"));
        assert_eq!(ok.header("Allowed-Events"), Some(""));
        assert_eq!(ok.header("Allowed-LOG"), Some("false"));
        c.send("api status\n\n").await;
        assert_eq!(c.frame().await.unwrap().body, b"UP 0 years, ready\n");
        for denied in [
            "api hupall",
            "bgapi hupall",
            "event plain ALL",
            "event plain CHANNEL_CREATE",
            "log 7",
        ] {
            c.send(&format!("{denied}\n\n")).await;
            let f = c.frame().await.unwrap();
            assert_eq!(
                f.header("Reply-Text"),
                Some("-ERR permission denied"),
                "{denied}"
            );
        }
        // The connection stays usable after a refusal.
        c.send("api status\n\n").await;
        assert_eq!(c.frame().await.unwrap().body, b"UP 0 years, ready\n");

        // The password still opens everything.
        assert_eq!(
            run_api(addr, "s3cret", "hupall", Duration::from_secs(5))
                .await
                .unwrap(),
            "+OK hung up everything\n"
        );
        // The client reports a refusal instead of waiting for a body that never comes.
        let login = Login::User {
            user: "monitor",
            domain: "example.com",
            password: "m0n",
        };
        let err = run_api_as(addr, login, "hupall", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("-ERR permission denied"), "{err}");
        assert_eq!(
            run_api_as(addr, login, "status", Duration::from_secs(5))
                .await
                .unwrap(),
            "UP 0 years, ready\n"
        );
    });
}

#[test]
fn a_wrong_userauth_password_is_refused_and_closed() {
    rt().block_on(async {
        let (notices, mut noticed) = mpsc::channel(8);
        let (addr, _ev, _sd) = start_with_notices(Duration::from_secs(5), Some(notices)).await;
        for attempt in [
            "userauth monitor@example.com:wrong",
            "userauth monitor:m0n",
            "userauth nobody@example.com:m0n",
        ] {
            let mut c = Client::connect(addr).await;
            c.send(&format!("{attempt}\n\n")).await;
            assert_eq!(
                c.frame().await.unwrap().header("Reply-Text"),
                Some("-ERR invalid"),
                "{attempt}"
            );
            assert!(
                c.frame().await.unwrap().header("Content-Type") == Some("text/disconnect-notice")
            );
            assert!(c.frame().await.is_none(), "closed after {attempt}");
            // The guard hears of it as of a wrong `auth`.
            assert!(
                matches!(noticed.try_recv(), Ok(EslNotice::AuthFailed { .. })),
                "{attempt}"
            );
        }
        let mut c = Client::connect(addr).await;
        c.send("userauth monitor@example.com:m0n\n\n").await;
        c.frame().await.unwrap();
        assert!(matches!(
            noticed.recv().await,
            Some(EslNotice::AuthOk { .. })
        ));
    });
}
