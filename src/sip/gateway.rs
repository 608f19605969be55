//! Registration to a carrier (a `sofia/gateway`), sans-IO: `now` and the carrier's
//! answers in, REGISTER requests and the next wake-up out, with the states and the
//! retry rules FreeSWITCH's mod_sofia shows an operator (`sofia status gateway`):
//!
//! ```text
//! UNREGED --send--> TRYING --2xx--> REGED --(expiry near)--> UNREGED ...
//!                     |  \--401/407: answer the challenge once, stay TRYING
//!                     |--other final--> FAILED --> FAIL_WAIT --(retry)--> UNREGED
//!                     `--no answer in register-timeout--> FAILED (908)
//! NOREG: register="false" (the carrier takes calls without registration)
//! DOWN: unregistered by the operator (`sofia profile P unregister GW`) until `register`
//! ```
//!
//! A failed registration waits `retry-seconds`, multiplied by the consecutive
//! failures except after a 503 or a timeout (as mod_sofia does), so a carrier that
//! refuses us is not hammered. The refresh comes 15 s before expiry (half the
//! interval for short ones), following the Expires the carrier grants.

use std::fmt;
use std::time::{Duration, Instant};

use crate::sip::auth::answer;
use crate::sip::auth::{challenge_in, Challenge};
use crate::sip::wire::{Method, Request, Response, Uri};

/// What one gateway's registration needs from `sip_profiles/external/NAME.xml`.
#[derive(Clone, Debug)]
pub struct RegConfig {
    pub name: String,
    pub username: String,
    pub password: String,
    /// `realm`; the registrar's host when unset.
    pub realm: String,
    /// `register-proxy` (else `proxy`): `host[:port]` the REGISTER goes to.
    pub registrar: String,
    pub from_user: String,
    pub from_domain: String,
    /// The user part of the Contact we register: `gw+NAME`, or the `extension` with
    /// `extension-in-contact` (as mod_sofia builds it).
    pub extension: String,
    /// `contact-params`, appended to that Contact's URI.
    pub contact_params: Option<String>,
    /// `register`: false makes the gateway NOREG.
    pub register: bool,
    /// `expire-seconds`.
    pub expire_seconds: u32,
    /// `retry-seconds`.
    pub retry_seconds: u32,
    /// `register-timeout`: how long TRYING may last.
    pub timeout_seconds: u32,
    /// `ip:port` of our profile, for Via and Contact.
    pub local: String,
    /// `register-transport` tcp: Via says TCP, the Contact `;transport=tcp`.
    pub tcp: bool,
    pub user_agent: String,
}

/// FreeSWITCH's gateway states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegState {
    Unreged,
    Trying,
    Reged,
    Failed,
    FailWait,
    Noreg,
    Down,
}

impl fmt::Display for RegState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegState::Unreged => "UNREGED",
            RegState::Trying => "TRYING",
            RegState::Reged => "REGED",
            RegState::Failed => "FAILED",
            RegState::FailWait => "FAIL_WAIT",
            RegState::Noreg => "NOREG",
            RegState::Down => "DOWN",
        })
    }
}

/// One gateway's registration.
pub struct Registration {
    config: RegConfig,
    state: RegState,
    /// When to act next (send, refresh, retry, give up waiting).
    due: Option<Instant>,
    call_id: String,
    from_tag: String,
    cseq: u32,
    /// Consecutive failures (for the back-off) and the last one's status.
    pub failures: u32,
    pub last_status: Option<u16>,
    /// The challenge already answered in this attempt: a second one means the
    /// credentials are wrong.
    answered: Option<String>,
    nc: u32,
    /// When the carrier's registration of us runs out.
    pub expires_at: Option<Instant>,
}

