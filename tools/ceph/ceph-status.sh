#!/usr/bin/env bash
# ceph-status.sh - exit 0 if the cinder-ext Ceph test bed in
# $CINDER_EXT_CEPH_DIR (default /var/tmp/cinder-ext-ceph) is up and answering
# within 5 seconds with at least one OSD up, else exit 1.  Quiet unless -v.
# The test suite uses this to decide whether to run or skip Ceph tests.
set -euo pipefail

DIR=${CINDER_EXT_CEPH_DIR:-/var/tmp/cinder-ext-ceph}
CONF=$DIR/ceph.conf

# No conf, or a daemon of this dir not running -> down.  Checked locally
# first: it answers instantly instead of letting the CLI burn its connect
# timeout on a dead mon, and it catches a killed OSD, which the mon would
# still report "up" for many minutes (no peer OSD to report it down).
[[ -r $CONF ]] || exit 1
for d in mon.a mgr.x osd.0; do
    pf=$DIR/run/ceph-$d.pid
    [[ -s $pf ]] || exit 1
    pid=$(<"$pf")
    [[ $pid =~ ^[0-9]+$ ]] || exit 1
    # cmdline (not just /proc/$pid): it is empty for a dying/zombie process
    # and tells a recycled pid from our daemon.
    argv=()
    mapfile -d '' -t argv 2>/dev/null <"/proc/$pid/cmdline" || exit 1
    [[ ${argv[0]:-} == *ceph-"${d%%.*}" && ${argv[2]:-} == "$CONF" ]] || exit 1
done
# `osd stat` needs a mon quorum and tells us whether an OSD is up, i.e.
# whether I/O would work.  timeout guards against a hanging CLI.
out=$(timeout 5 ceph -c "$CONF" --connect-timeout 4 osd stat -f json 2>/dev/null) || exit 1
grep -Eq '"num_up_osds": ?[1-9]' <<<"$out" || exit 1
if [[ ${1:-} == -v ]]; then echo "up: $out"; fi
exit 0
