#!/bin/bash
# devstack/tests/test_backend_hook.sh - check the DevStack backend hook
#
# Runs the cinder-ext DevStack plugin's functions without DevStack: stubs the
# few DevStack variables and helpers they use, calls
# configure_cinder_backend_cinderext the way lib/cinder's configure_cinder
# does, and checks the cinder.conf it writes, that a second run changes
# nothing, and the plugin.sh phases that need no real DevStack.
#
# Usage (from the repository root):  bash devstack/tests/test_backend_hook.sh
# Needs bash and python3 (standard library) only. Exits non-zero on failure.

# The stubbed DevStack variables below are read by the sourced plugin files,
# which shellcheck does not see being used.
# shellcheck disable=SC2034

set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cinder-ext-hook.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

PASSED=0
FAILED=0

pass() {
    PASSED=$((PASSED + 1))
    echo "ok: $*"
}

fail() {
    FAILED=$((FAILED + 1))
    echo "FAIL: $*"
}

# check DESCRIPTION COMMAND... - passes when COMMAND succeeds
check() {
    local what=$1
    shift
    if "$@"; then
        pass "$what"
    else
        fail "$what"
    fi
}

# refused DESCRIPTION COMMAND... - passes when COMMAND fails
refused() {
    local what=$1
    shift
    if "$@" 2>/dev/null; then
        fail "$what"
    else
        pass "$what"
    fi
}

