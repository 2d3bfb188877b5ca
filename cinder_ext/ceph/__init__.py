"""Everything that talks to Ceph lives in this package.

Only :mod:`cinder_ext.ceph.bindings` imports ``rados`` and ``rbd``; the rest
of the driver reaches librados/librbd through :mod:`.connection` (pooled,
deadline-bound clients) and :mod:`.images` (plain functions that run in the
blocking-call layer of :mod:`.blocking`).
"""
