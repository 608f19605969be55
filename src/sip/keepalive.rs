//! The OPTIONS keepalive of a carrier gateway (`<param name="ping" value="30"/>`), sans-IO:
//! `now`, the carrier's answers and the transaction layer's timeouts in; OPTIONS requests,
//! the next wake-up and UP/DOWN changes out. The rules are mod_sofia's, so a gateway
//! behaves as an operator coming from FreeSWITCH expects:
//!
//! - One ping at a time, the first `ping` seconds after start, each next one `ping`
//!   seconds after the previous one was answered (or timed out), never from its send time.
//! - Pings go out only while the registration is REGED, or for a gateway that does not
//!   register (NOREG); during TRYING, FAIL_WAIT and the like they wait.
//! - A final answer from 200 to 599 counts as reachable, except 408 and 503 (the codes a
//!   SIP stack makes up itself when nothing came back or the transport failed); 6xx and
//!   no answer at all (our [`Pinger::on_timeout`], a 408) count as a failure.
//! - `ping-max` / `ping-min`: a counter goes up by one per good ping (never above
//!   ping-max) and down by one per failed ping (never below 0). The gateway turns UP when
//!   the counter reaches ping-min, DOWN when it falls below it.
//! - A failed ping while REGED fails the registration too (mod_sofia logs "Unregister"
//!   and goes FAILED, then FAIL_WAIT with status DOWN): the outcome says so with
//!   [`PingOutcome::fail_registration`], and the caller makes the registration retry.
//! - A gateway that does not register starts UP; one that registers starts DOWN and
//!   turns UP when registered ([`Pinger::on_registration`]), and DOWN when that fails.
//! - `ping-monitoring`: every ping result fires the gateway state event, not only changes.
//!
//! Where we differ on purpose: a provisional answer (1xx) is ignored while we wait for
//! the final one (mod_sofia would count it as a failed ping), and all pings of one
//! gateway share a Call-ID with an increasing CSeq (mod_sofia makes a new Call-ID each).

use std::fmt;
use std::time::{Duration, Instant};

use crate::sip::gateway::RegState;
use crate::sip::wire::{Method, Request, Response, Uri};

/// `Ping-Status` of a gateway, as `sofia status gateway` and the
/// `sofia::gateway_state` event show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayStatus {
    Down,
    Up,
}

impl fmt::Display for GatewayStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GatewayStatus::Down => "DOWN",
            GatewayStatus::Up => "UP",
        })
    }
}

/// The gateway went UP or DOWN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusChange {
    pub from: GatewayStatus,
    pub to: GatewayStatus,
}

/// What one ping's end (answer or timeout) means for the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingOutcome {
    /// The answer's status code; 408 when nothing came back.
    pub code: u16,
    pub phrase: String,
    /// The carrier answered in a way that counts as alive.
    pub reachable: bool,
    /// UP/DOWN changed.
    pub change: Option<StatusChange>,
    /// Fire `sofia::gateway_state` with this code and phrase: on a change, or on every
    /// ping with `ping-monitoring`.
    pub fire_event: bool,
    /// The ping failed while the gateway was registered: mod_sofia then fails the
    /// registration (FAILED, retry after `retry-seconds`). The caller applies it.
    pub fail_registration: bool,
}

/// What the OPTIONS needs, from the gateway's config and its profile.
#[derive(Clone, Debug)]
pub struct PingConfig {
    /// Request-URI: the gateway's proxy (`sip:PROXY`, with `;transport=` if set), the
    /// URI mod_sofia registers to.
    pub target: Uri,
    /// `from-domain`, else the proxy host: From and To are `<sip:DOMAIN>`.
    pub domain: String,
    /// `ip:port` of our profile, for Via.
    pub local: String,
    /// The gateway is reached over TCP (Via says so).
    pub tcp: bool,
    /// `ping-user-agent`, else the profile's user agent.
    pub user_agent: String,
    /// `contact-in-ping`: the Contact we register with, sent in pings too.
    pub contact: Option<String>,
    /// `register`: false makes the gateway NOREG (UP from the start).
    pub register: bool,
    /// `ping-monitoring`.
    pub monitoring: bool,
    /// Seeds the Call-ID and From tag (random in the caller).
    pub ids: String,
}

#[derive(Clone, Copy, Debug)]
struct Outstanding {
    cseq: u32,
    sent: Instant,
}

