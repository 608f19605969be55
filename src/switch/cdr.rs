//! Call detail records: at hangup, one per leg, with FreeSWITCH's field names
//! (`caller_id_number`, `start_stamp`, `billsec`, `hangup_cause`, ...) plus every
//! channel variable, as mod_cdr_csv sees a channel. Stored in sled as a critical write
//! (flushed and fsynced before the call is reported ended), exported as CSV through
//! cdr_csv.conf.xml's templates.

use std::fmt::Write as _;

use super::cause::HangupCause;
use super::channel::Channel;
use crate::civil::CivilTime;
use crate::dialplan;
use crate::store::{DecodeError, Reader, Record, Writer};

/// When a leg started, was answered, ended: microseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallTimes {
    pub start_us: u64,
    pub answer_us: Option<u64>,
    pub end_us: u64,
}

/// One record: ordered (name, value) fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cdr {
    pub fields: Vec<(String, String)>,
}

impl Cdr {
    /// The record of `channel` ended at `times.end_us`, with local times `utc_offset`
    /// seconds east of UTC (FreeSWITCH's `*_stamp` fields are local time).
    pub fn from_channel(channel: &Channel, times: CallTimes, utc_offset: i32) -> Cdr {
        // Channel variables first (unique names already); the computed fields below
        // are the truth and replace a variable of the same name.
        let mut fields: Vec<(String, String)> = channel
            .variables()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let mut put = |name: &str, value: String| match fields.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => fields.push((name.to_string(), value)),
        };
        let p = &channel.profile;
        let caller_name = channel.get("caller_id_name").unwrap_or_default();
        let caller_number = channel.get("caller_id_number").unwrap_or_default();
        put("caller_id_name", caller_name);
        put("caller_id_number", caller_number);
        put("destination_number", p.destination_number.clone());
        put("context", p.context.clone());
        put("network_addr", p.network_addr.clone());
        put("uuid", channel.uuid.clone());
        put("channel_name", channel.name.clone());
        let stamp = |us: u64| {
            let t = CivilTime::from_unix((us / 1_000_000) as i64, utc_offset);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year, t.month, t.mday, t.hour, t.minute, t.second
            )
        };
        put("start_stamp", stamp(times.start_us));
        put("start_epoch", (times.start_us / 1_000_000).to_string());
        put("start_uepoch", times.start_us.to_string());
        match times.answer_us {
            Some(a) => {
                put("answer_stamp", stamp(a));
                put("answer_epoch", (a / 1_000_000).to_string());
                put("answer_uepoch", a.to_string());
            }
            None => {
                put("answer_stamp", String::new());
                put("answer_epoch", "0".into());
                put("answer_uepoch", "0".into());
            }
        }
        put("end_stamp", stamp(times.end_us));
        put("end_epoch", (times.end_us / 1_000_000).to_string());
        put("end_uepoch", times.end_us.to_string());
        let secs = |from: u64| (times.end_us.saturating_sub(from) / 1_000_000).to_string();
        put("duration", secs(times.start_us));
        put(
            "billsec",
            times.answer_us.map_or_else(|| "0".to_string(), secs),
        );
        let usecs = |from: u64| times.end_us.saturating_sub(from).to_string();
        put(
            "billusec",
            times.answer_us.map_or_else(|| "0".to_string(), usecs),
        );
        let cause = channel.hangup_cause.unwrap_or(HangupCause::NormalClearing);
        put("hangup_cause", cause.name().to_string());
        put("hangup_cause_q850", cause.code().to_string());
        Cdr { fields }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// One CSV line from a cdr_csv template (`"${caller_id_number}","${billsec}"`).
    /// Unlike FreeSWITCH, values are made safe for the quotes the template puts
    /// around them: `"` doubled, line breaks removed — a caller name must not be able
    /// to forge a line of the billing file.
    pub fn render(&self, template: &str) -> String {
        let mut line = dialplan::expand(template, self);
        line.retain(|c| c != '\r' && c != '\n');
        line
    }
}

impl dialplan::Lookup for Cdr {
    fn variable(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| {
            let mut safe = String::with_capacity(v.len());
            for c in v.chars() {
                match c {
                    '"' => safe.push_str("\"\""),
                    '\r' | '\n' => {}
                    c => safe.push(c),
                }
            }
            safe
        })
    }
}

impl Record for Cdr {
    const TREE: &'static str = "cdrs";
    const VERSION: u8 = 1;

    fn encode(&self, w: &mut Writer) {
        w.u32(self.fields.len() as u32);
        for (n, v) in &self.fields {
            w.str(n);
            w.str(v);
        }
    }

    fn decode(_version: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.u32()?;
        let mut fields = Vec::with_capacity((n as usize).min(1024));
        for _ in 0..n {
            fields.push((r.str()?, r.str()?));
        }
        Ok(Cdr { fields })
    }
}

