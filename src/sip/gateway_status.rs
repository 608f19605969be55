//! What `sofia status` says about gateways, in FreeSWITCH's exact layout (mod_sofia's
//! `cmd_status`), so the scripts people wrote around fs_cli output keep working:
//!
//! - [`format_gateway_status`]: `sofia status gateway NAME`, one `Key\tvalue` line per
//!   field between two `=====` lines;
//! - [`format_gateway_summary`]: `sofia status gateway` (no name), one row per gateway
//!   with ping time and call counts, and a totals line;
//! - [`format_status_header`] and [`format_gateway_row`]: the header and the gateway
//!   lines of the plain `sofia status` table (the profile lines are the profile's);
//! - [`gateway_state_event_headers`]: the headers of the CUSTOM `sofia::gateway_state`
//!   event, in the order mod_sofia adds them.
//!
//! Widths are C printf's (`%25s` pads to 25 bytes, never truncates).

use crate::sip::gateway::RegState;
use crate::sip::keepalive::GatewayStatus;

/// The Event-Subclass of the gateway state event.
pub const GATEWAY_STATE_SUBCLASS: &str = "sofia::gateway_state";

/// The rule `sofia status` draws above and below its tables.
pub const STATUS_LINE: &str =
    "=================================================================================================";

/// One gateway as `sofia status` shows it. The strings are what mod_sofia derives from
/// the gateway's params (the caller builds them once from the config).
#[derive(Clone, Debug, PartialEq)]
pub struct GatewayReport {
    pub name: String,
    /// The profile the gateway belongs to (`external`).
    pub profile: String,
    /// `scheme` (`Digest`).
    pub scheme: String,
    pub realm: String,
    pub username: String,
    /// A password is set: shown as `yes`/`no`, never the password.
    pub password_set: bool,
    /// `<sip:FROM-USER@FROM-DOMAIN>`.
    pub from: String,
    /// The Contact we register with.
    pub contact: String,
    /// `extension`.
    pub exten: String,
    /// `sip:USERNAME@PROXY` (also the `Data` column of the tables).
    pub to: String,
    /// `sip:PROXY` (the register proxy).
    pub proxy: String,
    pub context: String,
    /// `expire-seconds` as configured (mod_sofia shows "0" once unregistered).
    pub expires: String,
    /// The registration interval in seconds.
    pub freq: u32,
    /// `Ping`: when the next ping is due, in seconds since the epoch (0 without pings).
    pub ping: i64,
    /// `ping` param: seconds between pings (0 without pings).
    pub ping_freq: u32,
    /// Round trip of the last good ping, ms.
    pub ping_time_ms: f64,
    pub ping_min: u32,
    pub ping_count: u32,
    pub ping_max: u32,
    pub state: RegState,
    pub status: GatewayStatus,
    /// A ping is out (`Status  UP (ping)`).
    pub pinging: bool,
    /// Seconds since the gateway went UP (shown as 0 while DOWN).
    pub uptime_secs: u64,
    pub calls_in: u32,
    pub calls_out: u32,
    pub failed_calls_in: u32,
    pub failed_calls_out: u32,
    /// Seconds until the next registration attempt, for the `(retry: Ns)` of the plain
    /// `sofia status` table; None or negative prints `(retry: NEVER)`.
    pub retry_in: Option<i64>,
    /// Seconds until the registration attempt times out, which the gateway summary shows
    /// in its `(retry: Ns)` instead (as mod_sofia does).
    pub reg_timeout_in: Option<i64>,
}

