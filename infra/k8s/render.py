"""Render kgpipe's Kubernetes manifests from one values file (no Helm: plain Python and PyYAML).

    python infra/k8s/render.py [--values FILE ...] [--out DIR]        # stdout: one multi-document YAML

Manifests: a ConfigMap with kgpipe's configuration; the warehouse PersistentVolumeClaim
(``warehouse.create``); a batch Job for ``ingest`` (Apache Beam, not Spark); one spark-operator
``SparkApplication`` (sparkoperator.k8s.io/v1beta2) per Spark stage, each running
``jobs/<stage>.py`` from the jobs image in cluster mode with the same arguments ``kgpipe submit``
passes; and for the query service a Deployment (readiness on ``/readyz``, liveness on
``/healthz``) and a Service. ``tests/test_k8s.py`` validates every manifest against the
Kubernetes schemas and the SparkApplication schema in ``schemas/``.

A stage's SparkApplication is started by creating it (``kubectl apply``); rerunning a finished
one means deleting and creating it again (or a ScheduledSparkApplication / the Airflow DAG).
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from kgpipe.stages import PIPELINE, STAGES

HERE = Path(__file__).resolve().parent
DEFAULT_VALUES = HERE / "values.yaml"
CONFIG_MOUNT = "/etc/kgpipe"
CONFIG_FILE = f"{CONFIG_MOUNT}/kgpipe.yaml"


def merge(base: dict, override: dict) -> dict:
    """``override`` over ``base``, nested mappings merged key by key."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_values(paths: list[str | Path] | None = None) -> dict:
    values = yaml.safe_load(DEFAULT_VALUES.read_text(encoding="utf-8"))
    for path in paths or []:
        extra = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(extra, dict):
            raise TypeError(f"{path}: a values file is a mapping")
        values = merge(values, extra)
    return values


def _labels(values: dict, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "kgpipe", "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": f"kgpipe{values['nameSuffix']}"}


def _name(values: dict, part: str) -> str:
    return f"kgpipe-{part}{values['nameSuffix']}"


def _meta(values: dict, part: str, component: str) -> dict:
    return {"name": _name(values, part), "namespace": values["namespace"], "labels": _labels(values, component)}


def _volumes(values: dict, warehouse_read_only: bool = False) -> tuple[list[dict], list[dict]]:
    volumes = [{"name": "warehouse", "persistentVolumeClaim": {"claimName": values["warehouse"]["claimName"],
                                                              "readOnly": warehouse_read_only}},
               {"name": "config", "configMap": {"name": _name(values, "config")}}]
    mounts = [{"name": "warehouse", "mountPath": values["warehouse"]["mountPath"], "readOnly": warehouse_read_only},
              {"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True}]
    return volumes, mounts


def kgpipe_config(values: dict) -> dict:
    return merge(values.get("kgpipe") or {}, {"warehouse": values["warehouse"]["mountPath"],
                                              "cache_dir": "/tmp/kgpipe-cache"})


def config_map(values: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(values, "config", "config"),
            "data": {"kgpipe.yaml": yaml.safe_dump(kgpipe_config(values), sort_keys=False)}}


def warehouse_claim(values: dict) -> dict:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteMany"],
                            "resources": {"requests": {"storage": values["warehouse"]["size"]}}}
    if values["warehouse"].get("storageClassName"):
        spec["storageClassName"] = values["warehouse"]["storageClassName"]
    meta = _meta(values, "warehouse", "warehouse")
    meta["name"] = values["warehouse"]["claimName"]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}


def stage_arguments(values: dict) -> list[str]:
    """What the job file gets: the same options ``kgpipe submit`` passes (kgpipe/submit.py)."""
    return ["--config", CONFIG_FILE, "--warehouse", values["warehouse"]["mountPath"]]


def spark_application(values: dict, stage: str) -> dict:
    own = (values.get("stages") or {}).get(stage) or {}
    volumes, mounts = _volumes(values)
    labels = _labels(values, stage)
    driver = merge(values["driver"], own.get("driver") or {})
    executor = merge(values["executor"], own.get("executor") or {})
    conf = {key: str(value) for key, value in merge(values.get("sparkConf") or {}, own.get("sparkConf") or {}).items()}
    jar = f"local://{values['graphframesJar']}"
    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": _meta(values, stage, stage),
        "spec": {
            "type": "Python",
            "pythonVersion": "3",
            "mode": "cluster",
            "image": values["images"]["jobs"],
            "imagePullPolicy": values["images"]["pullPolicy"],
            "mainApplicationFile": f"local://{values['codeRoot']}/{STAGES[stage].job_file}",
            "arguments": stage_arguments(values),
            "sparkVersion": str(values["sparkVersion"]),
            "sparkConf": conf,
            # the jar on the JVM classpath, and on the Python path for the graphframes package it carries
            "deps": {"jars": [jar], "pyFiles": [jar]},
            "restartPolicy": {"type": "OnFailure", **values["restartPolicy"]},
            "volumes": volumes,
            "driver": {**driver, "serviceAccount": values["serviceAccount"], "labels": labels,
                       "volumeMounts": mounts},
            "executor": {**executor, "labels": labels, "volumeMounts": mounts},
        },
    }