/// One gateway's keepalive.
pub struct Pinger {
    name: String,
    /// `ping`; None: no pings, the status follows the registration alone.
    every: Option<Duration>,
    ping_max: u32,
    ping_min: u32,
    config: PingConfig,
    status: GatewayStatus,
    up_since: Option<Instant>,
    count: u32,
    /// The registration as far as pings are concerned.
    reg: RegState,
    next: Instant,
    outstanding: Option<Outstanding>,
    /// Round trip of the last good ping, in ms (0 after a failure that took it DOWN).
    ping_time_ms: f64,
    cseq: u32,
    call_id: String,
    from_tag: String,
}

impl Pinger {
    /// `every` is the `ping` param (None: the gateway is not pinged, and is UP while
    /// registered), `ping_max`/`ping_min` the `ping-max`/`ping-min` ones.
    pub fn new(
        name: &str,
        every: Option<Duration>,
        ping_max: u32,
        ping_min: u32,
        now: Instant,
        config: PingConfig,
    ) -> Pinger {
        let (status, reg, up_since) = if config.register {
            (GatewayStatus::Down, RegState::Unreged, None)
        } else {
            (GatewayStatus::Up, RegState::Noreg, Some(now))
        };
        Pinger {
            call_id: format!("{}-ping-{name}@{}", config.ids, config.local),
            from_tag: config.ids.chars().take(16).collect(),
            name: name.to_string(),
            every,
            ping_max,
            ping_min,
            config,
            status,
            up_since,
            count: 0,
            reg,
            next: now + every.unwrap_or_default(),
            outstanding: None,
            ping_time_ms: 0.0,
            cseq: 0,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn status(&self) -> GatewayStatus {
        self.status
    }

    /// When the gateway last turned UP; None while DOWN.
    pub fn up_since(&self) -> Option<Instant> {
        self.up_since
    }

    /// `PingState` of `sofia status gateway`: (ping-min, count, ping-max).
    pub fn ping_state(&self) -> (u32, u32, u32) {
        (self.ping_min, self.count, self.ping_max)
    }

    /// `PingTime`: the last good round trip, in milliseconds.
    pub fn ping_time_ms(&self) -> f64 {
        self.ping_time_ms
    }

    /// A ping is out and not answered yet (`Status UP (ping)`).
    pub fn pinging(&self) -> bool {
        self.outstanding.is_some()
    }

    /// When the next ping is due (it may wait longer for the registration).
    pub fn next_ping(&self) -> Instant {
        self.next
    }

    pub fn every(&self) -> Option<Duration> {
        self.every
    }

    /// The registration state the pinger last heard of (or set itself by failing it).
    pub fn registration(&self) -> RegState {
        self.reg
    }

    /// When to call [`Pinger::handle_timeout`]; None while a ping is out (its end comes
    /// as an answer or a timeout) or while the registration does not allow pings.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.outstanding.is_none() && self.may_ping()).then_some(self.next)
    }

    /// Time passes: an OPTIONS to send when one is due.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Request> {
        if self.outstanding.is_some() || !self.may_ping() || now < self.next {
            return None;
        }
        self.cseq += 1;
        self.outstanding = Some(Outstanding {
            cseq: self.cseq,
            sent: now,
        });
        Some(self.options())
    }

    /// The registration changed (the caller forwards every [`RegState`] it sees). As in
    /// mod_sofia, becoming registered takes the gateway UP and a failed registration
    /// takes it DOWN, whatever the ping counter says.
    pub fn on_registration(&mut self, state: RegState, now: Instant) -> Option<StatusChange> {
        let before = self.status;
        let was = std::mem::replace(&mut self.reg, state);
        match state {
            RegState::Reged if was != RegState::Reged => self.set_status(GatewayStatus::Up, now),
            // Failed, or unregistered by the operator (mod_sofia's UNREGISTER: DOWN).
            RegState::Failed | RegState::FailWait | RegState::Down => {
                self.set_status(GatewayStatus::Down, now)
            }
            _ => {}
        }
        self.change_from(before)
    }

    /// An answer to something we sent. None when it is not the answer to the ping that
    /// is out (a stray or late one) or only provisional.
    pub fn on_response(&mut self, resp: &Response, now: Instant) -> Option<PingOutcome> {
        let out = self.outstanding?;
        let ours = resp.headers.call_id().ok() == Some(self.call_id.as_str())
            && resp
                .headers
                .cseq()
                .is_ok_and(|c| c.seq == out.cseq && c.method == Method::Options);
        if !ours {
            tracing::debug!(gateway = %self.name, "an answer that is not to our ping: ignored");
            return None;
        }
        if resp.status.code < 200 {
            return None;
        }
        Some(self.finish(resp.status.code, &resp.status.reason, now))
    }

