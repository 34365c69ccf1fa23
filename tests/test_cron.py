"""infra/cron: the schedules parse and name real configurations; the wrapper never lets two runs overlap."""
from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

from kgpipe.config import load_config
from tests.conftest import REPO

CRON = REPO / "infra" / "cron"


def schedule_lines() -> list[str]:
    lines = [line.strip() for line in (CRON / "kgpipe.crontab").read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#") and "=" not in line.split()[0]]


def test_crontab_entries_are_well_formed_and_their_configs_load():
    lines = schedule_lines()
    assert len(lines) == 2
    for line in lines:
        fields = line.split()
        minute, hour, day, month, weekday = fields[:5]
        assert all(f == "*" or f.isdigit() for f in (minute, hour, day, month, weekday)), line
        assert fields[5] == "$KGPIPE_HOME/infra/cron/run-kgpipe.sh"
        args = shlex.split(" ".join(fields[7:]))
        config = load_config(REPO / args[args.index("--config") + 1],
                             [args[i + 1] for i, a in enumerate(args) if a == "--set"])
        assert "run" in args and config.warehouse


def fake_kgpipe(tmp_path: Path, seconds: float, status: int = 0) -> Path:
    script = tmp_path / f"fake-kgpipe-{status}"
    script.write_text(f"#!/usr/bin/env bash\necho \"fake kgpipe $*\"\nsleep {seconds}\nexit {status}\n")
    script.chmod(0o755)
    return script


def wrapper(tmp_path: Path, bin_: Path, job: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, KGPIPE_BIN=str(bin_), KGPIPE_LOGS=str(tmp_path / "logs"), KGPIPE_HOME=str(tmp_path))
    return subprocess.Popen(["bash", str(CRON / "run-kgpipe.sh"), job, *args], env=env)


def test_a_second_run_is_skipped_while_the_first_holds_the_lock(tmp_path):
    first = wrapper(tmp_path, fake_kgpipe(tmp_path, 3), "weekly-rebuild", "--config", "x.yaml", "run")
    log = tmp_path / "logs" / "weekly-rebuild.log"
    deadline = time.monotonic() + 10
    while not (log.exists() and "starting" in log.read_text()):
        assert time.monotonic() < deadline, "the first run never started"
        time.sleep(0.05)
    second = wrapper(tmp_path, fake_kgpipe(tmp_path, 0), "daily-news", "run")
    assert second.wait(timeout=10) == 75
    assert "not starting" in (tmp_path / "logs" / "daily-news.log").read_text()
    assert first.wait(timeout=20) == 0
    text = log.read_text()
    assert "fake kgpipe --config x.yaml run" in text and "finished with exit status 0" in text
    # with the lock free again the next run goes ahead
    assert wrapper(tmp_path, fake_kgpipe(tmp_path, 0), "daily-news", "run").wait(timeout=10) == 0


def test_the_commands_exit_status_is_the_wrappers(tmp_path):
    assert wrapper(tmp_path, fake_kgpipe(tmp_path, 0, status=3), "daily-news", "run").wait(timeout=10) == 3
    assert "finished with exit status 3" in (tmp_path / "logs" / "daily-news.log").read_text()
