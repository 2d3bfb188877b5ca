#!/usr/bin/env bash
# link-bindings.sh - make Debian's `rados` and `rbd` python modules importable
# inside a virtualenv, without exposing the rest of
# /usr/lib/python3/dist-packages (include-system-site-packages would drag in
# Debian's old copies of oslo/six/requests/... and shadow the venv's pins).
#
# Usage: tools/ceph/link-bindings.sh VENV_PYTHON
#   e.g. tools/ceph/link-bindings.sh .venv/bin/python
#
# It symlinks only rados*.so and rbd*.so (python3-rados / python3-rbd) into
# <venv>/lib/cinder-ext-ceph-bindings/ and drops
# <site-packages>/cinder-ext-ceph-bindings.pth naming that directory.  site.py
# *appends* .pth directories to sys.path, so anything installed in the venv
# still wins.  Idempotent; re-run after recreating the venv or after a
# python3-rados upgrade.  The bindings are C extensions compiled for Debian's
# python3 (3.11 on bookworm): the venv must be the same major.minor version.
set -euo pipefail

SRC=/usr/lib/python3/dist-packages
NAME=cinder-ext-ceph-bindings

[[ $# -eq 1 ]] || { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }
PY=$1
[[ -x $PY ]] || { echo "not an executable python: $PY" >&2; exit 1; }

# Ask the venv's own interpreter where its site-packages is, what its prefix
# is and which extension-module suffix (ABI tag) it loads, rather than
# guessing from the path.
read -r PREFIX SITE EXT_SUFFIX < <("$PY" -c '
import sys, sysconfig
print(sys.prefix, sysconfig.get_paths()["purelib"], sysconfig.get_config_var("EXT_SUFFIX"))')

# Refuse to touch a system interpreter: the point is to modify a venv only.
if [[ $("$PY" -c 'import sys; print(sys.prefix != sys.base_prefix)') != True ]]; then
    echo "$PY is not a virtualenv python (sys.prefix == sys.base_prefix)" >&2
    exit 1
fi

# Only link the exact ABI the venv can load; a rados.cpython-311-*.so is
# useless (and confusing) in a 3.12 venv.
shopt -s nullglob
mods=("$SRC"/rados"$EXT_SUFFIX" "$SRC"/rbd"$EXT_SUFFIX")
if ((${#mods[@]} != 2)); then
    echo "no rados/rbd bindings with suffix $EXT_SUFFIX in $SRC" >&2
    echo "available: $(cd "$SRC" && echo rados*.so rbd*.so)" >&2
    echo "(install python3-rados python3-rbd, and use a venv built on the same python major.minor)" >&2
    exit 1
fi

BIND_DIR=$PREFIX/lib/$NAME
mkdir -p "$BIND_DIR"
# Start from a clean directory so stale links (old ABI, removed modules)
# never linger; only our own symlinks live here.
find "$BIND_DIR" -mindepth 1 -maxdepth 1 -type l -delete
for m in "${mods[@]}"; do
    ln -sfn "$m" "$BIND_DIR/${m##*/}"
done

# One absolute directory per line is all a .pth needs; rewriting it each time
# keeps the operation idempotent.
printf '%s\n' "$BIND_DIR" >"$SITE/$NAME.pth"

# Prove it: import both modules in the venv and show where they came from.
"$PY" -c '
import rados, rbd
print("rados:", rados.__file__)
print("rbd:  ", rbd.__file__, "librbd", rbd.RBD().version())'
