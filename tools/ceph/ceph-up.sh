#!/usr/bin/env bash
# ceph-up.sh - boot (or revive) a throwaway one-node Ceph Pacific test bed
# for the cinder-ext RBD driver tests.
#
# Usage: tools/ceph/ceph-up.sh [--fresh] [--min-compat-client mimic|luminous]
#
#   --fresh                 stop the daemons of an existing cluster in $DIR,
#                           wipe $DIR and bootstrap a brand-new cluster.
#   --min-compat-client X   after the cluster is up, run
#                           `ceph osd set-require-min-compat-client X
#                           --yes-i-really-mean-it` (X = luminous gives RBD
#                           clone v1 by default, X = mimic gives clone v2).
#
# Environment:
#   CINDER_EXT_CEPH_DIR      state directory (default /var/tmp/cinder-ext-ceph)
#   CINDER_EXT_CEPH_TIMEOUT  seconds to wait for HEALTH/active+clean (default 120)
#   CINDER_EXT_CEPH_OSD_SIZE size of the sparse OSD block file (default 20G)
#   CINDER_EXT_CEPH_MON_V2_PORT / CINDER_EXT_CEPH_MON_V1_PORT
#                            mon ports for a *fresh* cluster (default 3300 /
#                            6789); only needed to run a second test bed
#                            (other DIR) next to the default one.
#
# Everything (conf, keyrings, mon/mgr/osd data, logs, pid files, admin
# sockets, crash dumps) lives under $DIR; nothing is written to /etc/ceph or
# /var/lib/ceph, so the test bed never collides with a "real" Ceph install
# and can be thrown away with `ceph-down.sh --purge`.  The only file outside
# $DIR is the lock file $DIR.lock, which serialises concurrent
# ceph-up.sh/ceph-down.sh runs on the same DIR (it has to survive the wipe).
set -euo pipefail

# --- constants ---------------------------------------------------------------

# The Debian packages that provide the daemons, the CLI and the python
# bindings the driver needs (rados/rbd).
PACKAGES=(ceph-mon ceph-osd ceph-mgr ceph-common python3-rados python3-rbd)

# One state directory so several checkouts/engineers can reason about a single
# place, and `rm -rf` of it is a complete reset.
DIR=${CINDER_EXT_CEPH_DIR:-/var/tmp/cinder-ext-ceph}
CONF=$DIR/ceph.conf
TIMEOUT=${CINDER_EXT_CEPH_TIMEOUT:-120}
OSD_SIZE=${CINDER_EXT_CEPH_OSD_SIZE:-20G}

# Fixed, well-known ids: one mon "a", one mgr "x", one OSD (id 0, assigned by
# the mon).  Fixed names keep pid files / logs predictable for ceph-down.sh.
MON_ID=a
MGR_ID=x
# Loopback only: the test bed must never be reachable from outside the box.
MON_IP=127.0.0.1
MON_V2_PORT=${CINDER_EXT_CEPH_MON_V2_PORT:-3300}
MON_V1_PORT=${CINDER_EXT_CEPH_MON_V1_PORT:-6789}
MON_ADDRS="[v2:${MON_IP}:${MON_V2_PORT},v1:${MON_IP}:${MON_V1_PORT}]"

# Pools: "volumes" is the driver's main one, "volumes2" the target for
# migration tests; the rest of the cloud (tools/stack/stack-up.sh --full)
# keeps Glance images in "images" and cinder-backup's backups in "backups".
# Small pg_num keeps the 2-core box idle.
POOLS=(volumes volumes2 images backups)
PG_NUM=16

# Users and their caps, as the upstream Cinder/Glance deployment guides give
# them, restricted to our pools.  'profile rbd' on mon allows read-only mon
# commands (mon dump, df, osd pool get-quota) plus blocklisting.  Cinder
# reads Glance's images to clone volumes from them without a copy, and
# writes there too: cinder-ext's rbd_glance_store_pool puts uploaded
# volumes straight into Glance's pool (the guides' read-only profile is
# enough without that option).
declare -A USER_CAPS=(
    [cinder]="mon|profile rbd|osd|profile rbd pool=volumes, profile rbd pool=volumes2, profile rbd pool=images|mgr|profile rbd pool=volumes, profile rbd pool=volumes2"
    [glance]="mon|profile rbd|osd|profile rbd pool=images|mgr|profile rbd pool=images"
    [cinder-backup]="mon|profile rbd|osd|profile rbd pool=backups|mgr|profile rbd pool=backups"
)
USERS=(cinder glance cinder-backup)

