#!/usr/bin/env bash
# demo.sh - the README's "run the product" command, until the local Cinder
# stack exists: boot the one-node Ceph test bed, install cinder and this
# package into a virtualenv, and take one volume through its lifecycle with
# cinder_ext.volume.drivers.rbd.RBDDriver, printing each step.
#
# Usage: tools/demo.sh        (root, Debian 12; idempotent, re-runs are fast)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${CINDER_EXT_VENV:-/var/tmp/cinder-ext-venv}
CEPH_DIR=${CINDER_EXT_CEPH_DIR:-/var/tmp/cinder-ext-ceph}
PYTHON=${PYTHON:-python3}

bash "$REPO/tools/ceph/ceph-up.sh"

if [[ ! -x $VENV/bin/python ]]; then
    "$PYTHON" -m venv "$VENV"
fi
# Installing cinder takes a few minutes the first time, seconds after.
"$VENV/bin/pip" install -q -r "$REPO/test-requirements.txt" -e "$REPO"
bash "$REPO/tools/ceph/link-bindings.sh" "$VENV/bin/python" >/dev/null

exec "$VENV/bin/python" "$REPO/tools/demo_lifecycle.py" \
    --conf "$CEPH_DIR/ceph.conf" --pool volumes --user cinder
