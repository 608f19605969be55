//! Restricted event socket accounts: FreeSWITCH's `userauth user@domain:password`.
//!
//! `auth <password>` opens everything. A `userauth` account gets only what its grant
//! lists — API commands by name (`esl-allowed-api`), event names or CUSTOM subclasses
//! (`esl-allowed-events`), the log (`esl-allowed-log`) — and anything else is answered
//! `-ERR permission denied`, as FreeSWITCH does. The gateway's own web page logs in
//! with one (see `app::webd`), so the page's process, which faces the LAN, cannot
//! originate calls, kill them or reload the configuration even if it were subverted.
//!
//! Sans-IO: the connection asks [`Grant`] before acting.

use std::collections::BTreeSet;

/// One `userauth` login and what it may do.
#[derive(Clone, Debug)]
pub struct EslAccount {
    pub user: String,
    pub domain: String,
    pub password: String,
    pub grant: Grant,
}

/// What an authenticated connection may do. `auth <password>` gets [`Grant::all`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// API command names (the word before the first space); None: every command.
    api: Option<BTreeSet<String>>,
    /// Event names and CUSTOM subclasses; None: every event.
    events: Option<BTreeSet<String>>,
    log: bool,
}

impl Grant {
    /// Everything: the event socket's password.
    pub fn all() -> Grant {
        Grant {
            api: None,
            events: None,
            log: true,
        }
    }

    /// Only the API commands named (FreeSWITCH's `esl-allowed-api`), no events, no log.
    pub fn api_only<'a>(commands: impl IntoIterator<Item = &'a str>) -> Grant {
        Grant {
            api: Some(commands.into_iter().map(str::to_string).collect()),
            events: Some(BTreeSet::new()),
            log: false,
        }
    }

    /// A grant read from a directory user's params, as FreeSWITCH reads them:
    /// `esl-allowed-api` and `esl-allowed-events` are lists split on commas (or on
    /// spaces when the list has one), absent means all, `ALL` among the events means
    /// all; `esl-allowed-log` is a boolean, absent means true.
    pub fn from_params(api: Option<&str>, events: Option<&str>, log: Option<&str>) -> Grant {
        let list = |v: &str| -> BTreeSet<String> {
            let delim = if v.contains(' ') { ' ' } else { ',' };
            v.split(delim)
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect()
        };
        let events = events.map(list).filter(|set| !set.contains("ALL"));
        Grant {
            api: api.map(list),
            events,
            log: log.is_none_or(|v| crate::config::parse_bool(v) == Some(true)),
        }
    }

    /// Whether `command` (a whole command line, `sofia status`) may run.
    pub fn allows_api(&self, command: &str) -> bool {
        let name = command.split_whitespace().next().unwrap_or("");
        self.api.as_ref().is_none_or(|set| set.contains(name))
    }

    /// Whether the connection may subscribe to `name` (an event name, `ALL`, or a
    /// CUSTOM subclass such as `sofia::gateway_state`).
    pub fn allows_event(&self, name: &str) -> bool {
        match &self.events {
            None => true,
            Some(set) => name != "ALL" && set.contains(name),
        }
    }

    pub fn allows_log(&self) -> bool {
        self.log
    }

    /// The headers FreeSWITCH adds to userauth's `+OK accepted` reply.
    pub fn reply_headers(&self) -> [(&'static str, String); 3] {
        let list = |set: &Option<BTreeSet<String>>| match set {
            None => "all".to_string(),
            Some(s) => s.iter().cloned().collect::<Vec<_>>().join(","),
        };
        [
            ("Allowed-Events", list(&self.events)),
            ("Allowed-API", list(&self.api)),
            ("Allowed-LOG", self.log.to_string()),
        ]
    }
}

