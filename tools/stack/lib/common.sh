# shellcheck shell=bash
# lib/common.sh - settings and process helpers shared by stack-up.sh and
# stack-down.sh.  Sourced, never run.
# Settings are used by the scripts that source this file:
# shellcheck disable=SC2034

# --- settings -------------------------------------------------------------------

# Everything the stack writes (venvs, configs, databases, logs, pid files)
# lives under one state directory, so `rm -rf` of it is a complete reset and
# nothing is written to /etc or /var/lib.
STATE=${CINDER_EXT_STACK_DIR:-/var/tmp/cinder-ext-stack}
STATE=${STATE%/}
CEPH_DIR=${CINDER_EXT_CEPH_DIR:-/var/tmp/cinder-ext-ceph}
RUN=$STATE/run
LOGS=$STATE/logs

STACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO=$(cd "$STACK_DIR/../.." && pwd)
CONSTRAINTS=$STACK_DIR/constraints.txt

# Every server binds to loopback only: this is a test cloud with fixed,
# generated passwords and must never be reachable from another host.
BIND=127.0.0.1
MYSQL_PORT=3306
RABBIT_PORT=5672
RABBIT_DIST_PORT=25672
KEYSTONE_PORT=5000
CINDER_PORT=8776
# The rest of the cloud (stack-up.sh --full).
GLANCE_PORT=9292
PLACEMENT_PORT=8778
NOVA_PORT=8774
NETWORK_PORT=9696
BARBICAN_PORT=9311
KEYSTONE_URL=http://$BIND:$KEYSTONE_PORT/v3
# A fixed [DEFAULT] host: volumes stay reachable when the machine's hostname
# changes between sessions (the volume host is "$CINDER_HOST@<backend>").
CINDER_HOST=cinder-ext
REGION=RegionOne

KEYSTONE_VENV=$STATE/venv-keystone
CINDER_VENV=$STATE/venv-cinder
CLIENTS_VENV=$STATE/venv-clients
# Nova, Placement and Glance: one venv (one series, resolved together).
CLOUD_VENV=$STATE/venv-cloud
CINDER_CONF=$STATE/cinder/cinder.conf
KEYSTONE_CONF=$STATE/keystone/keystone.conf
MYSQL_CNF=$STATE/mysql/my.cnf
NOVA_DIR=$STATE/nova
# libvirtd keeps its config, state and socket here (lib/ns-exec.sh binds
# them onto /etc/libvirt, /var/lib/libvirt, /run/libvirt for it alone).
LIBVIRT_DIR=$STATE/libvirt
LIBVIRT_URI="qemu+unix:///system?socket=$LIBVIRT_DIR/run/libvirt-sock"

# Services in start order and the word each one's command line must
# contain before we signal its pid.  CLOUD_SERVICES run only with --full.
BASE_SERVICES=(mariadb rabbitmq keystone cinder-api cinder-scheduler cinder-volume)
CLOUD_SERVICES=(barbican-api cinder-backup glance-api placement-api network-stub libvirtd
    nova-api nova-conductor nova-scheduler nova-compute)
SERVICES=("${BASE_SERVICES[@]}" "${CLOUD_SERVICES[@]}")
declare -A SERVICE_CMD=(
    [mariadb]=mariadbd
    [rabbitmq]=rabbitmq-server
    [keystone]=gunicorn
    [cinder-api]=gunicorn
    [cinder-scheduler]=cinder-scheduler
    [cinder-volume]=cinder-volume
    [cinder-backup]=cinder-backup
    [barbican-api]=gunicorn
    [glance-api]=gunicorn
    [placement-api]=gunicorn
    [network-stub]=network_stub.py
    [libvirtd]=libvirtd
    [nova-api]=gunicorn
    [nova-conductor]=nova-conductor
    [nova-scheduler]=nova-scheduler
    [nova-compute]=nova-compute
)

# Every process we start carries these two variables in its environment
# (and its children inherit them: gunicorn workers, the Erlang port mapper,
# privsep helpers).  /proc/PID/environ then proves a pid is ours, which a
# pid file alone cannot (pids are recycled after a crash or reboot).
MARK=CINDER_EXT_STACK

