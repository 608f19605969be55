# nooelint: oelint.var.bbclassextend - a gateway firmware: no native or SDK variant makes sense
SUMMARY = "loopstart telephony gateway: SIP switch, registrar and analog ports"
DESCRIPTION = "One static binary is the office's phone system: SIP registrar \
               and B2BUA, trunks to the carrier, FreeSWITCH-style XML configuration, \
               the box's FXS/FXO ports and their ALSA voice, state in sled on the flash."
HOMEPAGE = "https://github.com/loopstart/loopstart"
BUGTRACKER = "https://github.com/loopstart/loopstart/issues"
SECTION = "net"
CVE_PRODUCT = "loopstart"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=12ecd4f4fef739327da90946944e5ad6"

SRC_URI = "git://github.com/loopstart/loopstart.git;protocol=https;branch=main"
# The release this recipe builds; bump with the version (and run
# yocto/update-crates.py, which pins every crate from Cargo.lock).
SRCREV = "5deaf5a0e1748971b7d7fbf150502a027e02b4c1"

require ${BPN}-crates.inc

inherit cargo cargo-update-recipe-crates pkgconfig systemd update-rc.d useradd

# Voice for the analog ports through ALSA (alsa-sys links alsa-lib).
PACKAGECONFIG ??= "alsa"
PACKAGECONFIG[alsa] = "--features alsa,,alsa-lib"

# Which box: board/<name>/board.toml becomes /etc/loopstart/board.toml.
LOOPSTART_BOARD ??= "ref-2fxs-1fxo"

USERADD_PACKAGES = "${PN}"
USERADD_PARAM:${PN} = "--system --home-dir ${localstatedir}/lib/loopstart --no-create-home \
                       --shell /sbin/nologin --user-group --groups audio,dialout loopstart"

SYSTEMD_SERVICE:${PN} = "loopstart.service"
INITSCRIPT_NAME = "loopstart"
INITSCRIPT_PARAMS = "defaults 50"

do_install:append() {
    install -d ${D}${sysconfdir}/loopstart ${D}${datadir}/loopstart/conf
    cp -R --no-preserve=ownership ${S}/conf/. ${D}${datadir}/loopstart/conf/
    cp -R --no-preserve=ownership ${S}/conf/. ${D}${sysconfdir}/loopstart/
    install -m 0644 ${S}/board/${LOOPSTART_BOARD}/board.toml ${D}${sysconfdir}/loopstart/board.toml

    install -d ${D}${libexecdir}/loopstart ${D}${sbindir}
    install -m 0755 ${S}/rootfs/usr/libexec/loopstart/first-boot ${D}${libexecdir}/loopstart/
    install -m 0755 ${S}/rootfs/usr/libexec/loopstart/supervise ${D}${libexecdir}/loopstart/
    install -m 0755 ${S}/rootfs/usr/sbin/loopstart-factory-reset ${D}${sbindir}/

    if ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'true', 'false', d)}; then
        install -d ${D}${systemd_system_unitdir}
        install -m 0644 ${S}/rootfs/lib/systemd/system/loopstart.service ${D}${systemd_system_unitdir}/
    fi
    if ${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', 'true', 'false', d)}; then
        install -d ${D}${sysconfdir}/init.d
        install -m 0755 ${S}/rootfs/etc/init.d/S50loopstart ${D}${sysconfdir}/init.d/loopstart
    fi
    install -d -m 0750 ${D}${localstatedir}/lib/loopstart
    chown loopstart:loopstart ${D}${localstatedir}/lib/loopstart
}

FILES:${PN} += "${libexecdir}/loopstart \
                ${localstatedir}/lib/loopstart"
CONFFILES:${PN} = "${sysconfdir}/loopstart/vars.xml ${sysconfdir}/loopstart/board.toml"

# Static alsa-lib reads its card definitions at run time.
RDEPENDS:${PN} += "${@bb.utils.contains('PACKAGECONFIG', 'alsa', 'alsa-conf', '', d)}"
RRECOMMENDS:${PN} += "kernel-module-snd-aloop"
