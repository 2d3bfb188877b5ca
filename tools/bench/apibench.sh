#!/usr/bin/env bash
# apibench.sh - the side-by-side API benchmark (tools/bench/apibench.py):
# brings the local stack up with both drivers, then runs the benchmark with
# the stack's clients venv.  Arguments go to apibench.py (--help).
# cloudbench.sh, a link to this script, runs cloudbench.py the same way.
#
#   bash tools/bench/apibench.sh [--rounds N] [--mode eventlet|threads|both]
#   bash tools/bench/cloudbench.sh [--rounds N]
#
# Leaves the stack up with both backends (ceph-ext, the default type, and
# ceph-intree); `stack-up.sh` without --driver goes back to ours alone.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${CINDER_EXT_STACK_DIR:-/var/tmp/cinder-ext-stack}
if [[ ! -x $STATE/venv-clients/bin/python ]]; then
    for arg in "$@"; do
        [[ $arg == -h || $arg == --help ]] || continue
        sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
        exit 0
    done
fi
# The clients venv is made by stack-up.sh; apibench.py brings the stack
# into each mode it measures.
[[ -x $STATE/venv-clients/bin/python ]] ||
    bash "$REPO/tools/stack/stack-up.sh" --driver both
exec "$STATE/venv-clients/bin/python" "$REPO/tools/bench/$(basename "$0" .sh).py" "$@"
