#!/usr/bin/env bash
# test_from_stopped.sh - the README's two commands as a new user runs them:
# from all stopped, stack-up (which boots the Ceph test bed while it holds
# the stack lock), stack-down, stack-up again at once.  After each script
# no process may hold the stack's or the test bed's lock, and no daemon may
# have inherited any descriptor of the scripts that started it.  Leaves
# the stack up.  Prints "N passed, N failed" (run-tests.sh adds it up).
#
# Usage: test_from_stopped.sh [STACK-UP-FLAGS...]   (e.g. --full)
set -uo pipefail
FLAGS=("$@")

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
STATE=${CINDER_EXT_STACK_DIR:-/var/tmp/cinder-ext-stack}
CEPH_DIR=${CINDER_EXT_CEPH_DIR:-/var/tmp/cinder-ext-ceph}
LOCKS=("${STATE%/}.lock" "${CEPH_DIR%/}.lock")
LOG=$STATE-tests.log
passed=0 failed=0
T0=$SECONDS

log() { printf '[from-stopped +%3ds] %s\n' "$((SECONDS - T0))" "$*"; }
ok() { passed=$((passed + 1)); log "ok: $*"; }
not_ok() { failed=$((failed + 1)); log "FAILED: $*"; }

# Processes (other than this shell) with one of the lock files open.
lock_holders() {
    local fd target pid
    for fd in /proc/[0-9]*/fd/*; do
        target=$(readlink "$fd" 2>/dev/null) || continue
        pid=${fd#/proc/}
        pid=${pid%%/*}
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        for lock in "${LOCKS[@]}"; do
            [[ $target == "$lock" ]] && echo "$pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80)"
        done
    done | sort -u
}

check_locks_free() {
    local holders
    holders=$(lock_holders)
    if [[ -z $holders ]]; then
        ok "no process holds a lock after $1"
    else
        not_ok "after $1 these processes hold a lock: $holders"
    fi
}

# run_timed WHAT LIMIT CMD...: CMD must succeed within LIMIT seconds and
# never print that it waits for a lock.
run_timed() {
    local what=$1 limit=$2 t=$SECONDS rc=0
    shift 2
    log "$what"
    timeout "$((limit + 60))" "$@" >"$LOG" 2>&1 || rc=$?
    if ((rc != 0)); then
        tail -n 20 "$LOG"
        not_ok "$what exited $rc"
    elif grep -q 'waiting for another' "$LOG"; then
        not_ok "$what waited for a lock"
    elif ((SECONDS - t > limit)); then
        not_ok "$what took $((SECONDS - t))s (limit ${limit}s)"
    else
        ok "$what ($((SECONDS - t))s)"
    fi
}

run_timed "stack-down.sh" 120 bash "$REPO/tools/stack/stack-down.sh"
run_timed "ceph-down.sh" 120 bash "$REPO/tools/ceph/ceph-down.sh"
if pgrep -f "^ceph-(mon|mgr|osd) -c $CEPH_DIR/ceph.conf" >/dev/null; then
    not_ok "ceph-down.sh left Ceph daemons running"
else
    ok "the test bed is down: stack-up.sh must boot it under its own lock"
fi
check_locks_free "stopping everything"
run_timed "stack-up.sh${FLAGS[*]:+ ${FLAGS[*]}} with the test bed down" 900 bash "$REPO/tools/stack/stack-up.sh" "${FLAGS[@]}"
check_locks_free "stack-up.sh"
run_timed "stack-down.sh right after" 120 bash "$REPO/tools/stack/stack-down.sh"
check_locks_free "stack-down.sh"
run_timed "stack-up.sh${FLAGS[*]:+ ${FLAGS[*]}} again" 300 bash "$REPO/tools/stack/stack-up.sh" "${FLAGS[@]}"
check_locks_free "the second stack-up.sh"

# Every daemon of the stack and the test bed: nothing of the scripts that
# started them.  Our own stdout/stderr (a pipe to tee under run-tests.sh)
# stand for what every script here passes down; a daemon holding one
# would keep the caller's pipe open after the caller is done.
mine=$(for fd in /proc/$$/fd/[12]; do readlink "$fd"; done | grep -v '^/dev/' | sort -u)
# With --full the servers' QEMU processes count too (libvirtd starts them).
guests=$(pgrep -f -- "$STATE/nova/instances/" || true)
leaks=$(for pid in $(cat "$STATE"/run/*.pid "$CEPH_DIR"/run/*.pid 2>/dev/null) $guests; do
    for fd in /proc/"$pid"/fd/*; do
        target=$(readlink "$fd" 2>/dev/null) || continue
        if [[ $target == *.lock ]] || grep -qxF -- "$target" <<<"$mine"; then
            echo "$pid: fd ${fd##*/} -> $target"
        fi
    done
done)
if [[ -z $leaks ]]; then
    ok "no daemon holds a lock or a descriptor of the scripts that started it"
else
    not_ok "inherited descriptors: $leaks"
fi

echo "$passed passed, $failed failed"
((failed == 0))
