#!/usr/bin/env bash
# ceph-down.sh - stop the cinder-ext Ceph test bed started by ceph-up.sh.
#
# Usage: tools/ceph/ceph-down.sh [--purge]
#
#   --purge   also delete the whole state directory afterwards.
#
# Only daemons started from $CINDER_EXT_CEPH_DIR (default
# /var/tmp/cinder-ext-ceph) are touched: they are found through the pid files
# in $DIR/run and, as a fallback (pid files deleted), through /proc by their
# exact "-c $DIR/ceph.conf" command line.  Other Ceph clusters on the box are
# left alone.  Safe to run any number of times.
set -euo pipefail

DIR=${CINDER_EXT_CEPH_DIR:-/var/tmp/cinder-ext-ceph}
CONF=$DIR/ceph.conf
# How long a daemon gets to shut down cleanly before SIGKILL.  An OSD uses
# the time to tell the mon it is going down, which makes the next start fast.
GRACE=${CINDER_EXT_CEPH_STOP_GRACE:-30}

PURGE=0
case ${1:-} in
    '') ;;
    --purge) PURGE=1 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
esac

log() { printf '[ceph-down] %s\n' "$*" >&2; }

# Serialise with ceph-up.sh on the same DIR (see there), unless we were
# called by ceph-up.sh itself, which already holds the lock.
LOCK=${DIR%/}.lock
# (No parent directory = no test bed was ever created there: nothing to do.)
[[ -d $(dirname "$LOCK") ]] || exit 0
if [[ ${CINDER_EXT_CEPH_LOCK_HELD:-} != "$LOCK" ]]; then
    exec 9>"$LOCK"
    flock -w 600 9 || { echo "could not get $LOCK within 600s" >&2; exit 1; }
fi

# True if pid $1 is a ceph daemon of type $2 (mon|mgr|osd) started with our
# conf.  Guards against pid files pointing at a recycled pid after a reboot.
# argv is read with a builtin (no fork): this runs for every pid in /proc.
is_ours() {
    local argv=()
    mapfile -d '' -t argv 2>/dev/null <"/proc/$1/cmdline" || return 1
    [[ ${argv[0]:-} == *"ceph-$2" && ${argv[1]:-} == -c && ${argv[2]:-} == "$CONF" ]]
}

# pids of our daemons of one type, from pid files plus a /proc scan.
find_pids() {
    local type=$1 f pid p
    declare -A seen=()
    for f in "$DIR/run/ceph-$type".*.pid; do
        [[ -s $f ]] || continue
        pid=$(<"$f")
        [[ $pid =~ ^[0-9]+$ ]] && is_ours "$pid" "$type" && seen[$pid]=1
    done
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        is_ours "$pid" "$type" && seen[$pid]=1
    done
    if ((${#seen[@]})); then printf '%s\n' "${!seen[@]}"; fi
}

# SIGTERM a set of daemons and wait for them to exit; SIGKILL stragglers.
stop_type() {
    local type=$1 pid pids=() waited=0
    mapfile -t pids < <(find_pids "$type")
    ((${#pids[@]})) || return 0
    log "stopping ceph-$type (pid ${pids[*]})"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    while :; do
        local alive=()
        for pid in "${pids[@]}"; do
            is_ours "$pid" "$type" && alive+=("$pid")
        done
        ((${#alive[@]})) || break
        if ((waited >= GRACE * 10)); then
            log "ceph-$type pid ${alive[*]} ignored SIGTERM for ${GRACE}s, sending SIGKILL"
            kill -KILL "${alive[@]}" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

# Order matters: OSDs first (they report their shutdown to the running mon,
# so the next boot does not have to wait for a down-grace), then mgr, then mon.
stop_type osd
stop_type mgr
stop_type mon
# Stale pid files would only confuse the next ceph-up.sh.
rm -f "$DIR"/run/ceph-*.pid 2>/dev/null || true

if ((PURGE)); then
    # Refuse obviously dangerous values rather than rm -rf'ing them.
    case $DIR in
        '' | / | /etc* | /usr* | /var | /var/tmp | /tmp | "$HOME")
            echo "refusing to purge '$DIR'" >&2
            exit 1
            ;;
    esac
    if [[ -e $DIR ]]; then
        log "removing $DIR"
        rm -rf -- "$DIR"
    fi
fi
exit 0
