#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# run-tempest.sh - the Tempest gate: tempest.api.volume and the
# cinder-tempest-plugin api and rbac suites against the local stack of
# tools/stack (Keystone + Cinder on the one-node Ceph); with --full, on the
# whole cloud (Glance, Nova, cinder-backup), plus the plugin's scenario
# suite and Tempest's scenario tests that use volumes.
#
# Usage: tools/tempest/run-tempest.sh [--full] [--driver cinder-ext|intree]
#            [--threads] [--regex R] [--concurrency N] [--refresh-constraints]
#
#   --full         stack-up.sh --full, tempest.conf with compute, image and
#                  backup on, exclude-full.txt
#   --driver D     stack driver, as for stack-up.sh (default cinder-ext)
#   --threads      cinder-volume in native-thread mode, as for stack-up.sh
#   --regex R      tests to run (default: the volume suites, see REGEX)
#   --concurrency N  tempest workers (default 2: the machine has 2 cores)
#   --refresh-constraints  resolve the tempest venv afresh and rewrite
#                  tools/tempest/constraints.txt (a deliberate update)
#
# Steps, each timed: the venv $STATE/venv-tempest (tempest and the plugin,
# pinned by tools/tempest/constraints.txt); stack-up.sh with the flags; the
# stack's lock, held for the rest of the run so that nobody switches the
# driver under the tests; tempest.conf for this cloud (lib/tempest_conf.py);
# `tempest run` with tools/tempest/exclude.txt; the pool leak check.
# The workspace is $STATE/tempest/workspace; results go to
# $STATE/tempest/results/<time>-<driver>[-full][-threads]/: the
# subunit stream, summary.txt (counts, failures with tracebacks, skips by
# reason, timings), the pool listings and leak report, the tempest console
# log and the cinder-api/scheduler/volume log lines written during the run.
# Exit status 0 only if no test failed, nothing leaked and the stack stayed
# on the requested driver throughout.
set -euo pipefail

TEMPEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# STATE, LOGS, RUN, CEPH_DIR, MYSQL_CNF, KEYSTONE_URL, CLIENTS_VENV, log, die,
# take_lock and fingerprint come from the stack's own helpers.
# shellcheck source=../stack/lib/common.sh
. "$TEMPEST_DIR/../stack/lib/common.sh"
# GUEST_IMAGE and FLAVOR, for tempest.conf of the full cloud.
# shellcheck source=../stack/lib/glance.sh
. "$TEMPEST_DIR/../stack/lib/glance.sh"
# shellcheck source=../stack/lib/nova.sh
. "$TEMPEST_DIR/../stack/lib/nova.sh"
set_log_tag run-tempest
# die() in common.sh reads it: our failures are not the stack's, skip its
# log tails.
# shellcheck disable=SC2034
NO_LOG_DUMP=1

usage() { sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

REGEX=''
# The light stack: the volume API suites.  The full cloud adds the scenario
# tests that use volumes (Tempest's: boot from volume, volume backup and
# restore, snapshot patterns, attachments; the plugin's whole scenario suite).
LIGHT_REGEX='(tempest\.api\.volume|cinder_tempest_plugin\.api|cinder_tempest_plugin\.rbac)'
FULL_REGEX='(tempest\.api\.volume|cinder_tempest_plugin\.(api|rbac|scenario)|tempest\.scenario\.test_(volume_|stamp_pattern|snapshot_pattern|server_volume_attachment|minimum_basic|instances_with_cinder_volumes|encrypted_cinder_volumes|shelve_instance))'
DRIVER=cinder-ext
FULL=0
THREADS=0
CONCURRENCY=2
REFRESH=0
while (($#)); do
    case $1 in
        --driver | --regex | --concurrency)
            [[ $# -ge 2 ]] || { usage >&2; exit 2; }
            case $1 in
                --driver) DRIVER=$2 ;;
                --regex) REGEX=$2 ;;
                --concurrency) CONCURRENCY=$2 ;;
            esac
            shift
            ;;
        --threads) THREADS=1 ;;
        --full) FULL=1 ;;
        --refresh-constraints) REFRESH=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
