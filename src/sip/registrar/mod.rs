//! Registrar, RFC 3261 §10.3: binds an address-of-record to the contacts a REGISTER
//! carries. Pure: the SIP core authenticates the request, hands the parsed pieces here
//! with `now`, and gets back the changes to persist and the bindings to answer with.

mod location;

pub use location::Location;

use crate::sip::wire::Contact;
use crate::store::Binding;

/// Expiry bounds, from the SIP profile.
#[derive(Debug, Clone, Copy)]
pub struct RegistrarPolicy {
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    /// Most bindings per AOR; 0 = unlimited (FreeSWITCH's
    /// `max-registrations-per-extension`).
    pub max_per_aor: u32,
    /// Most bindings in all (memory bound).
    pub max_total: usize,
}

/// The parts of a REGISTER the registrar needs.
pub struct RegisterInput<'a> {
    /// `user@domain`, already mapped to the configured domain.
    pub aor: &'a str,
    pub contacts: &'a [Contact],
    /// The Expires header, if present.
    pub expires_header: Option<u32>,
    pub call_id: &'a str,
    pub cseq: u32,
    pub source: String,
    pub transport: &'a str,
    pub user_agent: Option<&'a str>,
    /// The profile the REGISTER arrived on.
    pub profile: &'a str,
}

/// A change to persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A binding added or changed. `refresh` when the route to the phone is unchanged
    /// (same contact, source address and transport; only the expiry, CSeq or Call-ID
    /// moved on): a power cut may lose that write (sled writes it back within its
    /// flush interval, 500 ms), and the binding restored after it still reaches the
    /// phone, with the expiry it had before. So it is written lazily.
    Upsert {
        binding: Binding,
        refresh: bool,
    },
    Remove {
        aor: String,
        key: Vec<u8>,
    },
}

/// Why a REGISTER was refused, with the response it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// 423, with the Min-Expires to send.
    IntervalTooBrief { min_expires: u32 },
    /// 400: `*` with other contacts or a non-zero expiry, or an unusable contact.
    BadRequest(String),
    /// 500: a request older than the binding it would change (§10.3 step 7).
    OutOfOrder,
    /// 403: the AOR already has its maximum number of bindings.
    TooManyBindings { max: u32 },
    /// 503: the location table is full.
    Full,
}

impl RegisterError {
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            RegisterError::IntervalTooBrief { .. } => (423, "Interval Too Brief"),
            RegisterError::BadRequest(_) => (400, "Bad Request"),
            RegisterError::OutOfOrder => (500, "Server Internal Error"),
            RegisterError::TooManyBindings { .. } => (403, "Maximum Registrations Reached"),
            RegisterError::Full => (503, "Service Unavailable"),
        }
    }
}

/// The location service plus the rules for changing it.
pub struct Registrar {
    pub location: Location,
    pub policy: RegistrarPolicy,
}

impl Registrar {
    pub fn new(policy: RegistrarPolicy) -> Registrar {
        Registrar {
            location: Location::new(),
            policy,
        }
    }

    /// Loads persisted bindings at start, dropping those already expired (returned so
    /// the caller can delete them from the store).
    pub fn restore(&mut self, bindings: Vec<Binding>, now_unix_ms: u64) -> Vec<Binding> {
        let mut stale = Vec::new();
        for b in bindings {
            if b.expires_at_unix_ms <= now_unix_ms {
                stale.push(b);
            } else {
                self.location.upsert(b);
            }
        }
        stale
    }

