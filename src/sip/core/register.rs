//! REGISTER: authenticate, then hand the bindings to the registrar (RFC 3261 §10.3).

use super::{CoreNotice, SipCore, StoreOp};
use crate::civil::http_date;
use crate::sip::auth::{self, Challenge, Credentials, RejectReason, Verdict};
use crate::sip::registrar::{Change, RegisterError, RegisterInput};
use crate::sip::transaction::{Peer, TransportKind};
use crate::sip::wire::{Essentials, Host, Request, Response};
use crate::store::Durability;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Result of the digest step.
pub(super) enum AuthStep {
    /// The user the credentials proved.
    Passed(String),
    /// Answer this instead.
    Answer(Response),
}

/// Which challenge: a registrar's 401 (`WWW-Authenticate`/`Authorization`) for
/// `user`, or a proxy's 407 (`Proxy-Authenticate`/`Proxy-Authorization`) for a call,
/// which any user of the directory may place.
#[derive(Clone, Copy)]
pub(super) enum AuthFor<'a> {
    Register { user: &'a str, local: bool },
    Call,
}

impl SipCore {
    pub(super) fn handle_register(
        &mut self,
        req: &Request,
        es: &Essentials,
        peer: Peer,
        now_ms: u64,
    ) -> Response {
        // Contact, Expires and the rest were checked before the transaction was made,
        // so a malformed REGISTER got its 400 before any challenge.
        let user = es.to.uri.user.as_deref().unwrap_or_default();
        let local = self.is_local_host(&es.to.uri.host);
        let ip = peer.addr.ip();
        if self
            .config
            .register_acl
            .as_ref()
            .is_some_and(|acl| !acl.allows(ip))
        {
            // mod_sofia's apply-register-acl. Unlike mod_sofia, a source inside the list
            // is still challenged: an address alone proves no one.
            tracing::warn!(profile = %self.config.profile, peer = %peer.addr, %user,
                "REGISTER from an address outside apply-register-acl: 403");
            self.notices.push_back(CoreNotice::Forbidden {
                source: ip,
                reason: "REGISTER from outside the register ACL".into(),
            });
            return self.reply(req, es, 403, "Forbidden");
        }
        if !self.config.accept_blind_reg {
            let asked = AuthFor::Register { user, local };
            if let AuthStep::Answer(resp) = self.authenticate(req, es, asked, peer, now_ms) {
                return resp;
            }
        } else if !local || !self.directory.contains(user) {
            return self.reply(req, es, 403, "Forbidden");
        }

        let call_id = req.headers.call_id().unwrap_or_default();
        let aor = format!("{user}@{}", self.directory.domain);
        let input = RegisterInput {
            aor: &aor,
            contacts: &es.contacts,
            expires_header: es.expires,
            call_id,
            cseq: es.cseq.seq,
            source: peer.addr.to_string(),
            transport: match peer.transport {
                TransportKind::Udp => "udp",
                TransportKind::Tcp => "tcp",
            },
            user_agent: req.headers.get("User-Agent"),
            profile: &self.config.profile,
        };

        match self.registrar.register(&input, now_ms) {
            Ok(changes) => {
                self.stats.registers_ok += 1;
                for change in changes {
                    self.record_change(change, &aor);
                }
                let mut resp = self.reply(req, es, 200, "OK");
                for b in self.registrar.location.bindings(&aor) {
                    let left = b.expires_at_unix_ms.saturating_sub(now_ms).div_ceil(1000);
                    resp.headers
                        .push("Contact", format!("<{}>;expires={left}", b.contact_uri));
                }
                resp.headers.push("Date", http_date(now_ms / 1000));
                resp
            }
            Err(err) => {
                let (code, reason) = err.status();
                tracing::info!(%aor, peer = %peer.addr, error = ?err, "REGISTER refused");
                let mut resp = self.reply(req, es, code, reason);
                if let RegisterError::IntervalTooBrief { min_expires } = err {
                    resp.headers.push("Min-Expires", min_expires.to_string());
                }
                resp
            }
        }
    }

    fn record_change(&mut self, change: Change, aor: &str) {
        match change {
            Change::Upsert {
                binding: b,
                refresh,
            } => {
                tracing::debug!(%aor, contact = %b.contact_uri, source = %b.source, "registered");
                self.notices.push_back(CoreNotice::Registered {
                    aor: b.aor.clone(),
                    contact: b.contact_uri.clone(),
                    source: b.source.clone(),
                });
                let durability = if refresh {
                    Durability::Lazy
                } else {
                    Durability::Critical
                };
                self.store_ops.push_back(StoreOp::Put(b, durability));
            }
            Change::Remove { aor, key } => {
                let contact =
                    String::from_utf8_lossy(key.split(|&c| c == 0).nth(1).unwrap_or_default())
                        .into_owned();
                tracing::debug!(%aor, %contact, "unregistered");
                self.notices.push_back(CoreNotice::Unregistered {
                    aor,
                    contact,
                    expired: false,
                });
                self.store_ops
                    .push_back(StoreOp::Delete(key, Durability::Critical));
            }
        }
    }

