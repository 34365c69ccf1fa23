"""Load test of the HTTP service with wrk: throughput, p50/p99 latency and errors for ``similar`` and ``ask``.

Starts ``kgpipe serve`` (a subprocess, one at a time, on a free loopback port) over a warehouse's current
bundle and drives it with wrk (Debian package ``wrk``; a Lua script sets the API key, picks a random entity
per request and posts JSON to ``/ask``) at ``--connections`` concurrent connections (default 32) on
``--threads`` wrk threads for ``--duration`` seconds per endpoint:

- ``GET /entities/{id}/similar?k=10`` for random entities of the bundle (those with an embedding);
- ``POST /ask`` with the questions in ``kgpipe/data/qa/default-questions.jsonl`` plus "Who is X?" /
  "What is X related to?" for random entity names;
- ``GET /healthz``: the floor, what the server and framework cost without any work;
- the competitor, side by side: ``similar`` served by the same application in which the FAISS index is
  replaced by exact NumPy brute force (||x||^2 - 2 q.x over all vectors, one BLAS matrix-vector product and
  argpartition per request: what a service without a vector index does). It runs in its own server process,
  after ours, with the same settings, and with OpenBLAS limited to one thread per call
  (``OPENBLAS_NUM_THREADS=1``): with its default thread pool, 32 requests calling BLAS at once from the
  server's thread pool contend for it and the baseline collapses to a few requests per second, which would
  flatter us. ``--blas-threads 1`` applies the same setting to our service.

Latencies are wrk's (from sending a request to its full response, per connection). Errors are socket errors
(connect, read, write, timeout) plus responses with a status other than 2xx/3xx.

    .venv/bin/python bench/service.py --warehouse DIR [--duration 12] [--connections 32] [--workers 1]

Targets (2 cores, server and load generator on the same machine): zero errors on every endpoint, and p99 of
``similar`` under 50 ms. The last line states the figures and whether the target was met.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Self

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = REPO / "kgpipe" / "data" / "qa" / "default-questions.jsonl"
TARGET_P99_MS = 50.0
READY_TIMEOUT_S = 180.0


# ---------------------------------------------------------------------------------------------- baseline server

def numpy_similar(self, entity_id: str, k: int = 10) -> list[tuple[str, float]]:
    """IndexBundle.similar without the index: exact brute force over all vectors with NumPy, same scores."""
    import numpy as np

    from kgpipe.serve.index import BundleError

    matrix = getattr(self, "_bench_matrix", None)
    if matrix is None:   # decoded once per loaded bundle, like a service that keeps the raw vectors in memory
        matrix = self.index.reconstruct_n(0, self.index.ntotal)
        self._bench_matrix, self._bench_norms = matrix, np.einsum("ij,ij->i", matrix, matrix)
    try:
        row = self.row[entity_id]
    except KeyError:
        raise BundleError(f"unknown entity {entity_id!r}") from None
    query = matrix[row]
    products = matrix @ query
    # larger is better for both: inner product, or minus the squared L2 distance
    scores = products if self.metric == "ip" else 2.0 * products - self._bench_norms - float(query @ query)
    take = min(k + 1, len(scores))
    top = np.argpartition(-scores, take - 1)[:take]
    top = top[np.argsort(-scores[top])]
    out = []
    for i in top:
        if i == row:
            continue
        score = float(scores[i]) if self.metric == "ip" else -math.sqrt(max(-float(scores[i]), 0.0))
        out.append((self.ids[i], score))
    return out[:k]


def serve_baseline(warehouse: str, port: int) -> None:
    """``kgpipe serve`` with IndexBundle.similar replaced by NumPy brute force (runs in a subprocess)."""
    import uvicorn

    from kgpipe.config import ServeConfig
    from kgpipe.serve.api import create_app
    from kgpipe.serve.index import IndexBundle

    IndexBundle.similar = numpy_similar
    # one worker: the patch lives in this process (compare with --workers 1 for a like-for-like ratio)
    settings = ServeConfig(reload_check_seconds=0, log_level="warning", port=port)
    uvicorn.run(create_app(settings, warehouse), host="127.0.0.1", port=port, log_level="warning")


# ---------------------------------------------------------------------------------------------- helpers

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lua_string(text: str) -> str:
    """A Lua string literal: every byte outside [A-Za-z0-9 ] as a three-digit decimal escape (a shorter one would swallow a following digit), so nothing can break out."""
    return '"' + "".join(chr(b) if chr(b).isalnum() and b < 128 or b == 32 else f"\\{b:03d}"
                         for b in text.encode("utf-8")) + '"'


def wrk_script(requests: list[tuple[str, str, str | None]], key: str, result_file: Path) -> str:
    """A wrk script sending random (method, path, body) requests with the key, and writing the summary as JSON."""
    items = ",\n".join(f"  {{{lua_string(m)}, {lua_string(p)}, {lua_string(b) if b is not None else 'nil'}}}"
                       for m, p, b in requests)
    return f"""-- generated by bench/service.py
