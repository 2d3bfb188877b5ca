#!/usr/bin/env bash
# run-tests.sh - the project's test command (README), also what CI runs.
#
# Usage: tools/run-tests.sh [TOX_ENV_LIST]
#   default envs: pep8,ci (ci = the py3, py3-threading, functional and
#   functional-threading test runs in one virtualenv)
#
# On a fresh Debian 12 machine, as root, it installs what the tests need
# (Debian's Ceph daemons and Python bindings, shellcheck; tox in its own
# virtualenv), boots the one-node Ceph test bed and runs the tox envs: lint,
# unit tests in both concurrency modes, functional tests against the real
# cluster in both modes. It ends with one "N passed, N failed" line.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
ENVS=${1:-pep8,ci}
TOOLS_VENV=${CINDER_EXT_TOOLS_VENV:-$REPO/.tox/.tools}
LOG=$REPO/.tox/run-tests.log
PYTHON=${PYTHON:-python3}

log() { printf '[run-tests] %s\n' "$*"; }

# Lint needs shellcheck (pep8 env), image tests need qemu-img;
# ceph-up.sh installs the Ceph packages.
missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v qemu-img >/dev/null 2>&1 || missing+=(qemu-utils)
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
cd "$REPO"
log "tox -e $ENVS"
status=0
"$TOOLS_VENV/bin/tox" -e "$ENVS" 2>&1 | tee "$LOG" || status=$?

# The DevStack hook test needs no virtualenv: it checks the cinder.conf
# section the plugin writes, with DevStack's environment stubbed.
log "devstack/tests/test_backend_hook.sh"
bash "$REPO/devstack/tests/test_backend_hook.sh" 2>&1 | tee -a "$LOG" ||
    status=1

# stestr prints " - Passed: N" / " - Failed: N" per run, the hook test
# "N passed, N failed": add them all up.
awk '/^ - Passed: /{p+=$3} /^ - Failed: /{f+=$3}
     /^[0-9]+ passed, [0-9]+ failed/{p+=$1; f+=$3}
     END {printf "%d passed, %d failed\n", p, f}' "$LOG"
exit "$status"
