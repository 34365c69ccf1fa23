"""Soak test of the HTTP service: mixed load for many minutes with a bundle reload every minute.

Starts ``kgpipe serve`` over a warehouse's current bundle (bench/service.py's Server, one process) and drives
it with wrk for ``--minutes`` one-minute rounds of a mixed load: ``GET /entities/{id}/similar``, ``GET
/entities?q=NAME`` and ``POST /ask`` (bench/service.py's questions), drawn at random in the ratio
``--mix`` (default 6:3:1). Half-way through each minute an admin key calls ``POST /admin/reload`` while the
load runs, so every minute swaps the bundle under traffic. After each minute the script reads the server's
resident memory (VmRSS of the process and its children, /proc) and prints that minute's requests, errors and
p50/p99.

Targets (issue 22): zero errors (wrk's socket errors, non-2xx answers, failed reloads) over the whole soak,
and memory growth under 10% from the end of the first minute (after warm-up) to the end of the last.

    .venv/bin/python bench/soak.py --warehouse DIR [--minutes 10] [--connections 8]

The last line states the figures and whether the target was met.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service import Server, ask_questions, bundle_entities, free_port, run_wrk  # noqa: E402

TARGET_GROWTH = 0.10


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants (uvicorn workers), in MiB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            todo.extend(int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split())
        except (OSError, StopIteration, ValueError):
            continue
    return total / 1024


def reload_midway(server: Server, admin_key: str, delay: float, outcome: dict) -> threading.Thread:
    def go():
        time.sleep(delay)
        started = time.monotonic()
        try:
            answer = server.call("POST", "/admin/reload", "{}", admin_key)
            outcome.update(ok=True, seconds=time.monotonic() - started, answer=answer)
        except Exception as exc:  # noqa: BLE001 - a failed reload is a counted error of the soak, not a crash
            outcome.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse", default="warehouse")
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--timeout", type=int, default=10, help="wrk's per-request timeout in seconds")
    parser.add_argument("--mix", default="6:3:1", help="similar : entity search : ask")
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        parser.error("wrk is not installed: apt-get install -y wrk")
    warehouse = Path(args.warehouse).resolve()
    ids, names = bundle_entities(warehouse)
    rng = random.Random(args.seed)
    sample = rng.sample(ids, min(args.entities, len(ids)))
    weights = [int(x) for x in args.mix.split(":")]
    similar = [("GET", f"/entities/{urllib.parse.quote(i, safe='')}/similar?k=10", None) for i in sample]
    named = [names[i] for i in sample if i in names]
    search = [("GET", f"/entities?q={urllib.parse.quote(n)}", None) for n in named]
    asks = [("POST", "/ask", json.dumps({"question": q})) for q in ask_questions(named, rng, 100)]
    requests = [r for group, weight in zip((similar, search, asks), weights)
                for r in rng.choices(group, k=weight * 100)]
    rng.shuffle(requests)

    read_key, admin_key = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="kgpipe-soak-") as tmp:
        workdir = Path(tmp)
        config = workdir / "serve.yaml"
        keys = [{"name": name, "sha256": hashlib.sha256(key.encode()).hexdigest(), "scopes": scopes}
                for name, key, scopes in (("soak-read", read_key, ["read"]),
                                          ("soak-admin", admin_key, ["read", "admin"]))]
        config.write_text(json.dumps({"serve": {"api_keys": keys, "log_level": "warning", "reload_check_seconds": 0,
                                                "rate_limit_per_second": 0}}))
        port = free_port()
        command = [sys.executable, "-m", "kgpipe.cli", "--config", str(config), "serve", "--warehouse",
                   str(warehouse), "--host", "127.0.0.1", "--port", str(port)]
        env = {k: v for k, v in os.environ.items() if k != "KGPIPE_API_KEYS"}
        print(f"soak: {warehouse} ({len(ids):,} entities), {args.minutes} minutes of {args.mix} "
              f"similar:search:ask at {args.connections} connections, a reload half-way through each minute; "
              f"{os.cpu_count()} CPUs")
        rounds, baseline_mb = [], None
        with Server(command, port, env, workdir / "serve.log") as server:
            server.warm_up(asks, read_key)
            wrk_args = argparse.Namespace(threads=args.threads, connections=args.connections, duration=60,
                                          timeout=args.timeout)
            for minute in range(1, args.minutes + 1):
                outcome: dict = {}
                reloader = reload_midway(server, admin_key, 30.0, outcome)
                row = run_wrk(wrk, server.base, requests, read_key, wrk_args, workdir, f"minute-{minute}")
                reloader.join(60)
                memory = rss_mb(server.process.pid)
                baseline_mb = baseline_mb if baseline_mb is not None else memory
                row.update(minute=minute, rss_mb=memory, reload_ok=bool(outcome.get("ok")),
                           reload_s=outcome.get("seconds"), reload_error=outcome.get("error"))
                rounds.append(row)
                reload = (f"ok in {row['reload_s']:.2f} s" if row["reload_ok"]
                          else f"FAILED: {row['reload_error']}")
                print(f"  minute {minute:>2}: {row['requests']:>7,} requests ({row['rps']:,.0f}/s), "
                      f"{row['errors']} errors, p50 {row['p50']:.1f} ms, p99 {row['p99']:.1f} ms, "
                      f"reload {reload}, RSS {memory:,.0f} MiB", flush=True)
    errors = sum(r["errors"] for r in rounds) + sum(not r["reload_ok"] for r in rounds)
    growth = (rounds[-1]["rss_mb"] - baseline_mb) / baseline_mb if baseline_mb else 0.0
    met = errors == 0 and growth < TARGET_GROWTH
    print(f"RESULT: {args.minutes} minutes, {sum(r['requests'] for r in rounds):,} requests, {errors} errors "
          f"(reloads {sum(r['reload_ok'] for r in rounds)} of {len(rounds)} ok), p99 per minute "
          f"{min(r['p99'] for r in rounds):.0f} to {max(r['p99'] for r in rounds):.0f} ms, memory "
          f"{baseline_mb:,.0f} -> {rounds[-1]['rss_mb']:,.0f} MiB ({growth:+.1%}): target (0 errors, growth < "
          f"{TARGET_GROWTH:.0%}) {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
