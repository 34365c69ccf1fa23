#!/usr/bin/env bash
# Stop the cluster started by start-local-cluster.sh (same STATE_DIR).
set -uo pipefail
state=${1:-.cache/spark-cluster}
for pidfile in "$state"/worker*.pid "$state"/master.pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null
    rm -f "$pidfile"
done
exit 0
