//! A channel: one leg of a call, with FreeSWITCH's states, its caller profile and its
//! variables — what the dialplan reads, `set` writes, events and CDRs report.

use std::collections::BTreeMap;
use std::fmt;

use super::cause::HangupCause;
use crate::dialplan;

/// At most this many variables on a channel, and bytes in one value: a peer's headers
/// (sip_h_*) must not grow a channel without bound.
pub const MAX_VARIABLES: usize = 512;
pub const MAX_VALUE_LEN: usize = 8 * 1024;

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant,)* }

        impl $name {
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named_enum! {
    /// The state machine a channel runs through (FreeSWITCH's CS_* names).
    ChannelState {
        New => "CS_NEW",
        Init => "CS_INIT",
        Routing => "CS_ROUTING",
        SoftExecute => "CS_SOFT_EXECUTE",
        Execute => "CS_EXECUTE",
        ExchangeMedia => "CS_EXCHANGE_MEDIA",
        Park => "CS_PARK",
        ConsumeMedia => "CS_CONSUME_MEDIA",
        Hibernate => "CS_HIBERNATE",
        Reset => "CS_RESET",
        Hangup => "CS_HANGUP",
        Reporting => "CS_REPORTING",
        Destroy => "CS_DESTROY",
    }
}

named_enum! {
    /// What the call looks like from outside (`show channels`' callstate column).
    CallState {
        Down => "DOWN",
        Dialing => "DIALING",
        Ringing => "RINGING",
        Early => "EARLY",
        Active => "ACTIVE",
        Held => "HELD",
        RingWait => "RING_WAIT",
        Hangup => "HANGUP",
        Unheld => "UNHELD",
    }
}

/// A state change the channel refuses: nothing comes back from hangup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IllegalTransition {
    pub from: ChannelState,
    pub to: ChannelState,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "channel cannot go from {} to {}", self.from, self.to)
    }
}

/// Who is calling whom, as the dialplan and CDRs name it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallerProfile {
    pub username: String,
    pub caller_id_name: String,
    pub caller_id_number: String,
    pub ani: String,
    pub destination_number: String,
    pub network_addr: String,
    pub context: String,
    pub dialplan: String,
    pub source: String,
}

#[derive(Debug)]
pub struct Channel {
    pub uuid: String,
    /// `sofia/internal/1001@192.0.2.10`.
    pub name: String,
    state: ChannelState,
    pub callstate: CallState,
    pub profile: CallerProfile,
    variables: BTreeMap<String, String>,
    pub hangup_cause: Option<HangupCause>,
}

impl Channel {
    pub fn new(uuid: String, name: String, profile: CallerProfile) -> Channel {
        Channel {
            uuid,
            name,
            state: ChannelState::New,
            callstate: CallState::Down,
            profile,
            variables: BTreeMap::new(),
            hangup_cause: None,
        }
    }

    pub fn state(&self) -> ChannelState {
        self.state
    }

    /// Moves the state machine on; hangup only leads to reporting and destroy.
    pub fn set_state(&mut self, to: ChannelState) -> Result<(), IllegalTransition> {
        use ChannelState::*;
        let allowed = match (self.state, to) {
            (Destroy, _) => false,
            (Reporting, Destroy) => true,
            (Reporting, _) => false,
            (Hangup, Reporting | Destroy) => true,
            (Hangup, _) => false,
            _ => true,
        };
        if !allowed {
            return Err(IllegalTransition {
                from: self.state,
                to,
            });
        }
        self.state = to;
        Ok(())
    }

    /// Ends the channel with `cause` (the first cause wins, as in FreeSWITCH).
    pub fn hangup(&mut self, cause: HangupCause) {
        if self.hangup_cause.is_none() {
            self.hangup_cause = Some(cause);
        }
        self.callstate = CallState::Hangup;
        if !matches!(
            self.state,
            ChannelState::Hangup | ChannelState::Reporting | ChannelState::Destroy
        ) {
            self.state = ChannelState::Hangup;
        }
    }

