#!/usr/bin/env bash
# Installs the real peers the integration tests and benchmarks talk to:
#   sipp (Debian sip-tester), baresip (baresip-core: no GUI/video deps),
#   kamailio (bench/register reference), python3 + greenswitch (ESL client)
#   and oelint-adv (Yocto recipe linter),
#   cargo-nextest (falls back to `cargo test` in scripts/test.sh if absent);
#   for the firmware build and qemu-tests/: clang, lld, make, pkg-config, kmod
#   (depmod), cpio, e2fsprogs (mke2fs -d) and qemu-system-arm.
# Idempotent: runs `apt-get update` only when a package is missing, and pip
# only when the pinned greenswitch is not importable at that version.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        log "not root and no sudo: cannot apt-get install; continuing with what is there"
    fi
fi

# --- Debian packages -------------------------------------------------------
PKGS=(sip-tester baresip-core kamailio python3 python3-pip procps iproute2
      # the attack tool the guard is tested against (tests/guard.rs: svwar, svcrack)
      sipvicious
      # the firmware build (alsa-lib and ring's C from source; llvm-ar archives
      # ARM objects) and the QEMU system tests
      clang lld llvm make pkg-config bzip2 file kmod xz-utils cpio e2fsprogs qemu-system-arm
      # systemd-analyze checks the unit in rootfs/
      systemd
      # time zones for the dialplan's time conditions (src/tz.rs tests)
      tzdata)
missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; then
        log "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # Do not let package scripts start services (kamailio) on the host.
        made_policy=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
            $SUDO chmod +x /usr/sbin/policy-rc.d
            made_policy=1
        fi
        cleanup() { if [ -n "$made_policy" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi; }
        trap cleanup EXIT
        $SUDO apt-get update -qq
        $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        cleanup
        trap - EXIT
    fi
else
    log "Debian packages present: ${PKGS[*]}"
fi

# --- Python: greenswitch (tests/esl.rs), oelint-adv (tests/yocto.rs) -------------
# Installs the pinned requirements when any of them is missing or at another version.
stale=""
while IFS='=' read -r name _ version; do
    [ -n "$name" ] || continue
    case $name in \#*) continue ;; esac
    have=$(python3 -c "import importlib.metadata as m; print(m.version('$name'))" 2>/dev/null || true)
    [ "$have" = "$version" ] || stale="$stale $name==$version(have:${have:-none})"
done < tests/python/requirements.txt
if [ -n "$stale" ]; then
    log "pip installing:$stale"
    pip_cmd=(python3 -m pip install -q -r tests/python/requirements.txt)
    "${pip_cmd[@]}" 2>/dev/null || "${pip_cmd[@]}" --break-system-packages
else
    log "Python requirements present: $(grep -v '^#' tests/python/requirements.txt | tr '\n' ' ')"
fi

# --- cargo-nextest -------------------------------------------------------------
if cargo nextest --version >/dev/null 2>&1; then
    log "$(cargo nextest --version 2>/dev/null | head -1)"
else
    log "cargo-nextest missing: scripts/test.sh will use cargo test"
fi

for tool in sipp baresip kamailio python3 svwar svcrack; do
    command -v "$tool" >/dev/null 2>&1 || command -v "/usr/sbin/$tool" >/dev/null 2>&1 \
        || log "WARNING: $tool still missing"
done