def ingest_job(values: dict) -> dict:
    volumes, mounts = _volumes(values)
    ingest = values["ingest"]
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(values, "ingest", "ingest"),
        "spec": {
            "backoffLimit": ingest["backoffLimit"],
            "template": {
                "metadata": {"labels": _labels(values, "ingest")},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": values["serviceAccount"],
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
                    "containers": [{
                        "name": "ingest",
                        "image": values["images"]["jobs"],
                        "imagePullPolicy": values["images"]["pullPolicy"],
                        "command": ["kgpipe", "--config", CONFIG_FILE, "ingest",
                                    "--warehouse", values["warehouse"]["mountPath"]],
                        "resources": {"requests": {"cpu": ingest["cpu"], "memory": ingest["memory"]},
                                      "limits": {"memory": ingest["memory"]}},
                        "volumeMounts": mounts,
                    }],
                    "volumes": volumes,
                },
            },
        },
    }


def service_deployment(values: dict) -> dict:
    service = values["service"]
    volumes, mounts = _volumes(values, warehouse_read_only=True)
    # the root file system is read-only; serve.workers > 1 shares its metrics through files in /tmp
    volumes = volumes + [{"name": "tmp", "emptyDir": {}}]
    mounts = mounts + [{"name": "tmp", "mountPath": "/tmp"}]
    labels = _labels(values, "service")

    def probe(path: str, period: int, failures: int) -> dict:
        return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "failureThreshold": failures,
                "timeoutSeconds": 5}

    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(values, "service", "service"),
        "spec": {
            "replicas": service["replicas"],
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
                    "containers": [{
                        "name": "service",
                        "image": values["images"]["service"],
                        "imagePullPolicy": values["images"]["pullPolicy"],
                        "command": ["kgpipe", "--config", CONFIG_FILE, "serve", "--warehouse",
                                    values["warehouse"]["mountPath"], "--host", "0.0.0.0",
                                    "--port", str(service["port"])],
                        "ports": [{"name": "http", "containerPort": service["port"], "protocol": "TCP"}],
                        "env": [{"name": "KGPIPE_API_KEYS", "valueFrom": {"secretKeyRef": {
                            "name": service["apiKeysSecret"], "key": "KGPIPE_API_KEYS"}}}],
                        # ready once a bundle is loaded (/readyz is 503 before); alive while it answers
                        "readinessProbe": probe("/readyz", 10, 3),
                        "livenessProbe": probe("/healthz", 20, 3),
                        "startupProbe": probe("/healthz", 5, 24),
                        "resources": {"requests": {"cpu": service["cpu"], "memory": service["memory"]},
                                      "limits": {"memory": service["memory"]}},
                        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": mounts,
                    }],
                    "volumes": volumes,
                },
            },
        },
    }


def service(values: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(values, "service", "service"),
            "spec": {"selector": _labels(values, "service"),
                     "ports": [{"name": "http", "port": values["service"]["servicePort"],
                                "targetPort": "http", "protocol": "TCP"}]}}


def render(values: dict) -> list[dict]:
    manifests = [config_map(values)]
    if values["warehouse"].get("create"):
        manifests.append(warehouse_claim(values))
    manifests.append(ingest_job(values))
    # every stage of the pipeline that spark-submit can run is a SparkApplication; ingest (Beam) is the Job
    manifests += [spark_application(values, name) for name in PIPELINE if STAGES[name].submittable]
    manifests += [service_deployment(values), service(values)]
    return manifests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", action="append", default=[], help="values file over values.yaml (repeatable)")
    parser.add_argument("--out", help="write one file per manifest into this folder instead of stdout")
    args = parser.parse_args(argv)
    manifests = render(load_values(args.values))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for manifest in manifests:
            path = out / f"{manifest['kind'].lower()}-{manifest['metadata']['name']}.yaml"
            path.write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    else:
        yaml.safe_dump_all(manifests, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
