#!/usr/bin/env bash
# Builds the firmware binary for the boxes: static (no INTERP segment), stripped,
# size-tuned (Cargo.toml's release profile: opt-level s, LTO, one codegen unit,
# panic=abort), with the `alsa` feature on, for
#   aarch64-unknown-linux-musl      (rustup target; rust-lld links it)
#   armv7-unknown-linux-musleabihf  (no rustup target: std is built from rust-src
#                                    with -Zbuild-std, linked by rust-lld against
#                                    Debian's armhf musl and libgcc)
# alsa-lib has no static ARM build in Debian: it is built here from Debian's source
# package with clang + lld against Debian's musl headers (about 20 s per arch).
#
# Usage: scripts/build-firmware.sh [aarch64|armv7|all]     (default: all)
# Output: $FIRMWARE_OUT/<arch>/loopstart  (default target/firmware/out/<arch>/)
# Env:    FIRMWARE_CACHE (default target/firmware: .debs, sysroots, alsa-lib builds)
#         FIRMWARE_MAX_BYTES (default 8 MiB: the size bar; the build fails above it)
# Needs on the host: clang, lld, make, pkg-config, bzip2 (scripts/install-test-deps.sh).
set -euo pipefail
shopt -s inherit_errexit  # a failure inside $(...) stops the build too
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export FIRMWARE_CACHE=${FIRMWARE_CACHE:-$TARGET_DIR/firmware}
OUT=${FIRMWARE_OUT:-$FIRMWARE_CACHE/out}
MAX_BYTES=${FIRMWARE_MAX_BYTES:-$((8 * 1024 * 1024))}
ALSA_VERSION=1.2.8

log() { printf 'build-firmware: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for tool in clang ld.lld llvm-ar make pkg-config bzip2; do
    command -v "$tool" >/dev/null || die "$tool missing: run scripts/install-test-deps.sh"
done

# arch -> Rust target, musl triple (Debian's multiarch dir), gcc triple, Debian arch.
rust_target() { case $1 in aarch64) echo aarch64-unknown-linux-musl ;; armv7) echo armv7-unknown-linux-musleabihf ;; esac; }
musl_triple() { case $1 in aarch64) echo aarch64-linux-musl ;; armv7) echo arm-linux-musleabihf ;; esac; }
gnu_triple() { case $1 in aarch64) echo aarch64-linux-gnu ;; armv7) echo arm-linux-gnueabihf ;; esac; }
deb_arch() { case $1 in aarch64) echo arm64 ;; armv7) echo armhf ;; esac; }
clang_flags() {
    case $1 in
    aarch64) echo "--target=aarch64-linux-musl" ;;
    armv7) echo "--target=armv7a-linux-musleabihf -march=armv7-a -mfpu=vfpv3-d16 -mfloat-abi=hard" ;;
    esac
}

# Debian's musl libc, kernel headers and libgcc for ARCH, unpacked into a sysroot.
sysroot() {
    local arch=$1 dir="$FIRMWARE_CACHE/sysroot-$1"
    if [ ! -e "$dir/.complete" ]; then
        rm -rf "$dir"
        scripts/firmware/debs.sh "$(deb_arch "$arch")" "$dir" musl-dev linux-libc-dev libgcc-12-dev >&2
        touch "$dir/.complete"
    fi
    echo "$dir"
}

# A static libasound.a (+ headers, alsa.pc, /usr/share/alsa) installed under
# $FIRMWARE_CACHE/alsa-<arch>/root, built once per arch.
alsa_lib() {
    local arch=$1 sr=$2
    local dir="$FIRMWARE_CACHE/alsa-$arch" mt gt cc
    mt=$(musl_triple "$arch"); gt=$(gnu_triple "$arch")
    if [ -e "$dir/root/.complete-$ALSA_VERSION" ]; then echo "$dir/root"; return; fi
    local tarball
    tarball=$(scripts/firmware/debs.sh "$(deb_arch "$arch")" --source alsa-lib "$FIRMWARE_CACHE/src" | head -1)
    case $tarball in *"alsa-lib_$ALSA_VERSION".orig*) ;; *) die "expected alsa-lib $ALSA_VERSION, got ${tarball:-nothing}" ;; esac
    rm -rf "$dir"; mkdir -p "$dir"
    tar -xjf "$tarball" -C "$dir"
    log "$arch: building alsa-lib $ALSA_VERSION (static)"
    # Debian's musl headers first, then the kernel's; crt objects and libc from the
    # musl dir, libgcc from gcc's.
    cc="clang $(clang_flags "$arch") --sysroot=$sr -nostdinc -isystem $(clang -print-resource-dir)/include \
-isystem $sr/usr/include/$mt -isystem $sr/usr/include -isystem $sr/usr/include/$gt \
-fuse-ld=lld -static -L$sr/usr/lib/$mt -L$sr/usr/lib/gcc/$gt/12 -B$sr/usr/lib/$mt -B$sr/usr/lib/gcc/$gt/12"
    (
        cd "$dir/alsa-lib-$ALSA_VERSION"
        ./configure --host="$mt" --prefix=/usr --with-configdir=/usr/share/alsa \
            --enable-static --disable-shared --without-debug --disable-python \
            --disable-alisp --disable-topology --disable-old-symbols --disable-rawmidi \
            --disable-hwdep --disable-seq --disable-ucm --disable-aload \
            CC="$cc" CFLAGS="-Os -fPIC -Wno-unused-command-line-argument" > ../configure.log 2>&1 \
            || { tail -20 ../configure.log >&2; die "$arch: alsa-lib configure failed ($dir/configure.log)"; }
        # Only the library, its headers and alsa.pc: the bundled tools would link
        # dynamically against the host's libgcc_s.
        for sub in include src utils; do
            make -j"$(nproc)" -C "$sub" > "../make-$sub.log" 2>&1 \
                || { tail -20 "../make-$sub.log" >&2; die "$arch: alsa-lib make in $sub failed"; }
            make -C "$sub" install DESTDIR="$dir/root" > /dev/null 2>&1
        done
    )
    touch "$dir/root/.complete-$ALSA_VERSION"
    echo "$dir/root"
}