T0=$SECONDS

# --- logging ----------------------------------------------------------------------

# The tag in front of each log line (the script, or script:phase).
set_log_tag() { LOG_TAG=$1; }

log() { printf '[%s +%3ds] %s\n' "${LOG_TAG:-stack}" "$((SECONDS - T0))" "$*" >&2; }

# Print the tails of our logs so a failure in CI is diagnosable from its
# output alone.
dump_logs() {
    local f
    for f in "$LOGS"/*.log; do
        # Install logs are shown where an install fails.
        case ${f##*/} in apt.log | pip-* | mariadb-install-db.log | ceph-up.log) continue ;; esac
        [[ -s $f ]] || continue
        printf '\n===== tail -n 30 %s =====\n' "$f" >&2
        tail -n 30 "$f" >&2 || true
    done
}

die() {
    printf '[%s] ERROR: %s\n' "${LOG_TAG:-stack}" "$*" >&2
    if [[ ${NO_LOG_DUMP:-0} != 1 ]]; then dump_logs; fi
    exit 1
}

# One lock per state directory: two stack-up/stack-down runs at once would
# start or kill daemons under each other's feet.  Daemons must not inherit
# fd 8 (they would hold the lock for their whole life): start_daemon starts
# them through tools/lib/exec-clean.sh.
take_lock() {
    mkdir -p "$(dirname "$STATE")"
    exec 8>"$STATE.lock"
    if ! flock -n 8; then
        log "waiting for another stack-up/stack-down on $STATE ($STATE.lock)"
        flock -w 600 8 || die "could not get $STATE.lock within 600s"
    fi
}

# --- processes --------------------------------------------------------------------

pidfile() { echo "$RUN/$1.pid"; }

# True if process $1 carries our marker for this state dir (any service).
has_mark() {
    local env=()
    mapfile -d '' -t env 2>/dev/null <"/proc/$1/environ" || return 1
    local e
    for e in "${env[@]}"; do
        [[ $e == "$MARK=$STATE" ]] && return 0
    done
    return 1
}