    /// No answer came to the ping that is out (the transaction's timer F): it counts as a
    /// 408, as in mod_sofia. None when no ping is out.
    pub fn on_timeout(&mut self, now: Instant) -> Option<PingOutcome> {
        self.outstanding?;
        Some(self.finish(408, "Request Timeout", now))
    }

    fn may_ping(&self) -> bool {
        self.every.is_some() && matches!(self.reg, RegState::Reged | RegState::Noreg)
    }

    fn finish(&mut self, code: u16, phrase: &str, now: Instant) -> PingOutcome {
        let sent = self.outstanding.take().map(|o| o.sent);
        let before = self.status;
        let reachable = (200..600).contains(&code) && code != 408 && code != 503;
        let mut fail_registration = false;
        if reachable {
            if self.count < self.ping_max {
                self.count += 1;
                if self.count >= self.ping_min {
                    self.set_status(GatewayStatus::Up, now);
                }
            }
            if let Some(sent) = sent {
                self.ping_time_ms = now.saturating_duration_since(sent).as_secs_f64() * 1000.0;
            }
            tracing::debug!(gateway = %self.name, code, count = self.count,
                ping_min = self.ping_min, ping_max = self.ping_max, status = %self.status, "ping succeeded");
        } else {
            if self.reg == RegState::Reged {
                // mod_sofia: the registration fails, and FAILED takes the gateway DOWN.
                fail_registration = true;
                self.reg = RegState::Failed;
                self.ping_time_ms = 0.0;
                self.set_status(GatewayStatus::Down, now);
            }
            self.count = self.count.saturating_sub(1);
            if self.count < self.ping_min && self.status != GatewayStatus::Down {
                self.set_status(GatewayStatus::Down, now);
                self.ping_time_ms = 0.0;
            }
            tracing::warn!(gateway = %self.name, code, count = self.count,
                ping_min = self.ping_min, ping_max = self.ping_max, status = %self.status, "ping failed");
        }
        self.next = now + self.every.unwrap_or_default();
        let change = self.change_from(before);
        PingOutcome {
            code,
            phrase: phrase.to_string(),
            reachable,
            change,
            fire_event: change.is_some() || self.config.monitoring,
            fail_registration,
        }
    }

    fn set_status(&mut self, status: GatewayStatus, now: Instant) {
        if self.status == status {
            return;
        }
        self.status = status;
        self.up_since = (status == GatewayStatus::Up).then_some(now);
        if status == GatewayStatus::Up {
            tracing::info!(gateway = %self.name, "gateway UP");
        } else {
            tracing::warn!(gateway = %self.name, "gateway DOWN");
        }
    }

    fn change_from(&self, before: GatewayStatus) -> Option<StatusChange> {
        (self.status != before).then_some(StatusChange {
            from: before,
            to: self.status,
        })
    }

