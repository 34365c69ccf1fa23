"""The HTTP service through FastAPI's TestClient on small built bundles (tests/test_store.py's graph):
every endpoint with both ways of sending a key, 401/403, scoped keys, rate limits (429), body limits (413),
validation limits, 404s, Prometheus metrics, and bundle reloads that do not disturb running requests."""
from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
import types
import urllib.request

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from kgpipe.cli import main
from kgpipe.config import ServeConfig
from kgpipe.serve import kg as knowledge_graph
from kgpipe.serve.api import AuthConfigError, create_app
from kgpipe.serve.api.auth import configured_keys
from kgpipe.serve.api.limits import MAX_BUCKETS, TokenBuckets, retry_after
from kgpipe.serve.api.telemetry import MULTIPROCESS_DIR, forget_dead_workers
from kgpipe.serve.kg import KnowledgeGraph
from tests.sparkcluster import KGPIPE
from tests.test_store import INFERRED, MARRIED, VECTORS, make_bundle

KEY, ENV_KEY = "s3cret-config-key", "env-key"
BEARER = {"Authorization": f"Bearer {KEY}"}    # the configuration's admin key, "ops"
HEADER = {"X-API-Key": ENV_KEY}                # an environment key: read only


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def settings(**overrides) -> ServeConfig:
    # no rate limit unless a test sets one: the module's client sends many requests with one key
    values = {"api_keys": [{"name": "ops", "sha256": sha256(KEY), "scopes": ["read", "admin"]}],
              "reload_check_seconds": 0, "max_k": 20, "max_question_chars": 50, "rate_limit_per_second": 0}
    return ServeConfig(**{**values, **overrides})


def app_for(warehouse_root, **overrides):
    return create_app(settings(**overrides), warehouse_root, environ={"KGPIPE_API_KEYS": f" {ENV_KEY} , other"})


