# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""What a worker process measures; the samples go back to the parent as JSON.

Imported only after :func:`bench.patch_for` has set the process up as
cinder-volume does (eventlet monkey patched, or native threads).

Parts:

* ``latency``: each volume operation, for ours, in-tree and raw librbd,
  interleaved step by step (the order of the three rotates every round).
* ``concurrency``: 64 create+delete pairs at once, ours, in-tree and raw
  in turn; a 5 ms sleeper records how late it wakes up meanwhile.
* ``stats``: get_volume_stats(refresh=True) on a shared pool (not
  exclusive to Cinder) holding many small images, and the background
  reconcile that keeps ours current.
"""

import functools
import json
import sys
import threading
import time
import traceback

from oslo_utils import units
import rbd

from cinder_ext.volume import stats as ext_stats

import impls

IMPL_ORDER = ('ours', 'in-tree', 'raw')
# Cinder's default backend_native_threads_pool_size, the tpool size that
# cinder-volume sets for eventlet.
TPOOL_SIZE = 20
LATENCY_BUDGET_S = {False: 150.0, True: 45.0}


def log(message, *args):
    sys.stderr.write('[bench %s] %s\n' % (time.strftime('%H:%M:%S'),
                                          message % args))
    sys.stderr.flush()


def eventlet_mode():
    from cinder import monkey_patch
    return monkey_patch.is_patched()


def offload(func, *args):
    """Run a raw librbd call on a native thread when under eventlet."""
    if eventlet_mode():
        from eventlet import tpool
        return tpool.execute(func, *args)
    return func(*args)


def run_parallel(func, items, width):
    """``func(item)`` for every item, ``width`` at a time.

    Green threads under eventlet (as cinder-volume runs requests), native
    threads otherwise. Returns the results; a failure is returned as its
    exception instead of stopping the others.
    """
    def guarded(item):
        try:
            return func(item)
        except Exception as error:
            log('%s failed: %s', getattr(item, 'name', item), error)
            return error
    if eventlet_mode():
        import eventlet
        pool = eventlet.GreenPool(width)
        return list(pool.imap(guarded, items))
    from concurrent import futures
    with futures.ThreadPoolExecutor(max_workers=width) as executor:
        return list(executor.map(guarded, items))


class WakeupMonitor(object):
    """Sleeps 5 ms in a loop and records how late each wake-up is.

    Under eventlet it is a green thread: lateness is time the hub could not
    run anything else (a blocking call made on it). In native-thread mode
    it is a thread, and lateness only shows GIL or CPU contention.
    """

    def __init__(self, interval=0.005):
        self.interval = interval
        self.lateness_ms = []
        self._stop = False
        self._runner = None

    def _loop(self):
        while not self._stop:
            start = time.perf_counter()
            time.sleep(self.interval)
            late = time.perf_counter() - start - self.interval
            self.lateness_ms.append(max(late, 0.0) * 1000.0)

    def start(self):
        if eventlet_mode():
            import eventlet
            self._runner = eventlet.spawn(self._loop)
        else:
            self._runner = threading.Thread(target=self._loop, daemon=True)
            self._runner.start()
        return self

    def stop(self):
        self._stop = True
        if eventlet_mode():
            self._runner.wait()
        else:
            self._runner.join()
        return self.lateness_ms


def _timed(samples, op, func, *args):
    start = time.perf_counter()
    func(*args)
    samples.setdefault(op, []).append(
        (time.perf_counter() - start) * 1000.0)


class Step(object):
    """One operation of a latency round.

    ``needs``: objects (a, s, b, c) that must exist; ``blocked_by``: objects
    that must be gone; ``makes``/``kills``: what success creates/removes.
    A failed step leaves the state as it was, so only the steps that depend
    on its result are skipped for that implementation in that round.
    """

    def __init__(self, op, call, needs='', blocked_by='', makes='',
                 kills='', timed=True):
        self.op, self.call, self.timed = op, call, timed
        self.needs, self.blocked_by = set(needs), set(blocked_by)
        self.makes, self.kills = set(makes), set(kills)

    def runnable(self, alive):
        return self.needs <= alive and not (self.blocked_by & alive)


def _latency_steps(raw):
    """The steps of one round, in order.

    Volume b (from the snapshot) is deleted before the snapshot so that no
    driver has to flatten it; volume c (clone of a) is deleted untimed, and
    a ``.clone_snap`` the in-tree driver leaves on a is dropped with raw
    calls (untimed), so that every implementation deletes a plain a. Ours
    drops it itself in the background: that is waited for first (untimed),
    so it never runs into the timed delete of a.
    """
    def drop_clone_snap(impl, st):
        impl.settle()
        raw.drop_snap(st['a'].name, st['c'].name + '.clone_snap')
    return [
        Step('create_volume', lambda i, st: i.create_volume(st['a']),
             makes='a'),
        Step('create_snapshot', lambda i, st: i.create_snapshot(st['s']),
             needs='a', makes='s'),
        Step('revert_to_snapshot',
             lambda i, st: i.revert_to_snapshot(st['a'], st['s']),
             needs='as'),
        Step('create_volume_from_snapshot',
             lambda i, st: i.create_volume_from_snapshot(st['b'], st['s']),
             needs='s', makes='b'),
        Step('create_cloned_volume',
             lambda i, st: i.create_cloned_volume(st['c'], st['a']),
             needs='a', makes='c'),
        Step('extend_volume', lambda i, st: i.extend_volume(st['a'], 2),
             needs='a'),
        Step('initialize_connection',
             lambda i, st: i.initialize_connection(st['a']), needs='a'),
        Step('get_volume_stats', lambda i, st: i.get_volume_stats()),
        Step('delete_volume (clone)', lambda i, st: i.delete_volume(st['b']),
             needs='b', kills='b'),
        Step('delete_snapshot', lambda i, st: i.delete_snapshot(st['s']),
             needs='s', blocked_by='b', kills='s'),
        Step('cleanup clone', lambda i, st: i.delete_volume(st['c']),
             needs='c', kills='c', timed=False),
        Step('cleanup clone_snap', drop_clone_snap, needs='a', timed=False),
        Step('delete_volume', lambda i, st: i.delete_volume(st['a']),
             needs='a', blocked_by='sc', kills='a'),
    ]


def _new_round_state(token):
    volume_a = impls.new_volume(token)
    return {'a': volume_a, 's': impls.new_snapshot(token, volume_a),
            'b': impls.new_volume(token), 'c': impls.new_volume(token),
            'alive': set(), 'failed': False}


def _record_failure(impl, step, errors):
    key = '%s %s' % (impl.name, step.op)
    if key not in errors:
        log('%s failed:\n%s', key, traceback.format_exc())
    else:
        log('%s failed again: %s', key, sys.exc_info()[1])
    errors[key] = errors.get(key, 0) + 1


def _run_round(steps, impl_list, token, samples, errors):
    """One round: every step for every implementation, back to back."""
    states = {impl.name: _new_round_state(token) for impl in impl_list}
    for step in steps:
        for impl in impl_list:
            state = states[impl.name]
            if not step.runnable(state['alive']):
                continue
            try:
                if step.timed and samples is not None:
                    _timed(samples.setdefault(impl.name, {}), step.op,
                           step.call, impl, state)
                else:
                    step.call(impl, state)
            except Exception:
                _record_failure(impl, step, errors)
                state['failed'] = True
                continue
            state['alive'] = (state['alive'] | step.makes) - step.kills
    return states


def handoff_ms(count=200):
    """Median round trip (ms) of a no-op through :func:`offload`.

    What every librbd call of a driver costs on top of raw under eventlet,
    where raw calls in the latency rounds are made on the hub itself.
    """
    def noop():
        pass
    samples = []
    for _n in range(count):
        start = time.perf_counter()
        offload(noop)
        samples.append((time.perf_counter() - start) * 1000.0)
    return sorted(samples)[count // 2]


def latency(impl_map, raw, rounds, quick, token):
    """Per-operation samples (ms); round 0 is an unrecorded warm-up."""
    handoff = handoff_ms() if eventlet_mode() else None
    steps = _latency_steps(raw)
    samples, errors = {}, {}
    budget = LATENCY_BUDGET_S[quick]
    started = time.monotonic()
    done = 0
    for number in range(rounds + 1):
        shift = number % len(IMPL_ORDER)
        names = IMPL_ORDER[shift:] + IMPL_ORDER[:shift]
        order = [impl_map[name] for name in names]
        states = _run_round(steps, order, token,
                            samples if number else None, errors)
        for state in states.values():
            if state['failed']:
                raw.purge([state[k].name for k in ('b', 'c', 'a')])
        done = number
        if number and number % 5 == 0:
            log('latency: %d/%d rounds', number, rounds)
        if number >= 3 and time.monotonic() - started > budget:
            log('latency: time budget of %.0f s used after %d rounds',
                budget, number)
            break
    return {'samples': samples, 'rounds': done, 'errors': errors,
            'handoff_ms': handoff}


def _pair(impl):
    """One create+delete; returns the two latencies in ms."""
    def run(volume):
        start = time.perf_counter()
        impl.create_volume(volume)
        created = time.perf_counter()
        impl.delete_volume(volume)
        return ((created - start) * 1000.0,
                (time.perf_counter() - created) * 1000.0)
    return run


class OffloadedRaw(object):
    """Raw create/delete for the bursts, each call offloaded.

    Under eventlet the drivers run librbd on tpool threads; raw calls made
    on the hub would run one at a time, which is no floor for them.
    """

    def __init__(self, raw):
        self.name = raw.name
        self._raw = raw

    def create_volume(self, volume):
        offload(self._raw.create_volume, volume)

    def delete_volume(self, volume):
        offload(self._raw.delete_volume, volume)


def _burst(impl, raw, width, token):
    volumes = [impls.new_volume(token) for _ in range(width)]
    monitor = WakeupMonitor().start()
    start = time.perf_counter()
    results = run_parallel(_pair(impl), volumes, width)
    wall = time.perf_counter() - start
    lateness = monitor.stop()
    failed = [v.name for v, r in zip(volumes, results)
              if isinstance(r, Exception)]
    if failed:
        raw.purge(failed)
    pairs = [r for r in results if not isinstance(r, Exception)]
    return {'wall_s': wall, 'width': width, 'errors': len(failed),
            'create_ms': [p[0] for p in pairs],
            'delete_ms': [p[1] for p in pairs],
            'lateness_ms': lateness}


def concurrency(impl_map, raw, reps, token, width=64):
    """Bursts of ``width`` create+delete pairs: ours, in-tree and raw.

    The order rotates every repetition, as in the latency rounds.
    """
    idle = WakeupMonitor().start()
    time.sleep(1.0)
    result = {'idle_lateness_ms': idle.stop(), 'bursts': {}}
    bursters = dict(impl_map, raw=OffloadedRaw(raw))
    for rep in range(reps):
        shift = rep % len(IMPL_ORDER)
        for name in IMPL_ORDER[shift:] + IMPL_ORDER[:shift]:
            burst = _burst(bursters[name], raw, width, token)
            result['bursts'].setdefault(name, []).append(burst)
            log('concurrency: %s burst %d/%d: %.2f s', name, rep + 1, reps,
                burst['wall_s'])
    return result


def _shared_images(raw_cluster, names, create):
    ioctx = raw_cluster.open_ioctx('volumes2')
    try:
        def one(name):
            if create:
                offload(rbd.RBD().create, ioctx, name, units.Mi)
                return
            try:
                offload(rbd.RBD().remove, ioctx, name)
            except rbd.ImageNotFound:
                pass  # its create failed
        results = run_parallel(one, names, 16)
        return [n for n, r in zip(names, results) if isinstance(r, Exception)]
    finally:
        ioctx.close()


# Calls per implementation; ours answers from memory, so it is cheap to
# sample often enough for a p99.
STATS_ROUNDS = {'ours': 300, 'ours reconcile': 15, 'in-tree': 3, 'raw': 15}


def _stats_calls(impl_map):
    """name -> one measured call.

    'ours reconcile' is what ours' background task does every
    rbd_stats_max_age: df, quota and pool_stats_get.
    """
    calls = {name: impl.get_volume_stats for name, impl in impl_map.items()}
    backend = impl_map['ours'].driver._backend
    read = functools.partial(ext_stats.read, backend)
    calls['ours reconcile'] = lambda: backend.capacity.reconcile(read,
                                                                 wait=True)
    return calls


def _time_stats(impl_map, rounds):
    """Interleaved stats calls, after one warm-up call for ours and raw.

    The warm-up opens their pooled connection and ioctx (and gives ours
    its first figures); the in-tree driver connects on every call, so it
    has nothing to warm up.
    """
    samples, provisioned = {}, {}
    for name in ('ours', 'raw'):
        impl_map[name].get_volume_stats()
    calls = _stats_calls(impl_map)
    for number in range(max(rounds.values())):
        for name, call in calls.items():
            if number < rounds[name]:
                start = time.perf_counter()
                stats = call()
                samples.setdefault(name, []).append(
                    (time.perf_counter() - start) * 1000.0)
                provisioned[name] = _provisioned(stats)
    samples['ours, reconcile running'] = _stats_during_reconciles(
        impl_map['ours'], calls['ours reconcile'], rounds['ours'])
    return samples, provisioned


def _stats_during_reconciles(ours, reconcile, count):
    """Ours' stats calls (ms) while reconciles run back to back beside.

    A (green) thread as the background task is; the 2 ms pause between
    calls lets it run under eventlet.
    """
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            reconcile()
    runner = threading.Thread(target=loop, daemon=True)
    runner.start()
    samples = []
    try:
        for _n in range(count):
            time.sleep(0.002)
            start = time.perf_counter()
            ours.get_volume_stats()
            samples.append((time.perf_counter() - start) * 1000.0)
    finally:
        stop.set()
        runner.join()
    return samples


def _provisioned(stats):
    if isinstance(stats, dict):
        return stats.get('provisioned_capacity_gb')
    if isinstance(stats, list):
        return stats[-1] / float(units.Gi)  # raw: provisioned bytes
    return None  # a reconcile reports nothing itself


def shared_stats(args, raw, n_images):
    """get_volume_stats on ``volumes2`` holding ``n_images`` 1 MiB images."""
    names = ['bench-%s-%04d' % (args.token, i) for i in range(n_images)]
    impl_map = {}
    started = time.perf_counter()
    failed = _shared_images(raw.cluster, names, create=True)
    setup_s = time.perf_counter() - started
    log('stats: %d images created in %.1f s', n_images, setup_s)
    try:
        raw2 = impls.RawImpl(args.ceph_conf, args.user, 'volumes2',
                             shared=True)
        impl_map['raw'] = raw2
        for kind in ('ours', 'in-tree'):
            impl_map[kind] = impls.make_driver(
                kind, args.ceph_conf, args.user, 'volumes2', exclusive=False)
        samples, provisioned = _time_stats(impl_map, STATS_ROUNDS)
    finally:
        for impl in impl_map.values():
            impl.close()
        started = time.perf_counter()
        leftover = _shared_images(raw.cluster, names, create=False)
        teardown_s = time.perf_counter() - started
        log('stats: images removed in %.1f s', teardown_s)
    return {'images': n_images, 'samples': samples,
            'provisioned_gb': provisioned, 'create_failed': len(failed),
            'remove_failed': leftover, 'setup_s': setup_s,
            'teardown_s': teardown_s}


def _build_impls(args):
    impl_map = {}
    impl_map['raw'] = impls.RawImpl(args.ceph_conf, args.user, 'volumes')
    for kind in ('ours', 'in-tree'):
        impl_map[kind] = impls.make_driver(kind, args.ceph_conf, args.user,
                                           'volumes')
    return impl_map


def _run_parts(args, impl_map, result):
    parts = args.parts.split(',')
    raw = impl_map['raw']
    if 'latency' in parts:
        log('latency: %d rounds (+1 warm-up)', args.rounds)
        result['latency'] = latency(impl_map, raw, args.rounds, args.quick,
                                    args.token)
    if 'concurrency' in parts:
        reps = 3 if args.quick else 6  # each impl each position
        result['concurrency'] = concurrency(impl_map, raw, reps, args.token)
    if 'stats' in parts:
        result['stats'] = shared_stats(args, raw, args.stats_images)


def run_worker(args):
    """Entry point of a worker process; writes its results to args.out."""
    impls.load_config()
    if eventlet_mode():
        from eventlet import tpool
        tpool.set_num_threads(TPOOL_SIZE)
    result = {'mode': args.worker, 'eventlet': eventlet_mode(),
              'tpool_size': TPOOL_SIZE if eventlet_mode() else None}
    impl_map = {}
    try:
        impl_map.update(_build_impls(args))
        _run_parts(args, impl_map, result)
    except Exception:
        result['fatal'] = traceback.format_exc()
        log('worker failed:\n%s', result['fatal'])
    finally:
        for impl in impl_map.values():
            impl.close()
        with open(args.out, 'w') as out:
            json.dump(result, out)
    return 1 if 'fatal' in result else 0
