#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# stack-down.sh - stop the stack started by stack-up.sh (with --full or not).
#
# Usage: tools/stack/stack-down.sh [--purge]
#
#   --purge   also delete the state directory (venvs, databases, logs).
#
# Only processes started by stack-up.sh from $CINDER_EXT_STACK_DIR (default
# /var/tmp/cinder-ext-stack) are touched: each pid file's process must carry
# the stack's marker in its environment and the service's program in its
# command line before it is signalled; then any leftover process carrying
# the marker (e.g. the Erlang port mapper) is stopped too.  Safe to run any
# number of times.  The Ceph test bed is left running: stop it with
# tools/ceph/ceph-down.sh [--purge].
set -euo pipefail

# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
set_log_tag stack-down
# Nothing to diagnose in service logs when stopping fails.
# shellcheck disable=SC2034 # read by die in lib/common.sh
NO_LOG_DUMP=1

PURGE=0
case ${1:-} in
    '') ;;
    --purge) PURGE=1 ;;
    -h | --help) sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
esac

[[ $(id -u) -eq 0 ]] || { echo "stack-down.sh must run as root" >&2; exit 1; }
# Nothing was ever started here.
[[ -d $STATE ]] || { log "no stack in $STATE"; exit 0; }
take_lock

# Waves, each stopped in parallel: the rest of the cloud (--full: guests,
# Nova, Glance, Placement, cinder-backup, then libvirtd), then the API
# services (clients of the database and the bus, so nothing logs connection
# errors on the way down), then MariaDB and RabbitMQ.  cinder-volume gets
# 30 s to finish what it is doing; the others stop in a second or two.
stop_cloud
stop_wave cinder-volume cinder-scheduler cinder-api keystone
stop_wave rabbitmq mariadb

# Strays: anything still carrying our marker (epmd, which daemonizes out of
# RabbitMQ's process group; a privsep helper that outlived cinder-volume).
stop_listed "leftover processes" marked_pids
rm -f "$RUN"/*.pid "$RUN"/*.spec "$RUN/mysqld.sock"

if ((PURGE)); then
    log "removing $STATE"
    rm -rf "$STATE"
    rm -f "$STATE.lock"
fi
log "stack stopped ($((SECONDS - T0))s); the Ceph test bed is still up (tools/ceph/ceph-down.sh)"
