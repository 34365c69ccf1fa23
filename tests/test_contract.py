"""The service's OpenAPI document is its contract, and schemathesis holds the running service to it.

The real application (``kgpipe.serve.api.create_app``, real question answering) runs under uvicorn on a free
loopback port over the small graph of tests/test_store.py, with a read key and no rate limit; schemathesis'
command line (the installed package, run as ``python -m schemathesis.cli``: nothing is downloaded) reads
``/openapi.json`` from it and sends bounded, seeded examples of every operation through all its phases
(examples, coverage, fuzzing, stateful) with every check (``--checks all``): no 5xx, every status and media
type documented, every body in its documented schema, schema-valid requests accepted and invalid ones
refused, credentials enforced (``ignored_auth`` removes the key and sends a wrong one). It authenticates with
the same read key in both headers, so that it does not make up one of them: the two headers must agree
(docs/serve.md), so a made-up one is a 401. ``/admin/reload`` answers a read key 403, which is documented.
About 800 requests, 15 to 50 s on 2 cores.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from kgpipe.config import ServeConfig
from kgpipe.serve.api import create_app
from tests.loopback import serving
from tests.test_store import make_bundle

READ_KEY = "contract-read-key"
#: examples per operation and phase; with the seed, the run is the same every time
MAX_EXAMPLES, SEED = 20, 22


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The real application under uvicorn on a free loopback port; yields the base URL."""
    root = tmp_path_factory.mktemp("contract")
    make_bundle(root)
    keys = [{"name": "contract", "sha256": hashlib.sha256(READ_KEY.encode()).hexdigest()}]
    app = create_app(ServeConfig(api_keys=keys, reload_check_seconds=0, rate_limit_per_second=0, max_k=20,
                                 log_level="warning"), root, environ={})
    with serving(app) as base:
        yield base


def openapi(base: str) -> dict:
    with urllib.request.urlopen(f"{base}/openapi.json", timeout=10) as response:
        return json.load(response)


def test_the_document_states_media_types_and_one_error_shape(service):
    schema = openapi(service)
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components     # FastAPI's 422 shape is not what the service answers
    assert set(components["ErrorBody"]["properties"]) == {"detail"}
    assert set(components["ValidationErrorBody"]["properties"]) == {"detail", "errors"}
    metrics = schema["paths"]["/metrics"]["get"]["responses"]
    assert set(metrics["200"]["content"]) == {"text/plain"}
    assert set(metrics["401"]["content"]) == {"application/json"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status, answer in responses.items():
                if status.startswith(("4", "5")) and path != "/readyz":
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ValidationErrorBody" if status == "422" else "/ErrorBody"), (path, status)
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in responses, (method, path)
            if "security" in operation:
                assert {"401", "403", "429"} <= set(responses), (method, path)
                assert "503" in responses or path == "/metrics", (method, path)   # the graph is not loaded yet


def test_errors_answer_in_the_documented_shape(service):
    def get(path: str, **headers):
        request = urllib.request.Request(f"{service}{path}", headers={"X-API-Key": READ_KEY, **headers})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    status, body = get("/entities?q=paris&k=0")
    assert status == 422 and body["detail"].startswith("query k: ") and body["errors"][0]["loc"] == ["query", "k"]
    assert set(body["errors"][0]) == {"loc", "msg", "type"}
    status, body = get("/entities?q=%3F%21")   # "?!": schema-valid, nothing to search for
    assert status == 200 and body["results"] == []
    assert get("/entities/e:nobody") == (404, {"detail": "unknown entity 'e:nobody'; find ids with GET /entities?q="})
    status, body = get("/relations", Authorization="Bearer")   # a broken credential beside a valid key
    assert status == 401 and body == {"detail": "Authorization: Bearer without a key"}


def test_schemathesis_finds_no_contract_failure(service, tmp_path):
    env = {name: value for name, value in os.environ.items() if not name.startswith("SCHEMATHESIS_")}
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{service}/openapi.json", "--checks", "all",
               "--header", f"X-API-Key: {READ_KEY}", "--header", f"Authorization: Bearer {READ_KEY}",
               "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
               "--generation-database", "none", "--request-timeout", "30", "--no-color"]
    # in a folder of its own: no schemathesis.toml of the checkout is read, its report folder lands there
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    tail = output[-6000:]
    assert run.returncode == 0, tail
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated and int(generated[1]) == int(generated[2]) >= 400, tail
    operations = sum(len(methods) for methods in openapi(service)["paths"].values())
    assert re.search(r"Tested: (\d+)", output)[1] == str(operations), tail