# The ceph CLI and our JSON helpers must run on Debian's python, which is the
# one the python3-rados/rbd bindings are built for (PATH may have pyenv first).
SYSPY=/usr/bin/python3

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T0=$SECONDS

# --- helpers -----------------------------------------------------------------

log() { printf '[ceph-up +%3ds] %s\n' "$((SECONDS - T0))" "$*" >&2; }

# Print the tails of all logs so a failure in CI is diagnosable without
# logging into the box.
dump_logs() {
    local f
    for f in "$DIR"/log/*.log "$DIR"/log/*.out; do
        [[ -s $f ]] || continue
        printf '\n===== tail -n 40 %s =====\n' "$f" >&2
        tail -n 40 "$f" >&2 || true
    done
}

die() {
    printf '[ceph-up] ERROR: %s\n' "$*" >&2
    dump_logs
    exit 1
}

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# Every CLI call goes through here: explicit conf (never /etc/ceph), and a
# hard timeout because a ceph command against a dead mon otherwise retries
# forever and would hang the caller.
cephc() {
    timeout 60 ceph -c "$CONF" --connect-timeout 15 "$@"
}

# pid file path of a daemon, e.g. pidfile mon.a.  Must match the pid_file
# setting written into ceph.conf below.
pidfile() { echo "$DIR/run/ceph-$1.pid"; }

# True if the daemon "$1" (e.g. osd.0) started from *this* $DIR is alive.  We
# check the command line (argv read with a builtin, no fork) for our exact
# conf path and id so that a stale pid file whose pid got recycled after a
# reboot is never mistaken for a live daemon.
daemon_alive() {
    local pf pid argv=()
    pf=$(pidfile "$1")
    [[ -s $pf ]] || return 1
    pid=$(<"$pf")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    mapfile -d '' -t argv 2>/dev/null <"/proc/$pid/cmdline" || return 1
    [[ ${argv[0]:-} == *"ceph-${1%%.*}" && ${argv[*]:1} == "-c $CONF -i ${1#*.}" ]]
}

# Start one daemon ($1 = mon|mgr|osd, $2 = id) unless already running.
# Ceph daemons daemonize by default; for mon and osd the parent only exits
# once the child has finished its init (mon store / bluestore mounted), so a
# non-zero exit here is a real startup failure.  ceph-mgr detaches at once;
# a broken mgr shows up in wait_ready (no PG stats -> timeout with logs).
start_daemon() {
    local type=$1 id=$2
    if daemon_alive "$type.$id"; then
        log "$type.$id already running (pid $(<"$(pidfile "$type.$id")"))"
        return 0
    fi
    # A stale pid file (crash, reboot) would only confuse ceph-down.sh.
    rm -f "$(pidfile "$type.$id")"
    log "starting $type.$id"
    # stdout/stderr of the launcher go to a file: daemons log to $DIR/log,
    # but early failures (bad conf, port in use) are only printed here.
    # exec-clean.sh: the daemon must not inherit our lock fd (nor the lock
    # of a stack-up.sh that called us), or it would hold the lock for its
    # whole life and block every later ceph-up/ceph-down/stack-up.
    if ! bash "$SCRIPT_DIR/../lib/exec-clean.sh" "ceph-$type" -c "$CONF" -i "$id" \
        >>"$DIR/log/ceph-$type.$id.out" 2>&1; then
        die "ceph-$type -i $id failed to start"
    fi
}

# --- argument parsing ----------------------------------------------------------

FRESH=0
MIN_COMPAT=
while (($#)); do
    case $1 in
        --fresh) FRESH=1 ;;
        --min-compat-client)
            [[ $# -ge 2 ]] || { usage >&2; exit 2; }
            MIN_COMPAT=$2
            shift
            ;;
        --min-compat-client=*) MIN_COMPAT=${1#*=} ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
case $MIN_COMPAT in
    '' | luminous | mimic | nautilus | octopus | pacific) ;;
    *) echo "--min-compat-client: unsupported release '$MIN_COMPAT'" >&2; exit 2 ;;
esac

# Daemons run as root and we write to /usr/sbin/policy-rc.d and dpkg's db.
[[ $(id -u) -eq 0 ]] || { echo "ceph-up.sh must run as root" >&2; exit 1; }

# Admin sockets are AF_UNIX: the path must fit in sun_path (107 bytes), or
# the daemons silently run without an admin socket.
if ((${#DIR} > 70)); then
    echo "CINDER_EXT_CEPH_DIR too long (${#DIR} chars, max 70): unix socket paths would not fit" >&2
    exit 1
fi

# Two ceph-up.sh (or ceph-up + ceph-down) on the same DIR at once would wipe
# or start daemons under each other's feet (seen in practice: a parallel
# --fresh).  Hold an exclusive lock for the whole run; wait for a running
# one to finish rather than fail.  Exported so our own ceph-down.sh call
# knows the lock is already held by its parent.
LOCK=${DIR%/}.lock
mkdir -p "$(dirname "$LOCK")"
exec 9>"$LOCK"
if ! flock -n 9; then
    log "waiting for another ceph-up/ceph-down on $DIR to finish ($LOCK)"
    flock -w 600 9 || { echo "could not get $LOCK within 600s" >&2; exit 1; }
fi
export CINDER_EXT_CEPH_LOCK_HELD=$LOCK
T0=$SECONDS # report boot time without the time spent waiting for the lock

# --- 1. packages -----------------------------------------------------------------

install_packages() {
    local p missing=()
    # dpkg-query is cheap and offline; only touch apt if something is missing.
    for p in "${PACKAGES[@]}"; do
        if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
            missing+=("$p")
        fi
    done
    ((${#missing[@]})) || return 0

    log "installing missing packages: ${missing[*]}"
    # The maintainer scripts would otherwise start (systemd) daemons using
    # /etc/ceph; policy-rc.d exit 101 forbids that.  Only install our own
    # policy-rc.d if there is none (containers often ship one already) and
    # only remove it if we created it.
    # The EXIT trap removes it even if apt fails or we are interrupted.
    local own_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        trap 'exit 130' INT TERM HUP # turn signals into a normal exit -> EXIT trap
        printf '#!/bin/sh\n# installed temporarily by cinder-ext ceph-up.sh\nexit 101\n' \
            >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    local rc=0
    # DPkg::Lock::Timeout makes us wait for a concurrent apt/dpkg instead of
    # failing immediately on the lock.
    {
        apt-get -o DPkg::Lock::Timeout=600 update &&
            DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
                install -y --no-install-recommends "${missing[@]}"
    } || rc=$?
    if ((own_policy)); then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT INT TERM HUP
    fi
    ((rc == 0)) || die "apt-get install failed (rc=$rc)"
}
install_packages

# --- 2. fast path / restart / wipe decision ------------------------------------

# $DIR/.bootstrapped is written as the very last step of a fresh bootstrap, so
# its absence means "no cluster" or "half-built cluster" (e.g. an interrupted
# run); either way the only safe thing is to start over.
if ((FRESH)) || [[ ! -e $DIR/.bootstrapped ]]; then
    if [[ -e $DIR ]]; then
        log "wiping $DIR ($( ((FRESH)) && echo '--fresh' || echo 'incomplete bootstrap'))"
        # Stop daemons started from $DIR first: deleting data under a running
        # OSD/mon leaves zombies holding ports 3300/6789.
        "$SCRIPT_DIR/ceph-down.sh" --purge
    fi
    MODE=fresh
else
    MODE=existing
fi

# --- 3. configuration --------------------------------------------------------------

write_conf() {
    local fsid=$1
    # Notes on the settings:
    # * mon_host lists both msgr2 (3300) and legacy v1 (6789) so clients
    #   speaking either protocol (older librados, kernel rbd) can connect.
    # * keyring uses $name so `ceph -c conf` (client.admin) and
    #   `ceph -c conf --id cinder` each find their own keyring; daemons
    #   override it with the keyring in their data dir.
    # * size/min_size 1 + chooseleaf type 0 (osd level) + the two mon_* size
    #   knobs are what makes a single OSD cluster HEALTH_OK.
    # * pg autoscaler off: it would otherwise resize our deliberately small
    #   pools in the background and keep PGs peering during tests.
    # * mon_data_avail_*: the host disk is shared; don't go HEALTH_WARN/ERR
    #   just because the mon store sits on a fairly full root fs.
    # * memory: osd_memory_target 1G and a fixed 128M bluestore cache keep
    #   the OSD at a few hundred MB RSS on the 2-core/test box.
    # * mgr_initial_modules empty: restful/iostat/nfs are not needed and each
    #   module costs mgr start-up time and memory (the always-on modules,
    #   incl. rbd_support which the driver needs for trash/task commands,
    #   still load).
    # * paxos_propose_interval 0.1: see the comment in [mon] below.
    # * rbd_default_features is deliberately NOT set: tests should exercise
    #   the librbd default feature set of the installed release.
    cat >"$CONF" <<EOF
# Generated by cinder-ext tools/ceph/ceph-up.sh - one-node test bed.
# Regenerated only by --fresh; edit ceph-up.sh rather than this file.
[global]
fsid = $fsid
mon_initial_members = $MON_ID
mon_host = $MON_ADDRS
# Daemons bind to loopback only (not reachable from other hosts) and IPv4
# only (matches mon_host; avoids picking a ::1 address). The OSD's cluster
# (replication/heartbeat) messengers need cluster_addr too, or they bind
# to 0.0.0.0.
public_addr = $MON_IP
cluster_addr = $MON_IP
ms_bind_ipv4 = true
ms_bind_ipv6 = false

# cephx everywhere, as in production: the driver's auth code paths
# (--id cinder, keyrings) must be exercised.
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
# All clients here are Pacific; disallowing the insecure reclaim also keeps
# the AUTH_INSECURE_GLOBAL_ID_RECLAIM_ALLOWED warning away.
auth_allow_insecure_global_id_reclaim = false
# \$name expands to client.admin / client.cinder: one line serves both users.
keyring = $DIR/ceph.\$name.keyring

# Keep sockets, pid files and crash dumps inside $DIR.
run_dir = $DIR/run
crash_dir = $DIR/crash

# Single OSD: one replica, and CRUSH must pick OSDs, not hosts (type 0).
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = $PG_NUM
osd_pool_default_pgp_num = $PG_NUM
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
# Tests create/delete scratch pools.
mon_allow_pool_delete = true
mon_max_pg_per_osd = 1000
mon_data_avail_warn = 2
mon_data_avail_crit = 1
# rbd_default_features: left at the librbd default on purpose.

[mon]
mon_data = $DIR/mon/\$cluster-\$id
keyring = \$mon_data/keyring
log_file = $DIR/log/\$cluster-\$name.log
mon_cluster_log_file = $DIR/log/\$cluster.\$channel.log
pid_file = $DIR/run/\$cluster-\$name.pid
admin_socket = $DIR/run/\$cluster-\$name.asok
mon_memory_target = 536870912
# Every osdmap change (pool create, and each RBD snapshot create/remove, which
# allocates a self-managed snap id through the mon) waits for the next paxos
# proposal; the 1 s default makes snapshot-heavy tests ~10x slower.
paxos_propose_interval = 0.1
# Read by the *mon* when it creates the initial MgrMap (so it must live here,
# not in [mgr]); empty = no optional modules (restful, iostat, nfs).
mgr_initial_modules =

[mgr]
mgr_data = $DIR/mgr/\$cluster-\$id
keyring = \$mgr_data/keyring
log_file = $DIR/log/\$cluster-\$name.log
pid_file = $DIR/run/\$cluster-\$name.pid
admin_socket = $DIR/run/\$cluster-\$name.asok
# PG stats every 2 s instead of 5 s: 'ceph df', pool usage and our
# active+clean wait see fresh numbers sooner.
mgr_stats_period = 2

[osd]
osd_data = $DIR/osd/\$cluster-\$id
keyring = \$osd_data/keyring
log_file = $DIR/log/\$cluster-\$name.log
pid_file = $DIR/run/\$cluster-\$name.pid
admin_socket = $DIR/run/\$cluster-\$name.asok
osd_objectstore = bluestore
# Bluestore on a sparse file created by ceph-up.sh (create=false: never let
# the OSD silently make a default-sized 100G file somewhere else).
bluestore_block_path = \$osd_data/block.img
bluestore_block_create = false
osd_memory_target = 1073741824
bluestore_cache_autotune = false
bluestore_cache_size = 134217728
# Fewer op shards/threads: 2 cores, one client at a time.
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 1

[client]
# Keep client logs out of /var/log/ceph as well, and give clients no admin
# socket: every librados process of the test suite would otherwise leave a
# \$pid.\$cctid.asok file behind in run/.
log_file = $DIR/log/\$cluster-\$name.log
admin_socket =
EOF
}

# --- 4. bootstrap (fresh) / revive (existing) -----------------------------------

bootstrap_mon() {
    local fsid tmp
    fsid=$(</proc/sys/kernel/random/uuid)
    mkdir -p "$DIR"/{run,log,crash,tmp,mon,mgr,osd}
    write_conf "$fsid"
    tmp=$DIR/tmp

    # A port owned by some other cluster/process would make ceph-mon fail with
    # a cryptic bind error in its log; check up front and say so.  (bash's
    # /dev/tcp instead of ss/netstat: iproute2 is not in minimal images.)
    local port
    for port in "$MON_V2_PORT" "$MON_V1_PORT"; do
        if (exec 3<>"/dev/tcp/$MON_IP/$port") 2>/dev/null; then
            die "$MON_IP:$port is already in use (another Ceph test bed running from a different CINDER_EXT_CEPH_DIR?)"
        fi
    done

    log "creating keyrings and monmap (fsid $fsid)"
    # mon. key: shared secret of the monitors; client.admin: full-power key for
    # this script and engineers.  Both generated fresh per cluster.
    ceph-authtool --create-keyring "$tmp/mon.keyring" --gen-key -n mon. \
        --cap mon 'allow *' >/dev/null
    ceph-authtool --create-keyring "$DIR/ceph.client.admin.keyring" --gen-key \
        -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
        --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
    # The mon seeds its auth database from the keyring given to --mkfs, so
    # client.admin must be in it or nobody could ever authenticate.
    ceph-authtool "$tmp/mon.keyring" --import-keyring "$DIR/ceph.client.admin.keyring" >/dev/null
    # --addv gives the mon both msgr2 and v1 addresses.
    monmaptool --create --fsid "$fsid" --addv "$MON_ID" "$MON_ADDRS" \
        --enable-all-features --set-min-mon-release pacific "$tmp/monmap" >/dev/null

    log "mkfs mon.$MON_ID"
    ceph-mon -c "$CONF" --mkfs -i "$MON_ID" --monmap "$tmp/monmap" \
        --keyring "$tmp/mon.keyring" >>"$DIR/log/ceph-mon.$MON_ID.out" 2>&1 ||
        die "ceph-mon --mkfs failed"
    rm -f "$tmp/monmap" "$tmp/mon.keyring"
    start_daemon mon "$MON_ID"
}

bootstrap_mgr() {
    log "creating mgr.$MGR_ID"
    mkdir -p "$DIR/mgr/ceph-$MGR_ID"
    # Standard mgr caps (same as ceph-deploy/cephadm use).
    cephc auth get-or-create "mgr.$MGR_ID" mon 'allow profile mgr' \
        osd 'allow *' mds 'allow *' -o "$DIR/mgr/ceph-$MGR_ID/keyring" ||
        die "creating mgr key failed"
    start_daemon mgr "$MGR_ID"
}

bootstrap_osd() {
    local uuid key id odir
    uuid=$(</proc/sys/kernel/random/uuid)
    key=$(ceph-authtool --gen-print-key)
    # `osd new` allocates the id and registers the cephx key with the standard
    # osd caps in a single, atomic mon command.
    printf '{"cephx_secret": "%s"}\n' "$key" >"$DIR/tmp/osd-new.json"
    id=$(cephc osd new "$uuid" -i "$DIR/tmp/osd-new.json") || die "ceph osd new failed"
    rm -f "$DIR/tmp/osd-new.json"
    [[ $id =~ ^[0-9]+$ ]] || die "unexpected osd id '$id'"
    odir=$DIR/osd/ceph-$id
    mkdir -p "$odir"
    ceph-authtool --create-keyring "$odir/keyring" --name "osd.$id" --add-key "$key" >/dev/null
    # Sparse file: 20G of logical space (enough for thick-provisioned test
    # volumes) that only costs the blocks actually written.
    truncate -s "$OSD_SIZE" "$odir/block.img"
    log "mkfs osd.$id (bluestore on sparse $OSD_SIZE file)"
    ceph-osd -c "$CONF" -i "$id" --mkfs --osd-uuid "$uuid" --osd-objectstore bluestore \
        >>"$DIR/log/ceph-osd.$id.out" 2>&1 || die "ceph-osd --mkfs failed"
    # The OSD places itself in the CRUSH map on boot (osd_crush_update_on_start).
    start_daemon osd "$id"
}

# Pools + cephx user.  Idempotent so it also repairs a revived cluster where
# a test deleted a pool or the cinder keyring file went missing.
ensure_pools_and_users() {
    local pool existing created=() pids=() pid
    existing=$(cephc osd pool ls) || die "ceph osd pool ls failed"
    for pool in "${POOLS[@]}"; do
        if ! grep -qx "$pool" <<<"$existing"; then
            log "creating pool $pool (pg_num $PG_NUM, size 1)"
            cephc osd pool create "$pool" "$PG_NUM" "$PG_NUM" replicated \
                --size 1 --autoscale-mode off >/dev/null 2>&1 || die "pool create $pool failed"
            created+=("$pool")
        fi
    done
    # `rbd pool init` tags the pool with the rbd application (else HEALTH_WARN
    # POOL_APP_NOT_ENABLED) and writes rbd's pool metadata.  It blocks until
    # the pool's PGs have peered (~3 s each here), so run them in parallel.
    for pool in "${created[@]}"; do
        timeout 60 rbd -c "$CONF" pool init "$pool" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || die "rbd pool init failed"
    done

    local user caps
    for user in "${USERS[@]}"; do
        IFS='|' read -r -a caps <<<"${USER_CAPS[$user]}"
        # Create the user, or reset its caps if it already exists
        # (get-or-create refuses to change caps of an existing entity).
        if cephc auth get "client.$user" >/dev/null 2>&1; then
            cephc auth caps "client.$user" "${caps[@]}" >/dev/null 2>&1 ||
                die "ceph auth caps client.$user failed"
        else
            log "creating client.$user"
            cephc auth get-or-create "client.$user" "${caps[@]}" >/dev/null ||
                die "creating client.$user failed"
        fi
        # (Re)write the keyring file each time: cheap, and self-healing.
        cephc auth get "client.$user" -o "$DIR/ceph.client.$user.keyring" 2>/dev/null ||
            die "writing client.$user keyring failed"
    done
    users_stamp >"$DIR/.users-stamp"
}

# The pools, users and caps above, as one line: a running cluster made by an
# older ceph-up.sh (a pool less, other caps) is brought in line on the next
# run, without a round of mon commands on every run.
users_stamp() {
    local user
    {
        printf '%s\n' "${POOLS[*]}"
        for user in "${USERS[@]}"; do printf '%s %s\n' "$user" "${USER_CAPS[$user]}"; done
    } | sha256sum | cut -d' ' -f1
}

# Ready = mon quorum answers, health is not HEALTH_ERR, every OSD is up+in
# and every PG of every pool is active+clean.  The PG count reported by the
# mgr is compared with the sum of pg_num in the OSD map, so PGs of a
# just-created pool that the mgr has not reported yet are not overlooked.
# Done in one python process over librados: one connection polled every
# 0.5 s instead of two ceph CLI start-ups (~0.3 s each) per iteration.
wait_ready() {
    local rc=0
    "$SYSPY" - "$CONF" "$TIMEOUT" <<'PYEOF' || rc=$?
import json, sys, time
import rados

conf, timeout = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + timeout
last = "mon not answering"
cluster = None
while time.monotonic() < deadline:
    try:
        if cluster is None:
            cluster = rados.Rados(conffile=conf, name="client.admin")
            cluster.connect(timeout=5)

        def cmd(prefix):
            ret, out, err = cluster.mon_command(
                json.dumps({"prefix": prefix, "format": "json"}), b"", timeout=5)
            if ret:
                raise RuntimeError("%s: %s" % (prefix, err))
            return json.loads(out)

        st, osdmap = cmd("status"), cmd("osd dump")
        pm = st["pgmap"]
        states = {d["state_name"]: d["count"] for d in pm.get("pgs_by_state", [])}
        want = sum(p["pg_num"] for p in osdmap["pools"])
        osds = osdmap["osds"]
        up = sum(o["up"] for o in osds)
        inn = sum(o["in"] for o in osds)
        health = st["health"]["status"]
        last = "%s osds up/in/total=%d/%d/%d pgs=%d/%d %s" % (
            health, up, inn, len(osds), pm["num_pgs"], want, states)
        if (health != "HEALTH_ERR" and osds and up == inn == len(osds)
                and want > 0 and pm["num_pgs"] == want
                and states.get("active+clean", 0) == want):
            print("ready: " + last)
            sys.exit(0)
    except Exception as e:  # mon still electing, mgr not active yet, ...
        last = "waiting (%s: %s)" % (type(e).__name__, e)
        if cluster is not None:
            try:
                cluster.shutdown()
            except Exception:
                pass
            cluster = None
    time.sleep(0.5)
print("not ready after %ds: %s" % (timeout, last), file=sys.stderr)
sys.exit(1)
PYEOF
    if ((rc != 0)); then
        cephc health detail >&2 || true
        die "cluster not ready after ${TIMEOUT}s"
    fi
}

# --- 5. main ---------------------------------------------------------------------

cluster_healthy_fast() {
    # Same check as ceph-status.sh plus "all daemons alive from this DIR".
    daemon_alive "mon.$MON_ID" && daemon_alive "mgr.$MGR_ID" && daemon_alive osd.0 &&
        "$SCRIPT_DIR/ceph-status.sh" >/dev/null 2>&1
}

# Every user's keyring is there (a cluster made before a user was added
# takes the revive path, which creates what is missing).
all_keyrings() {
    local user
    for user in "${USERS[@]}"; do
        [[ -s $DIR/ceph.client.$user.keyring ]] || return 1
    done
}

if [[ $MODE == fresh ]]; then
    log "bootstrapping new cluster in $DIR"
    bootstrap_mon
    bootstrap_mgr
    bootstrap_osd
    ensure_pools_and_users
    wait_ready
    touch "$DIR/.bootstrapped"
elif cluster_healthy_fast && all_keyrings; then
    log "cluster in $DIR already running"
    if [[ $(cat "$DIR/.users-stamp" 2>/dev/null) != "$(users_stamp)" ]]; then
        log "pools or users changed since they were made: applying them"
        ensure_pools_and_users
    fi
    # Running is not healthy: still insist on OSD up/in and clean PGs (one
    # librados round trip when all is well, a loud failure otherwise).
    wait_ready
else
    # Revive after reboot/session restart: same data, just start whatever is
    # not running, in dependency order (mgr and osd need the mon).
    log "reviving existing cluster in $DIR"
    mkdir -p "$DIR"/{run,log,crash,tmp}
    start_daemon mon "$MON_ID"
    start_daemon mgr "$MGR_ID"
    for d in "$DIR"/osd/ceph-*; do
        [[ -d $d ]] && start_daemon osd "${d##*/ceph-}"
    done
    ensure_pools_and_users
    wait_ready