    /// Digest authentication of a request for `user` (RFC 7616, RFC 8760). Unknown users,
    /// foreign domains and wrong passwords all get the same 403, so a scanner learns
    /// nothing; the log line tells the operator which it was.
    pub(super) fn authenticate(
        &mut self,
        req: &Request,
        es: &Essentials,
        asked: AuthFor<'_>,
        peer: Peer,
        now_ms: u64,
    ) -> AuthStep {
        let (user, local, proxy) = match asked {
            AuthFor::Register { user, local } => (Some(user), local, false),
            AuthFor::Call => (None, true, true),
        };
        let header_name = if proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        let Some(header) = req.headers.get(header_name) else {
            return AuthStep::Answer(self.challenge(req, es, false, proxy, now_ms));
        };
        let user = user.unwrap_or_default();
        let creds = match Credentials::parse(header) {
            Ok(c) => c,
            Err(e) => {
                let known = self.directory.contains(user);
                let why = format!("malformed credentials: {e}");
                self.auth_failed(req, user, known, peer, &why);
                let reason = format!("Bad Request (malformed {header_name})");
                return AuthStep::Answer(self.reply(req, es, 400, &reason));
            }
        };
        let request_uri = req.uri.to_string();
        let directory = &self.directory;
        let lookup = |name: &str, alg| {
            if local && (proxy || name == user) {
                directory.ha1(name, alg)
            } else {
                None
            }
        };
        let verdict = auth::verify(
            &mut self.nonces,
            &creds,
            req.method.as_str(),
            &request_uri,
            &directory.realm,
            lookup,
            now_ms,
        );
        match verdict {
            Verdict::Authorized { .. } => AuthStep::Passed(creds.username.clone()),
            Verdict::Challenge { stale } => {
                AuthStep::Answer(self.challenge(req, es, stale, proxy, now_ms))
            }
            // A phone that wrongly reuses a nonce-count gets a fresh nonce, not a ban.
            Verdict::Rejected {
                reason: RejectReason::Replayed,
            } => {
                tracing::debug!(user = %creds.username, peer = %peer.addr, "nonce-count replayed: new challenge");
                AuthStep::Answer(self.challenge(req, es, false, proxy, now_ms))
            }
            Verdict::Rejected { reason, .. } => {
                let (known, why) = match &reason {
                    RejectReason::BadCredentials { user_known: false } => {
                        (false, "unknown user or domain".to_string())
                    }
                    RejectReason::BadCredentials { user_known: true } => {
                        (true, "wrong password".into())
                    }
                    other => (self.directory.contains(&creds.username), other.to_string()),
                };
                self.auth_failed(req, &creds.username, known, peer, &why);
                AuthStep::Answer(self.reply(req, es, 403, "Forbidden"))
            }
        }
    }

    fn challenge(
        &mut self,
        req: &Request,
        es: &Essentials,
        stale: bool,
        proxy: bool,
        now_ms: u64,
    ) -> Response {
        self.stats.auth_challenges += 1;
        let nonce = self.nonces.issue(now_ms);
        let (mut resp, header) = if proxy {
            let r = self.reply(req, es, 407, "Proxy Authentication Required");
            (r, "Proxy-Authenticate")
        } else {
            (self.reply(req, es, 401, "Unauthorized"), "WWW-Authenticate")
        };
        for &algorithm in &self.config.algorithms {
            let c = Challenge {
                realm: self.directory.realm.clone(),
                nonce: nonce.clone(),
                opaque: None,
                algorithm,
                qop_auth: true,
                stale,
            };
            resp.headers.push(header, c.to_string());
        }
        resp
    }

    fn auth_failed(&mut self, req: &Request, user: &str, user_known: bool, peer: Peer, why: &str) {
        self.stats.auth_failures += 1;
        tracing::warn!(
            user,
            peer = %peer.addr,
            profile = %self.config.profile,
            method = req.method.as_str(),
            reason = why,
            "SIP authentication failed"
        );
        self.notices.push_back(CoreNotice::AuthFailed {
            user: user.to_string(),
            source: peer.addr.ip(),
            method: req.method.clone(),
            user_known,
            reason: why.to_string(),
        });
    }

    /// Whether a host in a To/Request-URI names this box: the domain or one of our
    /// addresses. Compared without formatting the host (this runs on every REGISTER).
    fn is_local_host(&self, host: &Host) -> bool {
        let names_us = |ours: &str| {
            let bare = ours.trim_start_matches('[').trim_end_matches(']');
            match host {
                Host::Name(n) => n.eq_ignore_ascii_case(bare),
                Host::V4(ip) => bare.parse::<Ipv4Addr>().is_ok_and(|o| o == *ip),
                Host::V6(ip) => bare.parse::<Ipv6Addr>().is_ok_and(|o| o == *ip),
            }
        };
        names_us(&self.directory.domain) || self.config.local_hosts.iter().any(|l| names_us(l))
    }
}

#[cfg(test)]
mod tests {
    use crate::civil::http_date;

    #[test]
    fn http_date_matches_known_instants() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_795_344_832), "Sun, 22 Nov 2026 10:53:52 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
