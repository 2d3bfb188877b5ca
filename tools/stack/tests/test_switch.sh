#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# test_switch.sh - drop-in, through the whole cloud: volumes that Cinder's
# in-tree driver made keep working after the one-line switch to cinder-ext
# (stack-up.sh --full --driver intree, then stack-up.sh --full, which hands
# the volumes to our backend as an operator would with cinder-manage).
#
# In-tree makes: a volume from the guest image (a clone of Glance's image),
# a volume with data, a snapshot of it, a volume from that snapshot and a
# clone of the data volume.  After the switch, ours: boots a server from
# the image volume, attaches the clone to it (the guest sees the disk) and
# detaches it, backs up the volume from the snapshot and restores it byte
# for byte, then deletes everything; nothing of those volumes may stay in
# the pool.  Leaves the stack up on cinder-ext (--full).  Prints
# "N passed, N failed" (run-tests.sh adds it up).
#
# Usage: test_switch.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/common.sh
. "$HERE/../lib/common.sh"
set_log_tag test-switch
# BACKENDS/DRIVER/THREADS/FULL are read by cinder.sh's functions we do not
# call; osc, wait_volume and the console helpers are what we use.
# shellcheck source=../lib/cinder.sh
. "$STACK_DIR/lib/cinder.sh"
# shellcheck source=../lib/glance.sh
. "$STACK_DIR/lib/glance.sh"
# shellcheck source=../lib/nova.sh
. "$STACK_DIR/lib/nova.sh"

PREFIX=switch-$$
OUT=$STATE/tests/switch
mkdir -p "$OUT"
passed=0 failed=0
ok() { passed=$((passed + 1)); log "ok: $*"; }
not_ok() { failed=$((failed + 1)); log "FAILED: $*"; }
# check WHAT CMD...: ok if CMD succeeds, not_ok otherwise.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
# At exit, whatever a failed run left is deleted (best effort), and a die()
# on the way counts as one failure.
SERVER='' BACKUP='' VOLUMES=()
# made ID: a volume to delete at exit, before those made earlier.
made() { VOLUMES=("$1" "${VOLUMES[@]}"); }
leftovers() {
    [[ -z $SERVER ]] || osc server delete --wait "$SERVER"
    [[ -z $BACKUP ]] || osc volume backup delete --force "$BACKUP"
    local id
    for id in "${VOLUMES[@]}"; do
        # --purge: with its snapshots.
        osc volume delete --purge "$id"
        while osc volume show "$id" >/dev/null 2>&1; do sleep 1; done
    done
}
finish() {
    local rc=$?
    if ((rc != 0)); then
        ((failed > 0)) || failed=1
        leftovers >/dev/null 2>&1 || true
    fi
    echo "$passed passed, $failed failed"
}
trap finish EXIT

rbd_admin() { rbd -c "$CEPH_DIR/ceph.conf" --id admin "$@"; }
pool_sha() { rbd_admin export --no-progress "volumes/volume-$1" - | sha256sum | cut -d' ' -f1; }
# `openstack ... -f value -c id`, waited for: new_volume NAME ARGS...
new_volume() {
    local id
    id=$(osc volume create --size 1 -f value -c id "$PREFIX-$1" "${@:2}") || die "volume create $1 failed"
    wait_volume "$id" available 300
    echo "$id"
}
delete_volume() {
    osc volume delete "$1" || die "volume delete $1 failed"
    while osc volume show "$1" >/dev/null 2>&1; do sleep 1; done
}
host_of() { osc volume show "$1" -f value -c os-vol-host-attr:host; }

stack_up() {
    log "stack-up.sh $* (log: $OUT/stack-up.log)"
    bash "$STACK_DIR/stack-up.sh" "$@" >>"$OUT/stack-up.log" 2>&1 ||
        { tail -n 30 "$OUT/stack-up.log"; die "stack-up.sh $* failed"; }
}

# 1. What the in-tree driver makes.
stack_up --full --driver intree
IMAGE_VOL=$(new_volume image --image "$GUEST_IMAGE")
made "$IMAGE_VOL"
DATA_VOL=$(new_volume data)
made "$DATA_VOL"
rbd_admin bench --io-type write --io-size 4M --io-total 64M "volumes/volume-$DATA_VOL" >/dev/null
DATA_SHA=$(pool_sha "$DATA_VOL")
SNAP=$(osc volume snapshot create --volume "$DATA_VOL" -f value -c id "$PREFIX-snap") ||
    die "snapshot create failed"
