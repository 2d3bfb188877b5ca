#!/usr/bin/env bash
# exec-clean.sh CMD [ARGS...] - exec CMD with only stdin, stdout and stderr
# open.  Every daemon our scripts start goes through this: a daemon that
# inherits a lock (stack-up's $STATE.lock, ceph-up's $DIR.lock) or a pipe
# keeps it for its whole life, and every later script then waits on that
# lock or that pipe.  Closing what we know about is not enough (a caller
# of a caller may hold more), so close everything above 2.
set -u
(($#)) || { echo "usage: exec-clean.sh CMD [ARGS...]" >&2; exit 2; }
for fd_path in /proc/$$/fd/*; do
    fd=${fd_path##*/}
    # The glob's own directory handle is already closed here; closing an
    # fd that is not open is a no-op for bash.
    if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then
        eval "exec $fd>&-"
    fi
done
exec "$@"
