#!/bin/sh
# /init of the cinder-ext test guest (busybox ash, runs from the initramfs that
# build-image.sh makes): a "disk agent" that tests drive with no network, only
# through the server's disks and its serial console log (ttyS0, what
# `openstack console log show` returns).  The guest never mounts a disk.
#
# Console lines (each starts with "cinder-ext-guest: "):
#   booted <uname -r>
#   disks <name>:<bytes>[:<serial>] ...    every /sys/block/vd* at boot
#   disk <name> added <bytes> [serial <serial>]
#   disk <name> size <bytes>               the size changed (online extend)
#   disk <name> gone                       detached
#   wrote <token> on <name> sha256 <hex>   hash read back after the write
#   read <token> on <name> sha256 <hex>
#   error [<token> on <name>] <reason>
#   poweroff                               ACPI power button (nova stop)
# <serial> is the virtio serial: the first 20 characters of the Cinder volume
# id when Nova attached the disk.
#
# Commands: the first 512-byte sector of a data disk (any vd* but the boot
# disk vda) holds one line, ended by "\n" or NUL:
#   CINDER-EXT-CMD write <token> <offset> <length>
#   CINDER-EXT-CMD read <token> <offset> <length>
# <token> is 1-64 of [A-Za-z0-9._-]; <offset> and <length> are byte counts,
# multiples of 512 (O_DIRECT), and the range lies inside the disk.  "write"
# fills the range with "GUEST <token> " repeated (cut to <length>).  Each
# command line runs once per disk; a disk that goes and comes back starts
# with a clean slate.  Commands run one at a time, in the 1 s poll loop.

# The kernel starts /init with no PATH.
export PATH=/bin
PREFIX=cinder-ext-guest
STATE=/run/agent
MAGIC='CINDER-EXT-CMD '

say() {
    echo "$PREFIX: $*"
}

# One /sys/block entry as "<bytes>" (the kernel counts 512-byte sectors
# whatever the logical block size).
disk_bytes() {
    echo $(( $(cat "/sys/block/$1/size") * 512 ))
}

# virtio serial, reduced to characters that cannot break a console line.
disk_serial() {
    tr -cd 'A-Za-z0-9._-' 2>/dev/null < "/sys/block/$1/serial"
}

# The largest power of two up to 1 MiB that divides offset $1 and length $2
# (both multiples of 512, checked by run_command): few syscalls, and every
# O_DIRECT transfer stays aligned.
block_size() {
    bs=1048576
    while [ $(( $1 % bs )) -ne 0 ] || [ $(( $2 % bs )) -ne 0 ]; do
        bs=$(( bs / 2 ))
    done
    echo "$bs"
}

# sha256 of a byte range read with O_DIRECT, so the guest sees what the host
# wrote to the backing RBD image, not its own page cache.
# Functions in ( ) run in a subshell: their variables stay local.
range_sha256() (
    dev=$1 off=$2 len=$3
    bs=$(block_size "$off" "$len")
    # A failed read must not pass for the hash of nothing (busybox ash has
    # pipefail).
    # shellcheck disable=SC3040
    set -o pipefail
    dd if="/dev/$dev" bs="$bs" skip=$(( off / bs )) count=$(( len / bs )) \
        iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1
)

# The bytes "write" puts on the disk (guestcmd.pattern() on the host).
pattern() {
    yes "GUEST $1 " | tr -d '\n' | head -c "$2"
}

write_range() (
    dev=$1 token=$2 off=$3 len=$4
    bs=$(block_size "$off" "$len")
    # fullblock: the pipe hands over short reads, and O_DIRECT needs whole
    # blocks; fsync so the data is on the RBD image before we report it.
    pattern "$token" "$len" | dd of="/dev/$dev" bs="$bs" seek=$(( off / bs )) \
        iflag=fullblock oflag=direct conv=notrunc,fsync 2>/dev/null
)

