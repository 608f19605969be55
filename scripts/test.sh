#!/usr/bin/env bash
# Runs every test: unit tests and the integration tests in tests/ that drive
# the real binary with SIPp, baresip and an ESL client. Installs the peers
# first (scripts/install-test-deps.sh). Exits non-zero on any failure.
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

# The peers' versions, for the record.
echo "== peers: $(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ]*' | head -1 || echo 'no sipp')," \
     "$(baresip -h 2>&1 | head -1 | cut -d' ' -f1-2 || echo 'no baresip')"

status=0
if cargo nextest --version >/dev/null 2>&1; then
    echo "== cargo nextest run --no-fail-fast"
    # nextest prints its own summary line ("Summary [...] N tests run: ...").
    cargo nextest run --no-fail-fast --failure-output final || status=$?
    # Doc tests are not run by nextest.
    echo "== cargo test --doc"
    cargo test --doc || status=$?
else
    echo "== cargo test --no-fail-fast"
    cargo test --no-fail-fast || status=$?
fi

if [ "$status" -ne 0 ]; then
    echo "== FAILED (exit $status)"
else
    echo "== all tests passed"
fi
exit "$status"