impl Registration {
    /// `ids` seeds the Call-ID, tag and cnonce (random in the caller).
    pub fn new(config: RegConfig, ids: &str, now: Instant) -> Registration {
        let state = if config.register {
            RegState::Unreged
        } else {
            RegState::Noreg
        };
        Registration {
            call_id: format!("{ids}-{}@{}", config.name, config.local),
            from_tag: ids.chars().take(16).collect(),
            due: config.register.then_some(now),
            state,
            config,
            cseq: 0,
            failures: 0,
            last_status: None,
            answered: None,
            nc: 0,
            expires_at: None,
        }
    }

    pub fn state(&self) -> RegState {
        self.state
    }

    pub fn config(&self) -> &RegConfig {
        &self.config
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.due
    }

    /// Time passes: a REGISTER to send when one is due (first, refresh, retry).
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Request> {
        let due = self.due?;
        if now < due {
            return None;
        }
        match self.state {
            RegState::Unreged | RegState::Reged | RegState::FailWait => {
                self.answered = None;
                self.state = RegState::Trying;
                self.due = Some(now + secs(self.config.timeout_seconds));
                Some(self.register_with(None, self.config.expire_seconds))
            }
            RegState::Trying => {
                tracing::warn!(gateway = %self.config.name, "no answer to REGISTER: timeout");
                self.fail(908, now);
                None
            }
            RegState::Failed | RegState::Noreg | RegState::Down => None,
        }
    }

    /// `sofia profile P register GW`: register now, whatever the state (a gateway with
    /// register="false" stays NOREG).
    pub fn register_now(&mut self, now: Instant) {
        if self.config.register && self.state != RegState::Trying {
            self.state = RegState::Unreged;
            self.failures = 0;
            self.due = Some(now);
        }
    }

    /// `sofia profile P unregister GW`: a REGISTER with Expires 0 when we were
    /// registered, and the gateway DOWN until `register_now`.
    pub fn unregister(&mut self) -> Option<Request> {
        if !self.config.register {
            return None;
        }
        let was = std::mem::replace(&mut self.state, RegState::Down);
        self.due = None;
        self.expires_at = None;
        self.answered = None;
        (was == RegState::Reged).then(|| self.register_with(None, 0))
    }

    /// A failed ping while registered: as mod_sofia does, the registration counts as
    /// failed and is retried after `retry-seconds`.
    pub fn connection_lost(&mut self, now: Instant) {
        if self.state == RegState::Reged {
            tracing::warn!(gateway = %self.config.name, "the carrier stopped answering pings: registering again");
            self.fail(908, now);
        }
    }

    /// The carrier's answer to our REGISTER; Some when we must send again (the
    /// challenge answered).
    pub fn on_response(&mut self, resp: &Response, now: Instant) -> Option<Request> {
        if self.state == RegState::Down {
            // The answer to an unregistration: a challenge is answered once.
            let (c, header) = challenge_in(resp)?;
            if self.answered.as_deref() == Some(c.nonce.as_str()) {
                return None;
            }
            self.answered = Some(c.nonce.clone());
            return Some(self.register_with(Some((header, c)), 0));
        }
        if self.state != RegState::Trying {
            return None;
        }
        let code = resp.status.code;
        match code {
            100..=199 => None,
            200..=299 => {
                let granted = granted_expires(resp).unwrap_or(self.config.expire_seconds);
                // Refresh ahead of expiry, as mod_sofia does.
                let ahead = if granted > 60 {
                    granted - 15
                } else {
                    (granted / 2).max(1)
                };
                self.state = RegState::Reged;
                self.failures = 0;
                self.last_status = Some(code);
                self.due = Some(now + secs(ahead));
                self.expires_at = Some(now + secs(granted));
                tracing::info!(gateway = %self.config.name, expires = granted, "registered");
                None
            }
            401 | 407 => {
                let challenge = challenge_in(resp);
                match challenge {
                    Some((c, header))
                        if self.answered.as_deref() != Some(c.nonce.as_str()) || c.stale =>
                    {
                        self.answered = Some(c.nonce.clone());
                        Some(self.register_with(Some((header, c)), self.config.expire_seconds))
                    }
                    _ => {
                        tracing::warn!(gateway = %self.config.name, code,
                            "the carrier refused our credentials: check username, password and realm");
                        self.fail(code, now);
                        None
                    }
                }
            }
            _ => {
                tracing::warn!(gateway = %self.config.name, code, reason = %resp.status.reason, "registration refused");
                self.fail(code, now);
                None
            }
        }
    }

