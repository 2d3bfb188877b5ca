#!/usr/bin/env bash
# run-e2e.sh - the end-to-end suite (cinder_ext/tests/e2e) against the real
# Cinder API of the local stack, over the one-node Ceph test bed.
#
# Usage: tools/stack/run-e2e.sh [--driver cinder-ext|intree] [--threads]
#                               [-- STESTR-RUN-ARGS...]
#
#   --driver cinder-ext    our driver, backend "ceph-ext" (default)
#   --driver intree        Cinder's in-tree RBDDriver, backend "ceph-intree"
#   --threads              cinder-volume in native-thread mode
#   -- ARGS                passed to `stestr run` (e.g. a test filter)
#
# Brings the full cloud up with these flags (stack-up.sh --full, idempotent:
# attach tests need Nova and a guest), makes sure
# stestr, testtools and ddt are in the stack's clients venv, then runs the
# suite there with `stestr run --concurrency 2` and prints stestr's summary
# and the slowest tests.  The exit code is stestr's: non-zero on a failure.
# The stestr repository lives in $STATE/e2e, so the run never touches the
# checkout's .stestr of the unit and functional tests.  While the suite
# runs, other stack-up.sh / stack-down.sh calls wait (the stack is shared;
# see step 1).
#
# Environment: CINDER_EXT_STACK_DIR, CINDER_EXT_CEPH_DIR (as stack-up.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
STATE=${CINDER_EXT_STACK_DIR:-/var/tmp/cinder-ext-stack}
STATE=${STATE%/}

usage() { sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

DRIVER=cinder-ext
THREADS=0
STESTR_ARGS=()
while (($#)); do
    case $1 in
        --driver)
            [[ $# -ge 2 ]] || { usage >&2; exit 2; }
            DRIVER=$2
            shift
            ;;
        --driver=*) DRIVER=${1#*=} ;;
        --threads) THREADS=1 ;;
        --) shift; STESTR_ARGS=("$@"); break ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
case $DRIVER in
    cinder-ext | intree) ;;
    *) echo "--driver: cinder-ext or intree, not '$DRIVER'" >&2; exit 2 ;;
esac

T0=$SECONDS
log() { printf '[run-e2e +%3ds] %s\n' "$((SECONDS - T0))" "$*" >&2; }

# 1. The stack, with this run's flags, kept that way for the whole run.
#    The stack is shared: a stack-up.sh with other flags (or a stack-down.sh)
#    during the run would switch it under the tests.  So after stack-up.sh
#    the run holds the stack's own lock ($STATE.lock, which stack-up.sh and
#    stack-down.sh take) until it ends; they wait for it.  If one of them
#    got in between, the stack is brought up again.  The suite, told by
#    CINDER_EXT_E2E_STACK_LOCKED, then only checks the stack.  (Run alone,
#    the suite brings the stack up itself.)
stack_ident() {
    local f
    for f in "$STATE"/run/*.pid "$STATE"/run/*.start "$STATE"/run/*.spec "$STATE/cinder/backend"; do
        [[ -f $f ]] && printf '%s=%s\n' "${f##*/}" "$(<"$f")"
    done
    return 0
}
UP_ARGS=(--full --driver "$DRIVER")
((THREADS)) && UP_ARGS+=(--threads)
for attempt in 1 2 3; do
    log "bash tools/stack/stack-up.sh ${UP_ARGS[*]}"
    bash "$HERE/stack-up.sh" "${UP_ARGS[@]}"
    ident=$(stack_ident)
    exec 9>"$STATE.lock"
    if ! flock -n 9; then
        log "waiting for another stack-up/stack-down on $STATE ($STATE.lock)"
        flock -w 600 9 || { echo "could not get $STATE.lock within 600s" >&2; exit 1; }
    fi
    [[ $(stack_ident) == "$ident" ]] && break
    exec 9>&-
    ((attempt < 3)) || { echo "the stack keeps changing under this run" >&2; exit 1; }
    log "the stack changed after stack-up.sh; bringing it up again"
done
export CINDER_EXT_E2E_STACK_LOCKED=1
T_STACK=$((SECONDS - T0))

# 2. The test runner in the clients venv.  Always installed with the stack's
#    constraints: they pin these packages when they list them, and keep
#    their dependencies at the versions the venv already has otherwise.
PY=$STATE/venv-clients/bin/python
[[ -x $PY ]] || { echo "no clients venv at $STATE/venv-clients" >&2; exit 1; }
if ! "$PY" -c 'import ddt, stestr, testtools' 2>/dev/null; then
    log "installing stestr, testtools and ddt into $STATE/venv-clients"
    mkdir -p "$STATE/logs"
    if ! "$PY" -m pip install -c "$HERE/constraints.txt" stestr testtools ddt \
        >"$STATE/logs/pip-e2e.log" 2>&1; then
        tail -n 30 "$STATE/logs/pip-e2e.log" >&2
        echo "pip install failed (see $STATE/logs/pip-e2e.log)" >&2
        exit 1
    fi
fi

# 3. The suite.
export CINDER_EXT_E2E_DRIVER=$DRIVER
export CINDER_EXT_E2E_THREADS=$THREADS
mkdir -p "$STATE/e2e"
cd "$STATE/e2e"
STESTR=("$PY" -m stestr --test-path "$REPO/cinder_ext/tests/e2e" --top-dir "$REPO")
MODE=$( ((THREADS)) && echo threads || echo eventlet)
log "stestr run --concurrency 2 (driver $DRIVER, cinder-volume $MODE)"
T_RUN=$SECONDS
rc=0
"${STESTR[@]}" run --concurrency 2 "${STESTR_ARGS[@]}" || rc=$?
T_RUN=$((SECONDS - T_RUN))
"${STESTR[@]}" slowest || true

echo
echo "e2e: driver $DRIVER, cinder-volume $MODE: $( ((rc == 0)) && echo PASSED || echo "FAILED (exit $rc)")"
echo "  stack-up ${T_STACK}s, tests ${T_RUN}s, total $((SECONDS - T0))s"
echo "  details: $PY -m stestr last (in $STATE/e2e)"
exit "$rc"
