#!/usr/bin/env bash
# build-image.sh OUTDIR - build the cinder-ext test guest for Nova servers.
#
# Writes OUTDIR/cinder-ext-guest.raw (64 MiB), OUTDIR/cinder-ext-guest.qcow2
# (the same disk) and OUTDIR/.stamp.  A re-run with the same inputs (these
# scripts and the Debian package versions) does nothing.  Root on Debian 12
# (amd64); the only downloads are Debian packages, through apt.
#
# The disk boots on plain BIOS (SeaBIOS), so it works as a Glance image, as
# a boot-from-volume root volume and after a rebuild, with no kernel_id or
# ramdisk_id: an MBR (syslinux mbr.bin) and one FAT16 partition holding
# syslinux, Debian's cloud kernel (taken out of its .deb, never installed
# here) and an initramfs made of busybox-static, the virtio/ACPI modules the
# kernel does not build in, and init.sh as /init.  Everything runs from the
# initramfs; the guest never mounts a disk.  Kernel console: tty0 and ttyS0.
#
# init.sh is a disk agent that tests drive through the disks and the serial
# console log, with no network.  Protocol (details at the top of init.sh):
#   console: "cinder-ext-guest: booted <uname -r>", "... disks vda:<bytes>
#     vdb:<bytes>:<serial>", "... disk vdb added|size <bytes>", "... disk vdb
#     gone", "... wrote|read <token> on vdb sha256 <hex>", "... error ...".
#   command: sector 0 of a data disk (not vda) starting with
#     "CINDER-EXT-CMD write|read <token> <offset> <length>\n" (byte counts,
#     multiples of 512); "write" puts "GUEST <token> " repeated there; each
#     command line runs once per disk.
# guestcmd.py makes command sectors and patterns and parses the console log.
set -euo pipefail

GUEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=cinder-ext-guest
IMAGE_MB=64
# The partition starts at 1 MiB, like every partitioning tool's default.
PART_START=2048
# The cloud flavour: a 27 MB .deb instead of 70 MB, with virtio and ACPI.
KERNEL_META=linux-image-cloud-amd64
# Loaded by /init if the kernel builds them as modules: disks and PCI
# hotplug (virtio_pci, virtio_blk), the ACPI power button that Nova's stop
# presses (button, evdev).
MODULES=(virtio_pci virtio_blk button evdev)
# quiet: kernel messages at run time (resize, hotplug) share the UART with
# the agent and could cut into its lines; warnings and panics still show.
CMDLINE="console=tty0 console=ttyS0,115200n8 quiet"
HOST_PKGS=(syslinux syslinux-common mtools dosfstools cpio fdisk qemu-utils)

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
[ "$(id -u)" -eq 0 ] || die "run as root (apt-get, mknod)"
[ "$(dpkg --print-architecture)" = amd64 ] || die "amd64 host only"
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
DEBS=$OUT/.debs

# Two builds into one OUTDIR would replace each other's files half-way.
exec 9> "$OUT/.lock"
flock 9

APT_UPDATED=
apt_update_once() {
    [ -z "$APT_UPDATED" ] || return 0
    log "apt-get update"
    apt-get update -qq >&2
    APT_UPDATED=1
}

install_host_tools() {
    local missing=() pkg
    for pkg in "${HOST_PKGS[@]}"; do
        dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' ||
            missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    apt_update_once
    log "installing host tools: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2
}

# The kernel package behind the metapackage, e.g.
# linux-image-6.1.0-57-cloud-amd64; empty while apt has no package lists.
kernel_package() {
    apt-cache depends "$KERNEL_META" 2>/dev/null |
        awk '/Depends: linux-image-/ { print $2; exit }' || true
}

