# nooelint: oelint.var.suggestedvar.CVE_PRODUCT - an image, not software with CVEs of its own
SUMMARY = "A telephony gateway image: loopstart on a minimal system"
DESCRIPTION = "Boots to loopstart: the gateway starts as the loopstart user, \
               its state on /var/lib/loopstart, its configuration in /etc/loopstart."
BUGTRACKER = "https://github.com/loopstart/loopstart/issues"
SECTION = "images"
LICENSE = "MIT"

inherit core-image

IMAGE_INSTALL = "packagegroup-core-boot \
                 loopstart \
                 e2fsprogs-e2fsck \
                 ${CORE_IMAGE_EXTRA_INSTALL}"
IMAGE_LINGUAS = ""
IMAGE_FEATURES += "read-only-rootfs"

# Room for logs and the technician's tools; the store lives on its own partition.
IMAGE_ROOTFS_EXTRA_SPACE = "16384"