/// The store key of a record: end time then uuid, so that iteration is in the order
/// calls ended and retention can drop from the front.
pub fn key(cdr: &Cdr) -> Vec<u8> {
    let end: u64 = cdr
        .get("end_uepoch")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut k = Vec::with_capacity(8 + 36);
    k.extend_from_slice(&end.to_be_bytes());
    k.extend_from_slice(cdr.get("uuid").unwrap_or_default().as_bytes());
    k
}

/// The header line for a template: its `${names}` in order, for a CSV file's first
/// line.
pub fn header(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        if !out.is_empty() {
            out.push(',');
        }
        let _ = write!(out, "\"{}\"", &rest[start + 2..start + 2 + len]);
        rest = &rest[start + 2 + len + 1..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Durability, Store};
    use crate::switch::channel::CallerProfile;

    use crate::config::cdr_csv::EXAMPLE_TEMPLATE as EXAMPLE;

    fn ended_call() -> (Channel, CallTimes) {
        let mut c = Channel::new(
            "0f6d-uuid".into(),
            "sofia/internal/1001@192.0.2.10".into(),
            CallerProfile {
                caller_id_name: "Reception".into(),
                caller_id_number: "1001".into(),
                destination_number: "1002".into(),
                context: "default".into(),
                network_addr: "192.0.2.10".into(),
                ..CallerProfile::default()
            },
        );
        c.set("accountcode", "sales");
        c.set("bleg_uuid", "77aa-uuid");
        c.set("read_codec", "PCMU");
        c.set("write_codec", "PCMU");
        c.hangup(HangupCause::NormalClearing);
        // 2026-11-24 10:30:00 UTC, answered after 5.5 s, ended 62.25 s after the start.
        let start = 1_795_516_200_000_000u64;
        (
            c,
            CallTimes {
                start_us: start,
                answer_us: Some(start + 5_500_000),
                end_us: start + 62_250_000,
            },
        )
    }

    #[test]
    fn durations_stamps_and_the_example_template() {
        let (c, times) = ended_call();
        let cdr = Cdr::from_channel(&c, times, 3600);
        assert_eq!(cdr.get("duration"), Some("62"));
        assert_eq!(cdr.get("billsec"), Some("56"));
        assert_eq!(
            cdr.get("start_stamp"),
            Some("2026-11-24 11:30:00"),
            "local time, UTC+1"
        );
        assert_eq!(cdr.get("answer_epoch"), Some("1795516205"));
        assert_eq!(cdr.get("hangup_cause_q850"), Some("16"));
        assert_eq!(
            cdr.render(EXAMPLE),
            "\"Reception\",\"1001\",\"1002\",\"default\",\"2026-11-24 11:30:00\",\
             \"2026-11-24 11:30:05\",\"2026-11-24 11:31:02\",\"62\",\"56\",\"NORMAL_CLEARING\",\
             \"0f6d-uuid\",\"77aa-uuid\",\"sales\",\"PCMU\",\"PCMU\""
        );
        assert!(header(EXAMPLE).starts_with("\"caller_id_name\",\"caller_id_number\""));
    }

    #[test]
    fn an_unanswered_call_bills_nothing() {
        let (mut c, mut times) = ended_call();
        times.answer_us = None;
        c.hangup_cause = None;
        c.hangup(HangupCause::NoAnswer);
        let cdr = Cdr::from_channel(&c, times, 0);
        assert_eq!(
            (cdr.get("billsec"), cdr.get("answer_stamp")),
            (Some("0"), Some(""))
        );
        assert_eq!(cdr.get("hangup_cause"), Some("NO_ANSWER"));
    }

    #[test]
    fn a_hostile_caller_name_cannot_break_the_csv() {
        let (mut c, times) = ended_call();
        c.set("caller_id_name", "Eve\",\"0\"\r\n\"forged");
        let line = Cdr::from_channel(&c, times, 0).render(EXAMPLE);
        assert!(!line.contains('\n') && !line.contains('\r'));
        assert!(
            line.starts_with("\"Eve\"\",\"\"0\"\"\"\"forged\",\"1001\""),
            "{line}"
        );
    }

    #[test]
    fn records_survive_the_store_in_end_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let tree = store.tree::<Cdr>().unwrap();
        let (c, times) = ended_call();
        let late = Cdr::from_channel(
            &c,
            CallTimes {
                end_us: times.end_us + 1,
                ..times
            },
            0,
        );
        let early = Cdr::from_channel(&c, times, 0);
        tree.insert(&key(&late), &late, Durability::Critical)
            .unwrap();
        tree.insert(&key(&early), &early, Durability::Critical)
            .unwrap();
        let back: Vec<Cdr> = tree.iter().map(|(_, r)| r.unwrap()).collect();
        assert_eq!(back, [early, late]);
    }
}