/// `sofia status gateway NAME`.
pub fn format_gateway_status(g: &GatewayReport) -> String {
    let uptime = if g.status == GatewayStatus::Up {
        g.uptime_secs
    } else {
        0
    };
    let fields: [(&str, String); 25] = [
        ("Name    ", g.name.clone()),
        ("Profile ", g.profile.clone()),
        ("Scheme  ", g.scheme.clone()),
        ("Realm   ", g.realm.clone()),
        ("Username", g.username.clone()),
        ("Password", if g.password_set { "yes" } else { "no" }.into()),
        ("From    ", g.from.clone()),
        ("Contact ", g.contact.clone()),
        ("Exten   ", g.exten.clone()),
        ("To      ", g.to.clone()),
        ("Proxy   ", g.proxy.clone()),
        ("Context ", g.context.clone()),
        ("Expires ", g.expires.clone()),
        ("Freq    ", g.freq.to_string()),
        ("Ping    ", g.ping.to_string()),
        ("PingFreq", g.ping_freq.to_string()),
        ("PingTime", format!("{:.2}", g.ping_time_ms)),
        (
            "PingState",
            format!("{}/{}/{}", g.ping_min, g.ping_count, g.ping_max),
        ),
        ("State   ", g.state.to_string()),
        (
            "Status  ",
            format!("{}{}", g.status, if g.pinging { " (ping)" } else { "" }),
        ),
        ("Uptime  ", format!("{uptime}s")),
        ("CallsIN ", g.calls_in.to_string()),
        ("CallsOUT", g.calls_out.to_string()),
        ("FailedCallsIN", g.failed_calls_in.to_string()),
        ("FailedCallsOUT", g.failed_calls_out.to_string()),
    ];
    let mut out = String::with_capacity(1024);
    out.push_str(STATUS_LINE);
    out.push('\n');
    for (key, value) in fields {
        out.push_str(key);
        out.push('\t');
        out.push_str(&value);
        out.push('\n');
    }
    out.push_str(STATUS_LINE);
    out.push('\n');
    out
}

/// The header of the plain `sofia status` table and its rule.
pub fn format_status_header() -> String {
    format!(
        "{}\t{}\t  {}\t{}\n{STATUS_LINE}\n",
        pad(25, "Name"),
        "   Type",
        pad(40, "Data"),
        "State"
    )
}

/// A gateway's line in the plain `sofia status` table, newline included:
/// `     external::carrier\tgateway\t  sip:acme@host\tREGED`.
pub fn format_gateway_row(g: &GatewayReport) -> String {
    let mut row = format!(
        "{}\tgateway\t  {}\t{}",
        pad(25, &format!("{}::{}", g.profile, g.name)),
        pad(40, &g.to),
        g.state
    );
    push_retry(&mut row, g.state, g.retry_in);
    row.push('\n');
    row
}

/// `sofia status gateway` without a name: every gateway with its ping time and call
/// counts (failed/total), then the totals.
pub fn format_gateway_summary(gateways: &[GatewayReport]) -> String {
    let mut out = format!(
        "{}\t{}\t{}\t{}\t{}\t{}\n{STATUS_LINE}\n",
        pad(25, "Profile::Gateway-Name"),
        pad(32, "    Data    "),
        "State",
        pad(9, "Ping Time"),
        "IB Calls(F/T)",
        "OB Calls(F/T)"
    );
    let (mut ib_failed, mut ib, mut ob_failed, mut ob) = (0u32, 0u32, 0u32, 0u32);
    for g in gateways {
        ib_failed = ib_failed.wrapping_add(g.failed_calls_in);
        ib = ib.wrapping_add(g.calls_in);
        ob_failed = ob_failed.wrapping_add(g.failed_calls_out);
        ob = ob.wrapping_add(g.calls_out);
        out.push_str(&format!(
            "{}\t{}\t{}\t{:6.2}\t{}/{}\t{}/{}",
            pad(25, &format!("{}::{}", g.profile, g.name)),
            pad(32, &g.to),
            g.state,
            g.ping_time_ms,
            g.failed_calls_in,
            g.calls_in,
            g.failed_calls_out,
            g.calls_out
        ));
        push_retry(&mut out, g.state, g.reg_timeout_in);
        out.push('\n');
    }
    let n = gateways.len();
    out.push_str(&format!(
        "{STATUS_LINE}\n{n} gateway{}: Inbound(Failed/Total): {ib_failed}/{ib},Outbound(Failed/Total):{ob_failed}/{ob}\n",
        if n == 1 { "" } else { "s" }
    ));
    out
}