# Parse and run one command line found on /dev/$1.
run_command() (
    dev=$1
    # Word splitting is wanted here; no globbing of host-written text.
    set -f
    # shellcheck disable=SC2086
    set -- $2
    set +f
    if [ $# -ne 5 ]; then
        say "error on $dev bad command"
        return
    fi
    verb=$2 token=$3 off=$4 len=$5
    case $token in
        '' | *[!A-Za-z0-9._-]*) say "error on $dev bad token"; return ;;
    esac
    case $off$len in
        *[!0-9]*) say "error $token on $dev bad offset or length"; return ;;
    esac
    size=$(disk_bytes "$dev")
    if [ ${#token} -gt 64 ] || [ ${#off} -gt 15 ] || [ ${#len} -gt 15 ] ||
        [ "$len" -eq 0 ] || [ $(( (off | len) % 512 )) -ne 0 ] ||
        [ $(( off + len )) -gt "$size" ]; then
        say "error $token on $dev bad range $off+$len"
        return
    fi
    case $verb in
        write)
            if ! write_range "$dev" "$token" "$off" "$len"; then
                say "error $token on $dev write failed"
                return
            fi
            sync
            got=$(range_sha256 "$dev" "$off" "$len")
            want=$(pattern "$token" "$len" | sha256sum | cut -d' ' -f1)
            if [ "$got" = "$want" ]; then
                say "wrote $token on $dev sha256 $got"
            else
                say "error $token on $dev readback sha256 $got want $want"
            fi
            ;;
        read)
            if got=$(range_sha256 "$dev" "$off" "$len"); then
                say "read $token on $dev sha256 $got"
            else
                say "error $token on $dev read failed"
            fi
            ;;
        *) say "error $token on $dev unknown command $verb" ;;
    esac
)

# Run the command in the first sector of /dev/$1 unless it already ran.
check_command() (
    dev=$1
    # 4 KiB: O_DIRECT must also work on disks with 4 KiB logical blocks.
    line=$(dd if="/dev/$dev" bs=4096 count=1 iflag=direct 2>/dev/null |
        head -c 512 | tr '\000' '\n' | head -n 1 | tr -d '\r')
    case $line in
        "$MAGIC"*) ;;
        *) return ;;
    esac
    if grep -qxF -- "$line" "$STATE/$dev.done" 2>/dev/null; then
        return
    fi
    echo "$line" >> "$STATE/$dev.done"
    run_command "$dev" "$line"
)

# One pass over /sys/block: report new, resized and gone disks, then look
# for commands.  With "quiet" (at boot) only record what is there, so the
# "disks" line comes before any command result.
scan() {
    seen=" "
    for path in /sys/block/vd*; do
        [ -e "$path" ] || continue
        dev=${path##*/}
        seen="$seen$dev "
        size=$(disk_bytes "$dev") || continue
        if [ ! -f "$STATE/$dev.size" ]; then
            serial=$(disk_serial "$dev")
            [ "${1:-}" = quiet ] ||
                say "disk $dev added $size${serial:+ serial $serial}"
            : > "$STATE/$dev.done"
        elif [ "$(cat "$STATE/$dev.size")" != "$size" ]; then
            say "disk $dev size $size"
        fi
        echo "$size" > "$STATE/$dev.size"
    done
    for path in "$STATE"/*.size; do
        [ -e "$path" ] || continue
        dev=${path##*/}
        dev=${dev%.size}
        case $seen in
            *" $dev "*)
                [ "${1:-}" = quiet ] || [ "$dev" = vda ] || check_command "$dev" ;;
            *) say "disk $dev gone"; rm -f "$STATE/$dev.size" "$STATE/$dev.done" ;;
        esac
    done
}

disks_line() {
    line=disks
    for path in "$STATE"/*.size; do
        [ -e "$path" ] || continue
        dev=${path##*/}
        dev=${dev%.size}
        serial=$(disk_serial "$dev")
        line="$line $dev:$(cat "$path")${serial:+:$serial}"
    done
    say "$line"
}

# Nova's stop, soft reboot and rebuild press the ACPI power button and wait
# up to 60 s for the guest to go down: answer at once.
watch_power_button() {
    for path in /sys/class/input/event*; do
        [ "$(cat "$path/device/name" 2>/dev/null)" = "Power Button" ] || continue
        # Any event of that device is a press (one struct input_event).
        (
            if dd if="/dev/input/${path##*/}" bs=24 count=1 of=/dev/null 2>/dev/null; then
                say poweroff
                sync
                poweroff -f
            fi
        ) &
    done
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The kernel opened /dev/console from the initramfs; reopen it on devtmpfs.
exec < /dev/console > /dev/console 2>&1
mkdir -p "$STATE"

# /etc/modules lists what build-image.sh found built as modules.
while read -r module; do
    modprobe "$module" || say "error modprobe $module"
done < /etc/modules

watch_power_button

# Wait up to 5 s for the boot disk, so the "disks" line lists every disk
# (the others are probed with it).
tries=0
while [ ! -e /sys/block/vda ] && [ $tries -lt 50 ]; do
    sleep 0.1
    tries=$(( tries + 1 ))
done

say "booted $(uname -r)"
scan quiet
disks_line
while :; do
    scan
    sleep 1
done
