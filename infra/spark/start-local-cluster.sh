#!/usr/bin/env bash
# Start a real Spark standalone cluster on loopback: one master and N workers.
#   infra/spark/start-local-cluster.sh [N_WORKERS=2] [STATE_DIR=.cache/spark-cluster]
# Prints the master URL. Worker processes run from the pip-installed pyspark (its package
# folder is SPARK_HOME); their Python is this project's interpreter. SPARK_CLUSTER_START_TIMEOUT
# (seconds, default 120) bounds the wait for the master and each worker: JVMs start slowly on
# busy machines.
set -euo pipefail
workers=${1:-2}
state=${2:-.cache/spark-cluster}
polls=$(( ${SPARK_CLUSTER_START_TIMEOUT:-120} * 2 ))
python=${PYSPARK_PYTHON:-$(command -v python)}
export SPARK_HOME=${SPARK_HOME:-$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}
export PYSPARK_PYTHON=$python
mkdir -p "$state"
state=$(cd "$state" && pwd)
port=${SPARK_MASTER_PORT:-7077}
ui=${SPARK_MASTER_WEBUI_PORT:-18080}
url="spark://127.0.0.1:$port"

nohup "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
    --host 127.0.0.1 --port "$port" --webui-port "$ui" > "$state/master.log" 2>&1 &
echo $! > "$state/master.pid"
for _ in $(seq 1 "$polls"); do
    grep -q "I have been elected leader" "$state/master.log" 2>/dev/null && break
    sleep 0.5
done
for i in $(seq 1 "$workers"); do
    mkdir -p "$state/worker$i"
    nohup "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker "$url" \
        --host 127.0.0.1 --cores "${SPARK_WORKER_CORES:-1}" --memory "${SPARK_WORKER_MEMORY:-2g}" \
        --webui-port $((ui + i)) --work-dir "$state/worker$i" > "$state/worker$i.log" 2>&1 &
    echo $! > "$state/worker$i.pid"
done
for i in $(seq 1 "$workers"); do
    for _ in $(seq 1 "$polls"); do
        grep -q "Successfully registered with master" "$state/worker$i.log" 2>/dev/null && break
        sleep 0.5
    done
    grep -q "Successfully registered with master" "$state/worker$i.log" \
        || { echo "worker $i did not register; see $state/worker$i.log" >&2; exit 1; }
done
echo "$url"
