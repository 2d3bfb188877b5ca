#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# stack-up.sh - the product, up in one command: Keystone and Cinder (api,
# scheduler, volume) on the cinder-ext RBD driver, over the one-node Ceph
# test bed, with their own MariaDB and RabbitMQ; everything on 127.0.0.1.
#
# Usage: tools/stack/stack-up.sh [--full] [--driver cinder-ext|intree|both]
#                                [--threads] [--refresh-constraints]
#
#   --full                 the rest of the cloud too: Glance (RBD store, pool
#                          "images"), Placement, Nova (libvirt; KVM when
#                          /dev/kvm works, QEMU emulation otherwise),
#                          cinder-backup (Ceph driver, pool "backups") and a
#                          guest image built from Debian packages; the smoke
#                          volume is then also attached to a server.  A run
#                          without --full stops these services again.
#   --driver cinder-ext    backend "ceph-ext" on cinder_ext's RBDDriver (default)
#   --driver intree        backend "ceph-intree" on Cinder's in-tree RBDDriver
#   --driver both          both backends side by side on pool "volumes", each
#                          with its volume type (the default type and the
#                          smoke volume are ceph-ext's); what the API
#                          benchmark (tools/bench/apibench.py) compares
#   --threads              cinder-volume in Cinder's native-thread mode
#                          (OS_CINDER_DISABLE_EVENTLET_PATCHING=1)
#   --refresh-constraints  resolve the venvs afresh from the index and rewrite
#                          tools/stack/constraints.txt (a deliberate update)
#
# Run as root on Debian 12.  Idempotent: a re-run with all up takes seconds;
# a changed flag or config restarts only what it affects.  Ends with a 1 GiB
# volume "smoke" available and its image in pool "volumes".
#
# Environment: CINDER_EXT_STACK_DIR (state, default /var/tmp/cinder-ext-stack),
# CINDER_EXT_CEPH_DIR (Ceph test bed, default /var/tmp/cinder-ext-ceph),
# PYTHON (a Python 3.11 for the venvs, default python3).
# Stop with tools/stack/stack-down.sh [--purge].
set -euo pipefail

# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
set_log_tag stack-up
# shellcheck source=lib/install.sh
. "$STACK_DIR/lib/install.sh"
# shellcheck source=lib/services.sh
. "$STACK_DIR/lib/services.sh"

usage() { sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

DRIVER=cinder-ext
THREADS=0
REFRESH=0
FULL=0
while (($#)); do
    case $1 in
        --driver)
            [[ $# -ge 2 ]] || { usage >&2; exit 2; }
            DRIVER=$2
            shift
            ;;
        --driver=*) DRIVER=${1#*=} ;;
        --threads) THREADS=1 ;;
        --full) FULL=1 ;;
        --refresh-constraints) REFRESH=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
# The backend name says which driver serves it, so results (volume hosts,
# types, logs) can never be mistaken for the other driver's.
# BACKENDS lists every enabled backend; BACKEND, the first, owns the
# default volume type and the smoke volume.
case $DRIVER in
    cinder-ext) BACKENDS=(ceph-ext) ;;
    intree) BACKENDS=(ceph-intree) ;;
    both) BACKENDS=(ceph-ext ceph-intree) ;;
    *) echo "--driver: cinder-ext, intree or both, not '$DRIVER'" >&2; exit 2 ;;
esac
BACKEND=${BACKENDS[0]}
PYTHON=${PYTHON:-python3}

# apt, policy-rc.d and daemons that run as root.
[[ $(id -u) -eq 0 ]] || { echo "stack-up.sh must run as root" >&2; exit 1; }

# cinder.sh reads BACKEND(S)/DRIVER/THREADS/FULL, so it is sourced after
# parsing; so are the rest of the cloud's.
# shellcheck source=lib/cinder.sh
. "$STACK_DIR/lib/cinder.sh"
# shellcheck source=lib/barbican.sh
. "$STACK_DIR/lib/barbican.sh"
# shellcheck source=lib/glance.sh
. "$STACK_DIR/lib/glance.sh"
# shellcheck source=lib/nova.sh
. "$STACK_DIR/lib/nova.sh"

take_lock
mkdir -p "$STATE" "$RUN" "$LOGS"
T0=$SECONDS # time the run, not the wait for the lock