build() {
    local arch=$1 target sr alsa
    target=$(rust_target "$arch")
    sr=$(sysroot "$arch")
    alsa=$(alsa_lib "$arch" "$sr")
    local tlow=${target//-/_}
    local tvar=${tlow^^}
    local mt gt
    mt=$(musl_triple "$arch"); gt=$(gnu_triple "$arch")
    # alsa-sys finds libasound through pkg-config, per target.
    local -a env=(
        "PKG_CONFIG_ALLOW_CROSS=1"
        "PKG_CONFIG_LIBDIR_${target}=$alsa/usr/lib/pkgconfig"
        "PKG_CONFIG_SYSROOT_DIR_${target}=$alsa"
        "CARGO_TARGET_${tvar}_LINKER=rust-lld"
        # C in Rust crates (ring: the web page's TLS) is compiled by the cc crate
        # with clang against the same musl headers as alsa-lib.
        "CC_${tlow}=clang"
        "AR_${tlow}=llvm-ar"
        "CFLAGS_${tlow}=$(clang_flags "$arch") -Os -nostdinc -isystem $(clang -print-resource-dir)/include -isystem $sr/usr/include/$mt -isystem $sr/usr/include -isystem $sr/usr/include/$gt"
    )
    local -a cargo_args=(build --release --target "$target" --bin loopstart --features alsa)
    case $arch in
    aarch64)
        rustup target list --installed | grep -qx "$target" || rustup target add "$target" >&2
        ;;
    armv7)
        rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src >&2
        # No prebuilt std for this target: build it (RUSTC_BOOTSTRAP lets stable
        # cargo use -Zbuild-std). Debian's musl 1.2.3 has a 64-bit time_t on 32-bit
        # ARM; the libc crate must be told, or C code built against it (alsa-lib)
        # and Rust disagree about struct timespec and crash. libgcc_eh stands in for
        # the libunwind the self-contained musl targets ship.
        local extra="$FIRMWARE_CACHE/armv7-link"
        mkdir -p "$extra"
        cp "$sr/usr/lib/gcc/arm-linux-gnueabihf/12/libgcc_eh.a" "$extra/libunwind.a"
        env+=(
            "RUSTC_BOOTSTRAP=1"
            "RUST_LIBC_UNSTABLE_MUSL_V1_2_3=1"
            "CARGO_TARGET_${tvar}_RUSTFLAGS=--cfg libc_unstable_musl_v1_2 -L $sr/usr/lib/arm-linux-musleabihf -L $sr/usr/lib/gcc/arm-linux-gnueabihf/12 -L $extra -C link-arg=-lgcc"
        )
        cargo_args+=(-Zbuild-std=std,panic_abort)
        ;;
    esac
    # A target dir per arch: the armv7 build (build-std) and the aarch64 build compile
    # the host's proc-macros differently, and in one target dir each build made the
    # other rebuild from scratch.
    local cargo_target="$FIRMWARE_CACHE/cargo-$arch"
    log "$arch: cargo ${cargo_args[*]} (target dir $cargo_target)"
    env "${env[@]}" CARGO_TARGET_DIR="$cargo_target" cargo "${cargo_args[@]}" >&2

    local bin="$cargo_target/$target/release/loopstart"
    if readelf -l "$bin" | grep -q INTERP; then
        die "$bin is not fully static (it has an INTERP segment)"
    fi
    if readelf -S "$bin" | grep -q '\.symtab'; then
        die "$bin is not stripped"
    fi
    mkdir -p "$OUT/$arch"
    cp "$bin" "$OUT/$arch/loopstart"
    # The ALSA configuration the static library reads at run time goes with it.
    rm -rf "$OUT/$arch/alsa" && cp -r "$alsa/usr/share/alsa" "$OUT/$arch/alsa"
    local size
    size=$(stat -c %s "$bin")
    log "$arch: $OUT/$arch/loopstart: $size bytes ($((size / 1024)) KiB), static, stripped"
    [ "$size" -lt "$MAX_BYTES" ] || die "$arch: $size bytes is over the $MAX_BYTES-byte bar"
}

case ${1:-all} in
aarch64 | armv7) build "$1" ;;
all) build aarch64; build armv7 ;;
*) die "usage: $0 [aarch64|armv7|all]" ;;
esac
