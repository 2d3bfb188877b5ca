#!/usr/bin/python3
#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""End-to-end smoke test of the cinder-ext Ceph test bed, as client.cinder.

Usage: [python] tools/ceph/smoke_test.py [--clone-format auto|1|2]

Runs with any python that can import the Debian rados/rbd bindings
(/usr/bin/python3, or a venv prepared with tools/ceph/link-bindings.sh).
Exercises exactly what the driver needs from the cluster and the
client.cinder caps: the mon commands the driver issues ('mon dump', 'df',
'osd pool get-quota'), image create/snapshot/protect/clone (same pool and
cross-pool into volumes2)/list/flatten/delete.  Everything it creates is
named smoke-<pid>-* and removed again.  Exit status 0 = all good.
"""
import argparse
import json
import os
import sys

import rados
import rbd

DIR = os.environ.get("CINDER_EXT_CEPH_DIR", "/var/tmp/cinder-ext-ceph")
CONF = os.path.join(DIR, "ceph.conf")
MiB = 1024 * 1024


def mon_cmd(cluster, **cmd):
    cmd.setdefault("format", "json")
    ret, out, err = cluster.mon_command(json.dumps(cmd), b"", timeout=10)
    if ret != 0:
        raise RuntimeError("mon_command %s failed: %d %s" % (cmd, ret, err))
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clone-format", default="auto",
                    choices=["auto", "1", "2"],
                    help="librbd rbd_default_clone_format for this client")
    args = ap.parse_args()

    cluster = rados.Rados(conffile=CONF, rados_id="cinder")
    cluster.conf_set("rbd_default_clone_format", args.clone_format)
    cluster.connect(timeout=10)
    try:
        print("librbd version:", rbd.RBD().version())
        print("fsid:", cluster.get_fsid())

        # Mon commands the driver issues as client.cinder.
        monmap = mon_cmd(cluster, prefix="mon dump")
        print("mon dump: mons =",
              [m["public_addrs"]["addrvec"] for m in monmap["mons"]])
        df = mon_cmd(cluster, prefix="df")
        print("df: pools =", [p["name"] for p in df["pools"]],
              "total_bytes =", df["stats"]["total_bytes"])
        quota = mon_cmd(cluster, prefix="osd pool get-quota", pool="volumes")
        print("osd pool get-quota volumes:", quota)
        osd_dump = mon_cmd(cluster, prefix="osd dump")
        compat = osd_dump["require_min_compat_client"]
        print("require_min_compat_client:", compat)

        prefix = "smoke-%d" % os.getpid()
        parent, snap = prefix + "-parent", "snap1"
        clone1, clone2 = prefix + "-clone", prefix + "-xclone"
        with cluster.open_ioctx("volumes") as io, \
                cluster.open_ioctx("volumes2") as io2:
            r = rbd.RBD()
            r.create(io, parent, 64 * MiB)  # librbd default features
            with rbd.Image(io, parent) as img:
                print("created %s features=%#x" % (parent, img.features()))
                img.write(b"cinder-ext" * 100, 0)
                img.create_snap(snap)
                img.protect_snap(snap)
            r.clone(io, parent, snap, io, clone1)
            r.clone(io, parent, snap, io2, clone2)  # cross-pool (migration)
            with rbd.Image(io, clone1) as c:
                print("clone %s parent=%s op_features=%#x" % (
                    clone1, c.get_parent_image_spec(), c.op_features()))
                assert c.read(0, 10) == b"cinder-ext"
            with rbd.Image(io2, clone2) as c:
                c.flatten()
            names = sorted(r.list(io))
            print("volumes images:", names)
            assert parent in names and clone1 in names
            assert clone2 in r.list(io2)
            with rbd.Image(io, parent) as img:
                print("children:", sorted(
                    "%s/%s" % (c["pool"], c["image"])
                    for c in img.list_children2()))
            r.remove(io, clone1)
            r.remove(io2, clone2)
            with rbd.Image(io, parent) as img:
                img.unprotect_snap(snap)
                img.remove_snap(snap)
            r.remove(io, parent)
            assert parent not in r.list(io)
        print("smoke test OK")
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main())