fi

if [[ -n $MIN_COMPAT ]]; then
    log "setting require_min_compat_client = $MIN_COMPAT"
    cephc osd set-require-min-compat-client "$MIN_COMPAT" --yes-i-really-mean-it ||
        die "set-require-min-compat-client $MIN_COMPAT failed"
fi

# env file: `. $DIR/env` makes the ceph/rbd CLIs and librados (via CEPH_CONF)
# use this cluster.  CEPH_ARGS is deliberately not exported: it would also
# be parsed by every librados client (and could override --id in tests).
cat >"$DIR/env" <<EOF
export CINDER_EXT_CEPH_DIR=$DIR
export CEPH_CONF=$CONF
EOF

fsid=$(cephc fsid)
compat=$(cephc osd dump -f json | "$SYSPY" -c 'import json,sys; print(json.load(sys.stdin)["require_min_compat_client"])')
cat <<EOF

cinder-ext Ceph test bed is up ($MODE, $((SECONDS - T0))s)
  dir:       $DIR
  conf:      $CONF
  fsid:      $fsid
  mon addrs: $MON_ADDRS
  pools:     ${POOLS[*]}
  users:     client.admin ($DIR/ceph.client.admin.keyring)
$(for u in "${USERS[@]}"; do printf '             client.%s (%s)\n' "$u" "$DIR/ceph.client.$u.keyring"; done)
  require_min_compat_client: $compat
  logs:      $DIR/log

  export CEPH_CONF=$CONF      # or: . $DIR/env
  ceph -c $CONF --id cinder -s
EOF
