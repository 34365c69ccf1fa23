#!/usr/bin/env bash
# Run one scheduled kgpipe command under a lock, with a dated log file.
#
#   run-kgpipe.sh JOB_NAME [kgpipe arguments...]
#
# Two runs never overlap: every job takes the same lock (the stages share one warehouse), and a
# run that finds it taken logs that and exits 75 (EX_TEMPFAIL) instead of queueing behind it.
# Settings come from the environment (cron sets little of it):
#   KGPIPE_HOME  the project checkout (default: two levels above this script)
#   KGPIPE_BIN   the kgpipe executable (default: $KGPIPE_HOME/.venv/bin/kgpipe)
#   KGPIPE_LOGS  log folder (default: $KGPIPE_HOME/logs); rotate it with logrotate.conf
#   KGPIPE_LOCK  lock file (default: $KGPIPE_LOGS/kgpipe.lock)
set -uo pipefail
job="${1:?usage: run-kgpipe.sh JOB_NAME [kgpipe arguments...]}"
shift
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
home="${KGPIPE_HOME:-$(cd "$here/../.." && pwd)}"
bin="${KGPIPE_BIN:-$home/.venv/bin/kgpipe}"
logs="${KGPIPE_LOGS:-$home/logs}"
lock="${KGPIPE_LOCK:-$logs/kgpipe.lock}"
mkdir -p "$logs"
log="$logs/$job.log"
stamp() { date -u +%Y-%m-%dT%H:%M:%SZ; }

exec 9>"$lock"
if ! flock -n 9; then
    echo "$(stamp) $job: another kgpipe run holds $lock; not starting" >>"$log"
    exit 75
fi
echo "$(stamp) $job: starting: $bin $*" >>"$log"
cd "$home" || exit 1
"$bin" "$@" >>"$log" 2>&1
status=$?
echo "$(stamp) $job: finished with exit status $status" >>"$log"
exit "$status"