    pub fn variables(&self) -> impl Iterator<Item = (&str, &str)> {
        self.variables.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Sets a variable; false when the channel's bounds refused it.
    pub fn set(&mut self, name: &str, value: &str) -> bool {
        if name.is_empty() || value.len() > MAX_VALUE_LEN {
            return false;
        }
        if self.variables.len() >= MAX_VARIABLES && !self.variables.contains_key(name) {
            return false;
        }
        self.variables.insert(name.to_string(), value.to_string());
        true
    }

    pub fn unset(&mut self, name: &str) {
        self.variables.remove(name);
    }

    /// A variable or a caller-profile field, by FreeSWITCH's names.
    pub fn get(&self, name: &str) -> Option<String> {
        let p = &self.profile;
        let field = match name {
            "uuid" | "unique_id" => Some(self.uuid.as_str()),
            "channel_name" | "chan_name" => Some(self.name.as_str()),
            "username" => Some(p.username.as_str()),
            "caller_id_name" => Some(p.caller_id_name.as_str()),
            "caller_id_number" => Some(p.caller_id_number.as_str()),
            "ani" => Some(p.ani.as_str()),
            "destination_number" => Some(p.destination_number.as_str()),
            "network_addr" => Some(p.network_addr.as_str()),
            "context" => Some(p.context.as_str()),
            "dialplan" => Some(p.dialplan.as_str()),
            "source" => Some(p.source.as_str()),
            "state" => Some(self.state.name()),
            "callstate" => Some(self.callstate.name()),
            "hangup_cause" => self.hangup_cause.map(HangupCause::name),
            _ => None,
        };
        // A variable set on the channel wins over the profile (FreeSWITCH lets
        // `set caller_id_name=...` rename the caller).
        self.variables
            .get(name)
            .cloned()
            .or_else(|| field.map(str::to_string))
    }
}

impl dialplan::Lookup for Channel {
    fn variable(&self, name: &str) -> Option<String> {
        self.get(name)
    }
}

impl dialplan::Channel for Channel {
    fn set_variable(&mut self, name: &str, value: &str) {
        if !self.set(name, value) {
            tracing::warn!(uuid = %self.uuid, variable = %name, "variable refused: too many variables or too long a value");
        }
    }
    fn unset_variable(&mut self, name: &str) {
        self.unset(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialplan::{CivilTime, Lookup};

    fn channel() -> Channel {
        Channel::new(
            "a1b2".into(),
            "sofia/internal/1001@192.0.2.10".into(),
            CallerProfile {
                caller_id_number: "1001".into(),
                destination_number: "9196".into(),
                context: "default".into(),
                ..CallerProfile::default()
            },
        )
    }

    #[test]
    fn states_move_on_and_nothing_comes_back_from_hangup() {
        let mut c = channel();
        assert_eq!(c.state().name(), "CS_NEW");
        for s in [
            ChannelState::Init,
            ChannelState::Routing,
            ChannelState::Execute,
        ] {
            c.set_state(s).unwrap();
        }
        c.hangup(HangupCause::NormalClearing);
        c.hangup(HangupCause::UserBusy);
        assert_eq!(
            c.hangup_cause,
            Some(HangupCause::NormalClearing),
            "the first cause wins"
        );
        assert_eq!(
            (c.state(), c.callstate),
            (ChannelState::Hangup, CallState::Hangup)
        );
        let err = c.set_state(ChannelState::Execute).unwrap_err();
        assert_eq!(
            err.to_string(),
            "channel cannot go from CS_HANGUP to CS_EXECUTE"
        );
        c.set_state(ChannelState::Reporting).unwrap();
        c.set_state(ChannelState::Destroy).unwrap();
        assert!(c.set_state(ChannelState::New).is_err());
    }

    #[test]
    fn profile_fields_and_variables_read_as_freeswitch_names_them() {
        let mut c = channel();
        assert_eq!(c.get("destination_number").as_deref(), Some("9196"));
        assert_eq!(c.get("uuid").as_deref(), Some("a1b2"));
        assert_eq!(c.get("hangup_cause"), None);
        assert!(c.set("caller_id_name", "Reception"));
        assert_eq!(c.variable("caller_id_name").as_deref(), Some("Reception"));
        assert!(!c.set("big", &"x".repeat(MAX_VALUE_LEN + 1)));
        for i in 0..MAX_VARIABLES + 5 {
            c.set(&format!("v{i}"), "1");
        }
        assert_eq!(c.variables().count(), MAX_VARIABLES);
        assert!(c.set("v0", "2"), "an existing variable can still change");
    }

    #[test]
    fn the_dialplan_hunts_on_a_channel() {
        let mut diags = crate::config::Diags::default();
        let mut vars = std::collections::BTreeMap::new();
        let els = crate::config::xml::load_str(
            std::path::Path::new("default.xml"),
            r#"<context name="default">
              <extension name="echo">
                <condition field="destination_number" expression="^9196$">
                  <action application="set" data="echo_by=${caller_id_number}" inline="true"/>
                  <action application="echo"/>
                </condition>
              </extension>
            </context>"#,
            &mut vars,
            &mut diags,
        );
        let d = crate::dialplan::parse_contexts(&els, &mut diags);
        let mut c = channel();
        let plan = d
            .hunt("default", &mut c, &CivilTime::from_unix(0, 0))
            .unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].application, "echo");
        assert_eq!(c.get("echo_by").as_deref(), Some("1001"));
    }
}
