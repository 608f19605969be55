//! SIPVicious (Debian's `sipvicious`), the attack tool the guard is tested against:
//! `svwar` enumerates extensions, `svcrack` guesses passwords. Each run is bounded
//! (`--maximumtime` for the tool, a deadline for the process) and binds to its own
//! loopback address, so each "attacker" is a host of its own.

use super::process::{self, Outcome};
use super::Gateway;
use std::process::Command;
use std::time::Duration;

/// How long a tool keeps going without an answer before it stops by itself.
const QUIET_SECS: &str = "3";
/// The process's deadline: a tool that hangs fails the test.
const DEADLINE: Duration = Duration::from_secs(60);

/// A SIPVicious tool aimed at the gateway's SIP port from `source` (through
/// tests/python/sv_bind.py: the tools' own `-b` is ignored in 0.3.3), writing `source`
/// in its Via and Contact (`-x`).
fn tool(gw: &Gateway, name: &str, source: &str, args: &[&str]) -> Outcome {
    let path = process::require_located(name, "sipvicious");
    let mut cmd = Command::new(interpreter(&path));
    cmd.arg(super::repo().join("tests/python/sv_bind.py"))
        .args([source, name])
        .args(["-x", source])
        .args(["-p", &gw.sip_port().to_string()])
        .args(["--maximumtime", QUIET_SECS])
        .args(args)
        .arg(gw.sip_addr().ip().to_string());
    process::run_bounded(&mut cmd, gw.root(), DEADLINE)
}

/// The Python the tool is installed for (its `#!` line: Debian's, which may not be the
/// first python3 on PATH).
fn interpreter(tool: &std::path::Path) -> String {
    let text = std::fs::read_to_string(tool).unwrap_or_default();
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix("#!"))
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && !l.contains(' '))
        .unwrap_or_else(|| "/usr/bin/python3".to_string())
}

/// `svwar` over `extensions` (e.g. "1000-1010") with `method` (REGISTER, INVITE,
/// OPTIONS); `--force` scans on even when the probe for a random extension is
/// challenged, as an attacker would.
pub fn svwar(
    gw: &Gateway,
    source: &str,
    extensions: &str,
    method: &str,
    extra: &[&str],
) -> Outcome {
    let mut args = vec!["-e", extensions, "-m", method, "--force"];
    args.extend_from_slice(extra);
    tool(gw, "svwar", source, &args)
}

/// `svcrack` against `user` with the passwords in `dictionary` (one per line).
pub fn svcrack(gw: &Gateway, source: &str, user: &str, passwords: &[&str]) -> Outcome {
    let dict = gw.root().join(format!("dictionary-{source}.txt"));
    std::fs::write(&dict, passwords.join("\n") + "\n").expect("write the dictionary");
    let dict = dict.to_string_lossy().to_string();
    tool(gw, "svcrack", source, &["-u", user, "-d", &dict])
}

/// The extensions a tool's result table lists (its rows: `| 1001 | reqauth |`).
pub fn found(out: &Outcome) -> Vec<String> {
    out.all()
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() >= 4
                && cells[0].is_empty()
                && cells[1].chars().all(|c| c.is_ascii_digit())
                && !cells[1].is_empty())
            .then(|| cells[1].to_string())
        })
        .collect()
}
