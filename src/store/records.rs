//! The record types loopstart keeps on flash.

use super::codec::{DecodeError, Reader, Record, Writer};

/// One registered contact of an address-of-record (the location service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// `user@domain`.
    pub aor: String,
    /// The Contact URI as the phone sent it.
    pub contact_uri: String,
    /// `+sip.instance` (RFC 5626) when the phone sent one: the identity of the device.
    pub instance: Option<String>,
    pub call_id: String,
    pub cseq: u32,
    pub expires_at_unix_ms: u64,
    /// Where the REGISTER really came from (after NAT): `ip:port`.
    pub source: String,
    /// `udp` or `tcp`.
    pub transport: String,
    pub user_agent: Option<String>,
    pub registered_at_unix_ms: u64,
    /// The SIP profile it registered on: calls to the phone leave through it (None in
    /// records written before there were several profiles).
    pub profile: Option<String>,
}

impl Binding {
    /// Store key: AOR, NUL, then the instance or the contact URI (what identifies a
    /// binding within its AOR, RFC 3261 §10.3 step 7 / RFC 5626 §6).
    pub fn key(&self) -> Vec<u8> {
        let id = self.instance.as_deref().unwrap_or(&self.contact_uri);
        let mut k = Vec::with_capacity(self.aor.len() + 1 + id.len());
        k.extend_from_slice(self.aor.as_bytes());
        k.push(0);
        k.extend_from_slice(id.as_bytes());
        k
    }
}

impl Record for Binding {
    const TREE: &'static str = "registrations";
    /// 2 added `profile`.
    const VERSION: u8 = 2;

    fn encode(&self, w: &mut Writer) {
        w.str(&self.aor);
        w.str(&self.contact_uri);
        w.opt_str(self.instance.as_deref());
        w.str(&self.call_id);
        w.u32(self.cseq);
        w.u64(self.expires_at_unix_ms);
        w.str(&self.source);
        w.str(&self.transport);
        w.opt_str(self.user_agent.as_deref());
        w.u64(self.registered_at_unix_ms);
        w.opt_str(self.profile.as_deref());
    }

    fn decode(version: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Binding {
            aor: r.str()?,
            contact_uri: r.str()?,
            instance: r.opt_str()?,
            call_id: r.str()?,
            cseq: r.u32()?,
            expires_at_unix_ms: r.u64()?,
            source: r.str()?,
            transport: r.str()?,
            user_agent: r.opt_str()?,
            registered_at_unix_ms: r.u64()?,
            profile: if version >= 2 { r.opt_str()? } else { None },
        })
    }
}

/// A password generated at first boot for a user whose configured one was unset or a
/// well-known default. Keyed by `user@domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSecret {
    pub password: String,
    pub generated_at_unix: u64,
}

impl Record for UserSecret {
    const TREE: &'static str = "user_secrets";
    const VERSION: u8 = 1;

    fn encode(&self, w: &mut Writer) {
        w.str(&self.password);
        w.u64(self.generated_at_unix);
    }

    fn decode(_version: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(UserSecret {
            password: r.str()?,
            generated_at_unix: r.u64()?,
        })
    }
}