    /// Applies a REGISTER (§10.3 steps 6–8). On success the location already reflects
    /// the changes; the caller persists them and answers 200 with
    /// `self.location.bindings(aor)`.
    pub fn register(
        &mut self,
        input: &RegisterInput<'_>,
        now_unix_ms: u64,
    ) -> Result<Vec<Change>, RegisterError> {
        let star = input.contacts.iter().any(|c| matches!(c, Contact::Star));
        if star {
            return self.remove_all(input);
        }
        // Validate everything before changing anything: a REGISTER is all or nothing.
        let mut planned = Vec::with_capacity(input.contacts.len());
        for contact in input.contacts {
            let Contact::Addr(addr) = contact else {
                continue;
            };
            let contact_expires = match addr.params.get("expires") {
                Some(Some(v)) => Some(v.trim().parse::<u32>().map_err(|_| {
                    RegisterError::BadRequest(format!("Contact expires {v:?} is not a number"))
                })?),
                Some(None) => {
                    return Err(RegisterError::BadRequest(
                        "Contact expires has no value".into(),
                    ))
                }
                None => None,
            };
            let requested = contact_expires
                .or(input.expires_header)
                .unwrap_or(self.policy.default_expires);
            if requested != 0 && requested < self.policy.min_expires {
                return Err(RegisterError::IntervalTooBrief {
                    min_expires: self.policy.min_expires,
                });
            }
            let expires = requested.min(self.policy.max_expires);
            let instance = match addr.params.get("+sip.instance") {
                Some(Some(v)) => Some(v.trim_matches('"').to_string()),
                _ => None,
            };
            let binding = Binding {
                aor: input.aor.to_string(),
                contact_uri: addr.uri.to_string(),
                instance,
                call_id: input.call_id.to_string(),
                cseq: input.cseq,
                expires_at_unix_ms: now_unix_ms + u64::from(expires) * 1000,
                source: input.source.clone(),
                transport: input.transport.to_string(),
                user_agent: input.user_agent.map(str::to_string),
                registered_at_unix_ms: now_unix_ms,
                profile: Some(input.profile.to_string()),
            };
            let key = binding.key();
            if let Some(existing) = self
                .location
                .bindings(input.aor)
                .iter()
                .find(|b| b.key() == key)
            {
                if existing.call_id == input.call_id && input.cseq <= existing.cseq {
                    return Err(RegisterError::OutOfOrder);
                }
            }
            planned.push((binding, key, expires == 0));
        }

        let existing = self.location.bindings(input.aor);
        let added = planned
            .iter()
            .filter(|(_, key, remove)| !remove && !existing.iter().any(|b| &b.key() == key))
            .count();
        let removed = planned
            .iter()
            .filter(|(_, key, remove)| *remove && existing.iter().any(|b| &b.key() == key))
            .count();
        let after = existing.len() + added - removed;
        if self.policy.max_per_aor > 0 && after > self.policy.max_per_aor as usize {
            return Err(RegisterError::TooManyBindings {
                max: self.policy.max_per_aor,
            });
        }
        if added > 0 && self.location.len() + added > self.policy.max_total {
            return Err(RegisterError::Full);
        }

        let mut changes = Vec::with_capacity(planned.len());
        for (binding, key, remove) in planned {
            if remove {
                if self.location.remove(input.aor, &key).is_some() {
                    changes.push(Change::Remove {
                        aor: input.aor.to_string(),
                        key,
                    });
                }
            } else {
                let refresh = self.location.bindings(input.aor).iter().any(|b| {
                    b.key() == key && b.source == binding.source && b.transport == binding.transport
                });
                self.location.upsert(binding.clone());
                changes.push(Change::Upsert { binding, refresh });
            }
        }
        Ok(changes)
    }

    /// `Contact: *` (§10.3 step 6): valid only alone and with Expires: 0.
    fn remove_all(&mut self, input: &RegisterInput<'_>) -> Result<Vec<Change>, RegisterError> {
        if input.contacts.len() != 1 {
            return Err(RegisterError::BadRequest(
                "Contact * must be the only contact".into(),
            ));
        }
        if input.expires_header != Some(0) {
            return Err(RegisterError::BadRequest(
                "Contact * requires Expires: 0".into(),
            ));
        }
        let keys: Vec<Vec<u8>> = self
            .location
            .bindings(input.aor)
            .iter()
            .map(Binding::key)
            .collect();
        let mut changes = Vec::new();
        for key in keys {
            if let Some(b) = self.location.remove(input.aor, &key) {
                if b.call_id == input.call_id && input.cseq <= b.cseq {
                    // Out of order for this binding: put it back and refuse.
                    self.location.upsert(b);
                    return Err(RegisterError::OutOfOrder);
                }
                changes.push(Change::Remove {
                    aor: input.aor.to_string(),
                    key,
                });
            }
        }
        Ok(changes)
    }

    /// Removes expired bindings; returns them so the caller deletes them from the store.
    pub fn expire(&mut self, now_unix_ms: u64) -> Vec<Binding> {
        self.location.expire(now_unix_ms)
    }
}

#[cfg(test)]
mod tests;