    fn options(&self) -> Request {
        let cfg = &self.config;
        let mut req = Request {
            method: Method::Options,
            uri: cfg.target.clone(),
            headers: Default::default(),
            body: Vec::new(),
        };
        let aor = format!("<sip:{}>", cfg.domain);
        req.headers.push(
            "Via",
            format!(
                "SIP/2.0/{} {};branch=z9hG4bK{}p{};rport",
                if cfg.tcp { "TCP" } else { "UDP" },
                cfg.local,
                self.from_tag,
                self.cseq
            ),
        );
        req.headers.push("Max-Forwards", "70");
        req.headers
            .push("From", format!("{aor};tag={}", self.from_tag));
        req.headers.push("To", aor);
        req.headers.push("Call-ID", self.call_id.as_str());
        req.headers.push("CSeq", format!("{} OPTIONS", self.cseq));
        if let Some(contact) = &cfg.contact {
            req.headers.push("Contact", contact.as_str());
        }
        req.headers.push("User-Agent", cfg.user_agent.as_str());
        req.headers.push("Content-Length", "0");
        req
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: Duration = Duration::from_secs(30);

    fn config(register: bool) -> PingConfig {
        PingConfig {
            target: Uri::parse("sip:sip.carrier.test:5070").expect("test URI"),
            domain: "sip.carrier.test".into(),
            local: "192.0.2.2:5080".into(),
            tcp: false,
            user_agent: "loopstart".into(),
            contact: None,
            register,
            monitoring: false,
            ids: "abcdef0123456789".into(),
        }
    }

    fn noreg(max: u32, min: u32, t0: Instant) -> Pinger {
        Pinger::new("carrier", Some(EVERY), max, min, t0, config(false))
    }

    fn reply(req: &Request, code: u16) -> Response {
        Response::to_request(req, code, "x")
    }

    /// Sends the due ping at `now` and answers it with `code` at `now` too.
    fn ping(p: &mut Pinger, now: Instant, code: u16) -> PingOutcome {
        let req = p.handle_timeout(now).expect("a ping is due");
        p.on_response(&reply(&req, code), now)
            .expect("the answer is to our ping")
    }

    #[test]
    fn pings_every_interval_after_the_answer_with_a_well_formed_options() {
        let t0 = Instant::now();
        let mut p = noreg(1, 1, t0);
        assert_eq!(
            p.poll_timeout(),
            Some(t0 + EVERY),
            "the first ping waits one interval"
        );
        assert!(p
            .handle_timeout(t0 + EVERY - Duration::from_millis(1))
            .is_none());

        let t1 = t0 + EVERY;
        let first = p.handle_timeout(t1).expect("first ping");
        assert_eq!(first.method, Method::Options);
        assert_eq!(first.uri.to_string(), "sip:sip.carrier.test:5070");
        let h = |n: &str| first.headers.get(n).map(str::to_string);
        assert_eq!(h("To").as_deref(), Some("<sip:sip.carrier.test>"));
        assert_eq!(
            h("From").as_deref(),
            Some("<sip:sip.carrier.test>;tag=abcdef0123456789")
        );
        assert_eq!(h("CSeq").as_deref(), Some("1 OPTIONS"));
        assert_eq!(h("Max-Forwards").as_deref(), Some("70"));
        assert_eq!(h("User-Agent").as_deref(), Some("loopstart"));
        assert!(h("Contact").is_none(), "no contact-in-ping");
        let via = first.headers.top_via().expect("Via parses");
        let branch1 = via.branch().expect("branch").to_string();
        assert!(branch1.starts_with("z9hG4bK"));
        assert!(first.headers.call_id().is_ok());

        // One ping at a time: nothing more while it is out, and no wake-up asked for.
        assert!(p.pinging());
        assert_eq!(p.poll_timeout(), None);
        assert!(p.handle_timeout(t1 + EVERY * 3).is_none());

        // Answered 2.5 s later: the next ping is an interval after the answer.
        let t2 = t1 + Duration::from_millis(2500);
        p.on_response(&reply(&first, 200), t2).expect("ours");
        assert!(
            (p.ping_time_ms() - 2500.0).abs() < 1e-6,
            "{}",
            p.ping_time_ms()
        );
        assert_eq!(p.poll_timeout(), Some(t2 + EVERY));
        let second = p.handle_timeout(t2 + EVERY).expect("second ping");
        assert_eq!(second.headers.get("CSeq"), Some("2 OPTIONS"));
        assert_eq!(second.headers.get("Call-ID"), first.headers.get("Call-ID"));
        let branch2 = second
            .headers
            .top_via()
            .expect("Via")
            .branch()
            .map(str::to_string);
        assert_ne!(
            branch2.as_deref(),
            Some(branch1.as_str()),
            "a new branch per ping"
        );
    }

    #[test]
    fn contact_in_ping_puts_our_contact_in() {
        let t0 = Instant::now();
        let cfg = PingConfig {
            contact: Some("<sip:gw+carrier@192.0.2.2:5080;transport=udp;gw=carrier>".into()),
            ..config(false)
        };
        let mut p = Pinger::new("carrier", Some(EVERY), 1, 1, t0, cfg);
        let req = p.handle_timeout(t0 + EVERY).expect("ping");
        assert_eq!(
            req.headers.get("Contact"),
            Some("<sip:gw+carrier@192.0.2.2:5080;transport=udp;gw=carrier>")
        );
    }

    #[test]
    fn which_answers_count_as_alive() {
        // mod_sofia: 200..=599 except 408 and 503.
        let table = [
            (200, true),
            (202, true),
            (302, true),
            (401, true),
            (403, true),
            (404, true),
            (405, true),
            (407, true),
            (481, true),
            (500, true),
            (599, true),
            (408, false),
            (503, false),
            (600, false),
            (603, false),
        ];
        for (code, alive) in table {
            let t0 = Instant::now();
            let mut p = noreg(1, 1, t0);
            let out = ping(&mut p, t0 + EVERY, code);
            assert_eq!(out.reachable, alive, "code {code}");
            assert_eq!(out.code, code);
            let expected = if alive {
                GatewayStatus::Up
            } else {
                GatewayStatus::Down
            };
            assert_eq!(p.status(), expected, "code {code}");
        }
    }

    #[test]
    fn ping_min_and_ping_max_give_hysteresis() {
        let t0 = Instant::now();
        let mut p = noreg(3, 2, t0);
        assert_eq!(p.status(), GatewayStatus::Up, "NOREG starts UP");
        assert_eq!(p.up_since(), Some(t0));
        let step = |p: &mut Pinger, code| {
            let now = p.poll_timeout().expect("a ping is scheduled");
            ping(p, now, code)
        };
        let down = Some(StatusChange {
            from: GatewayStatus::Up,
            to: GatewayStatus::Down,
        });
        let up = Some(StatusChange {
            from: GatewayStatus::Down,
            to: GatewayStatus::Up,
        });
        // count 0 < ping-min 2: the first failure takes it DOWN.
        let o = step(&mut p, 503);
        assert_eq!((o.change, o.fire_event), (down, true));
        assert_eq!(p.ping_state(), (2, 0, 3));
        // One good ping is not enough, the second is.
        assert_eq!(step(&mut p, 200).change, None);
        assert_eq!(p.status(), GatewayStatus::Down);
        let at = p.poll_timeout().expect("a ping is scheduled");
        let o = ping(&mut p, at, 200);
        assert_eq!(o.change, up);
        assert_eq!(p.up_since(), Some(at), "uptime counts from the change");
        assert_eq!(step(&mut p, 200).change, None);
        assert_eq!(p.ping_state(), (2, 3, 3));
        // The counter stops at ping-max: more good pings buy nothing.
        assert_eq!(step(&mut p, 200).change, None);
        assert_eq!(p.ping_state(), (2, 3, 3));
        // From 3, one failure keeps it UP (2), the second takes it DOWN (1 < 2).
        let o = step(&mut p, 408);
        assert_eq!((o.change, o.fire_event), (None, false));
        assert_eq!(p.status(), GatewayStatus::Up);
        let o = step(&mut p, 408);
        assert_eq!(o.change, down);
        assert_eq!(p.ping_state(), (2, 1, 3));
        assert_eq!(p.ping_time_ms(), 0.0, "DOWN clears the ping time");
        assert_eq!(p.up_since(), None);
        // The counter never goes below 0.
        step(&mut p, 408);
        step(&mut p, 408);
        assert_eq!(p.ping_state(), (2, 0, 3));
    }

    #[test]
    fn no_answer_is_a_408_failure_and_the_next_ping_follows_it() {
        let t0 = Instant::now();
        let mut p = noreg(1, 1, t0);
        assert!(p.on_timeout(t0).is_none(), "nothing is out");
        let t1 = t0 + EVERY;
        p.handle_timeout(t1).expect("ping");
        let t2 = t1 + Duration::from_secs(32);
        let o = p.on_timeout(t2).expect("the ping ends");
        assert_eq!((o.code, o.reachable), (408, false));
        assert_eq!(p.status(), GatewayStatus::Down);
        assert!(!p.pinging());
        assert_eq!(p.poll_timeout(), Some(t2 + EVERY));
    }

    #[test]
    fn stray_late_and_provisional_answers_change_nothing() {
        let t0 = Instant::now();
        let mut p = noreg(1, 1, t0);
        let t1 = t0 + EVERY;
        let req = p.handle_timeout(t1).expect("ping");
        // 100 Trying: still waiting.
        assert!(p.on_response(&reply(&req, 100), t1).is_none());
        assert!(p.pinging());
        // Another dialog's answer, and one for an older CSeq.
        let mut other = reply(&req, 503);
        other.headers.set("Call-ID", "someone-else");
        assert!(p.on_response(&other, t1).is_none());
        let mut old = reply(&req, 503);
        old.headers.set("CSeq", "0 OPTIONS");
        assert!(p.on_response(&old, t1).is_none());
        let mut no_cseq = reply(&req, 503);
        no_cseq.headers.remove("CSeq");
        assert!(p.on_response(&no_cseq, t1).is_none());
        assert!(p.pinging());
        assert_eq!(p.status(), GatewayStatus::Up);
        // The real answer ends it; the same answer again is a duplicate.
        let ok = reply(&req, 200);
        assert!(p.on_response(&ok, t1).is_some());
        assert!(p.on_response(&ok, t1).is_none());
    }

    #[test]
    fn a_registering_gateway_pings_only_while_registered() {
        let t0 = Instant::now();
        let mut p = Pinger::new("carrier", Some(EVERY), 2, 2, t0, config(true));
        assert_eq!(p.status(), GatewayStatus::Down);
        assert_eq!(p.poll_timeout(), None, "not registered yet");
        assert!(p.on_registration(RegState::Trying, t0).is_none());
        assert!(p.handle_timeout(t0 + EVERY * 2).is_none());

        // Registered late: UP at once (whatever the ping counter says), and the overdue
        // ping goes out straight away.
        let t1 = t0 + EVERY * 2;
        assert_eq!(
            p.on_registration(RegState::Reged, t1),
            Some(StatusChange {
                from: GatewayStatus::Down,
                to: GatewayStatus::Up
            })
        );
        assert_eq!(p.ping_state(), (2, 0, 2));
        assert_eq!(p.poll_timeout(), Some(t0 + EVERY));
        let o = ping(&mut p, t1, 200);
        assert!(!o.fail_registration && o.change.is_none());

        // The registration refreshes: no pings during TRYING, and REGED again is no change.
        assert!(p.on_registration(RegState::Trying, t1).is_none());
        assert_eq!(p.poll_timeout(), None);
        assert!(p.on_registration(RegState::Reged, t1).is_none());

        // A failed ping while registered fails the registration and takes it DOWN: one
        // change, though two rules say so.
        let t2 = p.poll_timeout().expect("next ping");
        let o = ping(&mut p, t2, 503);
        assert!(o.fail_registration);
        assert_eq!(
            o.change,
            Some(StatusChange {
                from: GatewayStatus::Up,
                to: GatewayStatus::Down
            })
        );
        assert_eq!(p.registration(), RegState::Failed);
        assert_eq!(p.poll_timeout(), None, "no pings until registered again");
        assert!(p.on_registration(RegState::FailWait, t2).is_none());
        assert!(p.on_registration(RegState::Trying, t2).is_none());
        assert!(p.on_registration(RegState::Reged, t2).is_some());
        assert_eq!(p.status(), GatewayStatus::Up);
    }

    #[test]
    fn a_failed_registration_takes_the_gateway_down_without_a_ping() {
        let t0 = Instant::now();
        let mut p = Pinger::new("carrier", Some(EVERY), 1, 1, t0, config(true));
        p.on_registration(RegState::Reged, t0);
        assert_eq!(p.status(), GatewayStatus::Up);
        // The refresh is refused: REGED -> TRYING -> FAIL_WAIT.
        assert!(p.on_registration(RegState::Trying, t0).is_none());
        assert_eq!(
            p.on_registration(RegState::FailWait, t0),
            Some(StatusChange {
                from: GatewayStatus::Up,
                to: GatewayStatus::Down
            })
        );
        assert_eq!(p.up_since(), None);
    }

    #[test]
    fn a_failed_ping_fails_the_registration_even_when_the_counter_stays_up() {
        let t0 = Instant::now();
        let mut p = Pinger::new("carrier", Some(EVERY), 3, 1, t0, config(true));
        p.on_registration(RegState::Reged, t0);
        for _ in 0..3 {
            let now = p.poll_timeout().expect("ping");
            ping(&mut p, now, 200);
        }
        assert_eq!(p.ping_state(), (1, 3, 3));
        let now = p.poll_timeout().expect("ping");
        let o = ping(&mut p, now, 408);
        assert_eq!(p.ping_state(), (1, 2, 3), "count still >= ping-min");
        assert!(o.fail_registration);
        assert_eq!(p.status(), GatewayStatus::Down, "FAILED takes it DOWN");
        assert!(o.fire_event);
    }

    #[test]
    fn ping_monitoring_reports_every_result() {
        let t0 = Instant::now();
        let cfg = PingConfig {
            monitoring: true,
            ..config(false)
        };
        let mut p = Pinger::new("carrier", Some(EVERY), 1, 1, t0, cfg);
        let o = ping(&mut p, t0 + EVERY, 200);
        assert_eq!((o.change, o.fire_event), (None, true));
        let mut quiet = noreg(1, 1, t0);
        let o = ping(&mut quiet, t0 + EVERY, 200);
        assert_eq!((o.change, o.fire_event), (None, false));
    }
}
