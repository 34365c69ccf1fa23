# syntax=docker/dockerfile:1
# The slim service image: `kgpipe serve` (FastAPI + uvicorn) over a warehouse's index bundle.
# No Java and no Spark: the service reads the bundle (FAISS index and Arrow store) only.
#   docker build -f infra/docker/service.Dockerfile -t kgpipe/serve/api:0.1.0 .
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY setup.py README.md ./
COPY kgpipe kgpipe
COPY schemas schemas
COPY pipelines pipelines
COPY jobs jobs
RUN pip wheel --wheel-dir /wheels --extra-index-url https://download.pytorch.org/whl/cpu .

FROM python:${PYTHON_VERSION}-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_WAIT_POLICY=PASSIVE
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels kgpipe \
 && rm -rf /wheels \
 && groupadd --system --gid 10001 kgpipe \
 && useradd --system --uid 10001 --gid kgpipe --home-dir /home/kgpipe --create-home kgpipe
USER 10001
WORKDIR /home/kgpipe
EXPOSE 8000
# /healthz answers as soon as the process serves; readiness (/readyz) is the orchestrator's business
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["kgpipe"]
CMD ["--config", "/etc/kgpipe/kgpipe.yaml", "serve", "--warehouse", "/data/warehouse", "--host", "0.0.0.0", "--port", "8000"]