def wait_ready(client: TestClient, version: str | None = None, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/readyz")
        if response.status_code == 200 and (version is None or response.json()["version"] == version):
            return response.json()
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready after {timeout}s: {response.status_code} {response.text}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    make_bundle(root)
    with TestClient(app_for(root)) as test_client:
        wait_ready(test_client)
        yield test_client


@pytest.fixture
def fake_qa(monkeypatch):
    """A stand-in for kgpipe.serve.qa (tested on its own in tests/test_qa.py): the service only has to pass the
    loaded graph and the question through and return what it answers."""
    module = types.ModuleType("kgpipe.serve.qa")
    module.calls = []

    def answer(kg, question, mode="graph", k=10):
        module.calls.append(question)
        if question == "unreadable?":
            raise ValueError("cannot read the question")
        gate = getattr(module, "gate", None)
        if gate is not None:
            gate[0].set()          # the request is running...
            gate[1].wait(10)       # ...until the test lets it finish
        return {"question": question, "answer": "not known", "known": False, "entities": [], "relation": None,
                "facts": [], "citations": [], "reasoning": [], "answered_from": kg.version}

    module.answer = answer
    module.warm_up = lambda: module.calls.append("warm-up")
    module.summarize = lambda kg, entity_id: {"entity_id": entity_id, "summary": f"{entity_id} summary",
                                              "sentences": []}
    monkeypatch.setattr(knowledge_graph, "qa", module)
    return module


# ---------------------------------------------------------------------------- auth

def test_keys_by_bearer_or_header_and_401_403(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "version": "idx-1"}
    missing = client.get("/entities", params={"q": "paris"})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert "X-API-Key" in missing.json()["detail"]
    assert client.get("/entities", params={"q": "paris"}, headers={"X-API-Key": "wrong"}).status_code == 403
    assert client.get("/entities", params={"q": "paris"},
                      headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/entities", params={"q": "paris"}, headers=BEARER).status_code == 200     # config digest
    assert client.get("/entities", params={"q": "paris"}, headers=HEADER).status_code == 200     # environment
    assert client.get("/entities", params={"q": "paris"}, headers={"X-API-Key": "other"}).status_code == 200
    for path in ("/entities/e:curie", "/entities/e:curie/similar", "/recommend?entity=e:curie", "/relations",
                 "/predict?head=e:curie&relation=marry", "/metrics", "/info", "/entities/e:curie/summary"):
        assert client.get(path).status_code == 401, path
    assert client.post("/ask", json={"question": "Who?"}).status_code == 401
    assert client.post("/admin/reload").status_code == 401


def test_refuses_to_start_without_keys_unless_told(tmp_path, monkeypatch, capsys):
    with pytest.raises(AuthConfigError, match="--insecure-no-auth"):
        create_app(ServeConfig(), tmp_path, environ={})
    with pytest.raises(AuthConfigError):
        create_app(ServeConfig(), tmp_path, environ={"KGPIPE_API_KEYS": " , "})
    monkeypatch.delenv("KGPIPE_API_KEYS", raising=False)
    assert main(["serve", "--warehouse", str(tmp_path)]) == 2
    assert "no API keys configured" in capsys.readouterr().err
    with pytest.raises(ValidationError, match="sha256 hex digests"):
        ServeConfig(api_keys=["plain-text-key"])
    make_bundle(tmp_path)
    with TestClient(create_app(ServeConfig(reload_check_seconds=0), tmp_path, insecure_no_auth=True,
                               environ={})) as open_client:
        wait_ready(open_client)
        assert open_client.get("/entities", params={"q": "curie"}).status_code == 200


def test_scopes_read_keys_cannot_reload_and_admin_keys_can(client):
    refused = client.post("/admin/reload", headers=HEADER)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "the key 'env-1' lacks the 'admin' scope this route needs"
    assert client.post("/admin/reload", headers={"X-API-Key": "other"}).status_code == 403
    assert client.post("/admin/reload", headers={"X-API-Key": "wrong"}).json()["detail"] == "invalid API key"
    # (the admin key's reload: the reload tests below; one here would count in the module client's metrics)
    for path in ("/relations", "/info", "/metrics"):   # the read scope's routes
        assert client.get(path, headers=HEADER).status_code == 200, path


def test_bare_digests_are_read_keys_and_env_keys_may_be_named_and_scoped(tmp_path, caplog):
    make_bundle(tmp_path)
    environ = {"KGPIPE_API_KEYS": "plain, boss:read+admin:b:0ss-secret, reader:read:r"}
    with caplog.at_level("WARNING", logger="kgpipe.serve.api.auth"), TestClient(create_app(
            settings(api_keys=[sha256("legacy")]), tmp_path, environ=environ)) as client:
        wait_ready(client)
        assert "serve.api_keys[0] is a bare digest: it is a read key named config-1" in caplog.text
        for key, reload_status in (("legacy", 403), ("plain", 403), ("r", 403), ("b:0ss-secret", 200)):
            assert client.get("/relations", headers={"X-API-Key": key}).status_code == 200, key
            assert client.post("/admin/reload", headers={"X-API-Key": key}).status_code == reload_status, key
        metrics = client.get("/metrics", headers={"X-API-Key": "b:0ss-secret"}).text
    for name in ("config-1", "env-1", "reader", "boss"):
        assert f'kgpipe_api_key_requests_total{{key="{name}",status="200"}}' in metrics, name
    assert 'kgpipe_api_key_requests_total{key="env-1",status="403"} 1.0' in metrics
    for secret in ("legacy", "plain", "0ss-secret", sha256("legacy"), sha256("plain"), sha256("b:0ss-secret")):
        assert secret not in metrics


@pytest.mark.parametrize("environ, api_keys, message", [
    ({"KGPIPE_API_KEYS": "ops:write:s3cret-value"}, [], "item 1 holds ':' but is not NAME:SCOPES:KEY"),
    ({"KGPIPE_API_KEYS": "a, bad name:read:s3cret-value"}, [], "item 2 holds ':'"),
    ({"KGPIPE_API_KEYS": "ops:read:k1"}, [{"name": "ops", "sha256": sha256("k2")}], "names must differ"),
    ({"KGPIPE_API_KEYS": "k1"}, [{"name": "ops", "sha256": sha256("k1")}], "configured twice"),
    ({}, [sha256("k1"), sha256("k1")], "configured twice"),
])
def test_ambiguous_key_settings_are_refused_without_showing_the_key(environ, api_keys, message):
    with pytest.raises(AuthConfigError, match=message) as refused:
        configured_keys(ServeConfig(api_keys=api_keys), environ)
    assert "s3cret-value" not in str(refused.value)


def test_two_different_keys_in_the_two_headers_are_401(client):
    valid_header_invalid_bearer = {"X-API-Key": ENV_KEY, "Authorization": "Bearer wrong"}
    for headers in (valid_header_invalid_bearer, {"X-API-Key": "wrong", **BEARER}, {"X-API-Key": ENV_KEY, **BEARER}):
        refused = client.get("/relations", headers=headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert "two different API keys" in refused.json()["detail"]
    assert client.get("/relations", headers={"X-API-Key": KEY, **BEARER}).status_code == 200   # the same key
    # another scheme in Authorization (a proxy's Basic credentials) is not a key: X-API-Key decides
    assert client.get("/relations", headers={"X-API-Key": ENV_KEY, "Authorization": "Basic Zm9vOmJhcg=="}
                      ).status_code == 200
    # a credential that is there but broken is not passed over for the other header's valid key
    for headers, detail in (({"X-API-Key": ENV_KEY, "Authorization": "Bearer"}, "Authorization: Bearer without"),
                            ({"X-API-Key": ENV_KEY, "Authorization": "s3cret"}, "is not 'Bearer KEY'"),
                            ({"X-API-Key": ENV_KEY, "Authorization": "Digest x=1"}, "is not 'Bearer KEY'"),
                            ({"X-API-Key": "", **BEARER}, "empty X-API-Key")):
        refused = client.get("/relations", headers=headers)
        assert refused.status_code == 401 and detail in refused.json()["detail"], headers


def test_rate_limit_per_key_is_429_with_retry_after(tmp_path):
    make_bundle(tmp_path)
    slow = {"name": "batch", "sha256": sha256("batch-key"), "rate_limit_per_second": 0.01, "rate_limit_burst": 2}
    with TestClient(create_app(settings(api_keys=[*settings().api_keys, slow], rate_limit_per_second=0.02,
                                        rate_limit_burst=3), tmp_path, environ={"KGPIPE_API_KEYS": ENV_KEY})
                    ) as client:
        wait_ready(client)
        batch = {"X-API-Key": "batch-key"}
        assert [client.get("/relations", headers=batch).status_code for _ in range(2)] == [200, 200]
        limited = client.get("/relations", headers=batch)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "100"   # 1 token at 0.01/s
        assert "rate limit of 'batch' reached" in limited.json()["detail"]
        # a read key looping on /admin/reload uses up its tokens as well; other keys have their own buckets
        assert [client.post("/admin/reload", headers=HEADER).status_code for _ in range(4)] == [403] * 3 + [429]
        assert client.get("/relations", headers=BEARER).status_code == 200
        assert client.get("/healthz").status_code == 200   # probes are never limited
        metrics = client.get("/metrics", headers=BEARER).text
    assert 'kgpipe_api_key_requests_total{key="batch",status="429"} 1.0' in metrics
    assert 'kgpipe_api_key_requests_total{key="env-1",status="429"} 1.0' in metrics


def test_an_open_service_limits_each_client_address(tmp_path):
    with TestClient(create_app(settings(rate_limit_per_second=0.01, rate_limit_burst=1), tmp_path,
                               insecure_no_auth=True, environ={})) as client:
        assert client.get("/metrics").status_code == 200
        assert client.get("/metrics").status_code == 429
        assert 'kgpipe_api_key_requests_total{key="anonymous",status="429"} 1.0' in (
            client.app.state.metrics.exposition().decode())


def test_token_buckets_refill_and_forget_full_buckets():
    now = [0.0]
    buckets = TokenBuckets(clock=lambda: now[0])
    assert [buckets.take("a", 2.0, 3) for _ in range(3)] == [0.0] * 3
    assert buckets.take("a", 2.0, 3) == pytest.approx(0.5) and retry_after(0.5) == "1"
    now[0] = 0.5
    assert buckets.take("a", 2.0, 3) == 0.0 and buckets.take("a", 2.0, 3) > 0
    assert buckets.take("b", 0, 1) == 0.0   # 0: unlimited
    now[0] = 100.0   # an open service's buckets, one per address: when there are too many, the full ones go
    for n in range(MAX_BUCKETS - 1):
        buckets.take(f"client-{n}", 1.0, 1)
    now[0] = 102.0
    buckets.take("client-0", 1.0, 1)   # busy again
    assert len(buckets._buckets) == MAX_BUCKETS
    buckets.take("newcomer", 1.0, 1)
    assert sorted(buckets._buckets) == ["client-0", "newcomer"]
    assert buckets.take("client-0", 1.0, 1) == pytest.approx(1.0)   # the busy one kept its state


def test_request_bodies_over_the_limit_are_413(tmp_path):
    with TestClient(create_app(settings(max_body_bytes=64), tmp_path, environ={})) as client:
        question = {"question": "Who?"}
        assert client.post("/ask", json=question, headers=BEARER).status_code == 503   # read, no bundle
        declared = client.post("/ask", content=b"x" * 65, headers=BEARER)   # Content-Length: 65
        assert declared.status_code == 413 and declared.json() == {"detail": "request body over 64 bytes"}
        assert client.post("/ask", content=b"x" * 65).status_code == 413   # before the key check
        chunked = client.post("/ask", content=iter([b'{"question": "', b"x" * 100, b'"}']), headers=BEARER)
        assert "content-length" not in chunked.request.headers
        assert chunked.status_code == 413 and chunked.json() == {"detail": "request body over 64 bytes"}
        assert client.post("/admin/reload", content=b"x" * 65, headers=BEARER).status_code == 413
        text = client.app.state.metrics.exposition().decode()
    # a declared length over the limit is refused before routing (no route: "unmatched"), a chunked body as read
    assert 'kgpipe_http_requests_total{endpoint="unmatched",method="POST",status="413"} 3.0' in text
    assert 'kgpipe_http_requests_total{endpoint="/ask",method="POST",status="413"} 1.0' in text


# ---------------------------------------------------------------------------- graph endpoints

def test_search_and_entity_card(client):
    found = client.get("/entities", params={"q": "Paris", "k": 3}, headers=BEARER)
    assert found.headers["x-index-version"] == "idx-1"
    body = found.json()
    assert body["version"] == "idx-1"
    assert [(r["entity_id"], r["match"]) for r in body["results"]] == [
        ("e:paris", "exact"), ("e:paris_tx", "exact"), ("e:academy", "prefix")]
    assert client.get("/entities", params={"q": "Sorbone"}, headers=BEARER).json()["results"][0]["match"] == "fuzzy"

    card = client.get("/entities/e:curie", headers=HEADER).json()
    assert card["name"] == "Marie Curie" and card["pagerank"] == 2.0 and card["community_id"] == "e:curie"
    married = next(f for f in card["facts"] if f["edge_id"] == MARRIED["edge_id"])
    assert {e["title"] for e in married["evidence"]} == {"Marie Curie", "Nobel prize story"}
    assert married["evidence"][0]["sentence_text"].endswith(".")
    inferred = next(f for f in card["facts"] if f["kind"] == "inferred")
    assert inferred["rule"] == "works_at_located_in" and inferred["edge_id"] == INFERRED["edge_id"]

    incoming = client.get("/entities/e:sorbonne/facts", params={"direction": "in"}, headers=BEARER).json()
    assert incoming["counts"] == {"out": 1, "in": 2} and len(incoming["facts"]) == 2
    assert client.get(f"/facts/{MARRIED['edge_id']}", headers=BEARER).json()["object"] == "Pierre Curie"
    assert client.get("/documents/d1", headers=BEARER).json()["url"].endswith("Marie_Curie")
    relations = {r["predicate"]: r for r in client.get("/relations", headers=BEARER).json()["relations"]}
    assert relations["marry"]["predictable"] and not relations["work in"]["predictable"]


def test_unknown_ids_are_404_with_a_message(client):
    response = client.get("/entities/e:nobody", headers=BEARER)
    assert response.status_code == 404 and "unknown entity 'e:nobody'" in response.json()["detail"]
    for path in ("/entities/e:nobody/similar", "/entities/e:nobody/facts", "/recommend?entity=e:nobody",
                 "/predict?head=e:nobody&relation=marry", "/facts/nope", "/documents/nope"):
        assert client.get(path, headers=BEARER).status_code == 404, path
    unknown_relation = client.get("/predict", params={"head": "e:curie", "relation": "teach"}, headers=BEARER)
    assert unknown_relation.status_code == 404
    assert "unknown relation 'teach'" in unknown_relation.json()["detail"]
    assert "marry" in unknown_relation.json()["detail"]   # the hint lists the known ones


def test_limits_are_422(client, fake_qa):
    for params in ({"q": "paris", "k": 0}, {"q": "paris", "k": 21}, {"q": "paris", "k": "many"}, {"q": ""},
                   {"q": "x" * 201}, {}):
        assert client.get("/entities", params=params, headers=BEARER).status_code == 422, params
    symbols = client.get("/entities", params={"q": "?!"}, headers=BEARER)   # schema-valid: nothing matches it
    assert symbols.status_code == 200 and symbols.json()["results"] == []
    too_many = client.get("/entities", params={"q": "paris", "k": 21}, headers=BEARER).json()
    assert too_many["detail"] == "query k: Input should be less than or equal to 20"
    assert too_many["errors"] == [{"loc": ["query", "k"], "msg": "Input should be less than or equal to 20",
                                   "type": "less_than_equal"}]
    assert client.get("/entities/e:curie/similar", params={"k": 21}, headers=BEARER).status_code == 422
    assert client.get("/predict", params={"head": "e:curie"}, headers=BEARER).status_code == 422
    assert client.post("/ask", json={"question": "x" * 51}, headers=BEARER).status_code == 422
    assert client.post("/ask", json={"question": "   "}, headers=BEARER).status_code == 422
    assert client.post("/ask", json={}, headers=BEARER).status_code == 422
    assert fake_qa.calls == []


def test_similar_predict_recommend(client):
    similar = client.get("/entities/e:curie/similar", params={"k": 2}, headers=BEARER).json()
    assert similar["results"][0] == {**similar["results"][0], "entity_id": "e:pierre", "name": "Pierre Curie"}
    assert len(similar["results"]) == 2
    predicted = client.get("/predict", params={"head": "e:curie", "relation": "marry", "k": 3}, headers=BEARER)
    results = predicted.json()["results"]
    assert results[0]["entity_id"] == "e:pierre" and results[0]["known"] is True
    assert [r["known"] for r in results[1:]] == [False, False]
    recommended = client.get("/recommend", params={"entity": "e:pierre", "k": 3}, headers=BEARER).json()
    assert recommended["results"][0]["entity_id"] == "e:curie" and recommended["results"][0]["direct"]


def test_ask_and_summary_pass_through_to_qa(client, fake_qa):
    answered = client.post("/ask", json={"question": "  Where was Marie Curie born? "}, headers=BEARER)
    assert answered.status_code == 200
    assert answered.json()["question"] == "Where was Marie Curie born?"
    assert answered.json()["answered_from"] == "idx-1" and answered.json()["version"] == "idx-1"
    summary = client.get("/entities/e:curie/summary", headers=BEARER).json()
    assert summary["summary"] == "e:curie summary"
    assert client.get("/entities/e:nobody/summary", headers=BEARER).status_code == 404
    refused = client.post("/ask", json={"question": "unreadable?"}, headers=BEARER)
    assert refused.status_code == 422 and refused.json()["detail"] == "cannot read the question"


def test_ask_without_the_qa_dependencies_is_501(client, monkeypatch):
    def without_spacy(kg, question, **options):   # what a slim installation without spaCy raises at the first question
        raise ModuleNotFoundError("No module named 'spacy'", name="spacy")
    monkeypatch.setattr(knowledge_graph.qa, "answer", without_spacy)
    response = client.post("/ask", json={"question": "Who?"}, headers=BEARER)
    assert response.status_code == 501 and "spacy is missing" in response.json()["detail"]


def test_the_real_qa_module_answers_in_the_agreed_shape(client):
    body = client.post("/ask", json={"question": "Who did Marie Curie marry?"}, headers=BEARER).json()
    assert {"question", "answer", "known", "entities", "relation", "facts", "citations", "reasoning"} <= set(body)


# ---------------------------------------------------------------------------- operations

def test_metrics_count_requests_and_name_the_index(client):
    before = client.get("/metrics", headers=BEARER).text
    client.get("/entities/e:curie", headers=BEARER)
    client.get("/entities/e:nobody", headers=BEARER)
    text = client.get("/metrics", headers=BEARER).text

    def value(sample: str, body: str) -> float:
        line = next((line for line in body.splitlines() if line.startswith(sample + " ")), None)
        return float(line.split()[-1]) if line else 0.0

    ok = 'kgpipe_http_requests_total{endpoint="/entities/{entity_id}",method="GET",status="200"}'
    missing = 'kgpipe_http_requests_total{endpoint="/entities/{entity_id}",method="GET",status="404"}'
    assert value(ok, text) == value(ok, before) + 1
    assert value(missing, text) == value(missing, before) + 1
    assert value('kgpipe_http_request_duration_seconds_count{endpoint="/entities/{entity_id}"}', text) >= 2
    assert value('kgpipe_index_info{version="idx-1"}', text) == 1.0
    assert value("kgpipe_index_reloads_total", text) == 1.0
    assert 'status="401"' in text   # refused requests are counted too


def test_docs_and_root(client):
    schema = client.get("/openapi.json").json()
    assert {"/entities", "/entities/{entity_id}", "/predict", "/recommend", "/ask", "/metrics"} <= set(schema["paths"])
    # the key check's answers are documented where they can occur, 413 on the routes that take a body
    for path, method in (("/entities", "get"), ("/metrics", "get"), ("/ask", "post"), ("/admin/reload", "post")):
        responses = schema["paths"][path][method]["responses"]
        assert {"401", "403", "429"} <= set(responses), path
        assert ("413" in responses) == (method == "post"), path
        assert responses["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    assert set(schema["paths"]["/healthz"]["get"]["responses"]) == {"200"}
    assert client.get("/docs").status_code == 200
    root = client.get("/", follow_redirects=False)
    assert root.status_code in (302, 307) and root.headers["location"] in ("/ui/", "/docs")


def wait_settled(client: TestClient, timeout: float = 20.0) -> dict:
    """/readyz once the first bundle load has ended (state no longer "loading")."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/readyz")
        if response.status_code == 200 or response.json()["state"] != "loading":
            return response
        if time.monotonic() > deadline:
            raise AssertionError(f"still loading after {timeout}s: {response.text}")
        time.sleep(0.05)


def test_public_metrics_and_not_ready_before_a_bundle(tmp_path):
    with TestClient(app_for(tmp_path, public_metrics=True)) as client:
        loading = client.get("/readyz")   # the load runs in the background: either state may be seen first
        assert loading.status_code == 503 and loading.json()["state"] in ("loading", "failed")
        not_ready = wait_settled(client)
        assert not_ready.status_code == 503 and not_ready.json()["state"] == "failed"
        assert "kgpipe index" in not_ready.json()["detail"]
        assert client.get("/metrics").status_code == 200   # public: no key needed
        assert client.get("/entities", params={"q": "paris"}, headers=BEARER).status_code == 503
        failed = client.post("/admin/reload", headers=BEARER)
        assert failed.status_code == 503 and "still serving nothing" in failed.json()["detail"]
        make_bundle(tmp_path)
        assert client.post("/admin/reload", headers=BEARER).json() == {"version": "idx-1", "previous": None,
                                                                       "changed": True}
        assert client.get("/readyz").json()["version"] == "idx-1"
        # the attempt at start-up and the refused reload
        assert "kgpipe_index_reload_failures_total 2.0" in client.get("/metrics").text


def test_readiness_says_loading_until_the_first_load_ends(tmp_path, monkeypatch):
    make_bundle(tmp_path)
    started, release = threading.Event(), threading.Event()
    real_load = KnowledgeGraph.load.__func__

    def held_load(cls, path):
        started.set()
        release.wait(10)
        return real_load(cls, path)

    monkeypatch.setattr(KnowledgeGraph, "load", classmethod(held_load))
    with TestClient(app_for(tmp_path)) as client:
        assert started.wait(10)
        loading = client.get("/readyz")
        assert loading.status_code == 503 and loading.json()["state"] == "loading"
        assert loading.json()["detail"] == "loading the index bundle"
        release.set()
        assert wait_ready(client)["version"] == "idx-1"


def test_reload_swaps_the_bundle_without_failing_a_running_request(tmp_path, fake_qa):
    make_bundle(tmp_path)
    with TestClient(app_for(tmp_path)) as client:
        wait_ready(client, "idx-1")
        deadline = time.monotonic() + 10
        while "warm-up" not in fake_qa.calls and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fake_qa.calls == ["warm-up"]   # models loaded once a bundle is there, before any question
        old = client.app.state.graph.kg
        entered, release = threading.Event(), threading.Event()
        fake_qa.gate = (entered, release)
        answers = []
        running = threading.Thread(target=lambda: answers.append(
            client.post("/ask", json={"question": "Who?"}, headers=BEARER)))
        running.start()
        assert entered.wait(10)
        # a new bundle in which Pierre moved away from Marie
        make_bundle(tmp_path, run_id="idx-2", vectors={**VECTORS, "e:pierre": [40, 40]})
        fake_qa.gate = None
        reloaded = client.post("/admin/reload", headers=BEARER).json()
        assert reloaded == {"version": "idx-2", "previous": "idx-1", "changed": True}
        release.set()
        running.join(10)
        assert answers[0].status_code == 200
        assert answers[0].json()["answered_from"] == "idx-1" and answers[0].json()["version"] == "idx-1"
        new = client.get("/entities/e:curie/similar", params={"k": 1}, headers=BEARER)
        assert new.headers["x-index-version"] == "idx-2" and new.json()["results"][0]["entity_id"] != "e:pierre"
        assert old.version == "idx-1" and old.similar("e:curie", 1)[0]["entity_id"] == "e:pierre"
        metrics = client.get("/metrics", headers=BEARER).text
        assert 'kgpipe_index_info{version="idx-2"} 1.0' in metrics and 'version="idx-1"' not in metrics
        assert "kgpipe_index_reloads_total 2.0" in metrics

        # a broken CURRENT: the reload fails, the loaded bundle keeps answering
        (tmp_path / "indexes" / "CURRENT").write_text("idx-missing\n")
        failed = client.post("/admin/reload", headers=BEARER)
        assert failed.status_code == 503 and "still serving idx-2" in failed.json()["detail"]
        assert client.get("/entities/e:curie", headers=BEARER).status_code == 200


def test_a_new_bundle_is_picked_up_without_a_request(tmp_path):
    make_bundle(tmp_path)
    with TestClient(app_for(tmp_path, reload_check_seconds=0.05)) as client:
        wait_ready(client, "idx-1")
        make_bundle(tmp_path, run_id="idx-2")
        assert wait_ready(client, "idx-2")["version"] == "idx-2"


def _healthz_count(metrics_text: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics_text.splitlines()
               if line.startswith("kgpipe_http_requests_total{") and 'endpoint="/healthz"' in line
               and 'status="200"' in line)


def test_metrics_add_up_across_worker_processes(tmp_path):
    """serve.workers = 2: whichever worker answers a scrape, it reports the requests both served."""
    make_bundle(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != MULTIPROCESS_DIR}
    server = subprocess.Popen([str(KGPIPE), "--set", "serve.workers=2", "--set", f"serve.port={port}",
                               "serve", "--warehouse", str(tmp_path), "--insecure-no-auth"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        workers: set[str] = set()
        while len(workers) < 2:   # each worker reports the bundle it loaded, under its pid
            assert server.poll() is None and time.monotonic() < deadline, "two workers did not come up"
            try:
                text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
            except OSError:
                time.sleep(0.5)
                continue
            workers = set(re.findall(r'kgpipe_index_info\{pid="(\d+)",version="idx-1"\} 1\.0', text))
            time.sleep(0.2)
        for _ in range(40):
            assert urllib.request.urlopen(base + "/healthz", timeout=5).status == 200
        scrapes = [_healthz_count(urllib.request.urlopen(base + "/metrics", timeout=5).read().decode())
                   for _ in range(6)]
        assert scrapes == [40.0] * 6
    finally:
        server.terminate()
        output = server.communicate(timeout=60)[0]
    assert "Started parent process" in output, output[-2000:]


def test_a_restarted_workers_gauges_are_dropped_and_its_counters_kept(tmp_path):
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    names = [f"gauge_liveall_{exited.pid}.db", f"counter_{exited.pid}.db", f"gauge_liveall_{os.getpid()}.db"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert forget_dead_workers(tmp_path) == [exited.pid]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])