# stat_field PID N: field N (1-based, as in proc(5)) of /proc/PID/stat.
# Fields are counted after the ")" that closes the command name, which may
# itself contain spaces.
stat_field() {
    local stat rest f
    { stat=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
    rest=${stat##*) }
    read -r -a f <<<"$rest"
    echo "${f[$2 - 3]}"
}

# True if pid $1 is service $2 as we started it: its command line has the
# service's program and its start time is the one recorded at start, so a
# recycled pid (crash, reboot) never matches.  (The environment marker is
# not enough here: setproctitle, which gunicorn and oslo.service use,
# overwrites /proc/PID/environ.)
is_ours() {
    local pid=$1 name=$2 argv=() start
    [[ $pid =~ ^[0-9]+$ && -f $RUN/$name.start ]] || return 1
    mapfile -d '' -t argv 2>/dev/null <"/proc/$pid/cmdline" || return 1
    [[ " ${argv[*]} " == *"${SERVICE_CMD[$name]}"* ]] || return 1
    start=$(stat_field "$pid" 22) || return 1
    [[ $start == "$(<"$RUN/$name.start")" ]]
}

# True if pid $1 belongs to the stack: it carries the marker, or it runs in
# the session of one of our services (setsid made each service a session
# leader; workers and helpers stay in its session).
in_stack() {
    local sid name
    has_mark "$1" && return 0
    sid=$(stat_field "$1" 6 2>/dev/null) || return 1
    for name in "${SERVICES[@]}"; do
        [[ -s $RUN/$name.pid && $(<"$RUN/$name.pid") == "$sid" ]] && is_ours "$sid" "$name" && return 0
    done
    return 1
}

# Print the pid of service $1 if it is running (and ours); fail otherwise.
daemon_pid() {
    local pf pid
    pf=$(pidfile "$1")
    [[ -s $pf ]] || return 1
    pid=$(<"$pf")
    is_ours "$pid" "$1" || return 1
    echo "$pid"
}

# Stop service $1: SIGTERM to its whole process group (setsid made the
# service a group leader, so workers and helpers go too), SIGKILL after
# $2 seconds.  Only after the leader was verified to be ours.
stop_daemon() {
    local name=$1 grace=${2:-30} pid i t=$SECONDS
    if ! pid=$(daemon_pid "$name"); then
        rm -f "$(pidfile "$name")" "$RUN/$name.spec" "$RUN/$name.start"
        return 0
    fi
    log "stopping $name (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 -- "-$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 -- "-$pid" 2>/dev/null; then
        log "$name ignored SIGTERM for ${grace}s, sending SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$(pidfile "$name")" "$RUN/$name.spec" "$RUN/$name.start"
    log "$name stopped ($((SECONDS - t))s)"
}

# start_daemon NAME SPEC CMD...: run CMD in the background as service NAME,
# in its own session (so it survives this script and can be stopped as a
# group), stdin from /dev/null, output appended to $LOGS/NAME.log.  SPEC
# describes what the running instance was started with (config hash, flags);
# a running instance with the same SPEC is kept, one with another SPEC is
# restarted, so re-runs are no-ops and config changes take effect.
start_daemon() {
    local name=$1 spec=$2 pid
    shift 2
    if pid=$(daemon_pid "$name"); then
        if [[ -f $RUN/$name.spec && $(<"$RUN/$name.spec") == "$spec" ]]; then
            log "$name already running (pid $pid)"
            return 0
        fi
        log "$name: configuration changed, restarting"
        stop_daemon "$name"
    fi
    mkdir -p "$RUN" "$LOGS"
    rm -f "$(pidfile "$name")"
    log "starting $name"
    printf '\n==== %s starting %s\n' "$(date -Is)" "$name" >>"$LOGS/$name.log"
    # bash -c writes its own pid ($$) and execs the service, so the pid file
    # holds the service's pid whether or not setsid had to fork.
    # exec-clean.sh (same pid) closes every inherited fd but 0-2: our lock,
    # and whatever the caller of stack-up.sh had open.
    # shellcheck disable=SC2016 # $$ and $@ are for the inner bash
    env "$MARK=$STATE" "${MARK}_SERVICE=$name" \
        setsid bash -c 'echo $$ >"$0"; exec "$@"' "$(pidfile "$name")" \
        bash "$REPO/tools/lib/exec-clean.sh" "$@" \
        </dev/null >>"$LOGS/$name.log" 2>&1 &
    printf '%s\n' "$spec" >"$RUN/$name.spec"
    # Wait for the pid file, then record the start time that identifies the
    # process from now on (see is_ours).
    local i
    for ((i = 0; i < 50; i++)); do
        if [[ -s $(pidfile "$name") ]]; then
            pid=$(<"$(pidfile "$name")")
            stat_field "$pid" 22 >"$RUN/$name.start" || die "$name exited at once (see $LOGS/$name.log)"
            return 0
        fi
        sleep 0.1
    done
    die "$name did not start"
}

# wait_for DESCRIPTION TIMEOUT SERVICE CMD...: poll CMD every 0.5 s until it
# succeeds; fail early if SERVICE died (its log says why).
wait_for() {
    local what=$1 timeout=$2 name=$3 deadline
    shift 3
    deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if [[ -n $name ]] && ! daemon_pid "$name" >/dev/null; then
            die "$name exited while waiting for $what (see $LOGS/$name.log)"
        fi
        ((SECONDS < deadline)) || die "timed out after ${timeout}s waiting for $what"
        sleep 0.5
    done
}

# Processes carrying our marker, whatever their pid files say: strays such as
# the Erlang port mapper (epmd daemonizes out of rabbit's process group).
marked_pids() {
    local p pid
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        has_mark "$pid" && echo "$pid"
    done
    return 0
}

# A stable short hash of files and strings, for SPECs and stamps.
fingerprint() {
    local x
    for x in "$@"; do
        if [[ -f $x ]]; then cat "$x"; else printf '%s\n' "$x"; fi
    done | sha1sum | cut -c1-16
}

# write_wsgi FILE MODULE [KEY=VALUE...] -- ARGV...: a module for gunicorn
# that sets the environment variables, replaces sys.argv (OpenStack apps
# that parse it with oslo.config would read gunicorn's own arguments) and
# imports MODULE's application.
write_wsgi() {
    local file=$1 module=$2 env=() arg
    shift 2
    while (($#)) && [[ $1 != -- ]]; do env+=("$1"); shift; done
    shift
    {
        printf '# Generated by cinder-ext tools/stack/stack-up.sh.\nimport os\nimport sys\n\n'
        for arg in "${env[@]}"; do printf "os.environ['%s'] = '%s'\n" "${arg%%=*}" "${arg#*=}"; done
        printf 'sys.argv = ['
        for arg in "$@"; do printf "'%s', " "$arg"; done
        printf ']\n\nfrom %s import application  # noqa: E402,F401\n' "$module"
    } >"$file"
}

# auth_section SECTION USER [LINE...]: an oslo.config section in which USER
# of the service project logs in with the service password (keystonemiddleware,
# keystoneauth clients, service tokens), with LINEs first.
auth_section() {
    local section=$1 user=$2
    shift 2
    printf '[%s]\n' "$section"
    (($#)) && printf '%s\n' "$@"
    cat <<EOF
auth_type = password
auth_url = $KEYSTONE_URL
username = $user
password = $SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = $REGION
EOF
}

# replace_if_changed FILE: FILE.new becomes FILE unless they are the same
# (then FILE.new goes, and the call fails): an unchanged config keeps its
# mtime, and the caller logs only real changes.
replace_if_changed() {
    if cmp -s "$1.new" "$1"; then
        rm -f "$1.new"
        return 1
    fi
    mv "$1.new" "$1"
}

# stop_wave NAME...: stop these services in parallel.
stop_wave() {
    local name pids=()
    for name in "$@"; do
        stop_daemon "$name" 30 &
        pids+=($!)
    done
    wait "${pids[@]}"
}

# stop_listed WHAT FUNC: SIGTERM the pids FUNC prints, SIGKILL after 5 s.
stop_listed() {
    local what=$1 list=$2 pids i
    mapfile -t pids < <("$list")
    ((${#pids[@]})) || return 0
    log "stopping $what: ${pids[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        mapfile -t pids < <("$list")
        ((${#pids[@]})) || return 0
        sleep 0.1
    done
    log "SIGKILL ${pids[*]}"
    kill -KILL "${pids[@]}" 2>/dev/null || true
}

# The servers' QEMU processes.  libvirtd starts them in sessions of their own
# with a clean environment, so neither our marker nor a process group finds
# them; their command line names our instances directory.
guest_pids() {
    local p argv
    for p in /proc/[0-9]*; do
        mapfile -d '' -t argv 2>/dev/null <"$p/cmdline" || continue
        [[ ${argv[0]:-} == *qemu-system* && " ${argv[*]}" == *[\ =,]"$NOVA_DIR/instances/"* ]] &&
            echo "${p#/proc/}"
    done
    return 0
}

# True if a service of the rest of the cloud was started here (and maybe
# still runs).
cloud_started() {
    local name
    for name in "${CLOUD_SERVICES[@]}"; do
        [[ -e $RUN/$name.pid ]] && return 0
    done
    return 1
}

# The rest of the cloud (stack-up.sh --full), guests first: powered off
# through libvirt while it answers, then whatever QEMU is left.
stop_cloud() {
    local dom
    if daemon_pid libvirtd >/dev/null; then
        while read -r dom; do
            [[ -z $dom ]] || virsh -c "$LIBVIRT_URI" destroy "$dom" >/dev/null 2>&1 || true
        done < <(virsh -c "$LIBVIRT_URI" list --name 2>/dev/null)
    fi
    stop_listed "guest QEMU processes" guest_pids
    # Every cloud service at once, then libvirtd, which nova-compute uses.
    local service services=()
    for service in "${CLOUD_SERVICES[@]}"; do
        [[ $service == libvirtd ]] || services+=("$service")
    done
    stop_wave "${services[@]}"
    stop_wave libvirtd
}
