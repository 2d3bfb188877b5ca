# shellcheck shell=bash
# lib/install.sh - Debian packages, the three virtualenvs and the constraints
# file.  Sourced by stack-up.sh after lib/common.sh.

# Debian packages the stack runs on.  Cinder itself comes from PyPI; these
# are the servers and the tools it calls at run time:
#  - mariadb-server, rabbitmq-server: the database and message bus;
#  - qemu-utils: qemu-img, which cinder-volume uses for image conversions;
#  - curl, iproute2 (ss), procps: readiness and loopback checks here.
# (python3-rados/python3-rbd and the Ceph daemons come with ceph-up.sh.)
APT_PACKAGES=(mariadb-server rabbitmq-server qemu-utils curl iproute2 procps)
# --full adds the hypervisor: libvirt's daemon and QEMU with its RBD block
# driver (qemu-block-extra), and the libvirt bindings nova-compute imports
# (Debian's build for this libvirt, linked into the venv like rados/rbd).
# shellcheck disable=SC2034 # stack-up.sh installs them
CLOUD_APT_PACKAGES=(libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
    qemu-system-x86 qemu-block-extra python3-libvirt)

# What each virtualenv holds.  Only direct requirements: the constraints file
# pins everything they pull in.  gunicorn serves keystone and cinder-api;
# PyMySQL is the pure-Python MySQL driver (no libmysqlclient build).
KEYSTONE_REQS=('keystone==30.*' gunicorn PyMySQL)
CINDER_REQS=('cinder==29.*' gunicorn PyMySQL)
CLIENTS_REQS=(python-openstackclient python-cinderclient python-barbicanclient)
CLOUD_REQS=('nova==34.*' 'openstack-placement==16.*' 'glance==33.*' 'glance-store[rbd]'
    'barbican==23.*' gunicorn PyMySQL)

# 1 while resolving afresh (ensure_venvs 1, or no constraints file yet).
UNCONSTRAINED=0

