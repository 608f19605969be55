#!/usr/bin/env bash
# Assembles what the QEMU system tests boot for ARCH (aarch64 | armv7):
#   $FIRMWARE_CACHE/qemu-<arch>/vmlinuz     Debian's kernel (linux-image-arm64 / -armmp)
#   $FIRMWARE_CACHE/qemu-<arch>/base.cpio.gz  the initramfs: busybox (Debian's
#       busybox-static), the kernel modules the virt machine needs, the static
#       loopstart and the ALSA configuration from build-firmware.sh, rootfs/, the
#       factory conf in /usr/share/loopstart/conf and /etc/loopstart, and
#       board/qemu-virt-<arch>/board.toml.
# A test appends its own small cpio (its conf, /etc/default/loopstart) to
# base.cpio.gz: the kernel unpacks concatenated archives in order.
#
# Usage: qemu-tests/build-image.sh ARCH      (builds the firmware first if missing)
# Prints the image directory on stdout.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
ROOT=$PWD
arch=${1:?usage: build-image.sh aarch64|armv7}
export FIRMWARE_CACHE=${FIRMWARE_CACHE:-${CARGO_TARGET_DIR:-$ROOT/target}/firmware}
OUT=${FIRMWARE_OUT:-$FIRMWARE_CACHE/out}
IMG="$FIRMWARE_CACHE/qemu-$arch"

log() { printf 'build-image[%s]: %s\n' "$arch" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case $arch in
aarch64) deb_arch=arm64 kernel_meta=linux-image-arm64 ;;
armv7) deb_arch=armhf kernel_meta=linux-image-armmp ;;
*) die "unknown arch $arch" ;;
esac
MODULES=(virtio_mmio virtio_net virtio_blk virtio_console ext4 snd-aloop)

[ -x "$OUT/$arch/loopstart" ] || scripts/build-firmware.sh "$arch" >&2
command -v depmod >/dev/null || PATH=$PATH:/sbin:/usr/sbin
for tool in depmod modprobe cpio gzip; do
    command -v "$tool" >/dev/null || die "$tool missing: run scripts/install-test-deps.sh"
done

# Kernel and busybox, unpacked once.
pkgs="$FIRMWARE_CACHE/qemu-pkgs-$arch"
if [ ! -e "$pkgs/.complete" ]; then
    rm -rf "$pkgs"
    kernel_pkg=$(scripts/firmware/debs.sh "$deb_arch" --resolve "$kernel_meta")
    [ -n "$kernel_pkg" ] || die "cannot resolve $kernel_meta"
    log "fetching $kernel_pkg and busybox-static"
    scripts/firmware/debs.sh "$deb_arch" "$pkgs" "$kernel_pkg" busybox-static >&2
    touch "$pkgs/.complete"
fi
kver=$(basename "$(ls -d "$pkgs"/lib/modules/*/ | head -1)")
[ -n "$kver" ] || die "no kernel modules in $pkgs"
# The .deb has no modules.dep.
[ -e "$pkgs/lib/modules/$kver/modules.dep" ] || depmod -b "$pkgs" "$kver"

tree=$(mktemp -d "${TMPDIR:-/tmp}/loopstart-image-XXXXXX")
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,lib/modules,proc,sys,dev,run,tmp,var/lib/loopstart,var/log,etc}
cp "$pkgs/bin/busybox" "$tree/bin/busybox"
cp qemu-tests/init "$tree/init"

# Modules in load order, each once.
: > "$tree/lib/modules/load-order"
for m in "${MODULES[@]}"; do
    modprobe -d "$pkgs" -S "$kver" --show-depends "$m" | while read -r verb path args; do
        [ "$verb" = insmod ] || continue
        name=$(basename "$path")
        grep -q "^$name\b" "$tree/lib/modules/load-order" && continue
        cp "$path" "$tree/lib/modules/$name"
        echo "$name $args" >> "$tree/lib/modules/load-order"
    done
done

cp -a rootfs/. "$tree/"
rm -f "$tree/README.md"
install -m 0755 "$OUT/$arch/loopstart" "$tree/usr/sbin/loopstart"
mkdir -p "$tree/usr/share/loopstart"
cp -a "$OUT/$arch/alsa" "$tree/usr/share/alsa"
cp -a conf "$tree/usr/share/loopstart/conf"
cp -a conf "$tree/etc/loopstart"
cp "board/qemu-virt-$arch/board.toml" "$tree/etc/loopstart/board.toml"

mkdir -p "$IMG"
cp "$pkgs/boot/vmlinuz-$kver" "$IMG/vmlinuz"
(cd "$tree" && find . | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet) | gzip -1 > "$IMG/base.cpio.gz.part"
mv "$IMG/base.cpio.gz.part" "$IMG/base.cpio.gz"
log "kernel $kver, initramfs $(stat -c %s "$IMG/base.cpio.gz") bytes, modules: $(awk '{printf "%s ", $1}' "$tree/lib/modules/load-order")"
echo "$IMG"
