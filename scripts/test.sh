#!/usr/bin/env bash
# Runs every test: unit tests, the integration tests in tests/ that drive the
# real binary with SIPp, baresip and an ESL client, and the QEMU system tests
# that boot the ARM firmware. Installs the peers first
# (scripts/install-test-deps.sh). Exits non-zero on any failure.
#
# Environment: LOOPSTART_SKIP_DEPS=1 skips the install step;
#              CARGO_TARGET_DIR is honoured as usual.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${LOOPSTART_SKIP_DEPS:-}" != 1 ]; then
    ./scripts/install-test-deps.sh
fi

echo "== cargo build --bins"
cargo build --bins

# The firmware for the boxes and the images the QEMU system tests (tests/qemu.rs)
# boot: static aarch64 and armv7 builds with a static alsa-lib, Debian's kernel and
# busybox. Built here so that a build failure reads as one, not as a test timeout.
echo "== scripts/build-firmware.sh all"
./scripts/build-firmware.sh all
for arch in aarch64 armv7; do
    echo "== qemu-tests/build-image.sh $arch"
    ./qemu-tests/build-image.sh "$arch" >/dev/null
done

# The peers' versions, for the record.
sipp_v=$( (sipp -v 2>&1 || true) | grep -o 'SIPp v[0-9.]*' | head -1)
baresip_v=$( (baresip -h 2>&1 || true) | head -1 | cut -d' ' -f1-2)
echo "== peers: ${sipp_v:-no sipp}, ${baresip_v:-no baresip}"

status=0
if cargo nextest --version >/dev/null 2>&1; then
    # Doc tests are not run by nextest; run them first so that nextest's
    # summary ("Summary [...] N tests run: N passed, ...") closes the output.
    echo "== cargo test --doc"
    cargo test --doc || status=$?
    echo "== cargo nextest run --no-fail-fast"
    cargo nextest run --no-fail-fast --failure-output final || status=$?
else
    echo "== cargo test --no-fail-fast"
    cargo test --no-fail-fast || status=$?
fi

# Nothing printed after the runner's summary on success (CI reads it).
if [ "$status" -ne 0 ]; then
    echo "== FAILED (exit $status)"
fi
exit "$status"