# Versions apt would download; one apt-cache call, as each costs ~0.5 s of
# the up-to-date check.
resolve_packages() {
    local pkg ver
    KERNEL_PKG=$(kernel_package)
    if [ -z "$KERNEL_PKG" ]; then
        apt_update_once
        KERNEL_PKG=$(kernel_package)
    fi
    [ -n "$KERNEL_PKG" ] || die "no kernel package behind $KERNEL_META"
    KERNEL_VER='' BUSYBOX_VER=''
    while read -r pkg ver; do
        case $pkg in
            "$KERNEL_PKG") KERNEL_VER=$ver ;;
            busybox-static) BUSYBOX_VER=$ver ;;
        esac
    done < <(apt-cache policy "$KERNEL_PKG" busybox-static |
        awk '/^[^ ]/ { pkg = $1; sub(/:$/, "", pkg) }
             /Candidate:/ && $2 != "(none)" { print pkg, $2 }')
    [ -n "$KERNEL_VER" ] || die "apt has no candidate for $KERNEL_PKG"
    [ -n "$BUSYBOX_VER" ] || die "apt has no candidate for busybox-static"
}

# Everything the image is made of; the stamp holds it.
inputs() {
    (cd "$GUEST_DIR" && sha256sum build-image.sh init.sh)
    echo "kernel $KERNEL_PKG $KERNEL_VER"
    echo "busybox-static $BUSYBOX_VER"
    echo "syslinux $(dpkg-query -W -f '${Version}' syslinux)"
    echo "cmdline $CMDLINE"
}

