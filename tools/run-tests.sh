#!/usr/bin/env bash
# run-tests.sh - the project's test command (README), also what CI runs.
#
# Usage: tools/run-tests.sh [--quick] [TOX_ENV_LIST]
#   TOX_ENV_LIST  default pep8,ci (ci = the py3, py3-threading, functional
#                 and functional-threading runs in one virtualenv)
#   --quick       stop after tox and the DevStack hook test: no Cinder
#                 stack, end-to-end or Tempest run
#
# On a fresh Debian 12 machine, as root, it installs what the tests need
# (Debian's Ceph daemons and Python bindings, shellcheck, qemu-img; tox in
# its own virtualenv) and runs, in order:
#   1. tox: lint, unit tests and the functional suite on the one-node Ceph
#      test bed, each in eventlet and native-thread mode;
#   2. the DevStack plugin's hook test;
#   3. the README's two commands from all stopped (stack-up with the test
#      bed down, stack-down, stack-up: no lock or descriptor may leak into
#      a daemon); then, on that local Cinder stack (tools/stack) on our
#      driver, the end-to-end suite through the real API with cinder-volume
#      under eventlet and then native threads;
#   4. on the full cloud (stack-up.sh --full): Tempest's volume API tests,
#      cinder-tempest-plugin's api, rbac and scenario suites and Tempest's
#      scenario tests that use volumes; then the driver switch (volumes the
#      in-tree driver made, used by Nova and cinder-backup after the switch
#      to ours); then the full cloud from all stopped.
# It ends with one "N passed, N failed" line over all of them.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
QUICK=0
if [[ ${1:-} == --quick ]]; then
    QUICK=1
    shift
fi
ENVS=${1:-pep8,ci}
TOOLS_VENV=${CINDER_EXT_TOOLS_VENV:-$REPO/.tox/.tools}
LOG=$REPO/.tox/run-tests.log
PYTHON=${PYTHON:-python3}
T0=$SECONDS

log() { printf '[run-tests +%4ds] %s\n' "$((SECONDS - T0))" "$*"; }

# Lint needs shellcheck (pep8 env), image tests need qemu-img;
# ceph-up.sh installs the Ceph packages.
missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v qemu-img >/dev/null 2>&1 || missing+=(qemu-utils)
# Encrypted volumes: QEMU's rbd driver, and cryptsetup for the checks.
[[ -e /usr/lib/x86_64-linux-gnu/qemu/block-rbd.so ]] || missing+=(qemu-block-extra)
command -v cryptsetup >/dev/null 2>&1 || missing+=(cryptsetup-bin)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" \
        >/dev/null
fi

# Boots (or confirms) the cluster and installs the Ceph packages; the
# functional suite would do it too, but failing here gives a clearer log.
bash "$REPO/tools/ceph/ceph-up.sh"

if [[ ! -x $TOOLS_VENV/bin/tox ]]; then
    log "installing tox into $TOOLS_VENV"
    "$PYTHON" -m venv "$TOOLS_VENV"
    "$TOOLS_VENV/bin/pip" install -q 'tox>=4.6'
fi

mkdir -p "$(dirname "$LOG")"
: >"$LOG"
cd "$REPO"
status=0

# Each phase appends to the log, so the counts below see every runner.
phase() {
    local name=$1
    shift
    log "$name"
    "$@" 2>&1 | tee -a "$LOG" || { status=1; log "$name FAILED"; }
    log "$name done"
}

phase "tox -e $ENVS" "$TOOLS_VENV/bin/tox" -e "$ENVS"
# Needs no virtualenv: checks the cinder.conf section the plugin writes,
# with DevStack's environment stubbed.
phase "devstack hook test" bash devstack/tests/test_backend_hook.sh
if ((!QUICK)); then
    phase "stack from all stopped" bash tools/stack/tests/test_from_stopped.sh
    phase "e2e (eventlet)" bash tools/stack/run-e2e.sh
    phase "e2e (native threads)" bash tools/stack/run-e2e.sh --threads
    phase "tempest (full cloud)" bash tools/tempest/run-tempest.sh --full
    phase "driver switch (full cloud)" bash tools/stack/tests/test_switch.sh
    phase "full cloud from stopped" bash tools/stack/tests/test_from_stopped.sh --full
fi

# stestr prints " - Passed: N" / " - Failed: N" per run, the hook test
# "N passed, N failed", Tempest's summary "passed N, failed N, ...":
# add them all up.
awk '/^ - Passed: /{p+=$3} /^ - Failed: /{f+=$3}
     /^[0-9]+ passed, [0-9]+ failed/{p+=$1; f+=$3}
     /^passed [0-9]+, failed [0-9]+/{gsub(",", ""); p+=$2; f+=$4}
     END {printf "%d passed, %d failed\n", p, f}' "$LOG"
log "total $((SECONDS - T0)) s"
exit "$status"
