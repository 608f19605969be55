#!/usr/bin/env bash
# Builds the firmware binary: static, stripped, size-tuned (Cargo.toml's release profile).
# So far aarch64 only; armv7 (build-std + Debian's armhf musl), ALSA and the image come
# with the firmware-image issue.
#
# Output: target/aarch64-unknown-linux-musl/release/loopstart
# Smoke test without a board: qemu-aarch64 <binary> check --conf conf
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-musl
rustup target list --installed | grep -qx "$target" || rustup target add "$target"
# rust-lld (shipped with the toolchain) links musl targets without a cross gcc.
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
    cargo build --release --target "$target" --bin loopstart

bin="target/$target/release/loopstart"
if readelf -l "$bin" | grep -q INTERP; then
    echo "build-firmware: $bin is not fully static (has an INTERP segment)" >&2
    exit 1
fi
size=$(stat -c %s "$bin")
echo "build-firmware: $bin $size bytes ($(( size / 1024 )) KiB), static"