# Download pkg=version into the cache once; print the .deb's path.
fetch_deb() {
    local pkg=$1 ver=$2 deb old
    deb=$DEBS/${pkg}_${ver//:/%3a}_amd64.deb
    if [ ! -f "$deb" ]; then
        log "downloading $pkg $ver"
        mkdir -p "$DEBS"
        for old in "$DEBS/${pkg}"_*.deb; do
            [ -e "$old" ] && rm -f "$old"
        done
        # Sandbox user root: _apt may not be able to write to OUTDIR.
        (cd "$DEBS" && apt-get -qq -o APT::Sandbox::User=root download "$pkg=$ver" >&2)
        [ -f "$deb" ] || die "apt-get download did not give $deb"
    fi
    echo "$deb"
}

# Print the module files (relative to lib/modules/KVER) that must be in the
# initramfs for MODULES, dependencies first, and write the names of the
# MODULES that are modules (not built in) to $2, for /init's modprobe.
module_closure() {
    local moddir=$1 names=$2 line file name
    local -A path_of=() deps_of=() builtin=() copied=()
    while read -r line; do
        file=${line%%:*}
        name=${file##*/}
        name=${name%.ko}
        path_of[${name//-/_}]=$file
        deps_of[$file]=${line#*:}
    done < "$moddir/modules.dep"
    while read -r file; do
        name=${file##*/}
        name=${name%.ko}
        builtin[${name//-/_}]=1
    done < "$moddir/modules.builtin"
    # Depth first, so each file comes after what it needs (uses the arrays
    # above through bash's dynamic scope).
    add_module() {
        local dep
        [ -z "${copied[$1]:-}" ] || return 0
        copied[$1]=1
        for dep in ${deps_of[$1]}; do
            add_module "$dep"
        done
        echo "$1"
    }
    : > "$names"
    for name in "${MODULES[@]}"; do
        [ -z "${builtin[$name]:-}" ] || continue
        [ -n "${path_of[$name]:-}" ] || die "kernel has no module $name"
        add_module "${path_of[$name]}"
        echo "$name" >> "$names"
    done
}

build_initramfs() {
    local kroot=$1 busybox=$2 root=$3 kver moddir files file applet
    kver=$(ls "$kroot/lib/modules")
    moddir=$kroot/lib/modules/$kver
    log "initramfs: busybox, modules of $kver"
    mkdir -p "$root"/{bin,dev,etc,proc,sys,run,lib/modules/"$kver"}
    cp "$busybox" "$root/bin/busybox"
    for applet in $("$busybox" --list); do
        [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
    done
    # Debian ships no modules.dep (its postinst runs depmod): make one.
    "$busybox" depmod -b "$kroot" "$kver"
    files=$(module_closure "$moddir" "$root/etc/modules")
    for file in $files; do
        mkdir -p "$root/lib/modules/$kver/${file%/*}"
        cp "$moddir/$file" "$root/lib/modules/$kver/$file"
        log "  module $file"
    done
    # For /init's modprobe, which loads the dependencies itself.
    "$busybox" depmod -b "$root" "$kver"
    install -m 0755 "$GUEST_DIR/init.sh" "$root/init"
    # The kernel opens /dev/console before /init mounts devtmpfs.
    mknod -m 600 "$root/dev/console" c 5 1
    (cd "$root" && find . -print0 | LC_ALL=C sort -z |
        cpio --null -o -H newc -R 0:0 --quiet) | gzip -9 -n > "$WORK/initrd.gz"
}

build_disk() {
    local vmlinuz=$1 raw=$2 part=$WORK/part.img
    log "FAT16 partition with syslinux, kernel and initramfs"
    cat > "$WORK/syslinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT guest
PROMPT 0
TIMEOUT 0
LABEL guest
  LINUX /vmlinuz
  INITRD /initrd.gz
  APPEND $CMDLINE
EOF
    # -h: the boot sector must know the partition's offset on the disk.
    mkfs.fat -C -F 16 -n CINDEREXT -h "$PART_START" "$part" \
        $(( IMAGE_MB * 1024 - PART_START / 2 )) > /dev/null
    syslinux --install "$part"
    mcopy -i "$part" "$vmlinuz" ::/vmlinuz
    mcopy -i "$part" "$WORK/initrd.gz" "$WORK/syslinux.cfg" ::/
    log "disk: MBR, partition at sector $PART_START, $IMAGE_MB MiB"
    truncate -s "${IMAGE_MB}M" "$raw"
    echo "start=$PART_START, type=6, bootable" | sfdisk --quiet "$raw"
    # 440 bytes: the boot code, not the partition table after it.
    dd if=/usr/lib/syslinux/mbr/mbr.bin of="$raw" bs=440 count=1 conv=notrunc status=none
    dd if="$part" of="$raw" bs=512 seek="$PART_START" conv=notrunc,sparse status=none
}

main() {
    local raw=$OUT/$NAME.raw qcow2=$OUT/$NAME.qcow2 kdeb bdeb
    install_host_tools
    resolve_packages
    if [ -f "$raw" ] && [ -f "$qcow2" ] && [ -f "$OUT/.stamp" ] &&
        [ "$(cat "$OUT/.stamp")" = "$(inputs)" ]; then
        log "up to date: $raw"
        return 0
    fi
    kdeb=$(fetch_deb "$KERNEL_PKG" "$KERNEL_VER")
    bdeb=$(fetch_deb busybox-static "$BUSYBOX_VER")
    WORK=$(mktemp -d "$OUT/.work.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
    log "unpacking $KERNEL_PKG and busybox-static"
    dpkg-deb -x "$kdeb" "$WORK/kernel"
    dpkg-deb -x "$bdeb" "$WORK/busybox"
    build_initramfs "$WORK/kernel" "$WORK/busybox/bin/busybox" "$WORK/root"
    build_disk "$(echo "$WORK"/kernel/boot/vmlinuz-*)" "$WORK/$NAME.raw"
    log "qcow2"
    qemu-img convert -f raw -O qcow2 "$WORK/$NAME.raw" "$WORK/$NAME.qcow2"
    # The stamp goes last: an interrupted build is redone in full.
    rm -f "$OUT/.stamp"
    mv "$WORK/$NAME.raw" "$raw"
    mv "$WORK/$NAME.qcow2" "$qcow2"
    inputs > "$OUT/.stamp"
    log "done: $raw ($(du -k "$raw" | cut -f1) KiB used), $qcow2"
}

main