/// The accounts the directory defines: every user with an `esl-password` param (the
/// user's params over its domain's), read at start.
pub fn from_directory(domains: &[crate::config::Domain]) -> Vec<EslAccount> {
    let mut accounts = Vec::new();
    for domain in domains {
        for user in &domain.users {
            let param = |name: &str| {
                user.params
                    .get(name)
                    .or_else(|| domain.params.get(name))
                    .map(String::as_str)
            };
            let Some(password) = param("esl-password").filter(|p| !p.is_empty()) else {
                continue;
            };
            accounts.push(EslAccount {
                user: user.id.clone(),
                domain: domain.name.clone(),
                password: password.to_string(),
                grant: Grant::from_params(
                    param("esl-allowed-api"),
                    param("esl-allowed-events"),
                    param("esl-allowed-log"),
                ),
            });
        }
    }
    accounts
}

/// `userauth user@domain:password` split into its parts; None when one is missing.
pub fn parse_userauth(rest: &str) -> Option<(&str, &str, &str)> {
    let (user, rest) = rest.trim().split_once('@')?;
    let (domain, password) = rest.split_once(':')?;
    (!user.is_empty() && !domain.is_empty() && !password.is_empty())
        .then_some((user, domain, password))
}

/// The account `user@domain` whose password is `password` (compared in constant time).
pub fn find<'a>(
    accounts: &'a [EslAccount],
    user: &str,
    domain: &str,
    password: &str,
) -> Option<&'a EslAccount> {
    accounts.iter().find(|a| {
        a.user == user
            && a.domain.eq_ignore_ascii_case(domain)
            && crate::sip::auth::ct_eq(a.password.as_bytes(), password.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restricted_grant_allows_only_the_commands_named() {
        let g = Grant::api_only(["status", "show"]);
        assert!(g.allows_api("status"));
        assert!(g.allows_api("show calls"));
        assert!(!g.allows_api("originate user/1001 &echo()"));
        assert!(!g.allows_api("showx"));
        assert!(!g.allows_api(""));
        assert!(!g.allows_event("CHANNEL_CREATE"));
        assert!(!g.allows_event("ALL"));
        assert!(!g.allows_log());
        let all = Grant::all();
        assert!(all.allows_api("hupall") && all.allows_event("ALL") && all.allows_log());
    }

    #[test]
    fn directory_params_read_as_freeswitch_reads_them() {
        let g = Grant::from_params(
            Some("status,show"),
            Some("CHANNEL_CREATE CHANNEL_ANSWER"),
            None,
        );
        assert!(g.allows_api("show calls") && !g.allows_api("hupall"));
        assert!(g.allows_event("CHANNEL_ANSWER") && !g.allows_event("CHANNEL_HANGUP"));
        assert!(g.allows_log());
        let g = Grant::from_params(None, Some("ALL"), Some("false"));
        assert!(
            g.allows_api("hupall") && g.allows_event("CHANNEL_HANGUP") && g.allows_event("ALL")
        );
        assert!(!g.allows_log());
    }

    #[test]
    fn userauth_needs_user_domain_and_password() {
        assert_eq!(
            parse_userauth(" webd@loopstart:p:w "),
            Some(("webd", "loopstart", "p:w"))
        );
        assert_eq!(parse_userauth("webd:pw"), None);
        assert_eq!(parse_userauth("@d:pw"), None);
        assert_eq!(parse_userauth("u@d:"), None);
    }

    #[test]
    fn accounts_match_on_user_domain_and_password() {
        let accounts = [EslAccount {
            user: "webd".into(),
            domain: "loopstart".into(),
            password: "t0ken".into(),
            grant: Grant::api_only(["status"]),
        }];
        assert!(find(&accounts, "webd", "LOOPSTART", "t0ken").is_some());
        assert!(find(&accounts, "webd", "loopstart", "t0ke").is_none());
        assert!(find(&accounts, "other", "loopstart", "t0ken").is_none());
        assert_eq!(
            accounts[0].grant.reply_headers()[1],
            ("Allowed-API", "status".to_string())
        );
    }
}
