//! yocto/meta-loopstart: bitbake cannot run on these machines, so the layer is checked
//! the ways that can: the recipe linter oelint-adv passes, every crate is pinned from
//! Cargo.lock, and every file the recipe installs from the source tree exists.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{process, repo};

fn layer_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read the layer") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            layer_files(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "bb" || e == "inc" || e == "conf" || e == "bbappend")
        {
            out.push(path);
        }
    }
}

#[test]
fn oelint_adv_passes_on_the_layer() {
    process::require(
        "oelint-adv",
        "oelint-adv (pip, tests/python/requirements.txt)",
    );
    let mut files = Vec::new();
    layer_files(&repo().join("yocto/meta-loopstart"), &mut files);
    files.sort();
    assert!(
        files.len() >= 4,
        "layer.conf, the recipe, its crates and the image: {files:?}"
    );
    let scratch = tempfile::tempdir().expect("temp dir");
    // HOMEPAGE reachability needs the internet, which these machines do not have.
    let mut cmd = Command::new("oelint-adv");
    cmd.args(["--quiet", "--suppress", "oelint.vars.homepageping"])
        .args(&files);
    let out = process::run_bounded(&mut cmd, scratch.path(), Duration::from_secs(120));
    assert!(
        out.success() && out.all().trim().is_empty(),
        "oelint-adv findings:\n{}",
        out.describe()
    );
}

#[test]
fn every_crate_is_pinned_from_cargo_lock() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new("python3");
    cmd.arg(repo().join("yocto/update-crates.py"))
        .arg("--check");
    let out = process::run_bounded(&mut cmd, scratch.path(), Duration::from_secs(30));
    assert!(out.success(), "{}", out.describe());
}

#[test]
fn the_recipe_installs_files_that_exist() {
    let recipe = repo().join("yocto/meta-loopstart/recipes-telephony/loopstart/loopstart_0.1.0.bb");
    let text = std::fs::read_to_string(&recipe).expect("read the recipe");
    let default_board = text
        .lines()
        .find_map(|l| l.strip_prefix("LOOPSTART_BOARD ??= "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("LOOPSTART_BOARD default");
    let mut checked = 0;
    for word in text.split_whitespace() {
        let Some(rel) = word.strip_prefix("${S}/") else {
            continue;
        };
        let rel = rel
            .replace("${LOOPSTART_BOARD}", &default_board)
            .trim_end_matches('.')
            .trim_end_matches('/')
            .to_string();
        let path = repo().join(&rel);
        assert!(
            path.exists(),
            "the recipe installs {rel}, which is not in the tree"
        );
        checked += 1;
    }
    assert!(
        checked >= 8,
        "expected the conf, board, rootfs files: {checked}"
    );
    let license = std::fs::read(repo().join("LICENSE")).expect("LICENSE");
    let md5 = format!("{:x}", md5_digest(&license));
    assert!(
        text.contains(&format!("file://LICENSE;md5={md5}")),
        "LIC_FILES_CHKSUM must match LICENSE (md5 {md5})"
    );
}

fn md5_digest(bytes: &[u8]) -> impl std::fmt::LowerHex {
    use md5::{Digest, Md5};
    Md5::digest(bytes)
}