# ini_get FILE SECTION KEY - value of KEY in [SECTION] ("" if absent)
ini_get() {
    awk -v section="$2" -v key="$3" '
        /^[ \t]*\[/ {
            name = $0
            gsub(/^[ \t]*\[|\][ \t]*$/, "", name)
            in_section = (name == section)
            next
        }
        in_section && index($0, "=") {
            k = substr($0, 1, index($0, "=") - 1)
            v = substr($0, index($0, "=") + 1)
            gsub(/^[ \t]+|[ \t]+$/, "", k)
            gsub(/^[ \t]+|[ \t]+$/, "", v)
            if (k == key) { print v; exit }
        }' "$1"
}

# ini_count FILE SECTION KEY - how many times KEY is set in [SECTION]
ini_count() {
    awk -v section="$2" -v key="$3" '
        /^[ \t]*\[/ {
            name = $0
            gsub(/^[ \t]*\[|\][ \t]*$/, "", name)
            in_section = (name == section)
            next
        }
        in_section && index($0, "=") {
            k = substr($0, 1, index($0, "=") - 1)
            gsub(/^[ \t]+|[ \t]+$/, "", k)
            if (k == key) n++
        }
        END { print n + 0 }' "$1"
}

# expect FILE SECTION KEY VALUE - [SECTION] KEY is VALUE, set exactly once
expect() {
    local value count
    value=$(ini_get "$1" "$2" "$3")
    count=$(ini_count "$1" "$2" "$3")
    if [[ "$value" == "$4" && "$count" == 1 ]]; then
        pass "[$2] $3 = $4"
    else
        fail "[$2] $3: expected '$4' once, got '$value' ($count times)"
    fi
}

# expect_absent FILE SECTION KEY
expect_absent() {
    check "[$2] has no $3" test "$(ini_count "$1" "$2" "$3")" = 0
}

# -- DevStack's environment, stubbed ----------------------------------------

# What stackrc, lib/cinder and devstack-plugin-ceph (lib/cephadm) provide.
DEST=$WORK/opt/stack
mkdir -p "$DEST" "$WORK/etc/cinder" "$WORK/etc/ceph"
ln -s "$REPO" "$DEST/cinder-ext"   # where enable_plugin clones the repo
CINDER_CONF=$WORK/etc/cinder/cinder.conf
CEPH_CONF_FILE=$WORK/etc/ceph/ceph.conf
CINDER_CEPH_POOL=volumes
CINDER_CEPH_USER=cinder
CINDER_CEPH_UUID=457eb676-33da-42ec-9a8c-9293d545c337
REMOTE_CEPH=False
POOLS=(images volumes)
unset PYTHON CINDER_EXT_DIR CINDER_EXT_POOL CINDER_EXT_USER CINDER_EXT_OPTIONS
touch "$CEPH_CONF_FILE"

# DevStack helpers the plugin calls; each records its call in $CALLS.
CALLS=$WORK/calls
: > "$CALLS"
define_plugin() { echo "define_plugin $*" >> "$CALLS"; }
plugin_requires() { echo "plugin_requires $*" >> "$CALLS"; }
echo_summary() { :; }
setup_develop() { echo "setup_develop $*" >> "$CALLS"; }
iniset() { echo "iniset $*" >> "$CALLS"; }
is_service_enabled() {
    local service
    for service in "$@"; do
        [[ " tempest c-vol c-bak " == *" $service "* ]] && return 0
    done
    return 1
}

# An existing cinder.conf, as lib/cinder has written it by the time it
# calls the backend hooks.
cat > "$CINDER_CONF" <<'CONF'
[DEFAULT]
# written by lib/cinder
debug = True
enabled_backends = ceph-ext

[lvmdriver-1]
volume_driver = cinder.volume.drivers.lvm.LVMVolumeDriver
volume_backend_name = lvmdriver-1
CONF

# -- settings -----------------------------------------------------------------

# shellcheck source=devstack/settings
source "$REPO/devstack/settings"
check "settings: CINDER_EXT_DIR defaults to \$DEST/cinder-ext" \
    test "$CINDER_EXT_DIR" = "$DEST/cinder-ext"
check "settings: define_plugin cinder-ext" \
    grep -qx "define_plugin cinder-ext" "$CALLS"
check "settings: plugin_requires cinder-ext devstack-plugin-ceph" \
    grep -qx "plugin_requires cinder-ext devstack-plugin-ceph" "$CALLS"
check "settings: backend hook defined" \
    declare -F configure_cinder_backend_cinderext >/dev/null
check "settings: init and cleanup hooks defined" \
    declare -F init_cinder_backend_cinderext cleanup_cinder_backend_cinderext >/dev/null

# override-defaults keeps what local.conf set, fills in the rest.
# override-defaults_with VAR=VALUE... - source override-defaults in a
# subshell after setting (or, with an empty VALUE, unsetting) VARs and print
# the resulting CINDER_ENABLED_BACKENDS and TEMPEST_VOLUME_MANAGE_SNAPSHOT.
override_defaults_with() (
    local assignment
    unset CINDER_ENABLED_BACKENDS TEMPEST_VOLUME_MANAGE_SNAPSHOT
    for assignment in "$@"; do
        export "${assignment?}"
    done
    # shellcheck source=devstack/override-defaults
    source "$REPO/devstack/override-defaults"
    echo "$CINDER_ENABLED_BACKENDS $TEMPEST_VOLUME_MANAGE_SNAPSHOT"
)
check "override-defaults: keeps CINDER_ENABLED_BACKENDS from local.conf" \
    test "$(override_defaults_with CINDER_ENABLED_BACKENDS=ceph:ceph)" = "ceph:ceph True"
check "override-defaults: CINDER_ENABLED_BACKENDS=cinderext:ceph-ext" \
    test "$(override_defaults_with)" = "cinderext:ceph-ext True"

# -- the hook, as lib/cinder calls it ----------------------------------------

# lib/cinder: be_type=${be%%:*}; be_name=${be##*:}; "configure_cinder_backend_${be_type} ${be_name}"
be=cinderext:ceph-ext
check "hook: configure_cinder_backend_${be%%:*} ${be##*:} succeeds" \
    "configure_cinder_backend_${be%%:*}" "${be##*:}"

for_default_section() {
    expect "$CINDER_CONF" ceph-ext volume_backend_name ceph-ext
    expect "$CINDER_CONF" ceph-ext volume_driver \
        cinder_ext.volume.drivers.rbd.RBDDriver
    expect "$CINDER_CONF" ceph-ext rbd_cluster_name ceph
    expect "$CINDER_CONF" ceph-ext rbd_ceph_conf "$CEPH_CONF_FILE"
    expect "$CINDER_CONF" ceph-ext rbd_pool volumes
    expect "$CINDER_CONF" ceph-ext rbd_user cinder
    expect "$CINDER_CONF" ceph-ext rbd_secret_uuid "$CINDER_CEPH_UUID"
}
for_default_section
check "hook: exactly one [ceph-ext] section" \
    test "$(grep -c '^\[ceph-ext\]' "$CINDER_CONF")" = 1
expect "$CINDER_CONF" DEFAULT debug True
expect "$CINDER_CONF" DEFAULT enabled_backends ceph-ext
expect "$CINDER_CONF" lvmdriver-1 volume_driver \
    cinder.volume.drivers.lvm.LVMVolumeDriver
check "hook: comments of other sections kept" \
    grep -qx "# written by lib/cinder" "$CINDER_CONF"
check "hook: backend section readable by configparser" \
    python3 -c '
import configparser, sys
c = configparser.ConfigParser()
c.read(sys.argv[1])
assert c["ceph-ext"]["rbd_pool"] == "volumes"
assert c["lvmdriver-1"]["volume_backend_name"] == "lvmdriver-1"
' "$CINDER_CONF"

# Idempotent: stack.sh may run again over the same cinder.conf.
cp "$CINDER_CONF" "$WORK/first"
configure_cinder_backend_cinderext ceph-ext
check "hook: second run leaves cinder.conf byte for byte the same" \
    cmp -s "$WORK/first" "$CINDER_CONF"
configure_cinder_backend_cinderext ceph-ext
check "hook: third run leaves cinder.conf byte for byte the same" \
    cmp -s "$WORK/first" "$CINDER_CONF"

# CINDER_EXT_OPTIONS become --set key=value; re-running stays idempotent.
CINDER_EXT_OPTIONS="rbd_mon_address_type=v2  rados_default_op_timeout=20 rbd_max_clone_depth=3"
configure_cinder_backend_cinderext ceph-ext
expect "$CINDER_CONF" ceph-ext rbd_mon_address_type v2
expect "$CINDER_CONF" ceph-ext rados_default_op_timeout 20
expect "$CINDER_CONF" ceph-ext rbd_max_clone_depth 3
cp "$CINDER_CONF" "$WORK/with-options"
configure_cinder_backend_cinderext ceph-ext
check "hook: re-run with CINDER_EXT_OPTIONS changes nothing" \
    cmp -s "$WORK/with-options" "$CINDER_CONF"
for_default_section

# An option may override what the hook writes itself.
CINDER_EXT_OPTIONS="rbd_cluster_name=ceph2"
configure_cinder_backend_cinderext ceph-ext
expect "$CINDER_CONF" ceph-ext rbd_cluster_name ceph2
CINDER_EXT_OPTIONS=""

# CINDER_EXT_OPTIONS is split on blanks but never globbed: with a file
# named rbd_pool=evil in the working directory, "rbd_pool=ev*" stays as is.
touch "$WORK/rbd_pool=evil"
cp "$CINDER_CONF" "$WORK/glob.conf"
( cd "$WORK" && CINDER_CONF=$WORK/glob.conf CINDER_EXT_OPTIONS="rbd_pool=ev*" \
    configure_cinder_backend_cinderext ceph-ext )
expect "$WORK/glob.conf" ceph-ext rbd_pool "ev*"
CINDER_EXT_OPTIONS="Not-A-Key=1"
cp "$CINDER_CONF" "$WORK/before-bad"
refused "hook: bad option name refused" \
    configure_cinder_backend_cinderext ceph-ext
check "hook: refused option leaves cinder.conf alone" \
    cmp -s "$WORK/before-bad" "$CINDER_CONF"
CINDER_EXT_OPTIONS=""

# A second backend on another pool and user, next to the first.
CINDER_EXT_POOL=volumes2 CINDER_EXT_USER=cinder2 \
    configure_cinder_backend_cinderext ceph-ext-2
expect "$CINDER_CONF" ceph-ext-2 rbd_pool volumes2
expect "$CINDER_CONF" ceph-ext-2 rbd_user cinder2
expect "$CINDER_CONF" ceph-ext-2 volume_backend_name ceph-ext-2
expect "$CINDER_CONF" ceph-ext rbd_pool volumes

# No libvirt secret uuid: no rbd_secret_uuid key (the driver then uses the
# cluster fsid, as in-tree).
CINDER_CEPH_UUID="" configure_cinder_backend_cinderext no-secret
expect "$CINDER_CONF" no-secret rbd_pool volumes
expect_absent "$CINDER_CONF" no-secret rbd_secret_uuid

# Without devstack-plugin-ceph's variables the hook fails loudly.
CEPH_CONF_FILE="" refused "hook: fails without CEPH_CONF_FILE" \
    configure_cinder_backend_cinderext broken
check "hook: nothing written for a failed backend" \
    test "$(grep -c '^\[broken\]' "$CINDER_CONF")" = 0
refused "hook: fails without a backend name" \
    configure_cinder_backend_cinderext
CINDER_EXT_DIR=$WORK/nowhere refused \
    "hook: fails when backend_section.py is missing" \
    configure_cinder_backend_cinderext x

check "hook: init_cinder_backend_cinderext is a no-op" \
    init_cinder_backend_cinderext ceph-ext
check "hook: cleanup_cinder_backend_cinderext is a no-op" \
    cleanup_cinder_backend_cinderext ceph-ext

# -- plugin.sh phases that need no real DevStack ------------------------------

: > "$CALLS"
# shellcheck source=devstack/plugin.sh
source "$REPO/devstack/plugin.sh" stack pre-install
check "pre-install: shared pool adds nothing to POOLS" \
    test "${POOLS[*]}" = "images volumes"
CINDER_EXT_POOL=volumes2
# shellcheck source=devstack/plugin.sh
source "$REPO/devstack/plugin.sh" stack pre-install
# shellcheck source=devstack/plugin.sh
source "$REPO/devstack/plugin.sh" stack pre-install
check "pre-install: CINDER_EXT_POOL added to POOLS once" \
    test "${POOLS[*]}" = "images volumes volumes2"
POOLS=(images volumes)
REMOTE_CEPH=True
# shellcheck source=devstack/plugin.sh
source "$REPO/devstack/plugin.sh" stack pre-install >/dev/null
check "pre-install: REMOTE_CEPH=True creates no pool" \
    test "${POOLS[*]}" = "images volumes"
REMOTE_CEPH=False
unset CINDER_EXT_POOL

# stack install: setup_develop, then the import check with DevStack's python.
cat > "$WORK/python3" <<'PY'
#!/bin/bash
echo "python $*" >> "$CALLS"
PY
chmod +x "$WORK/python3"
export CALLS
PYTHON=$WORK/python3
# shellcheck source=devstack/plugin.sh
source "$REPO/devstack/plugin.sh" stack install
check "install: setup_develop \$CINDER_EXT_DIR" \
    grep -qx "setup_develop $CINDER_EXT_DIR" "$CALLS"
check "install: checks rados, rbd and the driver import" \
    grep -q "^python -c import rados, rbd, cinder_ext.volume.drivers.rbd" "$CALLS"
unset PYTHON

# stack test-config: Tempest flags.
TEMPEST_CONFIG=$WORK/tempest.conf
CINDER_BACKUP_DRIVER=ceph
: > "$CALLS"
# shellcheck source=devstack/plugin.sh
source "$REPO/devstack/plugin.sh" stack test-config
for line in \
    "volume-feature-enabled manage_volume True" \
    "volume-feature-enabled manage_snapshot True" \
    "volume-feature-enabled volume_revert True" \
    "volume-feature-enabled extend_attached_volume True" \
    "volume-feature-enabled snapshot True" \
    "volume-feature-enabled clone True" \
    "volume-feature-enabled backup True" \
    "volume manage_volume_ref source-name, volume-%s" \
    "volume manage_snapshot_ref source-name, snapshot-%s" \
    "compute-feature-enabled attach_encrypted_volume False"; do
    check "test-config: $line" grep -qxF "iniset $TEMPEST_CONFIG $line" "$CALLS"
done
CINDER_BACKUP_DRIVER=swift
: > "$CALLS"
# shellcheck source=devstack/plugin.sh
source "$REPO/devstack/plugin.sh" stack test-config
check "test-config: backup flag left alone without the Ceph backup driver" \
    test "$(grep -c "volume-feature-enabled backup" "$CALLS")" = 0
CINDER_EXT_CONFIGURE_TEMPEST=False
: > "$CALLS"
# shellcheck source=devstack/plugin.sh
source "$REPO/devstack/plugin.sh" stack test-config
check "test-config: CINDER_EXT_CONFIGURE_TEMPEST=False sets nothing" \
    test ! -s "$CALLS"

for mode in unstack clean; do
    # shellcheck source=devstack/plugin.sh
    check "plugin.sh $mode runs" source "$REPO/devstack/plugin.sh" "$mode"
done

echo
echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