/// The headers of `CUSTOM sofia::gateway_state` after the common ones, in mod_sofia's
/// order: Gateway, State, Ping-Status, then Register-Network-IP/-Port when the carrier's
/// address is known, Phrase when there is one, Status when there is a code (a ping's or
/// a registration's answer; none for a plain state change).
pub fn gateway_state_event_headers(
    gateway: &str,
    state: RegState,
    status: GatewayStatus,
    network: Option<(&str, u16)>,
    code: Option<u16>,
    phrase: Option<&str>,
) -> Vec<(String, String)> {
    let mut h = vec![
        ("Gateway".to_string(), gateway.to_string()),
        ("State".to_string(), state.to_string()),
        ("Ping-Status".to_string(), status.to_string()),
    ];
    if let Some((ip, port)) = network.filter(|(ip, _)| !ip.is_empty()) {
        h.push(("Register-Network-IP".into(), ip.to_string()));
        h.push(("Register-Network-Port".into(), port.to_string()));
    }
    if let Some(phrase) = phrase.filter(|p| !p.is_empty()) {
        h.push(("Phrase".into(), phrase.to_string()));
    }
    if let Some(code) = code.filter(|&c| c != 0) {
        h.push(("Status".into(), code.to_string()));
    }
    h
}

/// ` (retry: Ns)` after a gateway that is trying or waiting to retry.
fn push_retry(out: &mut String, state: RegState, secs: Option<i64>) {
    if matches!(
        state,
        RegState::Failed | RegState::FailWait | RegState::Trying
    ) {
        match secs.filter(|&s| s >= 0) {
            Some(s) => out.push_str(&format!(" (retry: {s}s)")),
            None => out.push_str(" (retry: NEVER)"),
        }
    }
}

