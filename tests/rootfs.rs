//! rootfs/: the files around the binary on a box. The QEMU tests boot them for real
//! (busybox init); here the parts a boot does not reach: the systemd unit is one
//! systemd accepts, and every shell script parses.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::process;

fn rootfs() -> PathBuf {
    common::repo().join("rootfs")
}

#[test]
fn the_systemd_unit_has_nothing_systemd_rejects() {
    process::require("systemd-analyze", "systemd");
    let unit = rootfs().join("lib/systemd/system/loopstart.service");
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new("systemd-analyze");
    cmd.arg("verify").arg(&unit);
    let out = process::run_bounded(&mut cmd, scratch.path(), Duration::from_secs(60));
    // On a build machine the unit's programs are not installed; everything else it
    // says (an unknown key, a bad value, a missing section) is a defect.
    let all = out.all();
    let complaints: Vec<&str> = all
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            !(l.contains("is not executable: No such file or directory")
                && (l.contains("/usr/sbin/loopstart")
                    || l.contains("/usr/libexec/loopstart/first-boot")))
        })
        .collect();
    assert!(
        complaints.is_empty(),
        "systemd-analyze verify:\n{}",
        complaints.join("\n")
    );
    let text = std::fs::read_to_string(&unit).expect("read the unit");
    for want in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "User=loopstart",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "ExecStart=/usr/sbin/loopstart run --conf /etc/loopstart --data /var/lib/loopstart",
    ] {
        assert!(text.contains(want), "the unit should have {want}");
    }
}

#[test]
fn every_script_parses() {
    let mut scripts = Vec::new();
    collect_scripts(&rootfs(), &mut scripts);
    assert!(scripts.len() >= 8, "{scripts:?}");
    let scratch = tempfile::tempdir().expect("temp dir");
    for script in scripts {
        let mut cmd = Command::new("sh");
        cmd.arg("-n").arg(&script);
        let out = process::run_bounded(&mut cmd, scratch.path(), Duration::from_secs(10));
        assert!(out.success(), "{}: {}", script.display(), out.describe());
    }
}

fn collect_scripts(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read rootfs") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect_scripts(&path, out);
        } else if std::fs::read(&path).is_ok_and(|b| b.starts_with(b"#!/bin/sh")) {
            out.push(path);
        }
    }
}