until [[ $(osc volume snapshot show "$SNAP" -f value -c status) == available ]]; do sleep 1; done
FROM_SNAP=$(new_volume from-snap --snapshot "$SNAP")
made "$FROM_SNAP"
CLONE=$(new_volume clone --source "$DATA_VOL")
made "$CLONE"
IDS=("$IMAGE_VOL" "$DATA_VOL" "$SNAP" "$FROM_SNAP" "$CLONE")
log "in-tree made ${IDS[*]}"

# 2. The switch: one line of cinder.conf, the volumes handed over.
stack_up --full
for id in "$IMAGE_VOL" "$DATA_VOL" "$FROM_SNAP" "$CLONE"; do
    [[ $(host_of "$id") == "$CINDER_HOST@ceph-ext#ceph-ext" ]] ||
        die "volume $id is on $(host_of "$id") after the switch"
done
ok "the in-tree volumes are on our backend after the switch"

# 3. Nova boots from the in-tree image volume and attaches the in-tree clone.
SERVER=$(osc --os-compute-api-version 2.37 server create --volume "$IMAGE_VOL" --flavor "$FLAVOR" \
    --nic none --wait -f value -c id "$PREFIX-server") || die "server create failed"
wait_console "$SERVER" 'cinder-ext-guest: booted' 0 180
ok "a server boots from the volume in-tree made from the image"
serial=${CLONE:0:20}
osc server add volume "$SERVER" "$CLONE" >/dev/null || die "attaching $CLONE failed"
wait_volume "$CLONE" in-use 120
wait_console "$SERVER" "disk vd[b-z] added [0-9]* serial $serial" 0 60
ok "the guest sees the in-tree clone attached"
osc server remove volume "$SERVER" "$CLONE" || die "detaching $CLONE failed"
wait_volume "$CLONE" available 120
wait_console "$SERVER" 'disk vd[b-z] gone' 0 60
ok "the in-tree clone detaches"
check "the clone still holds its data" test "$(pool_sha "$CLONE")" == "$DATA_SHA"

# 4. cinder-backup backs up the in-tree volume from the snapshot; restored.
BACKUP=$(osc volume backup create --name "$PREFIX-backup" -f value -c id "$FROM_SNAP") ||
    die "backup create failed"
until [[ $(osc volume backup show "$BACKUP" -f value -c status) == available ]]; do
    [[ $(osc volume backup show "$BACKUP" -f value -c status) == error ]] && die "backup $BACKUP failed"
    sleep 2
done
RESTORED=$(osc volume backup restore "$BACKUP" "$PREFIX-restored" -f value -c volume_id) ||
    die "restore failed"
made "$RESTORED"
wait_volume "$RESTORED" available 300
IDS+=("$BACKUP" "$RESTORED")
check "the restore holds exactly the snapshot's data" test "$(pool_sha "$RESTORED")" == "$DATA_SHA"

# 5. Everything deleted through the API; nothing of it left in the pool.
osc server delete --wait "$SERVER" || die "server delete failed"
SERVER=''
wait_volume "$IMAGE_VOL" available 120
osc volume backup delete "$BACKUP" || die "backup delete failed"
BACKUP=
for id in "$RESTORED" "$FROM_SNAP" "$CLONE"; do delete_volume "$id"; done
osc volume snapshot delete "$SNAP" || die "snapshot delete failed"
while osc volume snapshot show "$SNAP" >/dev/null 2>&1; do sleep 1; done
for id in "$DATA_VOL" "$IMAGE_VOL"; do delete_volume "$id"; done
left=''
deadline=$((SECONDS + 120))
while ((SECONDS < deadline)); do
    left=$( { rbd_admin ls volumes; rbd_admin trash ls volumes; } | grep -F -f <(printf '%s\n' "${IDS[@]}") || true)
    [[ -z $left ]] && break
    sleep 2
done
[[ -z $left ]] || log "left in pool volumes: $left"
check "nothing of the in-tree volumes is left in the pool" test -z "$left"
((failed == 0))
