#!/usr/bin/env bash
# ns-exec.sh [--hostname NAME] SRC:DST... -- CMD [ARGS...] - bind-mount each
# SRC onto DST in a private mount namespace (and set the host name in a
# private UTS namespace), then exec CMD there (same pid throughout).
#
# Started as `unshare --mount [--uts] --propagation private bash ns-exec.sh
# ...`.  Services that insist on fixed system paths (os-brick reads
# /etc/ceph/<cluster>.client.<user>.keyring; libvirtd keeps its state in
# /etc/libvirt, /var/lib/libvirt and /run/libvirt) see the stack's own
# directories there, and nothing is written into the host's.  A missing DST
# is created as an empty directory (the mount point; /run/libvirt exists
# only once a libvirtd has run).  The host name keeps what libvirt reports as
# the hypervisor's name the same on every machine.
set -euo pipefail
if [[ ${1:-} == --hostname ]]; then
    hostname "$2"
    shift 2
fi
while (($#)) && [[ $1 != -- ]]; do
    src=${1%%:*}
    dst=${1#*:}
    [[ -d $src ]] || { echo "ns-exec.sh: $src is not a directory" >&2; exit 1; }
    mkdir -p "$dst"
    mount --bind "$src" "$dst"
    shift
done
(($# >= 2)) || { echo "usage: ns-exec.sh [--hostname NAME] SRC:DST... -- CMD [ARGS...]" >&2; exit 2; }
shift
exec "$@"