# Each phase is timed; the summary prints the table.
PHASES=()
phase() {
    local name=$1 t=$SECONDS
    shift
    set_log_tag "stack-up:$name"
    "$@"
    PHASES+=("$(printf '%-10s %4ds' "$name" "$((SECONDS - t))")")
    set_log_tag stack-up
}

# 1. Packages: only what is missing; the distro services stay stopped.
if ((FULL)); then
    phase packages install_packages "${CLOUD_APT_PACKAGES[@]}"
else
    phase packages install_packages
fi

# 2. Ceph: the test bed is idempotent and fast when already up.  Its own
#    progress goes to stderr; its summary to a log.
ceph_up() {
    bash "$REPO/tools/ceph/ceph-up.sh" >"$LOGS/ceph-up.log" || die "ceph-up.sh failed"
}
phase ceph ceph_up

# 3. Virtualenvs, pinned by tools/stack/constraints.txt.
phase venvs ensure_venvs "$REFRESH" "$FULL"

# 4. MariaDB and RabbitMQ: our own instances, loopback only.
load_passwords
services_up() {
    start_mariadb
    if ((FULL)); then
        ensure_databases keystone cinder glance placement nova_api:nova nova:nova nova_cell0:nova \
            barbican
    else
        ensure_databases keystone cinder
    fi
    start_rabbitmq
}
phase db+mq services_up

# 5. Keystone, the client configuration and the cinder service account.
keystone_up() {
    start_keystone
    write_client_config
    keystone_register
    if ((FULL)); then
        register_service barbican "barbican:key-manager=$BARBICAN_URL"
        register_service glance "glance:image=$GLANCE_URL"
        register_service placement "placement:placement=$PLACEMENT_URL"
        register_service nova "nova:compute=$NOVA_ENDPOINT"
        # The read-only network stub, so that clients (tempest) find the
        # "no networks" answers Nova gets through endpoint_override.
        register_service neutron "neutron:network=$NETWORK_URL"
    fi
}
phase keystone keystone_up

# 6. Without --full, none of the rest of the cloud runs (not even a
#    cinder-backup with the backup options cinder.conf no longer has).
# cinder-backup's service record goes too: it would show as down.
stop_full_cloud() {
    stop_cloud
    cinder_manage service remove cinder-backup "$CINDER_HOST" || true
}
if ((!FULL)) && cloud_started; then
    phase cloud stop_full_cloud
fi

# 7. Cinder: config, schema, services; wait until the scheduler knows the
#    backend, then the volume type named after it.
cinder_up() {
    cinder_config
    cinder_db
    switch_backend
    start_cinder
    cinder_ready
}
phase cinder cinder_up

# 8. The rest of the cloud (--full).
if ((FULL)); then
    phase barbican barbican_up
    phase glance glance_up
    phase nova nova_up
fi

# 9. The smoke volume and its RBD image; with --full also attached to a
#    server.
phase smoke smoke
if ((FULL)); then
    phase attach smoke_attach
fi

# 10. Nothing of ours may listen beyond 127.0.0.1.
phase loopback check_loopback

cloud_summary() {
    ((FULL)) || return 0
    cat <<EOF
  glance     $GLANCE_URL (images $GUEST_IMAGE, $GUEST_IMAGE_QCOW2; RBD pool images)
  nova       $NOVA_ENDPOINT (flavor $FLAVOR; server $SMOKE_SERVER)
  backups    cinder-backup, Ceph driver, pool backups

  a server's console (the guest prints what it sees on its disks):
      openstack console log show $SMOKE_SERVER
      virsh -c '$LIBVIRT_URI' console <instance-name>
EOF
}

cat <<EOF

cinder-ext stack is up ($((SECONDS - T0))s): driver $DRIVER, backend ${BACKENDS[*]}, cinder-volume $( ((THREADS)) && echo native threads || echo eventlet)$( ((FULL)) && echo ', full cloud')
$(printf '  %s\n' "${PHASES[@]}")
  keystone   $KEYSTONE_URL
  cinder     http://$BIND:$CINDER_PORT/v3
$(cloud_summary)
  state      $STATE (logs in $LOGS)
  smoke      volume $SMOKE_ID in pool volumes

  . $STATE/openrc && openstack volume list
  delete the smoke volume:  openstack volume delete $SMOKE
  stop:                     bash tools/stack/stack-down.sh [--purge]
EOF