/// printf's `%Ns`: right-aligned in `width` bytes, longer text left whole.
fn pad(width: usize, s: &str) -> String {
    let mut out = " ".repeat(width.saturating_sub(s.len()));
    out.push_str(s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> GatewayReport {
        GatewayReport {
            name: "carrier".into(),
            profile: "external".into(),
            scheme: "Digest".into(),
            realm: "sip.carrier.test".into(),
            username: "acme".into(),
            password_set: true,
            from: "<sip:acme@sip.carrier.test>".into(),
            contact: "<sip:gw+carrier@192.0.2.2:5080;transport=udp;gw=carrier>".into(),
            exten: "acme".into(),
            to: "sip:acme@sip.carrier.test".into(),
            proxy: "sip:sip.carrier.test".into(),
            context: "public".into(),
            expires: "3600".into(),
            freq: 3600,
            ping: 1_700_000_030,
            ping_freq: 30,
            ping_time_ms: 12.345,
            ping_min: 1,
            ping_count: 2,
            ping_max: 3,
            state: RegState::Reged,
            status: GatewayStatus::Up,
            pinging: true,
            uptime_secs: 4242,
            calls_in: 5,
            calls_out: 7,
            failed_calls_in: 1,
            failed_calls_out: 2,
            retry_in: None,
            reg_timeout_in: None,
        }
    }

    // The expected texts below were printed with C printf formats copied from
    // mod_sofia's cmd_status (through Python's %-formatting, which is printf's).

    #[test]
    fn status_gateway_name_is_mod_sofias_layout() {
        let expected = "=================================================================================================\n\
Name    \tcarrier\n\
Profile \texternal\n\
Scheme  \tDigest\n\
Realm   \tsip.carrier.test\n\
Username\tacme\n\
Password\tyes\n\
From    \t<sip:acme@sip.carrier.test>\n\
Contact \t<sip:gw+carrier@192.0.2.2:5080;transport=udp;gw=carrier>\n\
Exten   \tacme\n\
To      \tsip:acme@sip.carrier.test\n\
Proxy   \tsip:sip.carrier.test\n\
Context \tpublic\n\
Expires \t3600\n\
Freq    \t3600\n\
Ping    \t1700000030\n\
PingFreq\t30\n\
PingTime\t12.35\n\
PingState\t1/2/3\n\
State   \tREGED\n\
Status  \tUP (ping)\n\
Uptime  \t4242s\n\
CallsIN \t5\n\
CallsOUT\t7\n\
FailedCallsIN\t1\n\
FailedCallsOUT\t2\n\
=================================================================================================\n";
        assert_eq!(format_gateway_status(&report()), expected);
    }

    #[test]
    fn a_down_gateway_shows_no_uptime_and_never_its_password() {
        let g = GatewayReport {
            password_set: false,
            status: GatewayStatus::Down,
            pinging: false,
            state: RegState::FailWait,
            ..report()
        };
        let text = format_gateway_status(&g);
        assert!(text.contains("\nPassword\tno\n"), "{text}");
        assert!(text.contains("\nStatus  \tDOWN\n"), "{text}");
        assert!(text.contains("\nUptime  \t0s\n"), "{text}");
        assert!(text.contains("\nState   \tFAIL_WAIT\n"), "{text}");
    }

    #[test]
    fn plain_sofia_status_rows() {
        assert_eq!(
            format_status_header(),
            format!(
                "                     Name\t   Type\t                                      Data\tState\n{STATUS_LINE}\n"
            )
        );
        assert_eq!(
            format_gateway_row(&report()),
            "        external::carrier\tgateway\t                 sip:acme@sip.carrier.test\tREGED\n"
        );
        let waiting = GatewayReport {
            state: RegState::FailWait,
            retry_in: Some(57),
            ..report()
        };
        assert_eq!(
            format_gateway_row(&waiting),
            "        external::carrier\tgateway\t                 sip:acme@sip.carrier.test\tFAIL_WAIT (retry: 57s)\n"
        );
        for retry_in in [None, Some(-1)] {
            let never = GatewayReport {
                state: RegState::Trying,
                retry_in,
                ..report()
            };
            assert!(format_gateway_row(&never).ends_with("\tTRYING (retry: NEVER)\n"));
        }
        // Longer than the column: printed whole, as printf does.
        let long = GatewayReport {
            profile: "a-very-long-profile-name".into(),
            ..report()
        };
        assert!(format_gateway_row(&long).starts_with("a-very-long-profile-name::carrier\tgateway"));
    }

    #[test]
    fn gateway_summary_table_and_totals() {
        let other = GatewayReport {
            name: "backup".into(),
            to: "sip:acme@backup.test".into(),
            state: RegState::Trying,
            reg_timeout_in: Some(12),
            retry_in: Some(99),
            ping_time_ms: 0.0,
            calls_in: 0,
            calls_out: 0,
            failed_calls_in: 0,
            failed_calls_out: 0,
            ..report()
        };
        let text = format_gateway_summary(&[report(), other]);
        // (Rows spelled one string each: a `\` line continuation would eat their padding.)
        let expected = [
            "    Profile::Gateway-Name\t                        Data    \tState\tPing Time\tIB Calls(F/T)\tOB Calls(F/T)\n",
            STATUS_LINE,
            "\n",
            "        external::carrier\t       sip:acme@sip.carrier.test\tREGED\t 12.35\t1/5\t2/7\n",
            "         external::backup\t            sip:acme@backup.test\tTRYING\t  0.00\t0/0\t0/0 (retry: 12s)\n",
            STATUS_LINE,
            "\n",
            "2 gateways: Inbound(Failed/Total): 1/5,Outbound(Failed/Total):2/7\n",
        ]
        .concat();
        assert_eq!(text, expected);
        assert!(format_gateway_summary(&[report()])
            .ends_with("\n1 gateway: Inbound(Failed/Total): 1/5,Outbound(Failed/Total):2/7\n"));
    }

    #[test]
    fn gateway_state_event_headers_in_mod_sofias_order() {
        let pairs = |v: Vec<(String, String)>| {
            v.into_iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
        };
        // A ping took it DOWN.
        assert_eq!(
            pairs(gateway_state_event_headers(
                "carrier",
                RegState::Reged,
                GatewayStatus::Down,
                Some(("203.0.113.5", 5060)),
                Some(503),
                Some("Service Unavailable"),
            )),
            [
                "Gateway: carrier",
                "State: REGED",
                "Ping-Status: DOWN",
                "Register-Network-IP: 203.0.113.5",
                "Register-Network-Port: 5060",
                "Phrase: Service Unavailable",
                "Status: 503",
            ]
        );
        // A plain state change: no code, no phrase, carrier address unknown.
        assert_eq!(
            pairs(gateway_state_event_headers(
                "carrier",
                RegState::Trying,
                GatewayStatus::Up,
                Some(("", 0)),
                None,
                Some(""),
            )),
            ["Gateway: carrier", "State: TRYING", "Ping-Status: UP"]
        );
    }
}
