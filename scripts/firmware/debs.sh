#!/usr/bin/env bash
# Fetches Debian packages for an ARM architecture without touching the machine's
# own dpkg: apt runs with a private state directory and `APT::Architectures`
# set to the one foreign architecture (adding the architecture system-wide once
# made `apt-get update` fail on a mirror mismatch). Used by build-firmware.sh
# (musl libc, libgcc, alsa-lib's source) and qemu-tests/ (busybox, kernel).
#
# Usage:
#   scripts/firmware/debs.sh ARCH DEST PKG...   download PKG for ARCH (arm64|armhf)
#                                               and unpack every one into DEST
#   scripts/firmware/debs.sh ARCH --resolve META  print the package a metapackage
#                                               (e.g. linux-image-arm64) depends on
#   scripts/firmware/debs.sh ARCH --source SRC DEST  download SRC's upstream tarball
#                                               into DEST (no dpkg-dev needed)
# Env: FIRMWARE_CACHE (default target/firmware) holds the apt state and the .debs.
set -euo pipefail
cd "$(dirname "$0")/../.."

arch=${1:?usage: debs.sh ARCH DEST PKG... (see the header)}
shift
cache=${FIRMWARE_CACHE:-$PWD/target/firmware}
state="$cache/apt-$arch"

log() { printf 'debs[%s]: %s\n' "$arch" "$*" >&2; }

apt_opts=(
    -o "Dir::State=$state" -o "Dir::State::Lists=$state/lists"
    -o "Dir::State::status=$state/status" -o "Dir::Cache=$state/cache"
    -o "Dir::Etc::SourceList=$state/sources.list" -o "Dir::Etc::SourceParts=$state/sources.d"
    -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch"
    -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1"
)

# The machine's own Debian mirrors, as binary and source entries for the private state.
prepare() {
    mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/sources.d" "$state/debs"
    touch "$state/status"
    if [ ! -s "$state/sources.list" ]; then
        local suites
        suites=$(awk '/^URIs:/ {u=$2} /^Suites:/ {for (i = 2; i <= NF; i++) print u, $i}' \
            /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
        [ -n "$suites" ] || suites="http://deb.debian.org/debian bookworm"
        while read -r uri suite; do
            printf 'deb %s %s main\ndeb-src %s %s main\n' "$uri" "$suite" "$uri" "$suite"
        done <<<"$suites" > "$state/sources.list"
    fi
    # One update a day is plenty; a fresh cache always updates.
    if [ -z "$(find "$state/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null)" ]; then
        log "apt-get update (private state in $state)"
        # A mirror caught mid-sync fails one index; try again, then go on with the
        # indexes that did arrive (the download below says clearly if one is missing).
        apt-get -qq "${apt_opts[@]}" update >/dev/null 2>"$state/update.err" \
            || { sleep 5; apt-get -qq "${apt_opts[@]}" update >/dev/null 2>"$state/update.err"; } \
            || log "apt-get update reported errors, going on: $(head -c 300 "$state/update.err")"
    fi
}

case "${1:-}" in
--resolve)
    prepare
    apt-cache "${apt_opts[@]}" depends --no-recommends --no-suggests "${2:?metapackage}" \
        | awk '/^ *Depends:/ {print $2; exit}'
    ;;
--source)
    src=${2:?source package} dest=${3:?destination}
    prepare
    mkdir -p "$dest"
    # --print-uris needs no dpkg-source; take the upstream (orig) tarball only.
    apt-get -qq "${apt_opts[@]}" source --print-uris "$src" \
        | awk -F"'" '{print $2}' | grep -E 'orig\.tar\.[a-z0-9]+$' | while read -r url; do
            file="$dest/$(basename "$url")"
            [ -s "$file" ] || { log "fetching $url"; python3 - "$url" "$file" <<'PY'
import sys, urllib.request
urllib.request.urlretrieve(sys.argv[1], sys.argv[2] + ".part")
import os; os.replace(sys.argv[2] + ".part", sys.argv[2])
PY
            }
            echo "$file"
        done
    ;;
*)
    dest=${1:?destination}
    shift
    [ "$#" -gt 0 ] || { log "no packages named"; exit 2; }
    prepare
    mkdir -p "$dest"
    for pkg in "$@"; do
        deb=$(find "$state/debs" -maxdepth 1 -name "${pkg}_*_${arch}.deb" -o -maxdepth 1 -name "${pkg}_*_all.deb" | head -1)
        if [ -z "$deb" ]; then
            log "downloading $pkg"
            (cd "$state/debs" && apt-get -qq "${apt_opts[@]}" download "$pkg" >/dev/null)
            deb=$(find "$state/debs" -maxdepth 1 -name "${pkg}_*_${arch}.deb" -o -maxdepth 1 -name "${pkg}_*_all.deb" | head -1)
        fi
        [ -n "$deb" ] || { log "$pkg: no .deb for $arch"; exit 1; }
        dpkg-deb -x "$deb" "$dest"
    done
    ;;
esac
