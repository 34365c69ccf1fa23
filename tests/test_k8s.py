"""Deployment files: the Kubernetes manifests rendered from infra/k8s/values.yaml validate against
the Kubernetes schemas (kubernetes-validate, strict: unknown fields are errors) and the
spark-operator SparkApplication schema; the Dockerfiles pin what the manifests rely on.

No cluster and no registry here: nothing is applied or built; what a real ``kubectl apply`` or
``docker build`` would check first (schema, field names, types, the paths and versions the
manifests and images must agree on) is checked instead."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from kgpipe.cli import parser
from kgpipe.stages import PIPELINE
from tests.conftest import REPO

kubernetes_validate = pytest.importorskip("kubernetes_validate")
jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")

K8S = REPO / "infra" / "k8s"
DOCKER = REPO / "infra" / "docker"
KUBERNETES_VERSION = "1.30.0"
SPARK_SCHEMA = K8S / "schemas" / "sparkapplication-v1beta2.schema.json"


def _render_module():
    spec = importlib.util.spec_from_file_location("kgpipe_k8s_render", K8S / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _render_module()


def _spark_validator():
    """The SparkApplication schema, its Kubernetes pod types resolved from kubernetes-validate's
    definitions of the same Kubernetes version."""
    from referencing.jsonschema import DRAFT202012
    folder = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{KUBERNETES_VERSION}-local-strict"
    definitions = json.loads((folder / "_definitions.json").read_text())
    registry = referencing.Registry().with_resource(definitions["$id"], DRAFT202012.create_resource(definitions))
    schema = json.loads(SPARK_SCHEMA.read_text())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _validate(manifest: dict) -> None:
    if manifest["kind"] == "SparkApplication":
        _spark_validator().validate(manifest)
    else:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    return render.render(render.load_values())


def test_every_manifest_validates(manifests):
    for manifest in manifests:
        _validate(manifest)
    kinds = [m["kind"] for m in manifests]
    assert kinds.count("Deployment") == kinds.count("Service") == kinds.count("ConfigMap") == 1


def test_one_spark_application_per_spark_stage_running_its_job_file(manifests):
    apps = {m["metadata"]["name"]: m["spec"] for m in manifests if m["kind"] == "SparkApplication"}
    values = render.load_values()
    # every stage of the pipeline but ingest (Beam: a Job) is a SparkApplication
    assert sorted(apps) == sorted(f"kgpipe-{s}" for s in PIPELINE if s != "ingest")
    for name, spec in apps.items():
        stage = name.removeprefix("kgpipe-")
        assert spec["mainApplicationFile"] == f"local://{values['codeRoot']}/jobs/{stage}.py"
        assert (REPO / "jobs" / f"{stage}.py").is_file()
        assert spec["mode"] == "cluster" and spec["type"] == "Python" and spec["image"] == values["images"]["jobs"]
        # the job file gets what `kgpipe submit` gives it, and kgpipe's parser accepts it
        args, unknown = parser().parse_known_args(["--config", spec["arguments"][1], stage, *spec["arguments"][2:]])
        assert unknown == [] and args.warehouse == values["warehouse"]["mountPath"]
        assert spec["restartPolicy"]["type"] == "OnFailure" and spec["restartPolicy"]["onFailureRetries"] >= 1
        mounts = {m["mountPath"] for m in spec["driver"]["volumeMounts"]} & {m["mountPath"]
                                                                            for m in spec["executor"]["volumeMounts"]}
        assert {values["warehouse"]["mountPath"], render.CONFIG_MOUNT} <= mounts
    assert apps["kgpipe-extract"]["executor"]["instances"] == values["stages"]["extract"]["executor"]["instances"]
    assert apps["kgpipe-analyze"]["executor"]["instances"] == values["executor"]["instances"]
    ingest = next(m for m in manifests if m["kind"] == "Job")
    assert ingest["spec"]["template"]["spec"]["containers"][0]["command"][3] == "ingest"


def test_the_service_is_probed_on_its_port_and_reached_through_the_service(manifests):
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    service = next(m for m in manifests if m["kind"] == "Service")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    port = next(p for p in container["ports"] if p["name"] == "http")
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["template"]["metadata"]["labels"] == deployment["spec"]["selector"]["matchLabels"]
    args, _ = parser().parse_known_args(container["command"][1:])
    assert args.command == "serve" and args.port == port["containerPort"] and args.host == "0.0.0.0"
    # the service only reads the warehouse; its one writable place is an emptyDir /tmp (worker metrics)
    writable = [m for m in container["volumeMounts"] if not m.get("readOnly")]
    assert [m["mountPath"] for m in writable] == ["/tmp"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes[writable[0]["name"]] == {"name": "tmp", "emptyDir": {}}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_values_files_override_key_by_key(tmp_path):
    extra = tmp_path / "staging.yaml"
    extra.write_text("nameSuffix: -staging\nexecutor:\n  instances: 7\nservice:\n  replicas: 1\n")
    manifests = render.render(render.load_values([extra]))
    for manifest in manifests:
        _validate(manifest)
    apps = [m for m in manifests if m["kind"] == "SparkApplication"]
    assert all(m["metadata"]["name"].endswith("-staging") for m in manifests if m["kind"] != "PersistentVolumeClaim")
    assert next(a for a in apps if a["metadata"]["name"] == "kgpipe-reason-staging")["spec"]["executor"]["instances"] == 7
    # a stage's own override still wins over the new default; other executor keys are kept
    extract = next(a for a in apps if a["metadata"]["name"] == "kgpipe-extract-staging")["spec"]["executor"]
    assert extract["instances"] == 4 and extract["cores"] == 2


@pytest.mark.parametrize("override, name", [
    ({"executor": {"instances": 0}}, "kgpipe-analyze"),         # below the CRD's minimum
    ({"executor": {"memroy": "4g"}}, "kgpipe-analyze"),         # misspelt: the API server would drop it
    ({"driver": {"memory": "2 GB"}}, "kgpipe-reason"),          # not a Spark memory string
    ({"restartPolicy": {"onFailureRetries": -1}}, "kgpipe-train"),
    ({"service": {"port": "eighty"}}, "kgpipe-service"),        # containerPort is an integer
    ({"warehouse": {"mountPath": 7}}, "kgpipe-ingest"),         # mountPath is a string
])
def test_a_broken_value_fails_validation(override, name):
    manifests = render.render(render.merge(render.load_values(), override))
    broken = next(m for m in manifests if m["metadata"]["name"] == name and m["kind"] != "Service")
    errors = (jsonschema.ValidationError, kubernetes_validate.ValidationError)
    with pytest.raises(errors):
        _validate(broken)


# ---- Dockerfiles: parsed with dockerfile-parse (no registry to pull base images from here)

def _dockerfile(name: str):
    dockerfile_parse = pytest.importorskip("dockerfile_parse")
    parser = dockerfile_parse.DockerfileParser(path=str(DOCKER / name))
    return parser, [(i["instruction"], i["value"]) for i in parser.structure]


def test_jobs_image_has_spark_35_on_java_17_and_the_paths_the_manifests_name():
    parser, instructions = _dockerfile("jobs.Dockerfile")
    args = {value.split("=")[0]: value.split("=")[1] for kind, value in instructions if kind == "ARG" and "=" in value}
    values = render.load_values()
    assert args["SPARK_VERSION"] == values["sparkVersion"] and args["SPARK_VERSION"].startswith("3.5.")
    froms = [value for kind, value in instructions if kind == "FROM"]
    assert len(froms) >= 2 and froms[0].endswith(" AS build")  # multi-stage: compilers stay behind
    runs = " ".join(value for kind, value in instructions if kind == "RUN")
    assert "openjdk-17-jre-headless" in runs and "pyspark==${SPARK_VERSION}" in runs
    assert "GRAPHFRAMES_JAR" in runs and Path(values["graphframesJar"]).parent.as_posix() in runs
    copies = [value for kind, value in instructions if kind == "COPY"]
    assert f"jobs {values['codeRoot']}/jobs" in copies
    users = [value for kind, value in instructions if kind == "USER"]
    assert users and users[-1] not in ("root", "0")
    # the in-image Python is what executors run
    env = parser.envs
    assert env["PYSPARK_PYTHON"] == "/usr/local/bin/python" and "17" in env["JAVA_HOME"]


def test_service_image_is_slim_non_root_with_a_healthcheck_on_healthz():
    _, instructions = _dockerfile("service.Dockerfile")
    runs = " ".join(value for kind, value in instructions if kind == "RUN")
    assert "openjdk" not in runs  # no Java in the service image
    health = [value for kind, value in instructions if kind == "HEALTHCHECK"]
    assert health and "/healthz" in health[0]
    users = [value for kind, value in instructions if kind == "USER"]
    assert users and users[-1] not in ("root", "0")
    entry = json.loads(next(value for kind, value in instructions if kind == "ENTRYPOINT"))
    cmd = json.loads(next(value for kind, value in instructions if kind == "CMD"))
    args, unknown = parser().parse_known_args([*entry[1:], *cmd])
    assert entry == ["kgpipe"] and unknown == [] and args.command == "serve"
    exposed = [value for kind, value in instructions if kind == "EXPOSE"]
    assert exposed == [str(args.port)] == [str(render.load_values()["service"]["port"])]