    /// FAILED, then at once FAIL_WAIT until the retry.
    fn fail(&mut self, status: u16, now: Instant) {
        self.failures += 1;
        self.last_status = Some(status);
        self.expires_at = None;
        self.state = RegState::Failed;
        let retry = self.config.retry_seconds;
        let wait = if status == 503 || status == 908 {
            retry
        } else {
            retry.saturating_mul(self.failures.max(1))
        };
        self.state = RegState::FailWait;
        self.due = Some(now + secs(wait));
    }

    /// A REGISTER asking for `expires` seconds (0: unregister), answering `challenge`.
    fn register_with(
        &mut self,
        challenge: Option<(&'static str, Challenge)>,
        expires: u32,
    ) -> Request {
        self.cseq += 1;
        let cfg = &self.config;
        let uri = Uri::parse(&format!("sip:{}", cfg.registrar))
            .unwrap_or_else(|_| Uri::parse("sip:invalid").expect("a constant URI parses"));
        let mut req = Request {
            method: Method::Register,
            uri,
            headers: Default::default(),
            body: Vec::new(),
        };
        let aor = format!("sip:{}@{}", cfg.from_user, cfg.from_domain);
        req.headers.push(
            "Via",
            format!(
                "SIP/2.0/{} {};branch=z9hG4bK{}{};rport",
                if cfg.tcp { "TCP" } else { "UDP" },
                cfg.local,
                self.from_tag,
                self.cseq
            ),
        );
        req.headers.push("Max-Forwards", "70");
        req.headers
            .push("From", format!("<{aor}>;tag={}", self.from_tag));
        req.headers.push("To", format!("<{aor}>"));
        req.headers.push("Call-ID", self.call_id.as_str());
        req.headers.push("CSeq", format!("{} REGISTER", self.cseq));
        req.headers.push(
            "Contact",
            format!("<sip:{}@{}{}>", cfg.extension, cfg.local, params(cfg)),
        );
        req.headers.push("Expires", expires.to_string());
        req.headers.push("User-Agent", cfg.user_agent.as_str());
        if let Some((header, c)) = challenge {
            self.nc += 1;
            let cnonce = format!("{}{}", self.from_tag, self.nc);
            let uri = req.uri.to_string();
            let creds = answer(
                &c,
                "REGISTER",
                &uri,
                &cfg.username,
                &cfg.password,
                &cnonce,
                self.nc,
            );
            req.headers.push(header, creds.to_string());
        }
        req
    }
}

/// `;transport=tcp` and `;contact-params` for the Contact URI (empty when neither).
fn params(cfg: &RegConfig) -> String {
    let mut out = String::new();
    if cfg.tcp {
        out.push_str(";transport=tcp");
    }
    if let Some(p) = cfg
        .contact_params
        .as_deref()
        .map(|p| p.trim_start_matches(';'))
    {
        if !p.is_empty() {
            out.push(';');
            out.push_str(p);
        }
    }
    out
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

/// The Expires the registrar granted: on our Contact, else the Expires header.
fn granted_expires(resp: &Response) -> Option<u32> {
    let from_contact = resp.headers.contacts().ok().and_then(|cs| {
        cs.iter().find_map(|c| match c {
            crate::sip::wire::Contact::Addr(a) => a.params.get("expires").flatten()?.parse().ok(),
            crate::sip::wire::Contact::Star => None,
        })
    });
    from_contact
        .or_else(|| resp.headers.expires().ok().flatten())
        .filter(|&e| e > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::auth::Credentials;
    use crate::sip::wire::Response;

    fn config() -> RegConfig {
        RegConfig {
            name: "carrier".into(),
            username: "acme".into(),
            password: "s3cret".into(),
            realm: "sip.carrier.test".into(),
            registrar: "sip.carrier.test".into(),
            from_user: "acme".into(),
            from_domain: "sip.carrier.test".into(),
            extension: "acme".into(),
            contact_params: None,
            register: true,
            expire_seconds: 600,
            retry_seconds: 30,
            timeout_seconds: 20,
            local: "192.0.2.2:5080".into(),
            tcp: false,
            user_agent: "loopstart".into(),
        }
    }

    fn reply(req: &Request, code: u16, extra: &[(&str, &str)]) -> Response {
        let mut r = Response::to_request(req, code, "x");
        for (n, v) in extra {
            r.headers.push(n, v);
        }
        r
    }

    #[test]
    fn registers_answers_the_challenge_and_refreshes_before_expiry() {
        let t0 = Instant::now();
        let mut reg = Registration::new(config(), "abcdef0123456789", t0);
        assert_eq!(reg.state(), RegState::Unreged);
        let first = reg.handle_timeout(t0).expect("first REGISTER");
        assert_eq!(reg.state(), RegState::Trying);
        assert_eq!(first.headers.get("Expires"), Some("600"));
        let challenge = r#"Digest realm="sip.carrier.test", nonce="n1", qop="auth", algorithm=MD5"#;
        let second = reg
            .on_response(&reply(&first, 401, &[("WWW-Authenticate", challenge)]), t0)
            .expect("the challenge is answered");
        let creds = Credentials::parse(second.headers.get("Authorization").expect("Authorization"))
            .unwrap();
        assert_eq!(
            (creds.username.as_str(), creds.nonce.as_str()),
            ("acme", "n1")
        );
        assert_eq!(second.headers.get("Call-ID"), first.headers.get("Call-ID"));
        assert_eq!(second.headers.get("CSeq"), Some("2 REGISTER"));
        // Granted 120 s on our Contact: refreshed at 105 s.
        let ok = reply(
            &second,
            200,
            &[("Contact", "<sip:acme@192.0.2.2:5080>;expires=120")],
        );
        assert!(reg.on_response(&ok, t0).is_none());
        assert_eq!(reg.state(), RegState::Reged);
        assert_eq!(reg.poll_timeout(), Some(t0 + Duration::from_secs(105)));
        assert!(reg.handle_timeout(t0 + Duration::from_secs(104)).is_none());
        let refresh = reg
            .handle_timeout(t0 + Duration::from_secs(105))
            .expect("refresh");
        assert_eq!(refresh.headers.get("CSeq"), Some("3 REGISTER"));
        assert_eq!(reg.state(), RegState::Trying);
    }

    #[test]
    fn wrong_credentials_fail_and_the_retry_backs_off() {
        let t0 = Instant::now();
        let mut reg = Registration::new(config(), "abcdef0123456789", t0);
        let challenge = r#"Digest realm="sip.carrier.test", nonce="n1""#;
        let mut now = t0;
        for attempt in 1..=3u32 {
            let req = reg.handle_timeout(now).expect("REGISTER");
            let again = reg
                .on_response(&reply(&req, 401, &[("WWW-Authenticate", challenge)]), now)
                .expect("answered once");
            // The same nonce again: the password is wrong.
            assert!(reg
                .on_response(&reply(&again, 401, &[("WWW-Authenticate", challenge)]), now)
                .is_none());
            assert_eq!(reg.state(), RegState::FailWait);
            assert_eq!(reg.failures, attempt);
            let wait = reg.poll_timeout().expect("retry") - now;
            assert_eq!(
                wait,
                Duration::from_secs(30 * u64::from(attempt)),
                "back-off"
            );
            now += wait;
        }
    }

    #[test]
    fn a_503_or_silence_retries_after_retry_seconds() {
        let t0 = Instant::now();
        let mut reg = Registration::new(config(), "abcdef0123456789", t0);
        let req = reg.handle_timeout(t0).expect("REGISTER");
        reg.on_response(&reply(&req, 503, &[]), t0);
        assert_eq!(reg.state(), RegState::FailWait);
        assert_eq!(reg.poll_timeout(), Some(t0 + Duration::from_secs(30)));
        // Nothing at all comes back: FAILED with 908 after register-timeout.
        let t1 = t0 + Duration::from_secs(30);
        reg.handle_timeout(t1).expect("retry");
        assert_eq!(reg.state(), RegState::Trying);
        reg.handle_timeout(t1 + Duration::from_secs(20));
        assert_eq!(
            (reg.state(), reg.last_status),
            (RegState::FailWait, Some(908))
        );
        assert_eq!(reg.poll_timeout(), Some(t1 + Duration::from_secs(50)));
    }

    #[test]
    fn register_false_is_noreg_and_sends_nothing() {
        let t0 = Instant::now();
        let mut reg = Registration::new(
            RegConfig {
                register: false,
                ..config()
            },
            "x",
            t0,
        );
        assert_eq!(reg.state().to_string(), "NOREG");
        assert!(reg.poll_timeout().is_none());
        assert!(reg.handle_timeout(t0 + Duration::from_secs(3600)).is_none());
    }

    /// Registered, then as the operator and the pings drive it: unregister sends
    /// Expires 0 (answering its challenge once) and stays DOWN with no timer;
    /// register_now starts again; a lost connection fails and retries after
    /// retry-seconds, without the failure multiplier.
    #[test]
    fn unregister_register_again_and_a_lost_connection() {
        let t0 = Instant::now();
        let mut reg = Registration::new(config(), "abcdef0123456789", t0);
        let first = reg.handle_timeout(t0).expect("REGISTER");
        assert!(reg
            .on_response(&reply(&first, 200, &[("Expires", "600")]), t0)
            .is_none());
        assert_eq!(reg.state(), RegState::Reged);

        let bye = reg.unregister().expect("an unregistration");
        assert_eq!(bye.headers.get("Expires"), Some("0"));
        assert_eq!(reg.state(), RegState::Down);
        assert_eq!(reg.poll_timeout(), None);
        let challenge = r#"Digest realm="sip.carrier.test", nonce="u1", qop="auth""#;
        let again = reg
            .on_response(&reply(&bye, 401, &[("WWW-Authenticate", challenge)]), t0)
            .expect("the unregistration's challenge is answered");
        assert_eq!(again.headers.get("Expires"), Some("0"));
        assert!(again.headers.get("Authorization").is_some());
        // The same challenge again is not answered twice.
        assert!(reg
            .on_response(&reply(&again, 401, &[("WWW-Authenticate", challenge)]), t0)
            .is_none());
        assert_eq!(reg.state(), RegState::Down);
        // Unregistering while not registered sends nothing.
        assert!(reg.unregister().is_none());

        let t1 = t0 + Duration::from_secs(10);
        reg.register_now(t1);
        assert_eq!(reg.state(), RegState::Unreged);
        let fresh = reg.handle_timeout(t1).expect("REGISTER again");
        assert_eq!(fresh.headers.get("Expires"), Some("600"));
        assert!(reg
            .on_response(&reply(&fresh, 200, &[("Expires", "600")]), t1)
            .is_none());
        assert_eq!(reg.state(), RegState::Reged);

        // Pings stopped being answered: FAIL_WAIT, retry in retry-seconds (30).
        reg.failures = 3;
        reg.connection_lost(t1);
        assert_eq!(reg.state(), RegState::FailWait);
        assert_eq!(reg.last_status, Some(908));
        assert_eq!(reg.poll_timeout(), Some(t1 + Duration::from_secs(30)));
    }
}