case $DRIVER in
    cinder-ext) BACKEND=ceph-ext ;;
    intree) BACKEND=ceph-intree ;;
    *) echo "--driver: cinder-ext or intree, not '$DRIVER'" >&2; exit 2 ;;
esac
[[ $CONCURRENCY =~ ^[1-9][0-9]*$ ]] || { echo "--concurrency: a positive integer" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || die "run-tempest.sh must run as root (it runs stack-up.sh)"

PYTHON=${PYTHON:-python3}
VENV=$STATE/venv-tempest
TEMPEST_REQS=('tempest==47.0.0' 'cinder-tempest-plugin==1.23.0')
TEMPEST_CONSTRAINTS=$TEMPEST_DIR/constraints.txt
EXCLUDE=$TEMPEST_DIR/exclude.txt
WS=$STATE/tempest/workspace
MODE=eventlet SUFFIX=''
STACK_FLAGS=(--driver "$DRIVER")
CONF_FLAGS=()
SERVICE_LOGS=(cinder-api cinder-scheduler cinder-volume)
if ((THREADS)); then MODE=threads SUFFIX=-threads STACK_FLAGS+=(--threads); fi
if ((FULL)); then
    REGEX=${REGEX:-$FULL_REGEX}
    EXCLUDE=$TEMPEST_DIR/exclude-full.txt
    SUFFIX=-full$SUFFIX
    STACK_FLAGS+=(--full)
    CONF_FLAGS=(--full --image "$GUEST_IMAGE" --flavor "$FLAVOR")
    SERVICE_LOGS+=(cinder-backup glance-api nova-api nova-compute)
fi
REGEX=${REGEX:-$LIGHT_REGEX}
mkdir -p "$STATE" "$LOGS"
OUT=$STATE/tempest/results/$(date -u +%Y%m%dT%H%M%SZ)-$DRIVER$SUFFIX
mkdir -p "$OUT"

PHASES=()
phase() {
    local name=$1 t=$SECONDS
    shift
    set_log_tag "run-tempest:$name"
    "$@"
    PHASES+=("$(printf '%-8s %4ds' "$name" "$((SECONDS - t))")")
    set_log_tag run-tempest
}

# 1. The venv: tempest and the plugin, pinned; stamped like the stack's
#    venvs, so a re-run with the same inputs skips pip entirely.
tempest_venv() {
    local stamp pip_log=$LOGS/pip-venv-tempest.log
    stamp=$(fingerprint "$("$PYTHON" -c 'import sys; print(sys.version)')" \
        "$TEMPEST_CONSTRAINTS" "${TEMPEST_REQS[@]}")
    if ((REFRESH)) || [[ ! -f $TEMPEST_CONSTRAINTS ]]; then
        log "resolving ${TEMPEST_REQS[*]} without constraints (refresh)"
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV"
        "$VENV/bin/pip" install -q "${TEMPEST_REQS[@]}" >>"$pip_log" 2>&1 ||
            { tail -n 30 "$pip_log" >&2; die "pip install into $VENV failed"; }
        {
            echo "# Generated by tools/tempest/run-tempest.sh --refresh-constraints:"
            echo "# pip freeze of $VENV (Python 3.11)."
            echo "# run-tempest.sh installs with -c from this file.  Refresh deliberately."
            "$VENV/bin/pip" freeze --exclude-editable
        } >"$TEMPEST_CONSTRAINTS"
        log "wrote $TEMPEST_CONSTRAINTS"
        stamp=$(fingerprint "$("$PYTHON" -c 'import sys; print(sys.version)')" \
            "$TEMPEST_CONSTRAINTS" "${TEMPEST_REQS[@]}")
    elif [[ -f $VENV/.stack-stamp && $(<"$VENV/.stack-stamp") == "$stamp" ]]; then
        log "venv-tempest up to date"
        return 0
    fi
    log "installing ${TEMPEST_REQS[*]} into $VENV"
    [[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q -c "$TEMPEST_CONSTRAINTS" "${TEMPEST_REQS[@]}" >>"$pip_log" 2>&1 ||
        { tail -n 30 "$pip_log" >&2; die "pip install into $VENV failed"; }
    printf '%s\n' "$stamp" >"$VENV/.stack-stamp"
}

# 2. The stack on the requested driver, then its lock.  stack-up.sh takes
#    the same lock itself, so it is taken only after stack-up.sh is done; if
#    another stack-up got in between (the start time of cinder-volume or the
#    backend changed), let go and bring our driver back.
volume_start() { cat "$STATE/cinder/backend" "$RUN/cinder-volume.start" 2>/dev/null || true; }
osc() { env -u OS_CLOUD OS_CLIENT_CONFIG_FILE="$STATE/clouds.yaml" "$CLIENTS_VENV/bin/openstack" --os-cloud cinder-ext "$@"; }
stack_and_lock() {
    local try started
    for try in 1 2 3 4 5; do
        log "stack-up.sh ${STACK_FLAGS[*]} (log: $OUT/stack-up.log)"
        bash "$REPO/tools/stack/stack-up.sh" "${STACK_FLAGS[@]}" >>"$OUT/stack-up.log" 2>&1 ||
            { tail -n 40 "$OUT/stack-up.log" >&2; die "stack-up.sh failed"; }
        started=$(volume_start)
        take_lock
        if [[ $(volume_start) == "$started" && $(<"$STATE/cinder/backend") == "$BACKEND" ]]; then
            VOLUME_START=$started
            osc volume service list -c Binary -c Host -c State
            # grep -q would stop reading at the match: osc then dies of
            # SIGPIPE on the next row, and pipefail fails the check.
            osc volume service list -f value -c Binary -c Host -c State |
                grep -x "cinder-volume $CINDER_HOST@$BACKEND up" >/dev/null ||
                die "cinder-volume $CINDER_HOST@$BACKEND is not up"
            log "holding $STATE.lock until the end of the run (driver $DRIVER, $MODE)"
            return 0
        fi
        log "the stack changed after stack-up.sh (try $try), bringing $DRIVER back"
        exec 8>&-
    done
    die "the stack keeps changing under us (another user switching drivers?)"
}

# 3. The workspace (tempest init, once) and tempest.conf (every run: the
#    backend, and what the cloud reports, may have changed).
tempest_config() {
    if [[ ! -f $WS/.stestr.conf ]]; then
        # --config-dir/--workspace-path: nothing written to ~/.tempest.
        mkdir -p "$STATE/tempest/etc"
        "$VENV/bin/tempest" init --config-dir "$STATE/tempest/etc" \
            --workspace-path "$STATE/tempest/workspace.yaml" --name cinder-ext "$WS" \
            >"$OUT/tempest-init.log" 2>&1 || { cat "$OUT/tempest-init.log" >&2; die "tempest init failed"; }
    fi
    (
        # shellcheck source=/dev/null
        . "$STATE/passwords"
        export ADMIN_PASSWORD
        "$VENV/bin/python" "$TEMPEST_DIR/lib/tempest_conf.py" --keystone "$KEYSTONE_URL" \
            --backend "$BACKEND" --workspace "$WS" --out "$WS/etc/tempest.conf" "${CONF_FLAGS[@]}"
    ) || die "writing tempest.conf failed"
}

# 4. The run.  The pool is listed before and after (leak check); the service
#    logs are cut at their current size so that the lines of this run can be
#    kept with the results.
declare -A LOG_OFFSET=()
tempest_run() {
    local s rc=0 runs
    "$VENV/bin/python" "$TEMPEST_DIR/lib/leaks.py" list "$CEPH_DIR/ceph.conf" volumes "$OUT/pool-before.txt"
    runs=$(cat "$WS/.stestr/next-stream" 2>/dev/null || echo 0)
    for s in "${SERVICE_LOGS[@]}"; do LOG_OFFSET[$s]=$(stat -c %s "$LOGS/$s.log"); done
    SINCE=$(date -u '+%F %T')
    log "tempest run --concurrency $CONCURRENCY --regex '$REGEX' (follow: tail -f $OUT/tempest-run.log)"
    (cd "$WS" && "$VENV/bin/tempest" run --config-file "$WS/etc/tempest.conf" --regex "$REGEX" \
        --exclude-list "$EXCLUDE" --concurrency "$CONCURRENCY") >"$OUT/tempest-run.log" 2>&1 || rc=$?
    log "tempest run exited $rc"
    ((rc == 0)) || FAILED=1
    for s in "${SERVICE_LOGS[@]}"; do
        tail -c "+$((LOG_OFFSET[$s] + 1))" "$LOGS/$s.log" >"$OUT/$s.log"
    done
    # `stestr last` would show an older run if this one recorded nothing.
    (($(cat "$WS/.stestr/next-stream" 2>/dev/null || echo 0) > runs)) ||
        die "tempest recorded no run (see $OUT/tempest-run.log)"
    (cd "$WS" && "$VENV/bin/stestr" last --subunit) >"$OUT/tempest.subunit" ||
        die "no subunit stream from the run (see $OUT/tempest-run.log)"
    "$VENV/bin/python" "$TEMPEST_DIR/lib/summary.py" "$OUT/tempest.subunit" "$OUT/summary.txt" || FAILED=1
}

# 5. Leak check: new images, snapshots or trash entries attributable to
#    volumes or snapshots of this run, and Cinder records tempest left.
#    Trashed images kept only by snapshots a test unmanaged (the plugin's
#    rbac test_unmanage_snapshot: both drivers) are purged, not counted.
leak_check() {
    "$VENV/bin/python" "$TEMPEST_DIR/lib/leaks.py" list "$CEPH_DIR/ceph.conf" volumes "$OUT/pool-after.txt"
    "$VENV/bin/python" "$TEMPEST_DIR/lib/leaks.py" report --mysql-cnf "$MYSQL_CNF" --since "$SINCE" \
        --api-log "$OUT/cinder-api.log" --purge-unmanaged --ceph-conf "$CEPH_DIR/ceph.conf" --pool volumes \
        "$OUT/pool-before.txt" "$OUT/pool-after.txt" "$OUT/leaks.txt" || LEAKED=1
}

T_ALL=$SECONDS
FAILED=0
LEAKED=0
phase venv tempest_venv
phase stack stack_and_lock
phase config tempest_config
phase run tempest_run
phase leaks leak_check

VALID=1
[[ $(volume_start) == "$VOLUME_START" ]] || VALID=0
LATEST=latest-$DRIVER-$MODE
((FULL)) && LATEST=latest-$DRIVER-full-$MODE
ln -sfn "${OUT##*/}" "$STATE/tempest/results/$LATEST"
{
    printf '\n== run\n'
    printf 'driver %s (backend %s), cinder-volume %s, concurrency %s, %s stack\n' "$DRIVER" "$BACKEND" "$MODE" \
        "$CONCURRENCY" "$( ((FULL)) && echo full || echo light)"
    printf 'regex %s\nexclude list %s (%d entries)\n' "$REGEX" "$EXCLUDE" "$(grep -cv '^[[:space:]]*\(#\|$\)' "$EXCLUDE")"
    ((VALID)) || echo 'INVALID: cinder-volume was restarted or the backend switched during the run'
    printf 'phases:\n'
    printf '  %s\n' "${PHASES[@]}" "$(printf '%-8s %4ds' total "$((SECONDS - T_ALL))")"
    head -n 1 "$OUT/leaks.txt"
} | tee -a "$OUT/summary.txt"
echo "results: $OUT (summary.txt, tempest.subunit, leaks.txt, cinder-volume.log)"
((FAILED == 0 && LEAKED == 0 && VALID == 1))
