#!/bin/bash
# devstack/plugin.sh - cinder-ext DevStack plugin
#
# Usage in local.conf (order matters: devstack-plugin-ceph first):
#
#   enable_plugin devstack-plugin-ceph https://opendev.org/openstack/devstack-plugin-ceph
#   enable_plugin cinder-ext https://opendev.org/openstack/cinder-ext
#
# DevStack sources this file as ``plugin.sh <mode> [<phase>]``. The backend
# itself is written into cinder.conf by configure_cinder_backend_cinderext
# (lib/cinder_ext), which lib/cinder calls from configure_cinder for every
# "cinderext:<name>" in CINDER_ENABLED_BACKENDS.

# shellcheck shell=bash source-path=SCRIPTDIR
# Sourced by stack.sh, unstack.sh and clean.sh: CINDER_EXT_* come from
# devstack/settings; echo_summary, is_service_enabled and the other helpers
# from DevStack's functions-common.

# shellcheck source=lib/cinder_ext
source "$(dirname "${BASH_SOURCE[0]}")/lib/cinder_ext"

if [[ "$1" == "stack" && "$2" == "pre-install" ]]; then
    # devstack-plugin-ceph creates its pools in post-config; ask it for
    # CINDER_EXT_POOL too when that is a pool of its own.
    cinder_ext_add_pool

elif [[ "$1" == "stack" && "$2" == "install" ]]; then
    # cinder.conf already has the backend section (configure_cinder runs
    # before this phase); c-vol starts later, with the package installed.
    echo_summary "Installing cinder-ext"
    install_cinder_ext

elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
    # Pools, cephx keys and the libvirt secret are created in this phase by
    # devstack-plugin-ceph (enabled before us); nothing of ours to add.
    :

elif [[ "$1" == "stack" && "$2" == "test-config" ]]; then
    if is_service_enabled tempest && [[ "${CINDER_EXT_CONFIGURE_TEMPEST:-True}" == "True" ]]; then
        echo_summary "Configuring Tempest for cinder-ext"
        configure_tempest_cinder_ext
    fi

elif [[ "$1" == "unstack" ]]; then
    # cinder-ext runs inside c-vol, which DevStack stops itself; the pool
    # goes away with devstack-plugin-ceph's cluster.
    :

elif [[ "$1" == "clean" ]]; then
    # Nothing installed outside the Python environment DevStack removes.
    :
fi