local requests = {{
{items}
}}
local counter = 0
function setup(thread)
  thread:set("thread_id", counter)
  counter = counter + 1
end
function init(args)
  math.randomseed(1000 + (thread_id or 0))
end
wrk.headers["Authorization"] = "Bearer " .. {lua_string(key)}
wrk.headers["Content-Type"] = "application/json"
function request()
  local r = requests[math.random(#requests)]
  return wrk.format(r[1], r[2], nil, r[3])
end
function done(summary, latency, requests)
  local e = summary.errors
  local f = assert(io.open({lua_string(str(result_file))}, "w"))
  f:write(string.format('{{"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"mean_us": %.1f}}', summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
  f:close()
end
"""


def run_wrk(wrk: str, base: str, requests, key: str, args, workdir: Path, name: str) -> dict:
    result = workdir / f"{name}.json"
    script = workdir / f"{name}.lua"
    script.write_text(wrk_script(requests, key, result), encoding="utf-8")
    command = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
               f"--timeout={args.timeout}s", "-s", str(script), base]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=args.duration + 60)
    if done.returncode != 0 or not result.exists():
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    stats = json.loads(result.read_text())
    seconds = stats["duration_us"] / 1e6
    errors = sum(stats[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {"name": name, "rps": stats["requests"] / seconds, "requests": stats["requests"],
            "p50": stats["p50_us"] / 1000, "p90": stats["p90_us"] / 1000, "p99": stats["p99_us"] / 1000,
            "max": stats["max_us"] / 1000, "errors": errors, "status_errors": stats["status"],
            "socket_errors": errors - stats["status"]}


class Server:
    """A service process on a free port, ready (``/readyz`` 200) when the context is entered."""

    def __init__(self, command: list[str], port: int, env: dict, log: Path):
        self.command, self.port, self.env, self.log = command, port, env, log
        self.base = f"http://127.0.0.1:{port}"

    def __enter__(self) -> Self:
        self.log_file = open(self.log, "w")
        # own process group: uvicorn workers (serve.workers > 1) are stopped together with their parent
        self.process = subprocess.Popen(self.command, env=self.env, stdout=self.log_file,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited ({self.process.returncode}): "
                                   f"{self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"the service was not ready after {READY_TIMEOUT_S:.0f}s: "
                                   f"{self.log.read_text()[-2000:]}")
            time.sleep(0.25)

    def call(self, method: str, path: str, body: str | None, key: str) -> dict:
        request = urllib.request.Request(f"{self.base}{path}", method=method,
                                         data=body.encode("utf-8") if body is not None else None,
                                         headers={"Authorization": f"Bearer {key}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=READY_TIMEOUT_S) as response:
            return json.load(response)

    def warm_up(self, requests, key: str, count: int = 5) -> None:
        """A few requests one at a time before the load: the first ``ask`` loads the spaCy model, which is
        start-up cost, not request latency."""
        for method, path, body in requests[:count]:
            self.call(method, path, body, key)

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log_file.close()


def bundle_entities(warehouse: Path) -> tuple[list[str], dict[str, str]]:
    """Entity ids of the current bundle's FAISS rows (the entities ``similar`` can answer for) and their names
    from the bundle's store."""
    import pyarrow.parquet as pq

    from kgpipe.serve.index import current_bundle
    from kgpipe.serve.store import GraphStore

    folder = current_bundle(warehouse)
    ids = pq.read_table(folder / "ids.parquet", columns=["entity_id"]).column(0).to_pylist()
    names = {i: e["name"] for i, e in GraphStore.open(folder / "store").entities(ids).items() if e.get("name")}
    return ids, names


def ask_questions(names: list[str], rng: random.Random, count: int) -> list[str]:
    shipped = [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines()
               if line.strip()]
    generated = [rng.choice(["Who is {}?", "What is {} related to?", "Where is {}?"]).format(name)
                 for name in rng.sample(names, min(count, len(names)))]
    return shipped + generated


def describe(row: dict) -> str:
    return (f"{row['rps']:,.0f} req/s, p50 {row['p50']:.1f} ms, p99 {row['p99']:.1f} ms, "
            f"{row['errors']} errors")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse", default="warehouse", help="warehouse whose indexes/CURRENT bundle is served")
    parser.add_argument("--config", help="kgpipe configuration for the service (default: kgpipe's defaults)")
    parser.add_argument("--duration", type=int, default=12, help="seconds of load per endpoint")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--timeout", type=int, default=10,
                        help="wrk's per-request timeout in seconds (a request slower than this is an error)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of our service")
    parser.add_argument("--entities", type=int, default=1000, help="random entities the requests draw from")
    parser.add_argument("--no-baseline", action="store_true", help="skip the NumPy brute-force competitor")
    parser.add_argument("--blas-threads", type=int,
                        help="OPENBLAS_NUM_THREADS / OMP_NUM_THREADS of our service (default: as deployed, unset)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--serve-numpy-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve_numpy_baseline:
        serve_baseline(args.warehouse, args.port)
        return 0

    wrk = shutil.which("wrk")
    if wrk is None:
        parser.error("wrk is not installed: apt-get install -y wrk")
    warehouse = Path(args.warehouse).resolve()
    try:
        ids, names = bundle_entities(warehouse)
    except Exception as exc:  # noqa: BLE001 - no bundle, a broken CURRENT, ...: say which, not a traceback
        parser.error(f"no index bundle to serve in {warehouse}: {exc}")
    if not ids:
        parser.error(f"the bundle in {warehouse} is empty")
    rng = random.Random(args.seed)
    sample = rng.sample(ids, min(args.entities, len(ids)))

    key = secrets.token_urlsafe(24)
    env = {**os.environ, "KGPIPE_API_KEYS": key}
    ours_env = dict(env)
    if args.blas_threads:
        ours_env.update(OPENBLAS_NUM_THREADS=str(args.blas_threads), OMP_NUM_THREADS=str(args.blas_threads))
    kgpipe = [sys.executable, "-m", "kgpipe.cli"] + (["--config", args.config] if args.config else [])
    # no rate limit: wrk sends every request with one key, far past a deployment's per-key rate
    settings = ["--set", "serve.log_level=warning", "--set", "serve.reload_check_seconds=0",
                "--set", f"serve.workers={args.workers}", "--set", "serve.rate_limit_per_second=0"]
    print(f"service: {warehouse} ({len(ids):,} entities in the bundle, {len(sample):,} drawn); wrk {args.threads} "
          f"threads, {args.connections} connections, {args.duration}s per endpoint; {os.cpu_count()} CPUs; "
          f"{args.workers} uvicorn worker(s); BLAS threads of our service: {args.blas_threads or 'default'}")

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="kgpipe-bench-service-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        ours = Server([*kgpipe, *settings, "serve", "--warehouse", str(warehouse), "--host", "127.0.0.1",
                       "--port", str(port)], port, ours_env, workdir / "ours.log")
        with ours:
            similar = [("GET", f"/entities/{urllib.parse.quote(i, safe='')}/similar?k=10", None) for i in sample]
            asks = [("POST", "/ask", json.dumps({"question": q}))
                    for q in ask_questions([names[i] for i in sample if i in names], rng, 100)]
            for name, requests in (("healthz", [("GET", "/healthz", None)]), ("similar", similar),
                                   ("ask", asks)):
                ours.warm_up(requests, key)
                results[name] = run_wrk(wrk, ours.base, requests, key, args, workdir, name)
                print(f"  {name:<22} {describe(results[name])}")
        if not args.no_baseline:
            port = free_port()
            baseline = Server([sys.executable, str(Path(__file__).resolve()), "--serve-numpy-baseline",
                               "--warehouse", str(warehouse), "--port", str(port)], port,
                              {**env, "OPENBLAS_NUM_THREADS": "1"}, workdir / "baseline.log")
            with baseline:
                baseline.warm_up(similar, key)
                results["similar_numpy"] = run_wrk(wrk, baseline.base, similar, key, args, workdir, "similar_numpy")
                print(f"  {'similar (numpy brute)':<22} {describe(results['similar_numpy'])}")

    sim, ask = results["similar"], results["ask"]
    met = all(r["errors"] == 0 for r in results.values()) and sim["p99"] < TARGET_P99_MS
    versus = ""
    if "similar_numpy" in results:
        base = results["similar_numpy"]
        versus = (f" ({sim['rps'] / base['rps']:.2f}x the throughput of NumPy brute force, "
                  f"p99 {base['p99']:.1f} ms)")
    print(f"RESULT: similar: {describe(sim)}{versus}; ask: {describe(ask)}; healthz floor "
          f"{results['healthz']['rps']:,.0f} req/s; {args.connections} connections: "
          f"target (0 errors, similar p99 < {TARGET_P99_MS:.0f} ms) {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