# install_packages [EXTRA...]: APT_PACKAGES and EXTRA.
install_packages() {
    local p missing=()
    # dpkg-query is offline and cheap: re-runs never touch apt.
    for p in "${APT_PACKAGES[@]}" "$@"; do
        if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
            missing+=("$p")
        fi
    done
    if ((${#missing[@]} == 0)); then
        log "Debian packages present"
        return 0
    fi
    log "installing ${missing[*]}"
    # The maintainer scripts start the distribution's MariaDB, RabbitMQ and
    # libvirtd (RabbitMQ listening on every address).  A policy-rc.d that exits 101
    # forbids that; we run our own instances instead.  Containers often ship
    # a policy-rc.d already: then leave it alone, and never remove one we did
    # not create.  The EXIT trap removes ours even if apt fails.
    local own_policy=0 rc=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        trap 'exit 130' INT TERM HUP
        printf '#!/bin/sh\n# installed temporarily by cinder-ext stack-up.sh\nexit 101\n' \
            >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    # Lock::Timeout: wait for a concurrent apt (e.g. ceph-up.sh) instead of
    # failing on the dpkg lock.
    {
        apt-get -o DPkg::Lock::Timeout=600 update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
                install -y -qq --no-install-recommends "${missing[@]}"
    } >"$LOGS/apt.log" 2>&1 || rc=$?
    if ((own_policy)); then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT INT TERM HUP
    fi
    ((rc == 0)) || { tail -n 30 "$LOGS/apt.log" >&2; die "apt-get install failed (rc=$rc)"; }
}

# The Debian Ceph bindings are CPython 3.11 extension modules, so the venvs
# must be 3.11 too; the pyenv python3 (or Debian's) is.
check_python() {
    local v
    v=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) ||
        die "no python at '$PYTHON' (set PYTHON=...)"
    [[ $v == 3.11 ]] || die "$PYTHON is Python $v; the Ceph bindings need 3.11 (set PYTHON=...)"
}

# ensure_venv DIR STAMP REQS...: create DIR and pip-install REQS with the
# constraints file, unless the venv was already built from exactly the same
# inputs (STAMP).  The stamp is what keeps re-runs at seconds: pip's
# resolver alone takes several seconds per venv even when all is installed.
ensure_venv() {
    local dir=$1 stamp=$2
    shift 2
    if [[ -f $dir/.stack-stamp && $(<"$dir/.stack-stamp") == "$stamp" ]]; then
        return 0
    fi
    log "installing ${dir##*/}: $*"
    [[ -x $dir/bin/python ]] || "$PYTHON" -m venv "$dir"
    local cflag=()
    [[ $UNCONSTRAINED == 1 ]] || cflag=(-c "$CONSTRAINTS")
    "$dir/bin/pip" install -q "${cflag[@]}" "$@" >>"$LOGS/pip-${dir##*/}.log" 2>&1 ||
        { tail -n 30 "$LOGS/pip-${dir##*/}.log" >&2; die "pip install into $dir failed"; }
    [[ $UNCONSTRAINED == 1 ]] || printf '%s\n' "$stamp" >"$dir/.stack-stamp"
}

# merge_constraints: one constraints file from the `pip freeze` of the three
# venvs.  A package frozen at different versions in two venvs gets the
# highest one (announced); the constrained re-install that follows proves
# every venv accepts the merged pins.  cinder-ext itself is left out: it is
# installed from this checkout (-e), not from an index.
merge_constraints() {
    local v
    for v in "$KEYSTONE_VENV" "$CINDER_VENV" "$CLIENTS_VENV" "$CLOUD_VENV"; do
        "$v/bin/pip" freeze --exclude-editable
    done | "$CLIENTS_VENV/bin/python" -c '
import re, sys
from pip._vendor.packaging.version import Version
pins = {}
for line in sys.stdin:
    line = line.strip()
    if not line or line.startswith(("#", "-e")) or "==" not in line:
        continue
    name, ver = line.split("==", 1)
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key == "cinder-ext":
        continue
    if key in pins and pins[key][1] != ver:
        best = max(pins[key][1], ver, key=Version)
        print("constraints: %s frozen at %s and %s, keeping %s"
              % (name, pins[key][1], ver, best), file=sys.stderr)
        ver = best
    pins[key] = (name, ver)
print("# Generated by tools/stack/stack-up.sh --refresh-constraints: the merged")
print("# pip freeze of the keystone, cinder, clients and cloud (nova, placement,")
print("# glance) venvs (Python 3.11).")
print("# Every stack install uses -c with this file, so a new upload to the")
print("# index cannot change what CI runs.  Refresh deliberately, then test.")
for key in sorted(pins):
    print("%s==%s" % pins[key])
' >"$CONSTRAINTS.new"
    mv "$CONSTRAINTS.new" "$CONSTRAINTS"
    log "wrote $CONSTRAINTS ($(grep -vc '^#' "$CONSTRAINTS") pins)"
}

# ensure_venvs REFRESH FULL: the three venvs, and the cloud venv with FULL=1;
# REFRESH=1 resolves all four afresh and rewrites the constraints file first.
ensure_venvs() {
    local refresh=$1 full=$2 pyv base
    check_python
    pyv=$("$PYTHON" -c 'import sys; print(sys.version)')
    # Inputs that should trigger a re-install: python, requirements,
    # constraints, and for cinder also this checkout's location and its
    # packaging metadata (entry points, dependencies).
    base=$(fingerprint "$pyv" "$CONSTRAINTS")
    if [[ $refresh == 1 || ! -f $CONSTRAINTS ]]; then
        # Fresh resolution against the index, then pin what resolved.
        # New venvs: pip would keep what an existing venv already has.
        log "resolving without constraints (refresh)"
        rm -rf "$KEYSTONE_VENV" "$CINDER_VENV" "$CLIENTS_VENV" "$CLOUD_VENV"
        UNCONSTRAINED=1
        ensure_venv "$KEYSTONE_VENV" - "${KEYSTONE_REQS[@]}" &
        ensure_venv "$CINDER_VENV" - "${CINDER_REQS[@]}" -e "$REPO" &
        ensure_venv "$CLIENTS_VENV" - "${CLIENTS_REQS[@]}" &
        ensure_venv "$CLOUD_VENV" - "${CLOUD_REQS[@]}" &
        wait_all
        merge_constraints
        base=$(fingerprint "$pyv" "$CONSTRAINTS")
    fi
    UNCONSTRAINED=0
    # The three installs are independent: run them in parallel (mostly
    # waiting on downloads and wheel unpacking).
    ensure_venv "$KEYSTONE_VENV" "$(fingerprint "$base" "${KEYSTONE_REQS[@]}")" \
        "${KEYSTONE_REQS[@]}" &
    ensure_venv "$CINDER_VENV" "$(fingerprint "$base" "${CINDER_REQS[@]}" "$REPO" \
        "$REPO/setup.cfg" "$REPO/requirements.txt")" "${CINDER_REQS[@]}" -e "$REPO" &
    ensure_venv "$CLIENTS_VENV" "$(fingerprint "$base" "${CLIENTS_REQS[@]}")" \
        "${CLIENTS_REQS[@]}" &
    if ((full)); then
        ensure_venv "$CLOUD_VENV" "$(fingerprint "$base" "${CLOUD_REQS[@]}")" \
            "${CLOUD_REQS[@]}" &
    fi
    wait_all
    # Debian's rados/rbd modules into the cinder venv (just those two .so
    # files, not all of dist-packages); idempotent and fast.
    bash "$REPO/tools/ceph/link-bindings.sh" "$CINDER_VENV/bin/python" >"$LOGS/link-bindings.log" 2>&1 ||
        { cat "$LOGS/link-bindings.log" >&2; die "linking the Ceph bindings failed"; }
    log "venvs ready: keystone $(dist_version "$KEYSTONE_VENV" keystone)," \
        "cinder $(dist_version "$CINDER_VENV" cinder)"
    ((full)) || return 0
    # Glance's RBD store needs rados/rbd, nova-compute libvirt.
    bash "$REPO/tools/ceph/link-bindings.sh" "$CLOUD_VENV/bin/python" >>"$LOGS/link-bindings.log" 2>&1 ||
        { cat "$LOGS/link-bindings.log" >&2; die "linking the Ceph bindings failed"; }
    link_libvirt "$CLOUD_VENV"
    log "cloud venv ready: nova $(dist_version "$CLOUD_VENV" nova)," \
        "placement $(dist_version "$CLOUD_VENV" openstack-placement)," \
        "glance $(dist_version "$CLOUD_VENV" glance)"
}

# link_libvirt VENV: Debian's libvirt bindings (python3-libvirt, built for
# the installed libvirt) into VENV through a .pth directory, as
# link-bindings.sh does for rados/rbd.  PyPI's libvirt-python would need
# libvirt-dev and a compiler, and could drift from the daemon's version.
link_libvirt() {
    local venv=$1 src=/usr/lib/python3/dist-packages dir site f
    dir=$venv/lib/cinder-ext-libvirt-bindings
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    mkdir -p "$dir"
    find "$dir" -mindepth 1 -maxdepth 1 -type l -delete
    for f in "$src"/libvirt*.py "$src"/libvirtmod*.so; do
        [[ -e $f ]] && ln -sfn "$f" "$dir/${f##*/}"
    done
    printf '%s\n' "$dir" >"$site/cinder-ext-libvirt-bindings.pth"
    "$venv/bin/python" -c 'import libvirt' 2>/dev/null || die "libvirt bindings not importable in $venv"
}

# dist_version VENV DIST: installed version (pip show is ten times slower).
dist_version() {
    "$1/bin/python" -c 'import sys, importlib.metadata as m; print(m.version(sys.argv[1]))' "$2"
}

# Wait for every background job; fail if any failed (die in a subshell only
# ends that subshell).
wait_all() {
    local pid rc=0
    for pid in $(jobs -p); do
        wait "$pid" || rc=1
    done
    ((rc == 0)) || die "a parallel install failed"
}
